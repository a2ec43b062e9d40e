package iscsi

import (
	"bytes"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/dlvm-project/dlvm/connector/blockdev"
	"github.com/stretchr/testify/require"
)

func (d *tgtd) signal(sig syscall.Signal) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd != nil {
		_ = d.cmd.Process.Signal(sig)
	}
}

// kill -9 tgtd in the middle of 64 writers, restart it: every I/O completes and the data is
// right, in the session and in the backing file.
func TestReconnectAfterTargetRestart(t *testing.T) {
	d := startTgtd(t, tgtdConfig{})
	s := dial(t, d, Options{Log: testLog(t), ReconnectTimeout: 20 * time.Second})
	type result struct {
		want map[int64][]byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		w, err := hammer(s, 64, 16<<20, 4*time.Second)
		done <- result{w, err}
	}()
	time.Sleep(time.Second)
	d.kill()
	require.Eventually(t, func() bool { return !s.Healthy() }, 5*time.Second, 10*time.Millisecond)
	time.Sleep(500 * time.Millisecond)
	require.NoError(t, d.start())
	require.Eventually(t, s.Healthy, 10*time.Second, 10*time.Millisecond)
	r := <-done
	require.NoError(t, r.err)
	require.NoError(t, s.Flush())
	f, err := os.Open(d.file)
	require.NoError(t, err)
	defer f.Close()
	got := make([]byte, 4096)
	for off, exp := range r.want {
		_, err := f.ReadAt(got, off)
		require.NoError(t, err)
		require.True(t, bytes.Equal(exp, got), "backing file differs at %d", off)
	}
}

// tgtd stays down: I/O fails with ErrIO once ReconnectTimeout has passed; when tgtd returns
// the session heals by itself.
func TestTargetStaysDown(t *testing.T) {
	d := startTgtd(t, tgtdConfig{})
	s := dial(t, d, Options{Log: testLog(t), ReconnectTimeout: time.Second})
	buf := randBytes(4096)
	_, err := s.WriteAt(buf, 0)
	require.NoError(t, err)
	d.kill()
	start := time.Now()
	_, err = s.WriteAt(buf, 4096)
	require.ErrorIs(t, err, blockdev.ErrIO)
	require.Less(t, time.Since(start), 5*time.Second)
	require.False(t, s.Healthy())
	_, err = s.ReadAt(buf, 0) // fails fast while down
	require.ErrorIs(t, err, blockdev.ErrIO)

	require.NoError(t, d.start())
	require.Eventually(t, s.Healthy, 10*time.Second, 20*time.Millisecond)
	got := make([]byte, 4096)
	_, err = s.ReadAt(got, 0)
	require.NoError(t, err)
	require.Equal(t, buf, got)
}

// A frozen target (SIGSTOP: TCP stays up, nothing answers) is noticed by the NOP-Out pings and
// I/O fails with ErrIO after ReconnectTimeout instead of hanging for IOTimeout.
func TestPingDetectsHungTarget(t *testing.T) {
	d := startTgtd(t, tgtdConfig{})
	s := dial(t, d, Options{Log: testLog(t), PingInterval: 200 * time.Millisecond,
		ReconnectTimeout: time.Second, IOTimeout: time.Minute})
	// Idle for several ping intervals: pings are answered, the session stays up.
	time.Sleep(time.Second)
	require.True(t, s.Healthy())
	buf := make([]byte, 4096)
	_, err := s.ReadAt(buf, 0)
	require.NoError(t, err)

	d.signal(syscall.SIGSTOP)
	t.Cleanup(func() { d.signal(syscall.SIGCONT) })
	start := time.Now()
	_, err = s.ReadAt(buf, 0)
	require.ErrorIs(t, err, blockdev.ErrIO)
	require.Less(t, time.Since(start), 10*time.Second)
}

func TestFlushAndDiscard(t *testing.T) {
	tests := []struct {
		name      string
		thin      bool
		wantZeros bool
	}{
		{"thin LUN unmaps", true, true},
		{"thick LUN ignores discard", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := startTgtd(t, tgtdConfig{thin: tc.thin})
			s := dial(t, d, Options{Log: testLog(t)})
			require.Equal(t, tc.thin, s.unmap)
			data := randBytes(1 << 20)
			_, err := s.WriteAt(data, 1<<20)
			require.NoError(t, err)
			require.NoError(t, s.Flush())
			require.NoError(t, s.Discard(1<<20+100, 1<<20-100)) // unaligned head: first block kept
			got := make([]byte, 1<<20)
			_, err = s.ReadAt(got, 1<<20)
			require.NoError(t, err)
			require.Equal(t, data[:512], got[:512])
			if tc.wantZeros {
				require.Equal(t, make([]byte, 1<<20-512), got[512:])
			} else {
				require.Equal(t, data, got)
			}
			require.ErrorIs(t, s.Discard(s.Size()-512, 1024), blockdev.ErrOutOfRange)
		})
	}
}
