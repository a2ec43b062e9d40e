package assemble

import (
	"bytes"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/dlvm-project/dlvm/connector/blockdev"
	"github.com/stretchr/testify/require"
)

func TestMirrorReturningLegCopiesOnlyDirty(t *testing.T) {
	const region, size = 4096, 64 * 4096
	raw := mems(2, size)
	legs, fs := faulties(raw)
	ev := &legEvents{}
	bm := NewMemBitmap(0)
	m := newMirror(t, legs, MirrorOptions{RegionSize: region, Bitmap: bm, ClearInterval: -1, OnLegState: ev.on})
	r := rand.New(rand.NewPCG(3, 3))
	_, err := m.WriteAt(fill(r, size), 0)
	require.NoError(t, err)
	require.NoError(t, m.Flush())
	requireClean(t, bm)

	fs[1].Set(blockdev.FaultError)
	written := []int64{3, 4, 17, 40} // region 3 and 4 by one write crossing the boundary
	_, err = m.WriteAt(fill(r, 100), 4*region-50)
	require.NoError(t, err)
	for _, reg := range written[2:] {
		_, err = m.WriteAt(fill(r, 10), reg*region+7)
		require.NoError(t, err)
	}
	require.NoError(t, m.Flush())
	d, _ := bm.Dirty()
	require.Equal(t, written, d)

	back := &blockdev.Faulty{Device: raw[1]} // the same leg returns, through a new session
	require.NoError(t, m.ReplaceLeg(1, back, false))
	require.NoError(t, m.WaitResync(t.Context()))
	require.EqualValues(t, len(written), back.Writes(), "only dirty regions are copied")
	require.Equal(t, []LegState{LegOK, LegOK}, m.Health())
	requireSame(t, size, raw...)
	require.NoError(t, m.Flush())
	requireClean(t, bm)
	require.Equal(t, []string{"1:failed", "1:resyncing", "1:ok"}, ev.list())
}

// TestMirrorResyncUnderWrites replaces a leg while writers keep hitting every region with
// overlapping writes; a resync that copied a region concurrently with a write would leave the
// new leg stale and the final comparison would fail.
func TestMirrorResyncUnderWrites(t *testing.T) {
	for _, tc := range []struct {
		name string
		full bool
	}{{"returning leg", false}, {"new leg", true}} {
		t.Run(tc.name, func(t *testing.T) {
			const region, size = 4096, 1 << 20
			raw := mems(2, size)
			legs, fs := faulties(raw)
			m := newMirror(t, legs, MirrorOptions{RegionSize: region, ClearInterval: time.Millisecond})
			write := func(r *rand.Rand) {
				n := 1 + r.IntN(3*region)
				_, err := m.WriteAt(fill(r, n), r.Int64N(size-int64(n)))
				require.NoError(t, err)
			}
			r := rand.New(rand.NewPCG(1, 1))
			fs[1].Set(blockdev.FaultError)
			for range 400 { // dirty most regions while leg 1 is away
				write(r)
			}
			var dev blockdev.Device = &blockdev.Faulty{Device: raw[1]}
			if tc.full {
				raw[1] = blockdev.NewMem(size)
				dev = raw[1]
			}
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for g := range 6 {
				wg.Go(func() {
					r := rand.New(rand.NewPCG(uint64(g), 2))
					for {
						select {
						case <-stop:
							return
						default:
							write(r)
						}
					}
				})
			}
			time.Sleep(5 * time.Millisecond)
			require.NoError(t, m.ReplaceLeg(1, dev, tc.full))
			require.NoError(t, m.WaitResync(t.Context()))
			time.Sleep(5 * time.Millisecond) // writes continue with both legs in sync
			close(stop)
			wg.Wait()
			require.Equal(t, []LegState{LegOK, LegOK}, m.Health())
			requireSame(t, size, raw...)
		})
	}
}

func TestMirrorCrashRecovery(t *testing.T) {
	const region, size = 4096, 256 << 10
	path := filepath.Join(t.TempDir(), "bitmap")
	raw := mems(2, size)
	legs, fs := faulties(raw)
	bm, err := OpenFileBitmap(path, size/region)
	require.NoError(t, err)
	m1, err := NewMirror(legs, MirrorOptions{RegionSize: region, Bitmap: bm, ClearInterval: -1})
	require.NoError(t, err)
	r := rand.New(rand.NewPCG(5, 5))
	_, err = m1.WriteAt(fill(r, size), 0)
	require.NoError(t, err)
	require.NoError(t, m1.Flush()) // every region clean on disk

	fs[1].SetWrites(blockdev.FaultDrop) // leg 1 acknowledges and loses what follows
	model := readAll(t, raw[0])
	for range 30 {
		n := 1 + r.IntN(2*region)
		off := r.Int64N(size - int64(n))
		data := fill(r, n)
		_, err := m1.WriteAt(data, off)
		require.NoError(t, err)
		copy(model[off:], data)
	}
	require.False(t, bytes.Equal(readAll(t, raw[0]), readAll(t, raw[1])), "precondition: legs differ")
	// crash: m1 is dropped without Flush or Close.

	bm2, err := OpenFileBitmap(path, size/region)
	require.NoError(t, err)
	m2 := newMirror(t, []blockdev.Device{raw[0], raw[1]}, MirrorOptions{RegionSize: region, Bitmap: bm2, ClearInterval: -1})
	for range 20 { // before recovery, reads come from the source leg only
		require.Equal(t, model, readAll(t, m2))
	}
	require.NoError(t, m2.RecoverDirty(t.Context()))
	requireSame(t, size, raw...)
	require.Equal(t, model, readAll(t, raw[1]))
	require.NoError(t, m2.Flush())
	requireClean(t, bm2)
	require.NoError(t, m2.RecoverDirty(t.Context()), "nothing left to recover")
}

func TestMirrorRecoverFromNamedSource(t *testing.T) {
	const region = 4096
	raw := mems(2, 4*region)
	_, err := raw[1].WriteAt([]byte("newer"), region+1) // leg 1 was the last in sync
	require.NoError(t, err)
	bm := NewMemBitmap(4)
	require.NoError(t, bm.Set(1))
	m := newMirror(t, raw, MirrorOptions{RegionSize: region, Bitmap: bm, Source: 1})
	require.NoError(t, m.RecoverDirty(t.Context()))
	requireSame(t, 4*region, raw...)
	got := make([]byte, 5)
	_, err = raw[0].ReadAt(got, region+1)
	require.NoError(t, err)
	require.Equal(t, "newer", string(got))
}

func TestMirrorReplaceErrors(t *testing.T) {
	m := newMirror(t, mems(2, 8192), MirrorOptions{})
	require.Error(t, m.ReplaceLeg(2, blockdev.NewMem(8192), true))
	require.Error(t, m.ReplaceLeg(0, nil, true))
	require.ErrorIs(t, m.ReplaceLeg(0, blockdev.NewMem(4096), true), blockdev.ErrOutOfRange)
	_, err := NewMirror([]blockdev.Device{nil, nil}, MirrorOptions{})
	require.Error(t, err, "no leg present")
	require.NoError(t, m.Close())
	require.ErrorIs(t, m.ReplaceLeg(0, blockdev.NewMem(8192), true), blockdev.ErrClosed)
}
