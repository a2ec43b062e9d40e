package db_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
)

func newBackup(id, project, volume string, created time.Time) *model.Backup {
	return &model.Backup{
		ID: id, ProjectID: project, UserID: "u1", VolumeID: volume, SnapshotID: "", Name: "bk-" + id,
		Description: "d", Container: "backups", Size: 2, Status: model.BackupCreating, FailReason: "",
		AvailabilityZone: "nova", ObjectCount: 0, ServiceMetadata: "backups/" + id,
		Service: "cinder.backup.drivers.posix.PosixBackupDriver", DataTimestamp: created,
		Metadata: map[string]string{"k": id}, CreatedAt: created, UpdatedAt: created,
	}
}

func TestBackupCRUD(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, d *db.DB) {
		s := d.Store()
		b := newBackup("b1", "p1", "vol-1", base)
		require.NoError(t, s.CreateBackup(ctx, b))
		require.ErrorIs(t, s.CreateBackup(ctx, newBackup("b1", "p1", "vol-1", base)), model.ErrConflict)

		got, err := s.GetBackup(ctx, "b1")
		require.NoError(t, err)
		require.Equal(t, b, got)
		_, err = s.GetBackup(ctx, "nope")
		require.ErrorIs(t, err, model.ErrNotFound)

		got.Status, got.ObjectCount, got.FailReason = model.BackupAvailable, 3, "x"
		got.VolumeID = "other" // not written
		require.NoError(t, s.UpdateBackup(ctx, got))
		upd, err := s.GetBackup(ctx, "b1")
		require.NoError(t, err)
		require.Equal(t, model.BackupAvailable, upd.Status)
		require.Equal(t, 3, upd.ObjectCount)
		require.Equal(t, "vol-1", upd.VolumeID)
		require.ErrorIs(t, s.UpdateBackup(ctx, &model.Backup{ID: "nope"}), model.ErrNotFound)

		require.NoError(t, s.SetBackupStatus(ctx, "b1", []string{model.BackupAvailable}, model.BackupRestoring))
		require.ErrorIs(t, s.SetBackupStatus(ctx, "b1", []string{model.BackupAvailable}, model.BackupDeleting), model.ErrConflict)

		require.NoError(t, s.SetBackupMetadata(ctx, "b1", map[string]string{"a": "1"}, false))
		upd, err = s.GetBackup(ctx, "b1")
		require.NoError(t, err)
		require.Equal(t, map[string]string{"a": "1", "k": "b1"}, upd.Metadata)
		require.NoError(t, s.SetBackupMetadata(ctx, "b1", map[string]string{"z": "9"}, true))
		require.ErrorIs(t, s.SetBackupMetadata(ctx, "nope", nil, true), model.ErrNotFound)

		require.NoError(t, s.DeleteBackup(ctx, "b1"))
		require.NoError(t, s.DeleteBackup(ctx, "b1"))
		_, err = s.GetBackup(ctx, "b1")
		require.ErrorIs(t, err, model.ErrNotFound)
		taken, err := s.BackupIDTaken(ctx, "b1")
		require.NoError(t, err)
		require.True(t, taken, "a deleted backup's id stays taken")
		taken, err = s.BackupIDTaken(ctx, "b2")
		require.NoError(t, err)
		require.False(t, taken)
	})
}

func TestBackupList(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, d *db.DB) {
		s := d.Store()
		for i, id := range []string{"b0", "b1", "b2", "b3"} {
			p := "p1"
			if i == 3 {
				p = "p2"
			}
			b := newBackup(id, p, "vol-1", base.Add(time.Duration(i)*time.Second))
			if i == 2 {
				b.VolumeID, b.Status, b.ServiceMetadata = "vol-2", model.BackupAvailable, "backups/b1"
			}
			require.NoError(t, s.CreateBackup(ctx, b))
		}
		ids := func(q db.BackupQuery) []string {
			t.Helper()
			bs, err := s.ListBackups(ctx, q)
			require.NoError(t, err)
			out := []string{}
			for _, b := range bs {
				out = append(out, b.ID)
			}
			return out
		}
		require.Equal(t, []string{"b3", "b2", "b1", "b0"}, ids(db.BackupQuery{}))
		require.Equal(t, []string{"b2", "b1", "b0"}, ids(db.BackupQuery{ProjectID: "p1"}))
		require.Equal(t, []string{"b2"}, ids(db.BackupQuery{VolumeID: "vol-2"}))
		require.Equal(t, []string{"b2"}, ids(db.BackupQuery{Status: model.BackupAvailable}))
		require.Equal(t, []string{"b1"}, ids(db.BackupQuery{Name: "bk-b1"}))
		require.Equal(t, []string{"b2", "b1"}, ids(db.BackupQuery{ServiceMetadata: "backups/b1"}))
		require.Equal(t, []string{"b0"}, ids(db.BackupQuery{Metadata: map[string]string{"k": "b0"}}))
		require.Equal(t, []string{"b0", "b1"}, ids(db.BackupQuery{ProjectID: "p1", Sort: []db.SortKey{{Key: "created_at"}}, Limit: 2}))
		require.Equal(t, []string{"b1", "b0"}, ids(db.BackupQuery{ProjectID: "p1", Marker: "b2"}))
		for q, want := range map[*db.BackupQuery]int{{}: 4, {ProjectID: "p1", Limit: 1, Marker: "b2"}: 3,
			{ServiceMetadata: "backups/b1"}: 2, {Metadata: map[string]string{"k": "b0"}}: 1} {
			n, err := s.CountBackups(ctx, *q) // with_count: paging ignored
			require.NoError(t, err)
			require.Equal(t, want, n, "%+v", *q)
		}
		_, err := s.ListBackups(ctx, db.BackupQuery{Marker: "nope"})
		require.ErrorIs(t, err, model.ErrNotFound)
		_, err = s.ListBackups(ctx, db.BackupQuery{Sort: []db.SortKey{{Key: "bogus"}}})
		require.Error(t, err)
	})
}
