package daemon

import (
	"context"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/connector"
)

// sickEngine is a fakeEngine whose legs report the state set in failed.
type sickEngine struct {
	*fakeEngine
	mu     sync.Mutex
	failed map[string]bool // leg id -> failed
}

func (e *sickEngine) Health(ctx context.Context, id string) ([]connector.LegHealth, error) {
	hs, err := e.fakeEngine.Health(ctx, id)
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := range hs {
		if e.failed[hs[i].LegID] {
			hs[i].State, hs[i].DirtyRegions = "failed", 7
		}
	}
	return hs, err
}

func (e *sickEngine) fail(leg string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.failed[leg] = true
}

// TestHealthReports: the daemon reports every volume attached through it, at once when a leg
// changes state, and forgets detached volumes.
func TestHealthReports(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	eng := &sickEngine{fakeEngine: newFakeEngine(), failed: map[string]bool{}}
	s := NewServer(eng, ServerOptions{}, nil)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	c := NewClient(srv.URL, nil, "")

	require.Equal(t, HealthReport{Host: "compute-1", Volumes: []VolumeHealth{}}, s.Report(ctx, "compute-1"))
	_, err := c.Attach(ctx, plan("vol-1"))
	require.NoError(t, err)
	require.Equal(t, HealthReport{Host: "compute-1", Volumes: []VolumeHealth{{VolumeID: "vol-1",
		Legs: []connector.LegHealth{{LegID: "l0", State: "ok"}, {LegID: "l1", State: "ok"}}}}}, s.Report(ctx, "compute-1"))

	rc := &recCaster{}
	done := make(chan error)
	go func() {
		done <- RunHealthReports(ctx, rc, s, "compute-1", ReportOptions{Topic: "dlvm-volume", Method: "leg_health", Interval: time.Hour}, nil)
	}()
	casts := func() []string {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		return append([]string(nil), rc.casts...)
	}
	require.Eventually(t, func() bool { return len(casts()) == 1 }, 5*time.Second, time.Millisecond)
	eng.fail("l1") // a state change is reported within a second, long before the interval
	require.Eventually(t, func() bool { return len(casts()) == 2 }, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, c.Detach(ctx, "vol-1"))
	require.Eventually(t, func() bool { return len(casts()) == 3 }, 5*time.Second, 10*time.Millisecond)
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	got := casts()
	require.Equal(t, `dlvm-volume leg_health {"host":"compute-1","volumes":[{"volume_id":"vol-1","legs":[{"leg_id":"l0","state":"ok"},{"leg_id":"l1","state":"ok"}]}]}`, got[0])
	require.Equal(t, `dlvm-volume leg_health {"host":"compute-1","volumes":[{"volume_id":"vol-1","legs":[{"leg_id":"l0","state":"ok"},{"leg_id":"l1","state":"failed","dirty_regions":7}]}]}`, got[1])
	require.Equal(t, `dlvm-volume leg_health {"host":"compute-1","volumes":[]}`, got[2])
}
