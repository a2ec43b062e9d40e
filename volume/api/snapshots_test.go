package api

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume/rpc"
)

func TestCreateSnapshot(t *testing.T) {
	tests := []struct {
		status string
		force  bool
		kind   error
	}{
		{status: model.StatusAvailable},
		{status: model.StatusInUse, kind: model.ErrInvalid},
		{status: model.StatusInUse, force: true},
		{status: model.StatusCreating, kind: model.ErrInvalid},
		{status: model.StatusError, force: true, kind: model.ErrInvalid},
	}
	for _, tc := range tests {
		name := tc.status
		if tc.force {
			name += "/force"
		}
		t.Run(name, func(t *testing.T) {
			e := sqlite(t)
			v := e.volume(alice, 4, tc.status)
			sn, err := e.api.CreateSnapshot(e.ctx, alice, v.ID, "snap", "d", tc.force, map[string]string{"k": "v"})
			u := e.usage(alice.ProjectID)
			if tc.kind != nil {
				requireKind(t, err, tc.kind)
				require.Zero(t, u[model.ResSnapshots].InUse)
				require.EqualValues(t, 4, u[model.ResGigabytes].InUse)
				sns, err := e.db.Store().ListSnapshots(e.ctx, db.SnapshotQuery{VolumeID: v.ID})
				require.NoError(t, err)
				require.Empty(t, sns)
				return
			}
			require.NoError(t, err)
			got, err := e.db.Store().GetSnapshot(e.ctx, sn.ID)
			require.NoError(t, err)
			require.Equal(t, model.StatusCreating, got.Status)
			require.Equal(t, 4, got.Size)
			require.Equal(t, alice.ProjectID, got.ProjectID)
			require.Equal(t, map[string]string{"k": "v"}, got.Metadata)
			wf := e.onlyWorkflow(v.ID, model.WfCreateSnapshot)
			require.Equal(t, sn.ID, wf.SnapshotID)
			e.waitCast(rpc.TopicVolume, rpc.MethodRunWorkflow, wf.ID)
			require.EqualValues(t, 1, u[model.ResSnapshots].InUse)
			require.EqualValues(t, 8, u[model.ResGigabytes].InUse)
		})
	}
}

func TestCreateSnapshotOverQuota(t *testing.T) {
	e := sqlite(t)
	v := e.volume(alice, 4, model.StatusAvailable)
	e.setLimits(alice.ProjectID, map[string]int64{model.ResSnapshots: 1})
	e.snapshot(alice, v.ID, model.StatusAvailable)
	_, err := e.api.CreateSnapshot(e.ctx, alice, v.ID, "", "", false, nil)
	var qe *model.QuotaError
	require.ErrorAs(t, err, &qe)
	require.Equal(t, model.ResSnapshots, qe.Resource)
	sns, err := e.api.ListSnapshots(e.ctx, alice, db.SnapshotQuery{}, false)
	require.NoError(t, err)
	require.Len(t, sns, 1)
}

func TestDeleteSnapshot(t *testing.T) {
	tests := []struct {
		status string
		force  bool
		kind   error
	}{
		{status: model.StatusAvailable},
		{status: model.StatusError},
		{status: model.StatusCreating, kind: model.ErrInvalid},
		{status: model.StatusCreating, force: true},
		{status: model.StatusErrorDeleting, kind: model.ErrInvalid},
	}
	e := sqlite(t)
	v := e.volume(alice, 1, model.StatusAvailable)
	for _, tc := range tests {
		name := tc.status
		if tc.force {
			name += "/force"
		}
		t.Run(name, func(t *testing.T) {
			sn := e.snapshot(alice, v.ID, tc.status)
			requireKind(t, e.api.DeleteSnapshot(e.ctx, bob, sn.ID, tc.force), model.ErrNotFound)
			err := e.api.DeleteSnapshot(e.ctx, alice, sn.ID, tc.force)
			got, gerr := e.db.Store().GetSnapshot(e.ctx, sn.ID)
			require.NoError(t, gerr)
			if tc.kind != nil {
				requireKind(t, err, tc.kind)
				require.Equal(t, tc.status, got.Status)
				return
			}
			require.NoError(t, err)
			require.Equal(t, model.StatusDeleting, got.Status)
			var wf *model.Workflow
			for _, w := range kinds(e.workflows(v.ID), model.WfDeleteSnapshot) {
				if w.SnapshotID == sn.ID {
					require.Nil(t, wf, "one delete workflow per snapshot")
					wf = w
				}
			}
			require.NotNil(t, wf)
			e.waitCast(rpc.TopicVolume, rpc.MethodRunWorkflow, wf.ID)
			require.NoError(t, e.api.DeleteSnapshot(e.ctx, alice, sn.ID, false), "deleting twice is fine")
		})
	}

	t.Run("a clone does not block", func(t *testing.T) {
		sn := e.snapshot(alice, v.ID, model.StatusAvailable)
		_, err := e.api.CreateVolume(e.ctx, alice, CreateVolumeRequest{SnapshotID: sn.ID})
		require.NoError(t, err)
		require.NoError(t, e.api.DeleteSnapshot(e.ctx, alice, sn.ID, false))
	})
}

// A snapshot an admin reset to deleting has no workflow: force delete starts one (once), a plain
// delete does not.
func TestForceDeleteSnapshotResetToDeleting(t *testing.T) {
	e := sqlite(t)
	v := e.volume(alice, 1, model.StatusAvailable)
	sn := e.snapshot(alice, v.ID, model.StatusDeleting)
	deletes := func() int {
		n := 0
		for _, w := range kinds(e.workflows(v.ID), model.WfDeleteSnapshot) {
			if w.SnapshotID == sn.ID {
				n++
			}
		}
		return n
	}
	require.NoError(t, e.api.DeleteSnapshot(e.ctx, alice, sn.ID, false))
	require.Equal(t, 0, deletes())
	require.NoError(t, e.api.DeleteSnapshot(e.ctx, admin, sn.ID, true))
	require.Equal(t, 1, deletes())
	require.NoError(t, e.api.DeleteSnapshot(e.ctx, admin, sn.ID, true), "a running delete is not doubled")
	require.Equal(t, 1, deletes())
}

func TestUpdateSnapshotStatus(t *testing.T) {
	e := sqlite(t)
	v := e.volume(alice, 1, model.StatusAvailable)
	tests := []struct {
		from, to, progress string
		kind               error
	}{
		{from: model.StatusCreating, to: model.StatusError, progress: "80%"},
		{from: model.StatusCreating, to: model.StatusAvailable},
		{from: model.StatusDeleting, to: model.StatusErrorDeleting, progress: "100%"},
		{from: model.StatusAvailable, to: model.StatusError, kind: model.ErrInvalid},
		{from: model.StatusCreating, to: model.StatusDeleting, kind: model.ErrInvalid},
		{from: model.StatusCreating, to: model.StatusError, progress: "80", kind: model.ErrInvalid},
		{from: model.StatusCreating, to: model.StatusError, progress: "101%", kind: model.ErrInvalid},
		{from: model.StatusCreating, to: model.StatusError, progress: "x%", kind: model.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.from+"->"+tc.to+"/"+tc.progress, func(t *testing.T) {
			sn := e.snapshot(alice, v.ID, tc.from)
			requireKind(t, e.api.UpdateSnapshotStatus(e.ctx, bob, sn.ID, tc.to, tc.progress), model.ErrNotFound)
			err := e.api.UpdateSnapshotStatus(e.ctx, alice, sn.ID, tc.to, tc.progress)
			got, gerr := e.db.Store().GetSnapshot(e.ctx, sn.ID)
			require.NoError(t, gerr)
			if tc.kind != nil {
				requireKind(t, err, tc.kind)
				require.Equal(t, tc.from, got.Status, "nothing changed")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.to, got.Status)
			if tc.progress != "" {
				require.Equal(t, tc.progress, got.Progress)
			}
		})
	}
}

func TestSnapshotVisibilityAndUpdate(t *testing.T) {
	e := sqlite(t)
	v := e.volume(alice, 1, model.StatusAvailable)
	sn := e.snapshot(alice, v.ID, model.StatusAvailable)

	_, err := e.api.GetSnapshot(e.ctx, bob, sn.ID)
	requireKind(t, err, model.ErrNotFound)
	list, err := e.api.ListSnapshots(e.ctx, bob, db.SnapshotQuery{}, true)
	require.NoError(t, err)
	require.Empty(t, list)
	list, err = e.api.ListSnapshots(e.ctx, admin, db.SnapshotQuery{}, true)
	require.NoError(t, err)
	require.Len(t, list, 1)

	name := "new"
	got, err := e.api.UpdateSnapshot(e.ctx, alice, sn.ID, &name, nil)
	require.NoError(t, err)
	require.Equal(t, "new", got.Name)
	md, err := e.api.SetSnapshotMetadata(e.ctx, alice, sn.ID, map[string]string{"a": "1"}, true)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"a": "1"}, md)
	require.NoError(t, e.api.DeleteSnapshotMetadata(e.ctx, alice, sn.ID, "a"))
	requireKind(t, e.api.DeleteSnapshotMetadata(e.ctx, alice, sn.ID, "a"), model.ErrNotFound)

	requireKind(t, e.api.ResetSnapshotStatus(e.ctx, alice, sn.ID, model.StatusError), model.ErrForbidden)
	requireKind(t, e.api.ResetSnapshotStatus(e.ctx, admin, sn.ID, "bogus"), model.ErrInvalid)
	require.NoError(t, e.api.ResetSnapshotStatus(e.ctx, admin, sn.ID, model.StatusError))
	got, err = e.api.GetSnapshot(e.ctx, alice, sn.ID)
	require.NoError(t, err)
	require.Equal(t, model.StatusError, got.Status)
}
