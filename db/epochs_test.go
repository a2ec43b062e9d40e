package db_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
)

func TestBumpVolumeEpoch(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, d *db.DB) {
		s := d.Store()
		v := newVolume("ve", "p1", base) // Epoch 7
		require.NoError(t, s.CreateVolume(ctx, v))
		w := &model.Workflow{ID: "wf-1", Kind: model.WfExtendVolume, VolumeID: "ve", State: model.WfRunning}
		require.NoError(t, s.CreateWorkflow(ctx, w))
		ok, err := s.ClaimWorkflow(ctx, "wf-1", "mgr-1", base)
		require.NoError(t, err)
		require.True(t, ok)

		e, err := s.BumpVolumeEpoch(ctx, "ve", "wf-1", "mgr-1")
		require.NoError(t, err)
		require.Equal(t, int64(8), e)

		// A stale copy written back does not lower the epoch.
		v.Status = model.StatusInUse
		require.NoError(t, s.UpdateVolume(ctx, v))
		got, err := s.GetVolume(ctx, "ve")
		require.NoError(t, err)
		require.Equal(t, int64(8), got.Epoch)
		require.Equal(t, model.StatusInUse, got.Status)

		// The same manager's concurrent claims share the epoch (its own workflows on one volume
		// must not fence each other).
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			seen = map[int64]bool{}
		)
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				e, err := s.BumpVolumeEpoch(ctx, "ve", "wf-1", "mgr-1")
				require.NoError(t, err)
				mu.Lock()
				seen[e] = true
				mu.Unlock()
			}()
		}
		wg.Wait()
		require.Equal(t, map[int64]bool{8: true}, seen)

		// Another manager's claim raises it, and the first manager's next claim raises it again.
		w2 := &model.Workflow{ID: "wf-2", Kind: model.WfCreateSnapshot, VolumeID: "ve", State: model.WfRunning}
		require.NoError(t, s.CreateWorkflow(ctx, w2))
		ok, err = s.ClaimWorkflow(ctx, "wf-2", "mgr-2", base)
		require.NoError(t, err)
		require.True(t, ok)
		e, err = s.BumpVolumeEpoch(ctx, "ve", "wf-2", "mgr-2")
		require.NoError(t, err)
		require.Equal(t, int64(9), e)
		e, err = s.BumpVolumeEpoch(ctx, "ve", "wf-2", "mgr-2")
		require.NoError(t, err)
		require.Equal(t, int64(9), e)
		e, err = s.BumpVolumeEpoch(ctx, "ve", "wf-1", "mgr-1")
		require.NoError(t, err)
		require.Equal(t, int64(10), e)
		got, err = s.GetVolume(ctx, "ve")
		require.NoError(t, err)
		require.Equal(t, int64(10), got.Epoch)

		_, err = s.BumpVolumeEpoch(ctx, "nope", "wf-1", "mgr-1")
		require.ErrorIs(t, err, model.ErrNotFound)

		// Another manager took the workflow over: the old owner can neither raise the epoch
		// nor write the workflow.
		ok, err = s.ClaimWorkflow(ctx, "wf-1", "mgr-2", time.Now().Add(time.Hour))
		require.NoError(t, err)
		require.True(t, ok)
		_, err = s.BumpVolumeEpoch(ctx, "ve", "wf-1", "mgr-1")
		require.ErrorIs(t, err, db.ErrLostClaim)
		got, err = s.GetVolume(ctx, "ve")
		require.NoError(t, err)
		require.Equal(t, int64(10), got.Epoch, "unchanged")
		w.Owner, w.State = "mgr-1", model.WfDone
		require.ErrorIs(t, s.UpdateOwnedWorkflow(ctx, w), db.ErrLostClaim)
		w.Owner = "mgr-2"
		require.NoError(t, s.UpdateOwnedWorkflow(ctx, w))
		gw, err := s.GetWorkflow(ctx, "wf-1")
		require.NoError(t, err)
		require.Equal(t, model.WfDone, gw.State)
		require.Equal(t, "mgr-2", gw.Owner)
		w.ID = "nope"
		require.ErrorIs(t, s.UpdateOwnedWorkflow(ctx, w), model.ErrNotFound)
	})
}
