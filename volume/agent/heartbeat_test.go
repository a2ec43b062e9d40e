package agent

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/volume/pool"
	"github.com/dlvm-project/dlvm/volume/rpc"
)

type fakeStats struct {
	mu   sync.Mutex
	free int64
	err  error
}

func (f *fakeStats) Capacity(context.Context) (pool.Stats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.free -= 10
	return pool.Stats{TotalBytes: 1000, FreeBytes: f.free}, f.err
}

func (f *fakeStats) Type() string { return "lvm" }

type fakeCaster struct {
	mu    sync.Mutex
	beats []rpc.DPVHeartbeat
	topic []string
	stop  func()
	n     int
}

func (f *fakeCaster) Cast(_ context.Context, topic, method string, args any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.topic = append(f.topic, topic+"/"+method)
	f.beats = append(f.beats, args.(rpc.DPVHeartbeat))
	if len(f.beats) == f.n {
		f.stop()
	}
	return errors.New("bus down") // logged and retried, never fatal
}

func TestRunHeartbeat(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hctx, stop := context.WithCancel(ctx)
	caster := &fakeCaster{stop: stop, n: 3}
	src := &fakeStats{free: 500}
	tmpl := rpc.DPVHeartbeat{ID: "d1", Name: "dpv1", DVG: "gold", URL: "http://127.0.0.1:1"}

	err := RunHeartbeat(hctx, src, caster, tmpl, time.Millisecond, nil)
	require.ErrorIs(t, err, context.Canceled)
	require.NoError(t, ctx.Err(), "heartbeat must stop when its context ends")
	require.Len(t, caster.beats, 3)
	for i, b := range caster.beats {
		require.Equal(t, rpc.TopicVolume+"/"+rpc.MethodDPVHeartbeat, caster.topic[i])
		want := tmpl
		want.PoolType, want.TotalBytes, want.FreeBytes = "lvm", 1000, int64(490-10*i)
		require.Equal(t, want, b, "beat %d carries fresh stats", i)
	}
}
