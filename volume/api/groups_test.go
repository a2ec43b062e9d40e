package api

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume/rpc"
)

// group makes a group type and a group of the default volume type for c.
func (e *env) group(c Caller) (*model.Group, *model.VolumeType) {
	e.t.Helper()
	gt, err := e.api.CreateGroupType(e.ctx, admin, "gt-"+c.ProjectID, "", true, map[string]string{"consistent_group_snapshot_enabled": "<is> True"})
	if err != nil {
		gt, err = e.api.GetGroupType(e.ctx, admin, "gt-"+c.ProjectID)
	}
	require.NoError(e.t, err)
	vt, err := e.api.DefaultType(e.ctx, c)
	require.NoError(e.t, err)
	g, err := e.api.CreateGroup(e.ctx, c, CreateGroupRequest{Name: "g", GroupType: gt.ID, VolumeTypes: []string{vt.Name}})
	require.NoError(e.t, err)
	return g, vt
}

func (e *env) groupVolume(c Caller, g *model.Group) *model.Volume {
	e.t.Helper()
	v, err := e.api.CreateVolume(e.ctx, c, CreateVolumeRequest{Size: 1, GroupID: g.ID})
	require.NoError(e.t, err)
	e.setStatus(v.ID, model.StatusAvailable)
	return v
}

func TestGroupCreateValidation(t *testing.T) {
	e := sqlite(t)
	g, vt := e.group(alice)
	require.Equal(t, model.StatusAvailable, g.Status)
	require.Equal(t, []string{vt.ID}, g.VolumeTypeIDs)
	require.EqualValues(t, 1, e.usage(alice.ProjectID)[model.ResGroups].InUse)

	_, err := e.api.CreateGroup(e.ctx, alice, CreateGroupRequest{GroupType: "nope", VolumeTypes: []string{vt.ID}})
	requireKind(t, err, model.ErrNotFound)
	_, err = e.api.CreateGroup(e.ctx, alice, CreateGroupRequest{GroupType: g.GroupTypeID})
	requireKind(t, err, model.ErrInvalid)
	_, err = e.api.CreateGroup(e.ctx, alice, CreateGroupRequest{GroupType: g.GroupTypeID, VolumeTypes: []string{"nope"}})
	requireKind(t, err, model.ErrNotFound)
	_, err = e.api.CreateGroup(e.ctx, alice, CreateGroupRequest{GroupType: g.GroupTypeID, VolumeTypes: []string{vt.ID}, AvailabilityZone: "mars"})
	requireKind(t, err, model.ErrInvalid)
	groups, err := e.api.ListGroups(e.ctx, alice, db.GroupQuery{}, false)
	require.NoError(t, err)
	require.Len(t, groups, 1, "refused creates wrote nothing")

	// Volumes join only a visible group of one of its types.
	other, err := e.api.CreateType(e.ctx, admin, "other", "", true, nil)
	require.NoError(t, err)
	_, err = e.api.CreateVolume(e.ctx, alice, CreateVolumeRequest{Size: 1, GroupID: g.ID, VolumeType: other.ID})
	requireKind(t, err, model.ErrInvalid)
	_, err = e.api.CreateVolume(e.ctx, bob, CreateVolumeRequest{Size: 1, GroupID: g.ID})
	requireKind(t, err, model.ErrNotFound)
	require.Equal(t, 0, e.countVolumes(alice.ProjectID)+e.countVolumes(bob.ProjectID))

	// A group type in use cannot be deleted.
	requireKind(t, e.api.DeleteGroupType(e.ctx, admin, g.GroupTypeID), model.ErrInvalid)
}

func TestGroupUpdateAddRemove(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, Options{})
		g, _ := e.group(alice)
		v1 := e.groupVolume(alice, g)
		v2 := e.volume(alice, 1, model.StatusAvailable)
		name := "renamed"
		_, err := e.api.UpdateGroup(e.ctx, alice, g.ID, GroupUpdate{Name: &name, AddVolumes: []string{v2.ID}, RemoveVolumes: []string{v1.ID}})
		require.NoError(t, err)
		ids, err := e.api.GroupVolumeIDs(e.ctx, g.ID)
		require.NoError(t, err)
		require.Equal(t, []string{v2.ID}, ids)

		// All or nothing: one bad id leaves the group as it was.
		bobs := e.volume(bob, 1, model.StatusAvailable)
		_, err = e.api.UpdateGroup(e.ctx, alice, g.ID, GroupUpdate{AddVolumes: []string{v1.ID, bobs.ID}})
		requireKind(t, err, model.ErrInvalid)
		ids, err = e.api.GroupVolumeIDs(e.ctx, g.ID)
		require.NoError(t, err)
		require.Equal(t, []string{v2.ID}, ids)
		_, err = e.api.UpdateGroup(e.ctx, alice, g.ID, GroupUpdate{RemoveVolumes: []string{v1.ID}})
		requireKind(t, err, model.ErrInvalid)
		got, err := e.api.GetGroup(e.ctx, alice, g.ID)
		require.NoError(t, err)
		require.Equal(t, "renamed", got.Name)
	})
}

func TestGroupSnapshotAndCreateFromSource(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, Options{})
		g, _ := e.group(alice)
		v1, v2 := e.groupVolume(alice, g), e.groupVolume(alice, g)
		e.setStatus(v2.ID, model.StatusInUse)

		gs, err := e.api.CreateGroupSnapshot(e.ctx, alice, g.ID, "gs", "")
		require.NoError(t, err)
		require.Equal(t, model.StatusCreating, gs.Status)
		snaps, err := e.db.Store().ListSnapshots(e.ctx, db.SnapshotQuery{GroupSnapshotID: gs.ID})
		require.NoError(t, err)
		require.Len(t, snaps, 2)
		for _, sn := range snaps {
			e.waitCast(rpc.TopicVolume, rpc.MethodRunWorkflow, e.onlyWorkflow(sn.VolumeID, model.WfCreateSnapshot).ID)
			requireKind(t, e.api.DeleteSnapshot(e.ctx, alice, sn.ID, false), model.ErrInvalid)
		}
		require.EqualValues(t, 2, e.usage(alice.ProjectID)[model.ResSnapshots].InUse)

		// The group snapshot is available once its last snapshot is (the manager calls this).
		s := e.db.Store()
		require.NoError(t, s.SetSnapshotStatus(e.ctx, snaps[0].ID, nil, model.StatusAvailable))
		require.NoError(t, s.CompleteGroupSnapshotCreate(e.ctx, gs.ID))
		got, err := e.api.GetGroupSnapshot(e.ctx, alice, gs.ID)
		require.NoError(t, err)
		require.Equal(t, model.StatusCreating, got.Status)
		require.NoError(t, s.SetSnapshotStatus(e.ctx, snaps[1].ID, nil, model.StatusAvailable))
		require.NoError(t, s.CompleteGroupSnapshotCreate(e.ctx, gs.ID))
		got, err = e.api.GetGroupSnapshot(e.ctx, alice, gs.ID)
		require.NoError(t, err)
		require.Equal(t, model.StatusAvailable, got.Status)

		// A group with group snapshots cannot be deleted.
		requireKind(t, e.api.DeleteGroup(e.ctx, alice, g.ID, true), model.ErrInvalid)

		// A new group from the group snapshot: one volume per snapshot, made by create_volume.
		g2, err := e.api.CreateGroupFromSource(e.ctx, alice, "copy", "", gs.ID, "")
		require.NoError(t, err)
		require.Equal(t, model.StatusCreating, g2.Status)
		require.Equal(t, gs.ID, g2.GroupSnapshotID)
		vols, err := s.ListVolumes(e.ctx, db.VolumeQuery{GroupID: g2.ID})
		require.NoError(t, err)
		require.Len(t, vols, 2)
		var from []string
		for _, v := range vols {
			from = append(from, v.SnapshotID)
			e.onlyWorkflow(v.ID, model.WfCreateVolume)
			require.NoError(t, s.SetVolumeStatus(e.ctx, v.ID, nil, model.StatusAvailable))
		}
		require.ElementsMatch(t, []string{snaps[0].ID, snaps[1].ID}, from)
		require.NoError(t, s.CompleteGroupCreate(e.ctx, g2.ID))
		g2, err = e.api.GetGroup(e.ctx, alice, g2.ID)
		require.NoError(t, err)
		require.Equal(t, model.StatusAvailable, g2.Status)

		// And from the source group: clones of its volumes.
		g3, err := e.api.CreateGroupFromSource(e.ctx, alice, "clone", "", "", g.ID)
		require.NoError(t, err)
		vols, err = s.ListVolumes(e.ctx, db.VolumeQuery{GroupID: g3.ID})
		require.NoError(t, err)
		from = nil
		for _, v := range vols {
			from = append(from, v.SourceVolID)
		}
		require.ElementsMatch(t, []string{v1.ID, v2.ID}, from)

		// Bad sources write nothing.
		_, err = e.api.CreateGroupFromSource(e.ctx, alice, "x", "", gs.ID, g.ID)
		requireKind(t, err, model.ErrInvalid)
		_, err = e.api.CreateGroupFromSource(e.ctx, bob, "x", "", gs.ID, "")
		requireKind(t, err, model.ErrNotFound)
		all, err := e.api.ListGroups(e.ctx, alice, db.GroupQuery{}, false)
		require.NoError(t, err)
		require.Len(t, all, 3)

		// Deleting the group snapshot deletes its snapshots; the row goes with the last one.
		require.NoError(t, e.api.DeleteGroupSnapshot(e.ctx, alice, gs.ID))
		for _, sn := range snaps {
			w := e.onlyWorkflow(sn.VolumeID, model.WfDeleteSnapshot)
			require.Equal(t, sn.ID, w.SnapshotID)
			require.NoError(t, s.DeleteSnapshot(e.ctx, sn.ID))
		}
		require.NoError(t, s.CompleteGroupSnapshotDelete(e.ctx, gs.ID))
		_, err = e.api.GetGroupSnapshot(e.ctx, alice, gs.ID)
		requireKind(t, err, model.ErrNotFound)
	})
}

func TestGroupDelete(t *testing.T) {
	e := sqlite(t)
	g, _ := e.group(alice)
	v := e.groupVolume(alice, g)
	requireKind(t, e.api.DeleteGroup(e.ctx, bob, g.ID, true), model.ErrNotFound)
	requireKind(t, e.api.DeleteGroup(e.ctx, alice, g.ID, false), model.ErrInvalid)
	e.setStatus(v.ID, model.StatusInUse)
	requireKind(t, e.api.DeleteGroup(e.ctx, alice, g.ID, true), model.ErrInvalid)
	got, err := e.api.GetGroup(e.ctx, alice, g.ID)
	require.NoError(t, err)
	require.Equal(t, model.StatusAvailable, got.Status, "refused deletes change nothing")
	e.setStatus(v.ID, model.StatusAvailable)

	require.NoError(t, e.api.DeleteGroup(e.ctx, alice, g.ID, true))
	got, err = e.api.GetGroup(e.ctx, alice, g.ID)
	require.NoError(t, err)
	require.Equal(t, model.StatusDeleting, got.Status)
	e.onlyWorkflow(v.ID, model.WfDeleteVolume)
	require.EqualValues(t, 0, e.usage(alice.ProjectID)[model.ResGroups].InUse)
	// The manager deletes the volume; the group goes with it.
	require.NoError(t, e.db.Store().DeleteVolume(e.ctx, v.ID))
	require.NoError(t, e.db.Store().CompleteGroupDelete(e.ctx, g.ID))
	_, err = e.api.GetGroup(e.ctx, alice, g.ID)
	requireKind(t, err, model.ErrNotFound)

	// An empty group goes at once; reset status is admin-only and checked.
	g2, err := e.api.CreateGroup(e.ctx, alice, CreateGroupRequest{GroupType: g.GroupTypeID, VolumeTypes: g.VolumeTypeIDs})
	require.NoError(t, err)
	requireKind(t, e.api.ResetGroupStatus(e.ctx, alice, g2.ID, model.StatusError), model.ErrForbidden)
	requireKind(t, e.api.ResetGroupStatus(e.ctx, admin, g2.ID, "bogus"), model.ErrInvalid)
	require.NoError(t, e.api.ResetGroupStatus(e.ctx, admin, g2.ID, model.StatusError))
	require.NoError(t, e.api.DeleteGroup(e.ctx, alice, g2.ID, false))
	_, err = e.api.GetGroup(e.ctx, alice, g2.ID)
	requireKind(t, err, model.ErrNotFound)
}

func TestCascadeDeleteRespectsGroupSnapshots(t *testing.T) {
	e := sqlite(t)
	g, _ := e.group(alice)
	v := e.groupVolume(alice, g)
	gs, err := e.api.CreateGroupSnapshot(e.ctx, alice, g.ID, "gs", "")
	require.NoError(t, err)
	requireKind(t, e.api.DeleteVolume(e.ctx, alice, v.ID, true, false), model.ErrInvalid)
	got, err := e.db.Store().GetVolume(e.ctx, v.ID)
	require.NoError(t, err)
	require.Equal(t, model.StatusAvailable, got.Status, "a refused cascade changes nothing")

	// Once the group snapshot is gone the cascade goes through; a volume in a group may be
	// deleted (Tempest's cleanups do so before deleting the group).
	snaps, err := e.db.Store().ListSnapshots(e.ctx, db.SnapshotQuery{GroupSnapshotID: gs.ID})
	require.NoError(t, err)
	for _, sn := range snaps {
		require.NoError(t, e.db.Store().DeleteSnapshot(e.ctx, sn.ID))
	}
	require.NoError(t, e.db.Store().DeleteGroupSnapshot(e.ctx, gs.ID))
	sn := e.snapshot(alice, v.ID, model.StatusAvailable)
	require.NoError(t, e.api.DeleteVolume(e.ctx, alice, v.ID, true, false))
	e.onlyWorkflow(v.ID, model.WfDeleteVolume)
	require.Equal(t, sn.ID, e.onlyWorkflow(v.ID, model.WfDeleteSnapshot).SnapshotID)
}
