package db_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
)

func TestVolumeCRUD(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, d *db.DB) {
		s := d.Store()
		v := newVolume("vol-1", "p1", base)
		require.NoError(t, s.CreateVolume(ctx, v))

		got, err := s.GetVolume(ctx, "vol-1")
		require.NoError(t, err)
		require.Equal(t, v, got)
		require.Equal(t, time.UTC, got.CreatedAt.Location())

		err = s.CreateVolume(ctx, newVolume("vol-1", "p1", base))
		require.ErrorIs(t, err, model.ErrConflict)

		_, err = s.GetVolume(ctx, "nope")
		require.ErrorIs(t, err, model.ErrNotFound)

		// Zero times are filled in.
		v2 := newVolume("vol-2", "p1", time.Time{})
		v2.Metadata = nil
		require.NoError(t, s.CreateVolume(ctx, v2))
		require.False(t, v2.CreatedAt.IsZero())
		got2, err := s.GetVolume(ctx, "vol-2")
		require.NoError(t, err)
		require.True(t, v2.CreatedAt.Equal(got2.CreatedAt))
		require.Empty(t, got2.Metadata)

		// Update writes every column but id, project, created_at, metadata.
		got.Name, got.Size, got.Status, got.Bootable, got.Host = "renamed", 5, model.StatusInUse, true, "h2"
		got.Layout = model.Layout{Mirrors: 1, Stripes: 1, ChunkKiB: 64}
		got.ProjectID = "other"
		got.Metadata = map[string]string{"ignored": "x"}
		term := base.Add(time.Hour)
		got.TerminatedAt = &term
		require.NoError(t, s.UpdateVolume(ctx, got))
		upd, err := s.GetVolume(ctx, "vol-1")
		require.NoError(t, err)
		require.Equal(t, "renamed", upd.Name)
		require.Equal(t, 5, upd.Size)
		require.True(t, upd.Bootable)
		require.Equal(t, model.Layout{Mirrors: 1, Stripes: 1, ChunkKiB: 64}, upd.Layout)
		require.Equal(t, "p1", upd.ProjectID)
		require.Equal(t, map[string]string{"k": "v-vol-1"}, upd.Metadata)
		require.Equal(t, term, *upd.TerminatedAt)
		require.True(t, upd.UpdatedAt.After(base))
		require.True(t, upd.CreatedAt.Equal(base))

		// Updating with identical values is not "missing" (MySQL found rows).
		require.NoError(t, s.UpdateVolume(ctx, upd))
		require.ErrorIs(t, s.UpdateVolume(ctx, &model.Volume{ID: "nope"}), model.ErrNotFound)

		// Soft delete: hidden from get, list, count, updates; idempotent.
		require.NoError(t, s.DeleteVolume(ctx, "vol-1"))
		require.NoError(t, s.DeleteVolume(ctx, "vol-1"))
		require.NoError(t, s.DeleteVolume(ctx, "never-existed"))
		_, err = s.GetVolume(ctx, "vol-1")
		require.ErrorIs(t, err, model.ErrNotFound)
		require.ErrorIs(t, s.UpdateVolume(ctx, upd), model.ErrNotFound)
		list, err := s.ListVolumes(ctx, db.VolumeQuery{})
		require.NoError(t, err)
		require.Equal(t, []string{"vol-2"}, volumeIDs(list))
		n, err := s.CountVolumes(ctx, db.VolumeQuery{})
		require.NoError(t, err)
		require.Equal(t, 1, n)
		var status string
		var deletedAt any
		require.NoError(t, d.SQL().QueryRowContext(ctx, "SELECT status, deleted_at FROM volumes WHERE id = 'vol-1'").Scan(&status, &deletedAt))
		require.Equal(t, model.StatusDeleted, status)
		require.NotNil(t, deletedAt)
	})
}

func TestVolumeMetadata(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, d *db.DB) {
		s := d.Store()
		v := newVolume("vol-1", "p1", base)
		v.Metadata = map[string]string{"a": "1", "b": "2"}
		require.NoError(t, s.CreateVolume(ctx, v))

		steps := []struct {
			name    string
			md      map[string]string
			replace bool
			want    map[string]string
		}{
			{"merge adds and overwrites", map[string]string{"b": "20", "c": "3"}, false, map[string]string{"a": "1", "b": "20", "c": "3"}},
			{"merge empty is a no-op", map[string]string{}, false, map[string]string{"a": "1", "b": "20", "c": "3"}},
			{"replace", map[string]string{"z": "26"}, true, map[string]string{"z": "26"}},
			{"replace with nothing clears", nil, true, map[string]string{}},
		}
		for _, st := range steps {
			t.Run(st.name, func(t *testing.T) {
				require.NoError(t, s.SetVolumeMetadata(ctx, "vol-1", st.md, st.replace))
				got, err := s.GetVolume(ctx, "vol-1")
				require.NoError(t, err)
				require.Equal(t, st.want, got.Metadata)
			})
		}

		require.NoError(t, s.SetVolumeMetadata(ctx, "vol-1", map[string]string{"x": "1"}, false))
		require.NoError(t, s.DeleteVolumeMetadata(ctx, "vol-1", "x"))
		require.ErrorIs(t, s.DeleteVolumeMetadata(ctx, "vol-1", "x"), model.ErrNotFound)
		require.ErrorIs(t, s.SetVolumeMetadata(ctx, "nope", map[string]string{"x": "1"}, false), model.ErrNotFound)
		require.ErrorIs(t, s.DeleteVolumeMetadata(ctx, "nope", "x"), model.ErrNotFound)
	})
}

func TestSetVolumeStatus(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, d *db.DB) {
		s := d.Store()
		require.NoError(t, s.CreateVolume(ctx, newVolume("vol-1", "p1", base)))

		require.NoError(t, s.SetVolumeStatus(ctx, "vol-1", []string{model.StatusAvailable}, model.StatusReserved))
		err := s.SetVolumeStatus(ctx, "vol-1", []string{model.StatusAvailable, model.StatusError}, model.StatusDeleting)
		require.ErrorIs(t, err, model.ErrConflict)
		require.Contains(t, model.UserMessage(err), "must be available or error, is reserved")

		require.NoError(t, s.SetVolumeStatus(ctx, "vol-1", nil, model.StatusError)) // any status
		got, err := s.GetVolume(ctx, "vol-1")
		require.NoError(t, err)
		require.Equal(t, model.StatusError, got.Status)

		require.ErrorIs(t, s.SetVolumeStatus(ctx, "nope", nil, model.StatusError), model.ErrNotFound)
		require.NoError(t, s.DeleteVolume(ctx, "vol-1"))
		require.ErrorIs(t, s.SetVolumeStatus(ctx, "vol-1", nil, model.StatusError), model.ErrNotFound)
	})
}

func TestSetVolumeStatusRace(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, d *db.DB) {
		s := d.Store()
		require.NoError(t, s.CreateVolume(ctx, newVolume("vol-1", "p1", base)))
		const n = 10
		errs := make(chan error, n)
		for i := 0; i < n; i++ {
			go func() {
				errs <- s.SetVolumeStatus(ctx, "vol-1", []string{model.StatusAvailable}, model.StatusDeleting)
			}()
		}
		won := 0
		for i := 0; i < n; i++ {
			err := <-errs
			if err == nil {
				won++
				continue
			}
			require.True(t, errors.Is(err, model.ErrConflict), "unexpected error: %v", err)
		}
		require.Equal(t, 1, won)
	})
}
