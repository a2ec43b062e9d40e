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

func newSnapshot(id, project, volume string, created time.Time) *model.Snapshot {
	return &model.Snapshot{
		ID: id, ProjectID: project, UserID: "u1", VolumeID: volume, Name: "snap-" + id, Description: "d",
		Size: 2, Status: model.StatusAvailable, Progress: "100%", Metadata: map[string]string{"k": id},
		ErrorReason: "", CreatedAt: created, UpdatedAt: created,
	}
}

func TestSnapshotCRUD(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, d *db.DB) {
		s := d.Store()
		sn := newSnapshot("s1", "p1", "vol-1", base)
		require.NoError(t, s.CreateSnapshot(ctx, sn))
		require.ErrorIs(t, s.CreateSnapshot(ctx, newSnapshot("s1", "p1", "vol-1", base)), model.ErrConflict)

		got, err := s.GetSnapshot(ctx, "s1")
		require.NoError(t, err)
		require.Equal(t, sn, got)
		_, err = s.GetSnapshot(ctx, "nope")
		require.ErrorIs(t, err, model.ErrNotFound)

		got.Name, got.Status, got.Progress, got.Size = "renamed", model.StatusError, "50%", 9
		got.VolumeID, got.ProjectID = "other-vol", "other-project" // not written
		require.NoError(t, s.UpdateSnapshot(ctx, got))
		upd, err := s.GetSnapshot(ctx, "s1")
		require.NoError(t, err)
		require.Equal(t, "renamed", upd.Name)
		require.Equal(t, "50%", upd.Progress)
		require.Equal(t, 9, upd.Size)
		require.Equal(t, "vol-1", upd.VolumeID)
		require.Equal(t, "p1", upd.ProjectID)
		require.ErrorIs(t, s.UpdateSnapshot(ctx, &model.Snapshot{ID: "nope"}), model.ErrNotFound)

		require.NoError(t, s.SetSnapshotMetadata(ctx, "s1", map[string]string{"a": "1"}, false))
		require.NoError(t, s.SetSnapshotMetadata(ctx, "s1", map[string]string{"k": "2"}, false))
		upd, err = s.GetSnapshot(ctx, "s1")
		require.NoError(t, err)
		require.Equal(t, map[string]string{"a": "1", "k": "2"}, upd.Metadata)
		require.NoError(t, s.SetSnapshotMetadata(ctx, "s1", map[string]string{"b": "3"}, true))
		require.NoError(t, s.DeleteSnapshotMetadata(ctx, "s1", "b"))
		require.ErrorIs(t, s.DeleteSnapshotMetadata(ctx, "s1", "b"), model.ErrNotFound)
		require.ErrorIs(t, s.SetSnapshotMetadata(ctx, "nope", nil, true), model.ErrNotFound)
		upd, err = s.GetSnapshot(ctx, "s1")
		require.NoError(t, err)
		require.Empty(t, upd.Metadata)

		err = s.SetSnapshotStatus(ctx, "s1", []string{model.StatusAvailable}, model.StatusDeleting)
		require.ErrorIs(t, err, model.ErrConflict)
		require.Contains(t, model.UserMessage(err), "must be available, is error")
		require.NoError(t, s.SetSnapshotStatus(ctx, "s1", []string{model.StatusError}, model.StatusDeleting))
		require.ErrorIs(t, s.SetSnapshotStatus(ctx, "nope", nil, model.StatusDeleting), model.ErrNotFound)

		require.NoError(t, s.DeleteSnapshot(ctx, "s1"))
		require.NoError(t, s.DeleteSnapshot(ctx, "s1"))
		_, err = s.GetSnapshot(ctx, "s1")
		require.ErrorIs(t, err, model.ErrNotFound)
		list, err := s.ListSnapshots(ctx, db.SnapshotQuery{})
		require.NoError(t, err)
		require.Empty(t, list)
	})
}

func TestListSnapshots(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, d *db.DB) {
		s := d.Store()
		// s0..s4: volumes va,vb alternate; s3 in p2; s1 error; s4 deleted.
		for i := 0; i < 5; i++ {
			vol := "va"
			if i%2 == 1 {
				vol = "vb"
			}
			project := "p1"
			if i == 3 {
				project = "p2"
			}
			sn := newSnapshot(fmt.Sprintf("s%d", i), project, vol, base.Add(time.Duration(i)*time.Second))
			sn.Size = 5 - i
			sn.Metadata = map[string]string{"parity": []string{"even", "odd"}[i%2]}
			if i == 1 {
				sn.Status = model.StatusError
			}
			require.NoError(t, s.CreateSnapshot(ctx, sn))
		}
		require.NoError(t, s.DeleteSnapshot(ctx, "s4"))

		tests := []struct {
			name string
			q    db.SnapshotQuery
			want []string
		}{
			{"all newest first", db.SnapshotQuery{}, []string{"s3", "s2", "s1", "s0"}},
			{"project", db.SnapshotQuery{ProjectID: "p1"}, []string{"s2", "s1", "s0"}},
			{"volume", db.SnapshotQuery{VolumeID: "vb"}, []string{"s3", "s1"}},
			{"name", db.SnapshotQuery{Name: "snap-s2"}, []string{"s2"}},
			{"status", db.SnapshotQuery{Status: model.StatusError}, []string{"s1"}},
			{"metadata", db.SnapshotQuery{Metadata: map[string]string{"parity": "even"}}, []string{"s2", "s0"}},
			{"size asc", db.SnapshotQuery{Sort: []db.SortKey{{Key: "size"}}}, []string{"s3", "s2", "s1", "s0"}},
			{"marker", db.SnapshotQuery{Sort: []db.SortKey{{Key: "created_at"}}, Marker: "s1", Limit: 2}, []string{"s2", "s3"}},
			{"offset", db.SnapshotQuery{Offset: 3}, []string{"s0"}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got, err := s.ListSnapshots(ctx, tc.q)
				require.NoError(t, err)
				require.Equal(t, tc.want, snapshotIDs(got))
				for _, sn := range got {
					require.Len(t, sn.Metadata, 1, "metadata loaded for %s", sn.ID)
				}
				// with_count: the same filter without paging
				all := tc.q
				all.Sort, all.Marker, all.Limit, all.Offset = nil, "", 0, 0
				unpaged, err := s.ListSnapshots(ctx, all)
				require.NoError(t, err)
				n, err := s.CountSnapshots(ctx, tc.q)
				require.NoError(t, err)
				require.Equal(t, len(unpaged), n)
			})
		}
		_, err := s.ListSnapshots(ctx, db.SnapshotQuery{Marker: "s4"})
		require.ErrorIs(t, err, model.ErrNotFound)
		_, err = s.ListSnapshots(ctx, db.SnapshotQuery{Sort: []db.SortKey{{Key: "bootable"}}})
		require.ErrorIs(t, err, model.ErrInvalid)
	})
}
