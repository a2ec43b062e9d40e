package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/connector"
)

// fakeEngine records what it is asked and keeps attached volumes in a map.
type fakeEngine struct {
	mu       sync.Mutex
	attached map[string]connector.Plan
	paused   map[string]int // volume -> active pauses
	resumes  int
	failNext error
}

func newFakeEngine() *fakeEngine {
	return &fakeEngine{attached: map[string]connector.Plan{}, paused: map[string]int{}}
}

func (f *fakeEngine) take() error {
	err := f.failNext
	f.failNext = nil
	return err
}

func (f *fakeEngine) Attach(ctx context.Context, p connector.Plan) (*connector.Attached, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.take(); err != nil {
		return nil, err
	}
	f.attached[p.VolumeID] = p
	return &connector.Attached{VolumeID: p.VolumeID, DevicePath: "/dev/loop7"}, nil
}

func (f *fakeEngine) Detach(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.attached, id)
	return f.take()
}

func (f *fakeEngine) Extend(ctx context.Context, p connector.Plan) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.attached[p.VolumeID]; !ok {
		return ErrUnknownVolume
	}
	f.attached[p.VolumeID] = p
	return nil
}

func (f *fakeEngine) ReplaceLeg(ctx context.Context, id, old string, leg connector.PlanLeg) error {
	return nil
}

func (f *fakeEngine) Health(ctx context.Context, id string) ([]connector.LegHealth, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.attached[id]
	if !ok {
		return nil, ErrUnknownVolume
	}
	var out []connector.LegHealth
	for _, l := range p.Legs {
		out = append(out, connector.LegHealth{LegID: l.LegID, State: "ok"})
	}
	return out, nil
}

func (f *fakeEngine) Quiesce(ctx context.Context, id string) (func(), error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.attached[id]; !ok {
		return nil, ErrUnknownVolume
	}
	f.paused[id]++
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.paused[id]--
		f.resumes++
	}, nil
}

func (f *fakeEngine) state() (paused map[string]int, resumes int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]int{}
	for k, v := range f.paused {
		out[k] = v
	}
	return out, f.resumes
}

// manualTimers is an AfterFunc whose timers fire when the test says so.
type manualTimers struct {
	mu  sync.Mutex
	fns []func()
	ds  []time.Duration
}

func (m *manualTimers) after(d time.Duration, f func()) func() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	i := len(m.fns)
	m.fns = append(m.fns, f)
	m.ds = append(m.ds, d)
	return func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		live := m.fns[i] != nil
		m.fns[i] = nil
		return live
	}
}

func (m *manualTimers) fireAll() {
	m.mu.Lock()
	fns := append([]func(){}, m.fns...)
	for i := range m.fns {
		m.fns[i] = nil
	}
	m.mu.Unlock()
	for _, f := range fns {
		if f != nil {
			f()
		}
	}
}

func plan(id string) connector.Plan {
	return connector.Plan{VolumeID: id, SizeBytes: 1 << 30, Mirrors: 2, Stripes: 1, ChunkKiB: 512,
		Legs: []connector.PlanLeg{{LegID: "l0", Mirror: 0}, {LegID: "l1", Mirror: 1}}}
}

func start(t *testing.T, token string) (*fakeEngine, *Client, *manualTimers) {
	t.Helper()
	eng := newFakeEngine()
	timers := &manualTimers{}
	s := NewServer(eng, ServerOptions{Token: token, AfterFunc: timers.after}, nil)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	t.Cleanup(s.Close)
	return eng, NewClient(srv.URL, nil, token), timers
}

func TestAttachDetachExtendHealth(t *testing.T) {
	ctx := context.Background()
	eng, c, _ := start(t, "sekret")
	a, err := c.Attach(ctx, plan("vol-1"))
	require.NoError(t, err)
	require.Equal(t, &connector.Attached{VolumeID: "vol-1", DevicePath: "/dev/loop7"}, a)

	hs, err := c.Health(ctx, "vol-1")
	require.NoError(t, err)
	require.Equal(t, []connector.LegHealth{{LegID: "l0", State: "ok"}, {LegID: "l1", State: "ok"}}, hs)

	bigger := plan("vol-1")
	bigger.SizeBytes *= 2
	require.NoError(t, c.Extend(ctx, bigger))
	require.EqualValues(t, 2<<30, eng.attached["vol-1"].SizeBytes)

	require.NoError(t, c.Detach(ctx, "vol-1"))
	require.NoError(t, c.Detach(ctx, "vol-1"), "detaching a detached volume is success")
	_, err = c.Health(ctx, "vol-1")
	var de *Error
	require.ErrorAs(t, err, &de)
	require.True(t, de.NotFound())
	require.ErrorAs(t, c.Extend(ctx, plan("vol-1")), &de)
	require.Equal(t, http.StatusNotFound, de.Status)
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		call   func(c *Client, eng *fakeEngine) error
		status int
		temp   bool
	}{
		{"bad plan", func(c *Client, _ *fakeEngine) error {
			p := plan("vol-1")
			p.Legs = p.Legs[:1]
			_, err := c.Attach(ctx, p)
			return err
		}, http.StatusBadRequest, false},
		{"engine failure", func(c *Client, eng *fakeEngine) error {
			eng.failNext = errors.New("iscsi login refused")
			_, err := c.Attach(ctx, plan("vol-1"))
			return err
		}, http.StatusInternalServerError, false},
		{"temporary engine failure", func(c *Client, eng *fakeEngine) error {
			eng.failNext = ErrTemporary
			_, err := c.Attach(ctx, plan("vol-1"))
			return err
		}, http.StatusServiceUnavailable, true},
		{"wrong token", func(c *Client, _ *fakeEngine) error {
			return NewClient(c.base, nil, "wrong").Detach(ctx, "vol-1")
		}, http.StatusUnauthorized, false},
		{"missing volume id", func(c *Client, _ *fakeEngine) error { return c.Detach(ctx, "") }, http.StatusBadRequest, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eng, c, _ := start(t, "sekret")
			err := tc.call(c, eng)
			var de *Error
			require.ErrorAs(t, err, &de)
			require.Equal(t, tc.status, de.Status, "err %v", err)
			require.Equal(t, tc.temp, de.Temporary())
		})
	}
	t.Run("unreachable is temporary", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		srv.Close()
		err := NewClient(srv.URL, nil, "").Detach(ctx, "vol-1")
		var de *Error
		require.ErrorAs(t, err, &de)
		require.Zero(t, de.Status)
		require.True(t, de.Temporary())
	})
}

func TestQuiesce(t *testing.T) {
	ctx := context.Background()
	t.Run("resume ends the pause once", func(t *testing.T) {
		eng, c, timers := start(t, "")
		_, err := c.Attach(ctx, plan("vol-1"))
		require.NoError(t, err)
		require.NoError(t, c.Quiesce(ctx, "vol-1", 10*time.Second))
		require.NoError(t, c.Quiesce(ctx, "vol-1", 20*time.Second), "a second quiesce moves the deadline")
		paused, _ := eng.state()
		require.Equal(t, 1, paused["vol-1"], "the engine paused once")
		require.Equal(t, []time.Duration{10 * time.Second, 20 * time.Second}, timers.ds)

		require.NoError(t, c.Resume(ctx, "vol-1"))
		require.NoError(t, c.Resume(ctx, "vol-1"), "resuming a running volume is success")
		timers.fireAll()
		paused, resumes := eng.state()
		require.Equal(t, 0, paused["vol-1"])
		require.Equal(t, 1, resumes, "resumed exactly once")
	})
	t.Run("timeout resumes by itself", func(t *testing.T) {
		eng, c, timers := start(t, "")
		_, err := c.Attach(ctx, plan("vol-1"))
		require.NoError(t, err)
		require.NoError(t, c.Quiesce(ctx, "vol-1", time.Hour))
		require.Equal(t, []time.Duration{MaxQuiesceTimeout}, timers.ds, "capped")
		timers.fireAll()
		paused, resumes := eng.state()
		require.Equal(t, 0, paused["vol-1"])
		require.Equal(t, 1, resumes)
		require.NoError(t, c.Resume(ctx, "vol-1"))
		_, resumes = eng.state()
		require.Equal(t, 1, resumes, "a late resume does nothing")
	})
	t.Run("unknown volume", func(t *testing.T) {
		_, c, _ := start(t, "")
		var de *Error
		require.ErrorAs(t, c.Quiesce(ctx, "nope", 0), &de)
		require.True(t, de.NotFound())
	})
}

type recCaster struct {
	mu    sync.Mutex
	casts []string
}

func (r *recCaster) Cast(ctx context.Context, topic, method string, args any) error {
	b, _ := json.Marshal(args)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.casts = append(r.casts, topic+" "+method+" "+string(b))
	return nil
}

func TestHeartbeat(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	rc := &recCaster{}
	done := make(chan error)
	go func() {
		done <- RunHeartbeat(ctx, rc, Report{Host: "compute-1", URL: "http://h:8810", Initiator: "iqn.x"},
			HeartbeatOptions{Topic: "dlvm-volume", Method: "ihost_heartbeat", Interval: 5 * time.Millisecond}, nil)
	}()
	require.Eventually(t, func() bool {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		return len(rc.casts) >= 2
	}, 5*time.Second, time.Millisecond)
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	require.Equal(t, `dlvm-volume ihost_heartbeat {"host":"compute-1","url":"http://h:8810","initiator":"iqn.x"}`, rc.casts[0])
}
