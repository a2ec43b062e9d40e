package db_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
)

func TestWorkflowCRUD(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, d *db.DB) {
		s := d.Store()
		w := &model.Workflow{ID: "w1", Kind: model.WfCreateVolume, VolumeID: "vol-1", Params: []byte(`{"size":1}`),
			CreatedAt: base, UpdatedAt: base}
		require.NoError(t, s.CreateWorkflow(ctx, w))
		require.Equal(t, model.WfPending, w.State)
		require.ErrorIs(t, s.CreateWorkflow(ctx, &model.Workflow{ID: "w1"}), model.ErrConflict)

		got, err := s.GetWorkflow(ctx, "w1")
		require.NoError(t, err)
		require.Equal(t, w, got)
		_, err = s.GetWorkflow(ctx, "nope")
		require.ErrorIs(t, err, model.ErrNotFound)

		got.State, got.Step, got.Params, got.Owner, got.Attempts, got.Error = model.WfRunning, 3, []byte(`{}`), "m1", 2, "oops"
		require.NoError(t, s.UpdateWorkflow(ctx, got))
		again, err := s.GetWorkflow(ctx, "w1")
		require.NoError(t, err)
		require.Equal(t, got, again)
		require.True(t, again.UpdatedAt.After(base))
		require.ErrorIs(t, s.UpdateWorkflow(ctx, &model.Workflow{ID: "nope"}), model.ErrNotFound)

		// Unfinished: oldest first, done and failed excluded.
		for i, st := range []string{model.WfDone, model.WfScheduled, model.WfFailed, model.WfPending} {
			require.NoError(t, s.CreateWorkflow(ctx, &model.Workflow{ID: fmt.Sprintf("w%d", i+2), Kind: model.WfDeleteVolume,
				State: st, CreatedAt: base.Add(time.Duration(i+1) * time.Second)}))
		}
		open, err := s.ListUnfinishedWorkflows(ctx)
		require.NoError(t, err)
		ids := []string{}
		for _, w := range open {
			ids = append(ids, w.ID)
		}
		require.Equal(t, []string{"w1", "w3", "w5"}, ids)
	})
}

func TestClaimWorkflow(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, d *db.DB) {
		s := d.Store()
		long := time.Now().Add(-time.Hour) // nothing is this stale
		require.NoError(t, s.CreateWorkflow(ctx, &model.Workflow{ID: "w1", Kind: model.WfCreateVolume}))

		steps := []struct {
			name        string
			owner       string
			staleBefore time.Time
			want        bool
		}{
			{"unowned", "m1", long, true},
			{"other owner, fresh", "m2", long, false},
			{"same owner again", "m1", long, true},
			{"other owner, stale", "m2", time.Now().Add(time.Hour), true},
			{"previous owner lost it", "m1", long, false},
		}
		for _, st := range steps {
			t.Run(st.name, func(t *testing.T) {
				ok, err := s.ClaimWorkflow(ctx, "w1", st.owner, st.staleBefore)
				require.NoError(t, err)
				require.Equal(t, st.want, ok)
			})
		}
		w, err := s.GetWorkflow(ctx, "w1")
		require.NoError(t, err)
		require.Equal(t, "m2", w.Owner)
		_, err = s.ClaimWorkflow(ctx, "nope", "m1", long)
		require.ErrorIs(t, err, model.ErrNotFound)

		t.Run("exclusive under a race", func(t *testing.T) {
			require.NoError(t, s.CreateWorkflow(ctx, &model.Workflow{ID: "w2", Kind: model.WfCreateVolume}))
			const n = 12
			var wg sync.WaitGroup
			wins := make(chan string, n)
			for i := 0; i < n; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					owner := fmt.Sprintf("m%d", i)
					ok, err := s.ClaimWorkflow(ctx, "w2", owner, long)
					if err != nil {
						t.Errorf("claim: %v", err)
						return
					}
					if ok {
						wins <- owner
					}
				}()
			}
			wg.Wait()
			close(wins)
			var winners []string
			for o := range wins {
				winners = append(winners, o)
			}
			require.Len(t, winners, 1)
			w, err := s.GetWorkflow(ctx, "w2")
			require.NoError(t, err)
			require.Equal(t, winners[0], w.Owner)
		})
	})
}

func TestStartWorkflow(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, d *db.DB) {
		s := d.Store()
		long := time.Now().Add(-time.Hour) // nothing is this stale
		require.NoError(t, s.CreateWorkflow(ctx, &model.Workflow{ID: "w1", Kind: model.WfCreateVolume, State: model.WfScheduled, Step: 1}))

		steps := []struct {
			name         string
			owner        string
			staleBefore  time.Time
			want         bool
			wantOwner    string
			wantAttempts int
		}{
			{"unowned", "m1", long, true, "m1", 1},
			{"other owner, fresh", "m2", long, false, "m1", 1},
			{"same owner again", "m1", long, true, "m1", 2},
			{"other owner, stale", "m2", time.Now().Add(time.Hour), true, "m2", 3},
			{"previous owner lost it", "m1", long, false, "m2", 3},
		}
		for _, st := range steps {
			t.Run(st.name, func(t *testing.T) {
				ok, err := s.StartWorkflow(ctx, "w1", st.owner, st.staleBefore)
				require.NoError(t, err)
				require.Equal(t, st.want, ok)
				w, err := s.GetWorkflow(ctx, "w1")
				require.NoError(t, err)
				require.Equal(t, st.wantOwner, w.Owner)
				require.Equal(t, model.WfRunning, w.State)
				require.Equal(t, st.wantAttempts, w.Attempts)
				require.Equal(t, 1, w.Step, "the step is left as it is")
			})
		}
		_, err := s.StartWorkflow(ctx, "nope", "m1", long)
		require.ErrorIs(t, err, model.ErrNotFound)

		// a pending create or retype waits for the scheduler; other pending kinds start
		for _, tc := range []struct {
			kind string
			want bool
		}{{model.WfCreateVolume, false}, {model.WfRetypeVolume, false}, {model.WfDeleteVolume, true}} {
			t.Run("pending "+tc.kind, func(t *testing.T) {
				id := "p-" + tc.kind
				require.NoError(t, s.CreateWorkflow(ctx, &model.Workflow{ID: id, Kind: tc.kind, State: model.WfPending}))
				ok, err := s.StartWorkflow(ctx, id, "m1", long)
				require.NoError(t, err)
				require.Equal(t, tc.want, ok)
				w, err := s.GetWorkflow(ctx, id)
				require.NoError(t, err)
				if !tc.want {
					require.Equal(t, model.WfPending, w.State)
					require.Equal(t, "", w.Owner)
				} else {
					require.Equal(t, model.WfRunning, w.State)
				}
			})
		}

		for _, state := range []string{model.WfDone, model.WfFailed} {
			t.Run("finished "+state, func(t *testing.T) {
				id := "w-" + state
				require.NoError(t, s.CreateWorkflow(ctx, &model.Workflow{ID: id, Kind: model.WfCreateVolume, State: state}))
				ok, err := s.StartWorkflow(ctx, id, "m1", long)
				require.NoError(t, err)
				require.False(t, ok)
				w, err := s.GetWorkflow(ctx, id)
				require.NoError(t, err)
				require.Equal(t, state, w.State)
				require.Equal(t, "", w.Owner)
				require.Zero(t, w.Attempts)
			})
		}
	})
}
