package assemble

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/dlvm-project/dlvm/connector/blockdev"
	"github.com/stretchr/testify/require"
)

func TestBitmaps(t *testing.T) {
	open := map[string]func(t *testing.T, n int64) Bitmap{
		"mem": func(_ *testing.T, n int64) Bitmap { return NewMemBitmap(n) },
		"file": func(t *testing.T, n int64) Bitmap {
			b, err := OpenFileBitmap(filepath.Join(t.TempDir(), "bm"), n)
			require.NoError(t, err)
			t.Cleanup(func() { _ = b.Close() })
			return b
		},
	}
	for name, mk := range open {
		t.Run(name, func(t *testing.T) {
			b := mk(t, 20)
			require.NoError(t, b.Set(3, 9, 3, 17))
			require.NoError(t, b.Clear(9))
			d, err := b.Dirty()
			require.NoError(t, err)
			require.Equal(t, []int64{3, 17}, d)
			require.Error(t, b.Set(20), "region out of range")
			require.NoError(t, b.Resize(10))
			d, _ = b.Dirty()
			require.Equal(t, []int64{3}, d, "shrinking drops bits past the end")
			require.NoError(t, b.Resize(40))
			d, _ = b.Dirty()
			require.Equal(t, []int64{3}, d, "growing adds clean regions")
			require.NoError(t, b.Set(39))
			require.NoError(t, b.Flush())
			require.NoError(t, b.Close())
			require.NoError(t, b.Close())
		})
	}
}

func TestFileBitmapPersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bm")
	b, err := OpenFileBitmap(path, 100)
	require.NoError(t, err)
	require.NoError(t, b.Set(0, 7, 8, 99))
	require.NoError(t, b.Clear(7))
	// no Close: Set is durable on its own, and the clear was written (Flush makes it durable)
	b2, err := OpenFileBitmap(path, 100)
	require.NoError(t, err)
	d, err := b2.Dirty()
	require.NoError(t, err)
	require.Equal(t, []int64{0, 8, 99}, d)
	require.NoError(t, b2.Close())

	b3, err := OpenFileBitmap(path, 200) // the volume was extended
	require.NoError(t, err)
	d, _ = b3.Dirty()
	require.Equal(t, []int64{0, 8, 99}, d)
	require.NoError(t, b3.Close())
	require.NoError(t, b.Close())

	bad := filepath.Join(t.TempDir(), "bad")
	require.NoError(t, os.WriteFile(bad, []byte("not a bitmap at all"), 0o600))
	_, err = OpenFileBitmap(bad, 10)
	require.Error(t, err)
}

// durableBitmap opens a FileBitmap whose syncs copy the file: durable() is what a crash right
// now would leave on disk (every Set returned must be in it).
func durableBitmap(t *testing.T, n int64) (*FileBitmap, func() *FileBitmap) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bm")
	b, err := OpenFileBitmap(path, n)
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	var mu sync.Mutex
	disk, err := os.ReadFile(path)
	require.NoError(t, err)
	b.syncFile = func() error {
		content, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		mu.Lock()
		disk = content
		mu.Unlock()
		return b.f.Sync()
	}
	dir := t.TempDir()
	return b, func() *FileBitmap {
		f, err := os.CreateTemp(dir, "crash")
		require.NoError(t, err)
		mu.Lock()
		_, err = f.Write(disk)
		mu.Unlock()
		require.NoError(t, err)
		require.NoError(t, f.Close())
		c, err := OpenFileBitmap(f.Name(), n)
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
}

func TestFileBitmapGroupCommit(t *testing.T) {
	const n = 4096
	b, durable := durableBitmap(t, n)
	var wg sync.WaitGroup
	for w := range 64 {
		wg.Go(func() {
			for i := range n / 64 {
				r := int64(w*(n/64) + i)
				require.NoError(t, b.Set(r))
				d, err := durable().Dirty()
				require.NoError(t, err)
				require.Contains(t, d, r, "Set returned before its bit was synced")
				if i == 3 {
					break
				}
			}
		})
	}
	wg.Wait()
	require.Less(t, b.Syncs(), uint64(64*4), "concurrent Sets share syncs")
	d, _ := durable().Dirty()
	require.Len(t, d, 64*4)
}

func TestFileBitmapSyncFailureIsSticky(t *testing.T) {
	b, _ := durableBitmap(t, 16)
	require.NoError(t, b.Set(1))
	b.syncFile = func() error { return errors.New("disk gone") }
	require.ErrorIs(t, b.Set(2), blockdev.ErrIO)
	b.syncFile = b.f.Sync // the disk answers again: what the failed sync covered is unknown
	require.ErrorIs(t, b.Set(3), blockdev.ErrIO)
	require.ErrorIs(t, b.Flush(), blockdev.ErrIO)
	require.Error(t, b.Resize(32))
}
