package blockdev

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMemReadWrite(t *testing.T) {
	m := NewMem(3*memPage + 100)
	data := bytes.Repeat([]byte("abcdefg"), 1000) // crosses pages, unaligned
	n, err := m.WriteAt(data, 4000)
	require.NoError(t, err)
	require.Equal(t, len(data), n)
	got := make([]byte, len(data)+200)
	_, err = m.ReadAt(got, 3900)
	require.NoError(t, err)
	require.Equal(t, make([]byte, 100), got[:100], "bytes before the write read as zeros")
	require.Equal(t, data, got[100:100+len(data)])
	require.Equal(t, make([]byte, 100), got[100+len(data):])
	require.Equal(t, 3, m.Pages(), "only touched pages hold memory")
}

func TestMemDiscard(t *testing.T) {
	m := NewMem(4 * memPage)
	_, err := m.WriteAt(bytes.Repeat([]byte{7}, 4*memPage), 0)
	require.NoError(t, err)
	require.NoError(t, m.Discard(100, 2*memPage)) // partial page 0, whole page 1, partial page 2
	got := make([]byte, 4*memPage)
	_, err = m.ReadAt(got, 0)
	require.NoError(t, err)
	for i, b := range got {
		want := byte(7)
		if i >= 100 && i < 100+2*memPage {
			want = 0
		}
		require.Equal(t, want, b, "byte %d", i)
	}
	require.Equal(t, 3, m.Pages(), "the whole discarded page is freed")
}

func TestMemErrors(t *testing.T) {
	m := NewMem(1000)
	for _, tc := range []struct {
		name string
		off  int64
		n    int
	}{
		{"past end", 999, 2},
		{"negative", -1, 1},
		{"beyond", 2000, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := m.ReadAt(make([]byte, tc.n), tc.off)
			require.ErrorIs(t, err, ErrOutOfRange)
			_, err = m.WriteAt(make([]byte, tc.n), tc.off)
			require.ErrorIs(t, err, ErrOutOfRange)
		})
	}
	_, err := m.ReadAt(nil, 1000)
	require.NoError(t, err, "an empty access at the end is in range")
	require.NoError(t, m.Close())
	require.NoError(t, m.Close())
	_, err = m.ReadAt(make([]byte, 1), 0)
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, m.Flush(), ErrClosed)
}

func TestMemResize(t *testing.T) {
	m := NewMem(2 * memPage)
	_, err := m.WriteAt([]byte{1}, memPage+1)
	require.NoError(t, err)
	m.Resize(memPage)
	m.Resize(2 * memPage)
	b := make([]byte, 1)
	_, err = m.ReadAt(b, memPage+1)
	require.NoError(t, err)
	require.Equal(t, byte(0), b[0], "bytes cut by a shrink do not come back")
}
