package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPercentile(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	tests := []struct {
		name    string
		lat     []time.Duration
		p, want float64
	}{
		{"empty", nil, 0.5, 0},
		{"one", []time.Duration{ms(7)}, 0.99, 7},
		{"median of unsorted", []time.Duration{ms(9), ms(1), ms(5)}, 0.5, 5},
		{"p99 of 100", func() []time.Duration {
			var l []time.Duration
			for i := 100; i >= 1; i-- {
				l = append(l, ms(i))
			}
			return l
		}(), 0.99, 99},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { require.Equal(t, tc.want, percentile(tc.lat, tc.p)) })
	}
}

func TestReadProcSelf(t *testing.T) {
	s, err := readProc(os.Getpid())
	require.NoError(t, err)
	require.Positive(t, s.RSSKiB)
	require.GreaterOrEqual(t, s.PeakKiB, s.RSSKiB)
	_, err = readProc(-1)
	require.Error(t, err)
}

// drive counts successes and failures apart and holds exactly conns connections.
func TestDriveCountsAndConnections(t *testing.T) {
	var calls atomic.Int64
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1)%4 == 0 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	r := drive(context.Background(), "t", 3, 300*time.Millisecond, func(ctx context.Context, c *http.Client, _ int) error {
		return get(ctx, c, srv.URL, "", http.StatusOK)
	})
	require.Positive(t, r.Requests)
	require.Positive(t, r.Errors)
	require.Equal(t, calls.Load(), int64(r.Requests+r.Errors))
	require.Contains(t, r.FirstError, "500")
	require.EqualValues(t, 3, conns.Load(), "one kept-alive connection per worker")
	require.InDelta(t, float64(r.Requests)/r.Seconds, r.RPS, 1e-9)
}

func TestRetry(t *testing.T) {
	n := 0
	err := retry(context.Background(), func() error {
		n++
		if n < 2 {
			return errors.New("not yet")
		}
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, 2, n)
}
