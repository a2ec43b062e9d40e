package userspace

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/connector/blockdev"
)

func TestWindowShowsTheVolumeSize(t *testing.T) {
	under := blockdev.NewMem(1<<20 + 4096) // data plus a metadata tail
	w := newWindow(under, 1<<20)
	require.EqualValues(t, 1<<20, w.Size())

	n, err := w.WriteAt([]byte("end"), 1<<20-3)
	require.NoError(t, err)
	require.Equal(t, 3, n)
	n, err = w.WriteAt([]byte("over"), 1<<20-2)
	require.ErrorIs(t, err, blockdev.ErrOutOfRange)
	require.Equal(t, 2, n, "the part inside the window is written")
	_, err = w.WriteAt([]byte("x"), 1<<20)
	require.ErrorIs(t, err, blockdev.ErrOutOfRange)

	tail := make([]byte, 4096)
	_, err = under.ReadAt(tail, 1<<20)
	require.NoError(t, err)
	require.Equal(t, make([]byte, 4096), tail, "nothing reached the metadata tail")

	buf := make([]byte, 8)
	n, err = w.ReadAt(buf, 1<<20-4)
	require.ErrorIs(t, err, blockdev.ErrOutOfRange)
	require.Equal(t, 4, n)

	w.resize(1<<20 + 8192)
	require.EqualValues(t, 1<<20+4096, w.Size(), "never beyond the device")
}
