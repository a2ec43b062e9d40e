package assemble

import (
	"bytes"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dlvm-project/dlvm/connector/blockdev"
	"github.com/stretchr/testify/require"
)

// legEvents records OnLegState calls.
type legEvents struct {
	mu sync.Mutex
	ev []string
}

func (e *legEvents) on(leg int, s LegState, _ error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ev = append(e.ev, string(rune('0'+leg))+":"+s.String())
}

func (e *legEvents) list() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.ev...)
}

func newMirror(t *testing.T, legs []blockdev.Device, opts MirrorOptions) *Mirror {
	t.Helper()
	m, err := NewMirror(legs, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })
	return m
}

func requireClean(t *testing.T, b Bitmap) {
	t.Helper()
	d, err := b.Dirty()
	require.NoError(t, err)
	require.Empty(t, d, "bitmap still dirty")
}

func TestMirrorConcurrentWritesLegsEqual(t *testing.T) {
	const size = 2 << 20
	legs := mems(3, size)
	bm := NewMemBitmap(0)
	m := newMirror(t, legs, MirrorOptions{RegionSize: 64 << 10, Bitmap: bm, ClearInterval: 2 * time.Millisecond})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for range 100 {
				n := 1 + r.IntN(64<<10) // overlapping, unaligned, crossing regions
				off := r.Int64N(size - int64(n))
				_, err := m.WriteAt(fill(r, n), off)
				require.NoError(t, err)
			}
		})
	}
	wg.Wait()
	require.NoError(t, m.Flush())
	requireSame(t, size, legs...)
	require.Equal(t, []LegState{LegOK, LegOK, LegOK}, m.Health())
	requireClean(t, bm)
}

// workload writes from several goroutines, each to its own stripe of slots, and records the
// last acknowledged content of every slot, so any lost acknowledged write is detectable.
type workload struct {
	m      blockdev.Device
	slot   int64
	slots  int64
	mu     sync.Mutex
	acked  map[int64][]byte
	writes atomic.Int64
	// onWrite, when set, runs after each acknowledged write with the number acknowledged so far.
	onWrite func(n int64)
}

func (w *workload) run(t *testing.T, workers int, stop <-chan struct{}, maxOps int) {
	var wg sync.WaitGroup
	for g := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 99))
			for i := 0; i < maxOps; i++ {
				select {
				case <-stop:
					return
				default:
				}
				s := int64(g) + int64(workers)*r.Int64N(w.slots/int64(workers))
				data := fill(r, int(w.slot))
				_, err := w.m.WriteAt(data, s*w.slot)
				require.NoError(t, err, "write lost while a leg is healthy")
				w.mu.Lock()
				w.acked[s] = data
				w.mu.Unlock()
				if n := w.writes.Add(1); w.onWrite != nil {
					w.onWrite(n)
				}
				got := make([]byte, w.slot)
				_, err = w.m.ReadAt(got, s*w.slot)
				require.NoError(t, err, "read failed while a leg is healthy")
				require.Equal(t, data, got)
			}
		})
	}
	wg.Wait()
}

func (w *workload) verify(t *testing.T, d blockdev.Device) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	got := make([]byte, w.slot)
	for s, want := range w.acked {
		_, err := d.ReadAt(got, s*w.slot)
		require.NoError(t, err)
		require.True(t, bytes.Equal(want, got), "acknowledged write to slot %d lost", s)
	}
}

func TestMirrorLegFailsMidWorkload(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault blockdev.Fault
		opts  MirrorOptions
	}{
		{"error", blockdev.FaultError, MirrorOptions{}},
		{"hung target with timeout", blockdev.FaultHang, MirrorOptions{IOTimeout: 300 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const size = 1 << 20
			raw := mems(2, size)
			legs, fs := faulties(raw)
			ev := &legEvents{}
			tc.opts.RegionSize, tc.opts.OnLegState = 16<<10, ev.on
			m := newMirror(t, legs, tc.opts)
			w := &workload{m: m, slot: 3000, slots: size / 3000, acked: map[int64][]byte{}}
			// The fault comes at the 200th acknowledged write and the workload stops at the
			// 600th, counted by the writers themselves: a goroutine polling the count could
			// wake only after the writers (memory legs are fast) had passed both marks, and then
			// no write would meet the fault.
			stop := make(chan struct{})
			w.onWrite = func(n int64) {
				switch n {
				case 200:
					fs[1].Set(tc.fault)
				case 600:
					close(stop)
				}
			}
			w.run(t, 6, stop, 1<<30)
			require.Equal(t, []LegState{LegOK, LegFailed}, m.Health())
			require.Equal(t, []string{"1:failed"}, ev.list())
			w.verify(t, m)
			w.verify(t, raw[0])
			fs[1].Set(blockdev.FaultNone) // release hung requests before Close
		})
	}
}

func TestMirrorReadFailover(t *testing.T) {
	legs, fs := faulties(mems(3, 64<<10))
	m := newMirror(t, legs, MirrorOptions{RegionSize: 4096})
	data := bytes.Repeat([]byte("x"), 10000)
	_, err := m.WriteAt(data, 100)
	require.NoError(t, err)
	fs[0].SetReads(blockdev.FaultError)
	fs[2].SetReads(blockdev.FaultError)
	for range 10 {
		got := make([]byte, len(data))
		_, err := m.ReadAt(got, 100)
		require.NoError(t, err, "a read is retried on the remaining leg")
		require.Equal(t, data, got)
	}
	require.Equal(t, []LegState{LegFailed, LegOK, LegFailed}, m.Health())
	require.Positive(t, fs[1].Reads())
}

func TestMirrorReadsBalanced(t *testing.T) {
	legs, fs := faulties(mems(2, 64<<10))
	m := newMirror(t, legs, MirrorOptions{})
	for range 100 {
		_, err := m.ReadAt(make([]byte, 512), 0)
		require.NoError(t, err)
	}
	require.InDelta(t, 50, fs[0].Reads(), 10)
	require.InDelta(t, 50, fs[1].Reads(), 10)
}

func TestMirrorAllLegsFailed(t *testing.T) {
	legs, fs := faulties(mems(2, 64<<10))
	m := newMirror(t, legs, MirrorOptions{})
	fs[0].Set(blockdev.FaultError)
	fs[1].Set(blockdev.FaultError)
	_, err := m.WriteAt([]byte{1}, 0)
	require.ErrorIs(t, err, blockdev.ErrIO)
	_, err = m.ReadAt(make([]byte, 1), 0)
	require.ErrorIs(t, err, blockdev.ErrIO)
	require.ErrorIs(t, m.Flush(), blockdev.ErrIO)
	require.ErrorIs(t, m.Discard(0, 10), blockdev.ErrIO)
	require.Equal(t, []LegState{LegFailed, LegFailed}, m.Health())
	fs[0].Set(blockdev.FaultNone)
	_, err = m.WriteAt([]byte{1}, 0)
	require.ErrorIs(t, err, blockdev.ErrIO, "a failed leg stays out until ReplaceLeg")
}

func TestMirrorWriteOnlyOnResyncingLegFails(t *testing.T) {
	// The only in-sync leg fails while the other is still resyncing: the write must not be
	// acknowledged, since no leg holding every region has it.
	legs, fs := faulties(mems(2, 64<<10))
	m := newMirror(t, []blockdev.Device{legs[0], nil}, MirrorOptions{RegionSize: 4096})
	fs[0].SetReads(blockdev.FaultHang) // the resync hangs reading region 0 from leg 0
	require.NoError(t, m.ReplaceLeg(1, legs[1], true))
	require.Eventually(t, func() bool { return fs[0].Reads() > 0 }, 5*time.Second, time.Millisecond)
	fs[0].SetWrites(blockdev.FaultError)
	_, err := m.WriteAt([]byte{1}, 5*4096)
	require.ErrorIs(t, err, blockdev.ErrIO)
	require.Equal(t, []LegState{LegFailed, LegResyncing}, m.Health())
	fs[0].SetReads(blockdev.FaultNone)
	require.NoError(t, m.WaitResync(t.Context()), "a resync with no source left ends")
	require.Equal(t, []LegState{LegFailed, LegFailed}, m.Health())
}

func TestMirrorGrowAndDiscard(t *testing.T) {
	a, b := blockdev.NewMem(8192), blockdev.NewMem(8192)
	m := newMirror(t, []blockdev.Device{a, b}, MirrorOptions{RegionSize: 4096})
	require.ErrorIs(t, m.Grow(16384), blockdev.ErrOutOfRange, "legs not grown yet")
	a.Resize(16384)
	b.Resize(16384)
	require.NoError(t, m.Grow(16384))
	require.EqualValues(t, 16384, m.Size())
	_, err := m.WriteAt(bytes.Repeat([]byte{3}, 10000), 6000)
	require.NoError(t, err)
	require.NoError(t, m.Discard(8192, 4096))
	requireSame(t, 16384, a, b)
	require.ErrorIs(t, m.Grow(4096), blockdev.ErrOutOfRange)
	_, err = m.WriteAt([]byte{1}, 16384)
	require.ErrorIs(t, err, blockdev.ErrOutOfRange)
	require.NoError(t, m.Close())
	_, err = m.WriteAt([]byte{1}, 0)
	require.ErrorIs(t, err, blockdev.ErrClosed)
}

func TestMirrorClearsOnlyWhenAllLegsOK(t *testing.T) {
	legs, fs := faulties(mems(2, 64<<10))
	bm := NewMemBitmap(0)
	m := newMirror(t, legs, MirrorOptions{RegionSize: 4096, Bitmap: bm, ClearInterval: -1})
	_, err := m.WriteAt([]byte{1}, 5000)
	require.NoError(t, err)
	d, _ := bm.Dirty()
	require.Equal(t, []int64{1}, d, "the bit is set before the write")
	require.NoError(t, m.Flush())
	requireClean(t, bm)
	fs[1].Set(blockdev.FaultError)
	_, err = m.WriteAt([]byte{1}, 9000)
	require.NoError(t, err)
	require.NoError(t, m.Flush())
	d, _ = bm.Dirty()
	require.Equal(t, []int64{2}, d, "a region written while a leg is failed stays dirty")
}
