package volume

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/db/dbtest"
	"github.com/dlvm-project/dlvm/internal/agentauth"
	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume/pool"
	"github.com/dlvm-project/dlvm/volume/target"
)

// fencedAgent puts an agent's epoch fence (agentauth.Fence, as volume/agent's server runs it)
// in front of a fake dpv; gate, when set, runs before each mutating call reaches the dpv (a
// manager that stalls mid-step).
type fencedAgent struct {
	Agent
	fence *agentauth.Fence
	gate  func()
}

func (a *fencedAgent) admit(ctx context.Context) error {
	if a.gate != nil {
		a.gate()
	}
	if e, ok := agentauth.EpochFrom(ctx); ok {
		if err := a.fence.Admit(e.VolumeID, e.Epoch); err != nil {
			return model.Wrap(agentauth.ErrStaleEpoch, err, "stale epoch")
		}
	}
	return nil
}

func (a *fencedAgent) CreateLeg(ctx context.Context, id string, size int64) (pool.LegInfo, error) {
	if err := a.admit(ctx); err != nil {
		return pool.LegInfo{}, err
	}
	return a.Agent.CreateLeg(ctx, id, size)
}

func (a *fencedAgent) ExtendLeg(ctx context.Context, id string, size int64) (pool.LegInfo, error) {
	if err := a.admit(ctx); err != nil {
		return pool.LegInfo{}, err
	}
	return a.Agent.ExtendLeg(ctx, id, size)
}

func (a *fencedAgent) DeleteLeg(ctx context.Context, id string) error {
	if err := a.admit(ctx); err != nil {
		return err
	}
	return a.Agent.DeleteLeg(ctx, id)
}

func (a *fencedAgent) ExportLeg(ctx context.Context, legID string, acc target.Access) (target.Export, error) {
	if err := a.admit(ctx); err != nil {
		return target.Export{}, err
	}
	return a.Agent.ExportLeg(ctx, legID, acc)
}

// TestFencedTakeover: manager 1 stalls in the middle of a create; manager 2 finds the workflow
// stale, takes it over (bumping the volume's epoch) and finishes it; when manager 1 wakes up,
// its next agent call is refused for its stale epoch and it stops without touching the
// workflow or the volume.
func TestFencedTakeover(t *testing.T) {
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			r := newRig(t, dialect)
			fences := map[string]*agentauth.Fence{}
			for n := range r.dpvs {
				fences[n], _ = agentauth.OpenFence("")
			}
			stalled, release := make(chan struct{}), make(chan struct{})
			var once sync.Once
			gate := func() {
				once.Do(func() {
					close(stalled)
					<-release
				})
			}
			m1, err := New(r.db, r.m.bus, func(p *model.DPV) Agent {
				return &fencedAgent{Agent: r.dpvs[p.ID], fence: fences[p.ID], gate: gate}
			}, Options{Host: "mgr-1", SweepInterval: time.Hour, StaleAfter: time.Hour}, slog.New(slog.DiscardHandler))
			require.NoError(t, err)
			m2, err := New(r.db, r.m.bus, func(p *model.DPV) Agent {
				return &fencedAgent{Agent: r.dpvs[p.ID], fence: fences[p.ID]}
			}, Options{Host: "mgr-2", SweepInterval: time.Hour, StaleAfter: time.Nanosecond}, slog.New(slog.DiscardHandler))
			require.NoError(t, err)

			id := r.volume("v1", 1, model.Layout{Mirrors: 2, Stripes: 2, ChunkKiB: 512}, "", "")
			done := make(chan error, 1)
			go func() { done <- m1.RunWorkflow(ctx, id) }()
			<-stalled
			epoch1 := r.vol("v1").Epoch

			require.NoError(t, m2.RunWorkflow(ctx, id))
			w, err := r.db.Store().GetWorkflow(ctx, id)
			require.NoError(t, err)
			require.Equal(t, model.WfDone, w.State)
			require.Equal(t, "mgr-2", w.Owner)
			require.Equal(t, model.StatusAvailable, r.vol("v1").Status)
			require.Greater(t, r.vol("v1").Epoch, epoch1)
			calls := 0
			for _, d := range r.dpvs {
				calls += len(d.calls)
			}

			close(release)
			require.NoError(t, <-done, "a fenced-off manager stops quietly")
			after := 0
			for _, d := range r.dpvs {
				after += len(d.calls)
			}
			require.Equal(t, calls, after, "manager 1 reached no dpv after it was fenced off")
			w2, err := r.db.Store().GetWorkflow(ctx, id)
			require.NoError(t, err)
			require.Equal(t, model.WfDone, w2.State, "manager 1 wrote nothing")
			require.Equal(t, "mgr-2", w2.Owner)
			require.Empty(t, w2.Error)
			require.Equal(t, model.StatusAvailable, r.vol("v1").Status)
			for _, l := range r.legs("v1") {
				require.Equal(t, model.LegAvailable, l.Status)
			}
		})
	}
}
