//go:build linux

package blockdev

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "leg")
	require.NoError(t, os.WriteFile(path, nil, 0o600))
	require.NoError(t, os.Truncate(path, 1<<20))
	f, err := OpenFile(path)
	require.NoError(t, err)
	defer f.Close()
	require.EqualValues(t, 1<<20, f.Size())

	data := bytes.Repeat([]byte{0xab}, 256<<10)
	_, err = f.WriteAt(data, 4096)
	require.NoError(t, err)
	require.NoError(t, f.Flush())
	got := make([]byte, len(data))
	_, err = f.ReadAt(got, 4096)
	require.NoError(t, err)
	require.Equal(t, data, got)

	blocks := func() int64 {
		var st syscall.Stat_t
		require.NoError(t, syscall.Stat(path, &st))
		return st.Blocks
	}
	before := blocks()
	require.NoError(t, f.Discard(4096, 128<<10))
	_, err = f.ReadAt(got[:128<<10], 4096)
	require.NoError(t, err)
	require.Equal(t, make([]byte, 128<<10), got[:128<<10], "a punched hole reads as zeros")
	require.Less(t, blocks(), before, "the hole frees blocks")
	require.EqualValues(t, 1<<20, f.Size(), "punching keeps the size")

	_, err = f.WriteAt([]byte{1}, 1<<20)
	require.ErrorIs(t, err, ErrOutOfRange)
	require.NoError(t, os.Truncate(path, 2<<20)) // the leg was extended underneath
	_, err = f.WriteAt([]byte{1}, 1<<20)
	require.NoError(t, err, "an access past the old end re-reads the size")
	require.EqualValues(t, 2<<20, f.Size())

	require.NoError(t, f.Close())
	require.NoError(t, f.Close())
	_, err = f.ReadAt(got, 0)
	require.ErrorIs(t, err, ErrClosed)
}

func TestOpenFileRejects(t *testing.T) {
	dir := t.TempDir()
	_, err := OpenFile(dir)
	require.Error(t, err, "a directory is not a device")
	_, err = OpenFile(filepath.Join(dir, "missing"))
	require.ErrorIs(t, err, os.ErrNotExist)
}
