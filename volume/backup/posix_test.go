package backup

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/model"
)

// memDev is a byte slice read and written at offsets.
type memDev []byte

func (m memDev) read(_ context.Context, p []byte, off int64) error  { copy(p, m[off:]); return nil }
func (m memDev) write(_ context.Context, p []byte, off int64) error { copy(m[off:], p); return nil }

func TestPosixRoundTrip(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	p, err := NewPosix(root, 8192)
	require.NoError(t, err)
	src := make(memDev, 5*8192+100) // a short last chunk
	copy(src[10:], "hello")
	copy(src[3*8192:], bytes.Repeat([]byte{0xab}, 8192))
	copy(src[5*8192:], "tail")
	vm := VolumeMeta{Metadata: map[string]string{"k": "v"}, Bootable: true}
	m, err := p.Backup(ctx, Location("c", "b1"), "b1", "v1", int64(len(src)), src.read, vm)
	require.NoError(t, err)
	require.Len(t, m.Chunks, 3, "all-zero chunks are holes")
	require.Equal(t, []int64{0, 3 * 8192, 5 * 8192}, []int64{m.Chunks[0].Offset, m.Chunks[1].Offset, m.Chunks[2].Offset})
	require.Equal(t, int64(100), m.Chunks[2].Length)
	files, err := os.ReadDir(filepath.Join(root, "c", "b1"))
	require.NoError(t, err)
	require.Len(t, files, 4, "three chunks and the manifest")

	got, err := p.Manifest(Location("c", "b1"))
	require.NoError(t, err)
	require.Equal(t, vm, got.Volume)

	// Into a fresh target: holes are left alone.
	dst := make(memDev, len(src))
	_, err = p.Restore(ctx, Location("c", "b1"), dst.write, false)
	require.NoError(t, err)
	require.Equal(t, src, dst)

	// Into a target holding old data: holes are zeroed.
	old := make(memDev, len(src))
	for i := range old {
		old[i] = 0x5a
	}
	_, err = p.Restore(ctx, Location("c", "b1"), old.write, true)
	require.NoError(t, err)
	require.Equal(t, src, old)

	require.NoError(t, p.Delete(Location("c", "b1")))
	require.NoError(t, p.Delete(Location("c", "b1")), "deleting twice is success")
	_, err = p.Manifest(Location("c", "b1"))
	require.ErrorIs(t, err, model.ErrNotFound)
	_, err = os.Stat(filepath.Join(root, "c"))
	require.True(t, os.IsNotExist(err), "the empty container goes too")
}

func TestPosixCorruptChunkWritesNothing(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	p, err := NewPosix(root, 4096)
	require.NoError(t, err)
	src := make(memDev, 3*4096)
	for i := range src {
		src[i] = byte(i)
	}
	m, err := p.Backup(ctx, "c/b", "b", "v", int64(len(src)), src.read, VolumeMeta{})
	require.NoError(t, err)
	f := filepath.Join(root, "c", "b", m.Chunks[2].File)
	b, err := os.ReadFile(f)
	require.NoError(t, err)
	b[7] ^= 1
	require.NoError(t, os.WriteFile(f, b, 0o640))

	writes := 0
	_, err = p.Restore(ctx, "c/b", func(context.Context, []byte, int64) error { writes++; return nil }, true)
	require.ErrorIs(t, err, ErrCorrupt)
	require.ErrorIs(t, err, model.ErrInvalid)
	require.Contains(t, model.UserMessage(err), "chunk-000000000002 at offset 8192 fails its sha256 check")
	require.Zero(t, writes, "a corrupt backup writes nothing")

	require.NoError(t, os.Remove(f))
	_, err = p.Restore(ctx, "c/b", func(context.Context, []byte, int64) error { return nil }, false)
	require.ErrorIs(t, err, ErrCorrupt)
	require.Contains(t, model.UserMessage(err), "is missing")

	require.NoError(t, os.WriteFile(filepath.Join(root, "c", "b", manifestName), []byte("{"), 0o640))
	_, err = p.Manifest("c/b")
	require.ErrorIs(t, err, ErrCorrupt)
}

func TestPosixRefusesPathsOutsideRoot(t *testing.T) {
	p, err := NewPosix(t.TempDir(), 4096)
	require.NoError(t, err)
	for _, loc := range []string{"", "..", "../x", "/etc", "."} {
		_, err := p.Manifest(loc)
		require.ErrorIs(t, err, model.ErrInvalid, loc)
		require.ErrorIs(t, p.Delete(loc), model.ErrInvalid, loc)
	}
	require.False(t, ValidContainer("../x"))
	require.False(t, ValidContainer(".hidden"))
	require.False(t, ValidContainer(""))
	require.True(t, ValidContainer("container"))
	_, err = NewPosix("relative", 4096)
	require.Error(t, err)
	_, err = NewPosix(t.TempDir(), 1000)
	require.Error(t, err)
}

func TestPosixReadErrorStops(t *testing.T) {
	p, err := NewPosix(t.TempDir(), 4096)
	require.NoError(t, err)
	boom := errors.New("boom")
	_, err = p.Backup(context.Background(), "c/b", "b", "v", 8192, func(context.Context, []byte, int64) error { return boom }, VolumeMeta{})
	require.ErrorIs(t, err, boom)
	_, err = p.Manifest("c/b")
	require.ErrorIs(t, err, model.ErrNotFound, "no manifest for an unfinished backup")
}
