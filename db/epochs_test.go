package db_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
)

func TestBumpVolumeEpoch(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, d *db.DB) {
		s := d.Store()
		v := newVolume("ve", "p1", base) // Epoch 7
		require.NoError(t, s.CreateVolume(ctx, v))

		e, err := s.BumpVolumeEpoch(ctx, "ve")
		require.NoError(t, err)
		require.Equal(t, int64(8), e)

		// A stale copy written back does not lower the epoch.
		v.Status = model.StatusInUse
		require.NoError(t, s.UpdateVolume(ctx, v))
		got, err := s.GetVolume(ctx, "ve")
		require.NoError(t, err)
		require.Equal(t, int64(8), got.Epoch)
		require.Equal(t, model.StatusInUse, got.Status)

		// Concurrent bumps each get their own epoch.
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			seen = map[int64]bool{}
		)
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				e, err := s.BumpVolumeEpoch(ctx, "ve")
				require.NoError(t, err)
				mu.Lock()
				seen[e] = true
				mu.Unlock()
			}()
		}
		wg.Wait()
		require.Len(t, seen, 8)
		got, err = s.GetVolume(ctx, "ve")
		require.NoError(t, err)
		require.Equal(t, int64(16), got.Epoch)

		_, err = s.BumpVolumeEpoch(ctx, "nope")
		require.ErrorIs(t, err, model.ErrNotFound)
	})
}
