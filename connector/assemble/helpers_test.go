package assemble

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/dlvm-project/dlvm/connector/blockdev"
	"github.com/stretchr/testify/require"
)

// mems returns n in-memory devices of size bytes each, as Devices.
func mems(n int, size int64) []blockdev.Device {
	out := make([]blockdev.Device, n)
	for i := range out {
		out[i] = blockdev.NewMem(size)
	}
	return out
}

// session is a connection to a leg: closing it (as a mirror does with a replaced leg) leaves
// the leg's storage in place for a later session.
type session struct{ blockdev.Device }

func (session) Close() error { return nil }

// faulties wraps each device in a Faulty session.
func faulties(devs []blockdev.Device) ([]blockdev.Device, []*blockdev.Faulty) {
	fs := make([]*blockdev.Faulty, len(devs))
	out := make([]blockdev.Device, len(devs))
	for i, d := range devs {
		fs[i] = &blockdev.Faulty{Device: session{d}}
		out[i] = fs[i]
	}
	return out, fs
}

// readAll reads the whole device.
func readAll(t *testing.T, d blockdev.Device) []byte {
	t.Helper()
	b := make([]byte, d.Size())
	_, err := d.ReadAt(b, 0)
	require.NoError(t, err)
	return b
}

// requireSame fails unless every device holds the same bytes over [0, size); it names the first
// differing offset.
func requireSame(t *testing.T, size int64, devs ...blockdev.Device) {
	t.Helper()
	want := make([]byte, size)
	_, err := devs[0].ReadAt(want, 0)
	require.NoError(t, err)
	got := make([]byte, size)
	for i, d := range devs[1:] {
		_, err := d.ReadAt(got, 0)
		require.NoError(t, err)
		if !bytes.Equal(want, got) {
			j := 0
			for want[j] == got[j] {
				j++
			}
			t.Fatalf("device %d differs from device 0 at offset %d", i+1, j)
		}
	}
}

// fill returns n pseudo-random bytes.
func fill(r *rand.Rand, n int) []byte {
	b := make([]byte, (n+7)/8*8)
	for i := 0; i < len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	return b[:n]
}
