package assemble

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/dlvm-project/dlvm/connector/blockdev"
	"github.com/stretchr/testify/require"
)

// refStripeMap is volume.stripeMap's formula, restated: the reference the Stripe must match.
func refStripeMap(stripes, chunk, off int64) (group int, legOff int64) {
	c := off / chunk
	return int(c % stripes), (c/stripes)*chunk + off%chunk
}

func TestStripeMatchesReference(t *testing.T) {
	for _, tc := range []struct {
		name    string
		stripes int
		chunk   int64
		legSize int64
	}{
		{"one group", 1, 4096, 64 << 10},
		{"two groups 4k", 2, 4096, 64 << 10},
		{"three groups odd chunk", 3, 1536, 50000},
		{"four groups 64k", 4, 64 << 10, 256 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, uint64(tc.stripes)))
			groups := make([]*blockdev.Mem, tc.stripes)
			devs := make([]blockdev.Device, tc.stripes)
			for i := range groups {
				groups[i] = blockdev.NewMem(tc.legSize)
				devs[i] = groups[i]
			}
			s, err := NewStripe(devs, tc.chunk)
			require.NoError(t, err)
			per := tc.legSize / tc.chunk * tc.chunk
			require.Equal(t, int64(tc.stripes)*per, s.Size())

			// reference model: the logical bytes, and each group's bytes placed by refStripeMap
			logical := make([]byte, s.Size())
			ref := make([][]byte, tc.stripes)
			for i := range ref {
				ref[i] = make([]byte, tc.legSize)
			}
			for range 300 {
				n := 1 + r.IntN(int(min(3*tc.chunk, 24<<10)))
				off := r.Int64N(s.Size() - int64(n) + 1)
				data := fill(r, n)
				_, err := s.WriteAt(data, off)
				require.NoError(t, err)
				copy(logical[off:], data)
				for i, b := range data {
					g, lo := refStripeMap(int64(tc.stripes), tc.chunk, off+int64(i))
					ref[g][lo] = b
				}
				// a random read agrees with the logical model
				rn := 1 + r.IntN(int(min(3*tc.chunk, 24<<10)))
				roff := r.Int64N(s.Size() - int64(rn) + 1)
				got := make([]byte, rn)
				_, err = s.ReadAt(got, roff)
				require.NoError(t, err)
				require.True(t, bytes.Equal(logical[roff:roff+int64(rn)], got), "read %d at %d", rn, roff)
			}
			for i, g := range groups {
				require.True(t, bytes.Equal(ref[i], readAll(t, g)), "group %d layout differs from stripeMap", i)
			}
		})
	}
}

func TestStripeDiscardAndErrors(t *testing.T) {
	devs, fs := faulties(mems(3, 8*1024))
	s, err := NewStripe(devs, 1024)
	require.NoError(t, err)
	data := bytes.Repeat([]byte{5}, int(s.Size()))
	_, err = s.WriteAt(data, 0)
	require.NoError(t, err)
	require.NoError(t, s.Discard(1000, 5000))
	got := readAll(t, s)
	for i, b := range got {
		want := byte(5)
		if i >= 1000 && i < 6000 {
			want = 0
		}
		require.Equal(t, want, b, "byte %d", i)
	}
	require.NoError(t, s.Flush())

	_, err = s.ReadAt(make([]byte, 2), s.Size()-1)
	require.ErrorIs(t, err, blockdev.ErrOutOfRange)

	fs[1].SetWrites(blockdev.FaultError)
	n, err := s.WriteAt(make([]byte, 3*1024), 0) // chunks on groups 0, 1, 2
	require.ErrorIs(t, err, blockdev.ErrIO)
	require.Equal(t, 1024, n, "only the prefix before the failed chunk counts")
	require.Error(t, s.Flush())

	require.NoError(t, s.Close())
	_, err = s.ReadAt(make([]byte, 1), 0)
	require.ErrorIs(t, err, blockdev.ErrClosed)

	_, err = NewStripe(nil, 1024)
	require.Error(t, err)
	_, err = NewStripe(mems(1, 10), 0)
	require.Error(t, err)
}

func TestStripeSizeAndGrow(t *testing.T) {
	a, b := blockdev.NewMem(10000), blockdev.NewMem(9000)
	s, err := NewStripe([]blockdev.Device{a, b}, 4096)
	require.NoError(t, err)
	require.EqualValues(t, 2*8192, s.Size(), "smallest group rounded down to a chunk")
	_, err = s.WriteAt([]byte("keep"), 5000)
	require.NoError(t, err)

	a.Resize(20000)
	n, err := s.Grow()
	require.NoError(t, err)
	require.EqualValues(t, 2*8192, n, "the smaller group limits growth")
	b.Resize(20000)
	n, err = s.Grow()
	require.NoError(t, err)
	require.EqualValues(t, 2*16384, n)
	got := make([]byte, 4)
	_, err = s.ReadAt(got, 5000)
	require.NoError(t, err)
	require.Equal(t, "keep", string(got), "growth keeps the mapping of existing bytes")

	b.Resize(4096)
	_, err = s.Grow()
	require.ErrorIs(t, err, blockdev.ErrOutOfRange)
	require.EqualValues(t, 2*16384, s.Size())
}
