package assemble

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// acquired reports whether lock(off, end) is granted within a short wait.
func acquired(l *rangeLock, off, end int64) (bool, chan func()) {
	ch := make(chan func(), 1)
	go func() { ch <- l.lock(off, end) }()
	select {
	case u := <-ch:
		u()
		return true, nil
	case <-time.After(30 * time.Millisecond):
		return false, ch
	}
}

func TestRangeLock(t *testing.T) {
	var l rangeLock
	unlockA := l.lock(0, 100)
	ok, _ := acquired(&l, 100, 200)
	require.True(t, ok, "disjoint ranges run concurrently")
	ok, waitB := acquired(&l, 50, 150)
	require.False(t, ok, "overlapping range waits")
	// a later request overlapping only the waiting one queues behind it (no starvation)
	ok, waitC := acquired(&l, 120, 130)
	require.False(t, ok, "a later request does not overtake an earlier overlapping waiter")
	unlockA()
	unlockB := <-waitB
	select {
	case <-waitC:
		t.Fatal("C granted while B holds an overlapping range")
	case <-time.After(20 * time.Millisecond):
	}
	unlockB()
	(<-waitC)()
	require.Empty(t, l.q)
}
