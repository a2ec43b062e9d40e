package assemble

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/dlvm-project/dlvm/connector/blockdev"
	"github.com/stretchr/testify/require"
)

// roundTrip writes random ranges through d, checking reads against a model, and returns the
// model.
func roundTrip(t *testing.T, d blockdev.Device, r *rand.Rand, ops int, model []byte) {
	t.Helper()
	for range ops {
		n := 1 + r.IntN(20000)
		off := r.Int64N(d.Size() - int64(n))
		data := fill(r, n)
		_, err := d.WriteAt(data, off)
		require.NoError(t, err)
		copy(model[off:], data)
	}
	got := readAll(t, d)
	require.True(t, bytes.Equal(model, got), "device content differs from what was written")
}

func TestStripeOfMirrors(t *testing.T) {
	const legSize, chunk = 256 << 10, 4096
	var mirrors []blockdev.Device
	var faults [][]*blockdev.Faulty
	var raws [][]blockdev.Device
	for range 3 {
		raw := mems(2, legSize)
		legs, fs := faulties(raw)
		m := newMirror(t, legs, MirrorOptions{RegionSize: 16 << 10})
		mirrors, faults, raws = append(mirrors, m), append(faults, fs), append(raws, raw)
	}
	s, err := NewStripe(mirrors, chunk)
	require.NoError(t, err)
	require.EqualValues(t, 3*legSize, s.Size())
	r := rand.New(rand.NewPCG(8, 8))
	model := make([]byte, s.Size())
	roundTrip(t, s, r, 100, model)

	faults[1][0].Set(blockdev.FaultError) // a leg of the middle group dies
	roundTrip(t, s, r, 100, model)
	require.Equal(t, []LegState{LegFailed, LegOK}, mirrors[1].(*Mirror).Health())

	require.NoError(t, mirrors[1].(*Mirror).ReplaceLeg(0, blockdev.NewMem(legSize), true))
	require.NoError(t, mirrors[1].(*Mirror).WaitResync(t.Context()))
	require.NoError(t, s.Flush())
	for g := range 3 {
		requireSame(t, legSize, mirrors[g].(*Mirror).legs[0].dev, raws[g][1])
	}
}

func TestMirrorOfStripes(t *testing.T) {
	var sides []blockdev.Device
	for range 2 {
		s, err := NewStripe(mems(2, 128<<10), 8192)
		require.NoError(t, err)
		sides = append(sides, s)
	}
	m := newMirror(t, sides, MirrorOptions{RegionSize: 32 << 10})
	r := rand.New(rand.NewPCG(9, 9))
	model := make([]byte, m.Size())
	roundTrip(t, m, r, 100, model)
	requireSame(t, m.Size(), sides...)
}
