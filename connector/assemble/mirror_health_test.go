package assemble

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/connector/blockdev"
)

// TestMirrorDirtyRegions: regions written while a leg is failed stay dirty and are counted;
// a full resync of the returning leg clears them.
func TestMirrorDirtyRegions(t *testing.T) {
	const size, region = 1 << 20, 16 << 10
	raw := mems(2, size)
	legs, fs := faulties(raw)
	m := newMirror(t, legs, MirrorOptions{RegionSize: region, ClearInterval: 10 * time.Millisecond})
	require.Zero(t, m.DirtyRegions())
	buf := make([]byte, 4096)
	_, err := m.WriteAt(buf, 0)
	require.NoError(t, err)
	require.LessOrEqual(t, m.DirtyRegions(), int64(1), "in sync: at most the region just written, until the cleaner clears it")

	fs[1].Set(blockdev.FaultError)
	for _, off := range []int64{0, 3 * region, 3*region + 100, 9 * region} {
		_, err := m.WriteAt(buf, off)
		require.NoError(t, err)
	}
	require.Equal(t, []LegState{LegOK, LegFailed}, m.Health())
	require.EqualValues(t, 3, m.DirtyRegions(), "regions 0, 3 and 9")

	fs[1].Set(blockdev.FaultNone)
	require.NoError(t, m.ReplaceLeg(1, raw[1], false))
	require.NoError(t, m.WaitResync(t.Context()))
	require.Equal(t, []LegState{LegOK, LegOK}, m.Health())
	require.Eventually(t, func() bool { return m.DirtyRegions() == 0 }, 5*time.Second, 10*time.Millisecond,
		"the cleaner clears the regions once every leg holds them")
}
