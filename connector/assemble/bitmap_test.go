package assemble

import (
	"os"
	"path/filepath"
	"testing"

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
