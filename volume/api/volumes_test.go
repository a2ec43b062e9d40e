package api

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume/rpc"
)

func TestCreateVolume(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, Options{})
		v, err := e.api.CreateVolume(e.ctx, alice, CreateVolumeRequest{Size: 3, Name: "data", Metadata: map[string]string{"k": "v"}})
		require.NoError(t, err)

		got, err := e.db.Store().GetVolume(e.ctx, v.ID)
		require.NoError(t, err)
		require.Equal(t, model.StatusCreating, got.Status)
		require.Equal(t, model.AttachDetached, got.AttachStatus)
		require.Equal(t, alice.ProjectID, got.ProjectID)
		require.Equal(t, alice.UserID, got.UserID)
		require.Equal(t, 3, got.Size)
		require.Equal(t, "nova", got.AvailabilityZone)
		require.Equal(t, map[string]string{"k": "v"}, got.Metadata)
		require.Equal(t, model.Layout{Mirrors: 2, Stripes: 1, ChunkKiB: 512}, got.Layout)
		def, err := e.api.DefaultType(e.ctx, alice)
		require.NoError(t, err)
		require.Equal(t, def.ID, got.VolumeTypeID)

		wf := e.onlyWorkflow(v.ID, model.WfCreateVolume)
		require.Equal(t, model.WfPending, wf.State)
		e.waitCast(rpc.TopicScheduler, rpc.MethodSchedule, wf.ID)

		u := e.usage(alice.ProjectID)
		require.EqualValues(t, 1, u[model.ResVolumes].InUse)
		require.EqualValues(t, 3, u[model.ResGigabytes].InUse)
	})
}

func TestCreateVolumeLayoutFromType(t *testing.T) {
	e := sqlite(t)
	vt, err := e.api.CreateType(e.ctx, admin, "striped", "", true, map[string]string{
		model.SpecMirrors: "3", model.SpecStripes: "4", model.SpecChunkKiB: "64", "multiattach": "<is> True"})
	require.NoError(t, err)
	for _, ref := range []string{vt.Name, vt.ID} {
		v, err := e.api.CreateVolume(e.ctx, alice, CreateVolumeRequest{Size: 1, VolumeType: ref})
		require.NoError(t, err)
		require.Equal(t, model.Layout{Mirrors: 3, Stripes: 4, ChunkKiB: 64}, v.Layout)
		require.Equal(t, vt.ID, v.VolumeTypeID)
		require.True(t, v.Multiattach)
	}
}

func TestCreateVolumeRefused(t *testing.T) {
	e := sqlite(t)
	_, err := e.api.CreateType(e.ctx, admin, "hidden", "", false, nil)
	require.NoError(t, err)
	e.setLimits(alice.ProjectID, map[string]int64{model.ResPerVolumeGB: 10})
	tests := []struct {
		name string
		req  CreateVolumeRequest
		kind error
		msg  string
	}{
		{"zero size", CreateVolumeRequest{}, model.ErrInvalid, "Volume size '0' must be an integer and greater than 0."},
		{"negative size", CreateVolumeRequest{Size: -1}, model.ErrInvalid, ""},
		{"unknown az", CreateVolumeRequest{Size: 1, AvailabilityZone: "x"}, model.ErrInvalid, "Availability zone 'x' is invalid."},
		{"unknown type", CreateVolumeRequest{Size: 1, VolumeType: "gold"}, model.ErrNotFound, ""},
		{"private type", CreateVolumeRequest{Size: 1, VolumeType: "hidden"}, model.ErrNotFound, ""},
		{"unknown snapshot", CreateVolumeRequest{SnapshotID: "nope"}, model.ErrNotFound, ""},
		{"unknown source", CreateVolumeRequest{SourceVolID: "nope"}, model.ErrNotFound, ""},
		{"two sources", CreateVolumeRequest{SnapshotID: "a", SourceVolID: "b"}, model.ErrInvalid, ""},
		{"per volume limit", CreateVolumeRequest{Size: 11}, model.ErrQuotaExceeded, ""},
		{"bad metadata", CreateVolumeRequest{Size: 1, Metadata: map[string]string{"": "x"}}, model.ErrInvalid, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.api.CreateVolume(e.ctx, alice, tc.req)
			requireKind(t, err, tc.kind)
			if tc.msg != "" {
				require.Equal(t, tc.msg, model.UserMessage(err))
			}
			require.Zero(t, e.countVolumes(alice.ProjectID))
			require.Zero(t, e.usage(alice.ProjectID)[model.ResVolumes].InUse)
		})
	}
	// The per-volume limit is inclusive.
	_, err = e.api.CreateVolume(e.ctx, alice, CreateVolumeRequest{Size: 10})
	require.NoError(t, err)
}

func TestCreateVolumeOverQuota(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, Options{})
		e.setLimits(alice.ProjectID, map[string]int64{model.ResVolumes: 2, model.ResGigabytes: 10})
		_, err := e.api.CreateVolume(e.ctx, alice, CreateVolumeRequest{Size: 8})
		require.NoError(t, err)

		_, err = e.api.CreateVolume(e.ctx, alice, CreateVolumeRequest{Size: 3})
		var qe *model.QuotaError
		require.ErrorAs(t, err, &qe)
		require.Equal(t, model.ResGigabytes, qe.Resource)
		require.EqualValues(t, 10, qe.Limit)

		_, err = e.api.CreateVolume(e.ctx, alice, CreateVolumeRequest{Size: 1})
		require.NoError(t, err)
		_, err = e.api.CreateVolume(e.ctx, alice, CreateVolumeRequest{Size: 1})
		require.ErrorAs(t, err, &qe)
		require.Equal(t, model.ResVolumes, qe.Resource)

		require.Equal(t, 2, e.countVolumes(alice.ProjectID))
		u := e.usage(alice.ProjectID)
		require.EqualValues(t, 2, u[model.ResVolumes].InUse)
		require.EqualValues(t, 9, u[model.ResGigabytes].InUse)
		wfs, err := e.db.Store().ListUnfinishedWorkflows(e.ctx)
		require.NoError(t, err)
		require.Len(t, wfs, 2)
		// Other projects are not affected.
		_, err = e.api.CreateVolume(e.ctx, bob, CreateVolumeRequest{Size: 3})
		require.NoError(t, err)
	})
}

func TestCreateVolumeFromSource(t *testing.T) {
	e := sqlite(t)
	require.NoError(t, e.db.Store().UpsertDVG(e.ctx, &model.DVG{ID: "g2", Name: "g2", AvailabilityZone: "zone2"}))
	vt, err := e.api.CreateType(e.ctx, admin, "single", "", true, map[string]string{model.SpecMirrors: "1"})
	require.NoError(t, err)
	src, err := e.api.CreateVolume(e.ctx, alice, CreateVolumeRequest{Size: 5, VolumeType: "single", AvailabilityZone: "zone2"})
	require.NoError(t, err)
	e.setStatus(src.ID, model.StatusAvailable)
	require.NoError(t, e.api.SetBootable(e.ctx, alice, src.ID, true))
	sn := e.snapshot(alice, src.ID, model.StatusAvailable)
	pending := e.snapshot(alice, src.ID, model.StatusCreating)

	tests := []struct {
		name     string
		req      CreateVolumeRequest
		kind     error
		wantSize int
	}{
		{"volume inherits size", CreateVolumeRequest{SourceVolID: src.ID}, nil, 5},
		{"volume larger", CreateVolumeRequest{SourceVolID: src.ID, Size: 8}, nil, 8},
		{"volume smaller", CreateVolumeRequest{SourceVolID: src.ID, Size: 4}, model.ErrInvalid, 0},
		{"volume other az", CreateVolumeRequest{SourceVolID: src.ID, AvailabilityZone: "nova"}, model.ErrInvalid, 0},
		{"snapshot inherits size", CreateVolumeRequest{SnapshotID: sn.ID}, nil, 5},
		{"snapshot larger", CreateVolumeRequest{SnapshotID: sn.ID, Size: 6}, nil, 6},
		{"snapshot smaller", CreateVolumeRequest{SnapshotID: sn.ID, Size: 1}, model.ErrInvalid, 0},
		{"snapshot not available", CreateVolumeRequest{SnapshotID: pending.ID}, model.ErrInvalid, 0},
		{"other project's volume", CreateVolumeRequest{SourceVolID: src.ID}, model.ErrNotFound, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := alice
			if tc.name == "other project's volume" {
				c = bob
			}
			v, err := e.api.CreateVolume(e.ctx, c, tc.req)
			if tc.kind != nil {
				requireKind(t, err, tc.kind)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.wantSize, v.Size)
			require.Equal(t, vt.ID, v.VolumeTypeID, "a clone keeps the source's type")
			require.Equal(t, "zone2", v.AvailabilityZone, "a clone keeps the source's zone")
			require.True(t, v.Bootable)
			require.Equal(t, 1, v.Layout.Mirrors)
			require.Equal(t, tc.req.SnapshotID, v.SnapshotID)
			require.Equal(t, tc.req.SourceVolID, v.SourceVolID)
		})
	}

	t.Run("source in error", func(t *testing.T) {
		e.setStatus(src.ID, model.StatusError)
		_, err := e.api.CreateVolume(e.ctx, alice, CreateVolumeRequest{SourceVolID: src.ID})
		requireKind(t, err, model.ErrInvalid)
		e.setStatus(src.ID, model.StatusInUse)
		_, err = e.api.CreateVolume(e.ctx, alice, CreateVolumeRequest{SourceVolID: src.ID})
		require.NoError(t, err, "in-use volumes may be cloned")
	})
}

func TestVolumeVisibility(t *testing.T) {
	e := sqlite(t)
	va := e.volume(alice, 1, model.StatusAvailable)
	vb := e.volume(bob, 1, model.StatusAvailable)

	tests := []struct {
		name string
		call func() error
	}{
		{"get", func() error { _, err := e.api.GetVolume(e.ctx, bob, va.ID); return err }},
		{"update", func() error { _, err := e.api.UpdateVolume(e.ctx, bob, va.ID, VolumeUpdate{}); return err }},
		{"delete", func() error { return e.api.DeleteVolume(e.ctx, bob, va.ID, false, false) }},
		{"extend", func() error { return e.api.ExtendVolume(e.ctx, bob, va.ID, 2) }},
		{"snapshot", func() error { _, err := e.api.CreateSnapshot(e.ctx, bob, va.ID, "", "", false, nil); return err }},
		{"metadata", func() error { _, err := e.api.SetVolumeMetadata(e.ctx, bob, va.ID, nil, false); return err }},
		{"bootable", func() error { return e.api.SetBootable(e.ctx, bob, va.ID, true) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { requireKind(t, tc.call(), model.ErrNotFound) })
	}
	got, err := e.api.GetVolume(e.ctx, admin, va.ID)
	require.NoError(t, err)
	require.Equal(t, va.ID, got.ID)

	ids := func(c Caller, all bool) []string {
		vs, err := e.api.ListVolumes(e.ctx, c, db.VolumeQuery{ProjectID: alice.ProjectID}, all)
		require.NoError(t, err)
		var out []string
		for _, v := range vs {
			out = append(out, v.ID)
		}
		return out
	}
	require.Equal(t, []string{vb.ID}, ids(bob, true), "a member cannot list other projects")
	require.Equal(t, []string{va.ID}, ids(admin, true))
	require.Empty(t, ids(admin, false), "without all_tenants an admin sees its own project")
	vs, err := e.api.ListVolumes(e.ctx, admin, db.VolumeQuery{}, true)
	require.NoError(t, err)
	require.Len(t, vs, 2)
}

func TestUpdateVolume(t *testing.T) {
	e := sqlite(t)
	v := e.volume(alice, 1, model.StatusAvailable)
	name := "renamed"
	got, err := e.api.UpdateVolume(e.ctx, alice, v.ID, VolumeUpdate{Name: &name, Metadata: map[string]string{"a": "1"}})
	require.NoError(t, err)
	require.Equal(t, "renamed", got.Name)
	require.Equal(t, map[string]string{"a": "1"}, got.Metadata)

	md, err := e.api.SetVolumeMetadata(e.ctx, alice, v.ID, map[string]string{"b": "2"}, false)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"a": "1", "b": "2"}, md)
	require.NoError(t, e.api.DeleteVolumeMetadata(e.ctx, alice, v.ID, "a"))
	requireKind(t, e.api.DeleteVolumeMetadata(e.ctx, alice, v.ID, "a"), model.ErrNotFound)

	requireKind(t, e.api.ResetVolumeStatus(e.ctx, alice, v.ID, model.StatusError, "", ""), model.ErrForbidden)
	requireKind(t, e.api.ResetVolumeStatus(e.ctx, admin, v.ID, "bogus", "", ""), model.ErrInvalid)
	require.NoError(t, e.api.ResetVolumeStatus(e.ctx, admin, v.ID, model.StatusError, model.AttachDetached, ""))
	got, err = e.api.GetVolume(e.ctx, alice, v.ID)
	require.NoError(t, err)
	require.Equal(t, model.StatusError, got.Status)

	requireKind(t, e.api.SetReadOnly(e.ctx, alice, v.ID, true), model.ErrInvalid)
	e.setStatus(v.ID, model.StatusAvailable)
	require.NoError(t, e.api.SetReadOnly(e.ctx, alice, v.ID, true))
	got, err = e.api.GetVolume(e.ctx, alice, v.ID)
	require.NoError(t, err)
	require.True(t, got.ReadOnly)
}

func TestDeleteVolume(t *testing.T) {
	tests := []struct {
		status   string
		attached bool
		force    bool
		kind     error // nil: deletion starts
	}{
		{status: model.StatusAvailable},
		{status: model.StatusError},
		{status: model.StatusErrorExtending},
		{status: model.StatusCreating, kind: model.ErrInvalid},
		{status: model.StatusCreating, force: true},
		{status: model.StatusExtending, kind: model.ErrInvalid},
		{status: model.StatusExtending, force: true},
		{status: model.StatusInUse, kind: model.ErrInvalid},
		{status: model.StatusInUse, force: true, kind: model.ErrInvalid},
		{status: model.StatusAvailable, attached: true, force: true, kind: model.ErrInvalid},
	}
	e := sqlite(t)
	for _, tc := range tests {
		name := tc.status
		if tc.force {
			name += "/force"
		}
		if tc.attached {
			name += "/attached"
		}
		t.Run(name, func(t *testing.T) {
			v := e.volume(alice, 1, tc.status)
			if tc.attached {
				v.AttachStatus = model.AttachAttached
				require.NoError(t, e.db.Store().UpdateVolume(e.ctx, v))
			}
			err := e.api.DeleteVolume(e.ctx, alice, v.ID, false, tc.force)
			got, gerr := e.db.Store().GetVolume(e.ctx, v.ID)
			require.NoError(t, gerr)
			if tc.kind != nil {
				requireKind(t, err, tc.kind)
				require.Equal(t, tc.status, got.Status)
				require.Empty(t, kinds(e.workflows(v.ID), model.WfDeleteVolume))
				return
			}
			require.NoError(t, err)
			require.Equal(t, model.StatusDeleting, got.Status)
			wf := e.onlyWorkflow(v.ID, model.WfDeleteVolume)
			e.waitCast(rpc.TopicVolume, rpc.MethodRunWorkflow, wf.ID)
			if tc.status == model.StatusCreating {
				require.Empty(t, kinds(e.workflows(v.ID), model.WfCreateVolume), "the unscheduled create is abandoned")
			}
			// Quota is released by the manager when the delete completes, not here.
			require.NotZero(t, e.usage(alice.ProjectID)[model.ResVolumes].InUse)

			require.NoError(t, e.api.DeleteVolume(e.ctx, alice, v.ID, false, false), "deleting twice is fine")
			require.Len(t, kinds(e.workflows(v.ID), model.WfDeleteVolume), 1)
		})
	}
}

func kinds(wfs []*model.Workflow, kind string) []*model.Workflow {
	var out []*model.Workflow
	for _, w := range wfs {
		if w.Kind == kind {
			out = append(out, w)
		}
	}
	return out
}

func TestDeleteVolumeWithSnapshots(t *testing.T) {
	e := sqlite(t)
	v := e.volume(alice, 2, model.StatusAvailable)
	s1 := e.snapshot(alice, v.ID, model.StatusAvailable)
	s2 := e.snapshot(alice, v.ID, model.StatusError)

	err := e.api.DeleteVolume(e.ctx, alice, v.ID, false, false)
	requireKind(t, err, model.ErrInvalid)
	require.Contains(t, model.UserMessage(err), "Volume has snapshots")

	creating := e.snapshot(alice, v.ID, model.StatusCreating)
	requireKind(t, e.api.DeleteVolume(e.ctx, alice, v.ID, true, false), model.ErrInvalid)
	require.NoError(t, e.db.Store().SetSnapshotStatus(e.ctx, creating.ID, nil, model.StatusAvailable))

	require.NoError(t, e.api.DeleteVolume(e.ctx, alice, v.ID, true, false))
	for _, id := range []string{s1.ID, s2.ID, creating.ID} {
		sn, err := e.db.Store().GetSnapshot(e.ctx, id)
		require.NoError(t, err)
		require.Equal(t, model.StatusDeleting, sn.Status)
	}
	wfs := e.workflows(v.ID)
	var order []string
	for _, w := range wfs {
		if w.Kind != model.WfDeleteSnapshot && w.Kind != model.WfDeleteVolume {
			continue
		}
		order = append(order, w.Kind)
		var p map[string]any
		require.NoError(t, json.Unmarshal(w.Params, &p))
		require.Equal(t, true, p["cascade"])
		e.waitCast(rpc.TopicVolume, rpc.MethodRunWorkflow, w.ID)
	}
	require.Equal(t, []string{model.WfDeleteSnapshot, model.WfDeleteSnapshot, model.WfDeleteSnapshot, model.WfDeleteVolume}, order)
}

func TestExtendVolume(t *testing.T) {
	e := sqlite(t)
	e.setLimits(alice.ProjectID, map[string]int64{model.ResGigabytes: 10})
	v := e.volume(alice, 2, model.StatusAvailable)

	tests := []struct {
		name    string
		status  string
		newSize int
		kind    error
		msg     string
	}{
		{"same size", model.StatusAvailable, 2, model.ErrInvalid, "New size for extend must be greater than current size. (current: 2, extended: 2)."},
		{"smaller", model.StatusAvailable, 1, model.ErrInvalid, ""},
		{"in-use", model.StatusInUse, 3, model.ErrInvalid, ""},
		{"over quota", model.StatusAvailable, 11, model.ErrQuotaExceeded, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.setStatus(v.ID, tc.status)
			err := e.api.ExtendVolume(e.ctx, alice, v.ID, tc.newSize)
			requireKind(t, err, tc.kind)
			if tc.msg != "" {
				require.Equal(t, tc.msg, model.UserMessage(err))
			}
			got, err := e.db.Store().GetVolume(e.ctx, v.ID)
			require.NoError(t, err)
			require.Equal(t, tc.status, got.Status)
			require.EqualValues(t, 2, e.usage(alice.ProjectID)[model.ResGigabytes].InUse)
		})
	}

	e.setStatus(v.ID, model.StatusAvailable)
	require.NoError(t, e.api.ExtendVolume(e.ctx, alice, v.ID, 10))
	got, err := e.db.Store().GetVolume(e.ctx, v.ID)
	require.NoError(t, err)
	require.Equal(t, model.StatusExtending, got.Status)
	require.Equal(t, 2, got.Size, "the manager sets the new size when done")
	require.EqualValues(t, 10, e.usage(alice.ProjectID)[model.ResGigabytes].InUse)
	wf := e.onlyWorkflow(v.ID, model.WfExtendVolume)
	require.JSONEq(t, `{"new_size":10,"old_size":2,"in_use":false}`, string(wf.Params))
	e.waitCast(rpc.TopicVolume, rpc.MethodRunWorkflow, wf.ID)

	err = e.api.ExtendVolume(e.ctx, alice, v.ID, 11)
	require.True(t, errors.Is(err, model.ErrInvalid), "an extending volume cannot be extended again: %v", err)
}

// TestExtendVolumeInUse: from 3.42 an in-use volume may grow; the workflow knows it was in use.
func TestExtendVolumeInUse(t *testing.T) {
	e := sqlite(t)
	v := e.volume(alice, 2, model.StatusInUse)
	err := e.api.ExtendVolume(e.ctx, alice, v.ID, 3)
	require.Equal(t, "Invalid volume: Volume "+v.ID+" status must be available to extend, but current status is: in-use.", model.UserMessage(err))
	e.setStatus(v.ID, model.StatusReserved)
	err = e.api.ExtendVolumeInUse(e.ctx, alice, v.ID, 3)
	require.Equal(t, "Invalid volume: Volume "+v.ID+" status must be available or in-use to extend, but current status is: reserved.", model.UserMessage(err))

	e.setStatus(v.ID, model.StatusInUse)
	require.NoError(t, e.api.ExtendVolumeInUse(e.ctx, alice, v.ID, 3))
	got, err := e.db.Store().GetVolume(e.ctx, v.ID)
	require.NoError(t, err)
	require.Equal(t, model.StatusExtending, got.Status)
	require.EqualValues(t, 3, e.usage(alice.ProjectID)[model.ResGigabytes].InUse)
	wf := e.onlyWorkflow(v.ID, model.WfExtendVolume)
	require.JSONEq(t, `{"new_size":3,"old_size":2,"in_use":true}`, string(wf.Params))

	// An available volume goes the same way through the 3.42 call.
	w := e.volume(alice, 1, model.StatusAvailable)
	require.NoError(t, e.api.ExtendVolumeInUse(e.ctx, alice, w.ID, 2))
	require.JSONEq(t, `{"new_size":2,"old_size":1,"in_use":false}`, string(e.onlyWorkflow(w.ID, model.WfExtendVolume).Params))
}
