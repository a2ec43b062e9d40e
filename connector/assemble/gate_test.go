package assemble

import (
	"context"
	"testing"
	"time"

	"github.com/dlvm-project/dlvm/connector/blockdev"
	"github.com/stretchr/testify/require"
)

func TestGate(t *testing.T) {
	f := &blockdev.Faulty{Device: blockdev.NewMem(4096)}
	g := NewGate(f)
	f.SetWrites(blockdev.FaultHang) // one write in flight that does not finish yet
	inflight := make(chan error, 1)
	go func() { _, err := g.WriteAt([]byte{1}, 0); inflight <- err }()
	require.Eventually(t, func() bool { return f.Writes() == 1 }, 5*time.Second, time.Millisecond)

	quiesced := make(chan func(), 1)
	go func() {
		resume, err := g.Quiesce(context.Background())
		require.NoError(t, err)
		quiesced <- resume
	}()
	select {
	case <-quiesced:
		t.Fatal("Quiesce returned with a write in flight")
	case <-time.After(30 * time.Millisecond):
	}
	f.SetWrites(blockdev.FaultNone) // the in-flight write completes (with an error)
	require.Error(t, <-inflight)
	resume := <-quiesced

	blocked := make(chan error, 1)
	go func() { _, err := g.WriteAt([]byte{2}, 0); blocked <- err }()
	select {
	case <-blocked:
		t.Fatal("write went through a quiesced gate")
	case <-time.After(30 * time.Millisecond):
	}
	require.EqualValues(t, 1, f.Writes(), "the blocked write has not reached the device")
	resume()
	resume() // idempotent
	require.NoError(t, <-blocked)
	b := make([]byte, 1)
	_, err := g.ReadAt(b, 0)
	require.NoError(t, err)
	require.Equal(t, byte(2), b[0])
}

func TestGateQuiesceCancelled(t *testing.T) {
	f := &blockdev.Faulty{Device: blockdev.NewMem(4096)}
	g := NewGate(f)
	f.SetWrites(blockdev.FaultHang)
	go func() { _, _ = g.WriteAt([]byte{1}, 0) }()
	require.Eventually(t, func() bool { return f.Writes() == 1 }, 5*time.Second, time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := g.Quiesce(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	_, err = g.ReadAt(make([]byte, 1), 0)
	require.NoError(t, err, "a failed Quiesce leaves the gate open")
	f.SetWrites(blockdev.FaultNone)
	resume, err := g.Quiesce(context.Background())
	require.NoError(t, err)
	resume()
}
