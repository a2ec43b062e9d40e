package db_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
)

func TestGroupTypes(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, d *db.DB) {
		s := d.Store()
		a := &model.GroupType{ID: "gt-a", Name: "a", Description: "d", IsPublic: true, GroupSpecs: map[string]string{"k": "v"}}
		b := &model.GroupType{ID: "gt-b", Name: "b", IsPublic: false}
		require.NoError(t, s.CreateGroupType(ctx, a))
		require.NoError(t, s.CreateGroupType(ctx, b))
		requireKindDB(t, s.CreateGroupType(ctx, &model.GroupType{ID: "gt-c", Name: "a"}), model.ErrConflict)

		got, err := s.GetGroupType(ctx, "gt-a")
		require.NoError(t, err)
		require.Equal(t, map[string]string{"k": "v"}, got.GroupSpecs)
		require.Equal(t, "d", got.Description)
		got, err = s.GetGroupTypeByName(ctx, "b")
		require.NoError(t, err)
		require.False(t, got.IsPublic)

		all, err := s.ListGroupTypes(ctx, nil, []db.SortKey{{Key: "name", Desc: true}})
		require.NoError(t, err)
		require.Equal(t, []string{"b", "a"}, []string{all[0].Name, all[1].Name})
		pub, err := s.ListGroupTypes(ctx, ptrBool(true), nil)
		require.NoError(t, err)
		require.Len(t, pub, 1)
		require.Equal(t, "v", pub[0].GroupSpecs["k"])
		_, err = s.ListGroupTypes(ctx, nil, []db.SortKey{{Key: "size"}})
		requireKindDB(t, err, model.ErrInvalid)

		require.NoError(t, s.SetGroupSpecs(ctx, "gt-a", map[string]string{"k": "v2", "k2": "x"}))
		requireKindDB(t, s.DeleteGroupSpec(ctx, "gt-a", "nope"), model.ErrNotFound)
		require.NoError(t, s.DeleteGroupSpec(ctx, "gt-a", "k2"))
		got, _ = s.GetGroupType(ctx, "gt-a")
		require.Equal(t, map[string]string{"k": "v2"}, got.GroupSpecs)

		b.Name = "a"
		requireKindDB(t, s.UpdateGroupType(ctx, b), model.ErrConflict)
		b.Name, b.IsPublic = "b2", true
		require.NoError(t, s.UpdateGroupType(ctx, b))

		// In use by a live group: not deletable; names are free again once deleted.
		require.NoError(t, s.CreateGroup(ctx, &model.Group{ID: "g1", ProjectID: "p1", GroupTypeID: "gt-a", Status: "available"}))
		requireKindDB(t, s.DeleteGroupType(ctx, "gt-a"), model.ErrConflict)
		require.NoError(t, s.DeleteGroup(ctx, "g1"))
		require.NoError(t, s.DeleteGroupType(ctx, "gt-a"))
		requireKindDB(t, s.DeleteGroupType(ctx, "gt-a"), model.ErrNotFound)
		_, err = s.GetGroupType(ctx, "gt-a")
		requireKindDB(t, err, model.ErrNotFound)
		require.NoError(t, s.CreateGroupType(ctx, &model.GroupType{ID: "gt-a2", Name: "a"}))
	})
}

func TestGroupsAndGroupSnapshots(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, d *db.DB) {
		s := d.Store()
		g := &model.Group{ID: "g1", ProjectID: "p1", UserID: "u", Name: "n", Description: "d", Status: model.StatusCreating,
			AvailabilityZone: "nova", GroupTypeID: "gt", SourceGroupID: "g0", VolumeTypeIDs: []string{"t1", "t2"}}
		require.NoError(t, s.CreateGroup(ctx, g))
		requireKindDB(t, s.CreateGroup(ctx, g), model.ErrConflict)
		require.NoError(t, s.CreateGroup(ctx, &model.Group{ID: "g2", ProjectID: "p2", Name: "other", Status: "available"}))
		got, err := s.GetGroup(ctx, "g1")
		require.NoError(t, err)
		require.Equal(t, []string{"t1", "t2"}, got.VolumeTypeIDs)
		require.Equal(t, "g0", got.SourceGroupID)
		require.Equal(t, g.CreatedAt, got.CreatedAt)
		list, err := s.ListGroups(ctx, db.GroupQuery{ProjectID: "p1"})
		require.NoError(t, err)
		require.Len(t, list, 1)
		list, err = s.ListGroups(ctx, db.GroupQuery{Name: "other"})
		require.NoError(t, err)
		require.Len(t, list, 1)
		require.Equal(t, "g2", list[0].ID)

		// Members: a creating group completes when all its volumes are available.
		vs := mustCreateVolumes(t, ctx, s, "p1", 2)
		require.NoError(t, s.SetVolumeGroup(ctx, vs[0].ID, "g1"))
		require.NoError(t, s.SetVolumeGroup(ctx, vs[1].ID, "g1"))
		requireKindDB(t, s.SetVolumeGroup(ctx, "nope", "g1"), model.ErrNotFound)
		inG, err := s.ListVolumes(ctx, db.VolumeQuery{GroupID: "g1"})
		require.NoError(t, err)
		require.Len(t, inG, 2)
		require.Equal(t, "g1", inG[0].GroupID)
		require.NoError(t, s.SetVolumeStatus(ctx, vs[1].ID, nil, model.StatusCreating))
		require.NoError(t, s.CompleteGroupCreate(ctx, "g1"))
		got, _ = s.GetGroup(ctx, "g1")
		require.Equal(t, model.StatusCreating, got.Status)
		require.NoError(t, s.SetVolumeStatus(ctx, vs[1].ID, nil, model.StatusAvailable))
		require.NoError(t, s.CompleteGroupCreate(ctx, "g1"))
		got, _ = s.GetGroup(ctx, "g1")
		require.Equal(t, model.StatusAvailable, got.Status)
		// Only a creating group moves: a reset status sticks.
		require.NoError(t, s.SetGroupStatus(ctx, "g1", nil, model.StatusError))
		require.NoError(t, s.CompleteGroupCreate(ctx, "g1"))
		got, _ = s.GetGroup(ctx, "g1")
		require.Equal(t, model.StatusError, got.Status)

		// Group snapshots and their snapshots.
		gs := &model.GroupSnapshot{ID: "gs1", ProjectID: "p1", GroupID: "g1", GroupTypeID: "gt", Name: "gs", Status: model.StatusCreating}
		require.NoError(t, s.CreateGroupSnapshot(ctx, gs))
		for _, v := range vs {
			require.NoError(t, s.CreateSnapshot(ctx, &model.Snapshot{ID: "s-" + v.ID, ProjectID: "p1", VolumeID: v.ID, Size: 1,
				Status: model.StatusError, GroupSnapshotID: "gs1"}))
		}
		snaps, err := s.ListSnapshots(ctx, db.SnapshotQuery{GroupSnapshotID: "gs1"})
		require.NoError(t, err)
		require.Len(t, snaps, 2)
		require.Equal(t, "gs1", snaps[0].GroupSnapshotID)
		require.NoError(t, s.CompleteGroupSnapshotCreate(ctx, "gs1"))
		gotGS, err := s.GetGroupSnapshot(ctx, "gs1")
		require.NoError(t, err)
		require.Equal(t, model.StatusError, gotGS.Status, "a failed member fails the group snapshot")
		gsl, err := s.ListGroupSnapshots(ctx, db.GroupSnapshotQuery{GroupID: "g1", ProjectID: "p1"})
		require.NoError(t, err)
		require.Len(t, gsl, 1)

		require.NoError(t, s.SetGroupSnapshotStatus(ctx, "gs1", nil, model.StatusDeleting))
		require.NoError(t, s.CompleteGroupSnapshotDelete(ctx, "gs1"))
		_, err = s.GetGroupSnapshot(ctx, "gs1")
		require.NoError(t, err, "snapshots left: not yet")
		for _, sn := range snaps {
			require.NoError(t, s.DeleteSnapshot(ctx, sn.ID))
		}
		require.NoError(t, s.CompleteGroupSnapshotDelete(ctx, "gs1"))
		_, err = s.GetGroupSnapshot(ctx, "gs1")
		requireKindDB(t, err, model.ErrNotFound)

		require.NoError(t, s.SetGroupStatus(ctx, "g1", nil, model.StatusDeleting))
		for _, v := range vs {
			require.NoError(t, s.DeleteVolume(ctx, v.ID))
		}
		require.NoError(t, s.CompleteGroupDelete(ctx, "g1"))
		_, err = s.GetGroup(ctx, "g1")
		requireKindDB(t, err, model.ErrNotFound)
	})
}

func TestTransfers(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, d *db.DB) {
		s := d.Store()
		vs := mustCreateVolumes(t, ctx, s, "p1", 1)
		require.NoError(t, s.CreateSnapshot(ctx, &model.Snapshot{ID: "s1", ProjectID: "p1", VolumeID: vs[0].ID, Size: 1, Status: "available"}))
		tr := &model.Transfer{ID: "t1", VolumeID: vs[0].ID, Name: "n", Salt: "salt", CryptHash: "hash", NoSnapshots: true, SourceProjectID: "p1"}
		require.NoError(t, s.CreateTransfer(ctx, tr))
		requireKindDB(t, s.CreateTransfer(ctx, tr), model.ErrConflict)
		got, err := s.GetTransfer(ctx, "t1")
		require.NoError(t, err)
		require.Equal(t, *tr, *got)
		got, err = s.TransferForVolume(ctx, vs[0].ID)
		require.NoError(t, err)
		require.Equal(t, "t1", got.ID)
		list, err := s.ListTransfers(ctx, "p2")
		require.NoError(t, err)
		require.Empty(t, list)
		list, err = s.ListTransfers(ctx, "")
		require.NoError(t, err)
		require.Len(t, list, 1)

		require.NoError(t, s.MoveVolume(ctx, vs[0].ID, "p2", "u2", true))
		v, err := s.GetVolume(ctx, vs[0].ID)
		require.NoError(t, err)
		require.Equal(t, "p2", v.ProjectID)
		require.Equal(t, "u2", v.UserID)
		sn, err := s.GetSnapshot(ctx, "s1")
		require.NoError(t, err)
		require.Equal(t, "p2", sn.ProjectID)
		requireKindDB(t, s.MoveVolume(ctx, "nope", "p2", "u2", false), model.ErrNotFound)

		require.NoError(t, s.DeleteTransfer(ctx, "t1", true, "p2"))
		require.NoError(t, s.DeleteTransfer(ctx, "t1", true, "p2"))
		_, err = s.GetTransfer(ctx, "t1")
		requireKindDB(t, err, model.ErrNotFound)
	})
}

func requireKindDB(t *testing.T, err error, kind error) {
	t.Helper()
	require.Error(t, err)
	require.ErrorIs(t, err, kind, "err: %v", err)
}

// TestGroupSnapshotCompletesWhenMembersFinishTogether: two members finishing in concurrent
// transactions must not both miss each other (write skew under MySQL's snapshot reads).
func TestGroupSnapshotCompletesWhenMembersFinishTogether(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, d *db.DB) {
		s := d.Store()
		vs := mustCreateVolumes(t, ctx, s, "p1", 2)
		for round := 0; round < 5; round++ {
			gsID := fmt.Sprintf("gs%d", round)
			require.NoError(t, s.CreateGroupSnapshot(ctx, &model.GroupSnapshot{ID: gsID, ProjectID: "p1", Status: model.StatusCreating}))
			var ids []string
			for _, v := range vs {
				id := gsID + "-" + v.ID
				ids = append(ids, id)
				require.NoError(t, s.CreateSnapshot(ctx, &model.Snapshot{ID: id, ProjectID: "p1", VolumeID: v.ID, Size: 1,
					Status: model.StatusCreating, GroupSnapshotID: gsID}))
			}
			start := make(chan struct{})
			errs := make(chan error, len(ids))
			for _, id := range ids {
				go func() {
					<-start
					errs <- d.InTx(ctx, func(s *db.Store) error {
						if err := s.SetSnapshotStatus(ctx, id, nil, model.StatusAvailable); err != nil {
							return err
						}
						time.Sleep(20 * time.Millisecond) // both updates in flight before either counts
						return s.CompleteGroupSnapshotCreate(ctx, gsID)
					})
				}()
			}
			close(start)
			for range ids {
				require.NoError(t, <-errs)
			}
			gs, err := s.GetGroupSnapshot(ctx, gsID)
			require.NoError(t, err)
			require.Equal(t, model.StatusAvailable, gs.Status, "round %d", round)
		}
	})
}
