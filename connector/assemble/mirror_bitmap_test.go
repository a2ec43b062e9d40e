package assemble

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dlvm-project/dlvm/connector/blockdev"
	"github.com/stretchr/testify/require"
)

// orderedLeg fails a write that reaches it before the bits of its regions are on disk.
type orderedLeg struct {
	blockdev.Device
	region  int64
	durable func() *FileBitmap
}

func (l *orderedLeg) WriteAt(p []byte, off int64) (int, error) {
	d, err := l.durable().Dirty()
	if err != nil {
		return 0, err
	}
	for r := off / l.region; r <= (off+int64(len(p))-1)/l.region; r++ {
		if _, ok := slices.BinarySearch(d, r); !ok {
			return 0, fmt.Errorf("write at %d reached a leg before region %d was durable in the bitmap", off, r)
		}
	}
	return l.Device.WriteAt(p, off)
}

// Concurrent first writes to many clean regions share bitmap syncs, and none reaches a leg
// before its bit is durable: a crash between the bitmap sync and the leg writes (or between
// the legs) leaves the region dirty, so the recovery after it copies the region.
func TestMirrorBitmapDurableBeforeWrite(t *testing.T) {
	const region, regions = 4096, 512
	bm, durable := durableBitmap(t, regions)
	raw := mems(2, region*regions)
	legs := []blockdev.Device{
		&orderedLeg{Device: raw[0], region: region, durable: durable},
		&orderedLeg{Device: raw[1], region: region, durable: durable},
	}
	m := newMirror(t, legs, MirrorOptions{RegionSize: region, Bitmap: bm, ClearInterval: -1})
	var wg sync.WaitGroup
	for w := range 32 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for range 40 {
				n := 1 + r.IntN(2*region)
				off := r.Int64N(region*regions - int64(n))
				_, err := m.WriteAt(fill(r, n), off)
				require.NoError(t, err)
			}
		})
	}
	wg.Wait()
	require.Equal(t, []LegState{LegOK, LegOK}, m.Health(), "no write reached a leg ahead of its bit")
	d, _ := durable().Dirty()
	require.NotEmpty(t, d)
	require.Less(t, bm.Syncs(), uint64(len(d)), "first writes to %d regions shared syncs", len(d))

	// A crash now: the copy of the bitmap on disk names every region written.
	crashed := durable()
	m2 := newMirror(t, raw, MirrorOptions{RegionSize: region, Bitmap: crashed, ClearInterval: -1})
	require.NoError(t, m2.RecoverDirty(t.Context()))
	requireSame(t, region*regions, raw...)
}

// The periodic clearing leaves a region being written dirty (clearing it would make its next
// write wait for a sync again) and clears it once it has been idle for an interval.
func TestMirrorClearsIdleRegionsOnly(t *testing.T) {
	const region = 4096
	bm, _ := durableBitmap(t, 8)
	m := newMirror(t, mems(2, 8*region), MirrorOptions{RegionSize: region, Bitmap: bm, ClearInterval: 20 * time.Millisecond})
	_, err := m.WriteAt([]byte("idle"), 5*region)
	require.NoError(t, err)
	stop := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(stop) { // region 1 is written all along
		_, err := m.WriteAt([]byte("busy"), region+10)
		require.NoError(t, err)
		time.Sleep(2 * time.Millisecond)
	}
	d, _ := bm.Dirty()
	require.Equal(t, []int64{1}, d, "idle region 5 cleared, busy region 1 kept")
	syncs := bm.Syncs()
	require.Eventually(t, func() bool { d, _ := bm.Dirty(); return len(d) == 0 }, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, syncs, bm.Syncs(), "clearing needs no sync")
}

// A sequential stream sets the regions ahead of it with the one it enters, so it pays one
// bitmap sync per seqAhead regions, not one per region.
func TestMirrorSequentialWritesMarkAhead(t *testing.T) {
	const region, regions = 4096, 256
	bm, durable := durableBitmap(t, regions)
	m := newMirror(t, mems(2, region*regions), MirrorOptions{RegionSize: region, Bitmap: bm, ClearInterval: -1})
	buf := make([]byte, region)
	for off := int64(0); off < region*regions; off += region {
		_, err := m.WriteAt(buf, off)
		require.NoError(t, err)
	}
	require.LessOrEqual(t, bm.Syncs(), uint64(2+regions/seqAhead), "syncs for %d sequential regions", regions)
	d, _ := durable().Dirty()
	require.Len(t, d, regions, "every region written is durable")
}
