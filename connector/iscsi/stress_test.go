package iscsi

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// hammer runs workers goroutines, each owning the 4 KiB slots i, i+workers, ... of the first
// span bytes, writing random data and reading it back, for dur. It returns the first mismatch
// or error and the expected content of every slot written.
func hammer(s *Session, workers int, span int64, dur time.Duration) (map[int64][]byte, error) {
	const bsz = 4096
	slots := span / bsz
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		want  = map[int64][]byte{}
	)
	deadline := time.Now().Add(dur)
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			mine := map[int64][]byte{}
			got := make([]byte, bsz)
			fail := func(err error) {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
			for time.Now().Before(deadline) {
				slot := int64(w) + rng.Int64N(slots/int64(workers))*int64(workers)
				off := slot * bsz
				if rng.IntN(2) == 0 {
					buf := make([]byte, bsz)
					for i := range buf {
						buf[i] = byte(rng.Uint32())
					}
					if _, err := s.WriteAt(buf, off); err != nil {
						fail(fmt.Errorf("write at %d: %w", off, err))
						return
					}
					mine[off] = buf
				}
				if _, err := s.ReadAt(got, off); err != nil {
					fail(fmt.Errorf("read at %d: %w", off, err))
					return
				}
				if exp, ok := mine[off]; ok && !bytes.Equal(exp, got) {
					fail(fmt.Errorf("corruption at %d", off))
					return
				}
			}
			mu.Lock()
			for k, v := range mine {
				want[k] = v
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	return want, first
}

func TestConcurrentRandomIO(t *testing.T) {
	d := startTgtd(t, tgtdConfig{})
	s := dial(t, d, Options{Log: testLog(t)})
	want, err := hammer(s, 64, 16<<20, 3*time.Second)
	require.NoError(t, err)
	require.NotEmpty(t, want)
	require.NoError(t, s.Flush())
	f, err := os.Open(d.file)
	require.NoError(t, err)
	defer f.Close()
	got := make([]byte, 4096)
	for off, exp := range want {
		_, err := f.ReadAt(got, off)
		require.NoError(t, err)
		require.True(t, bytes.Equal(exp, got), "backing file differs at %d", off)
	}
}

// Unaligned writers sharing blocks: each owns a 100-byte piece; read-modify-write must not
// lose anyone's bytes.
func TestConcurrentUnalignedWriters(t *testing.T) {
	d := startTgtd(t, tgtdConfig{size: 1 << 20})
	s := dial(t, d, Options{Log: testLog(t)})
	const writers, piece, rounds = 16, 100, 40
	var wg sync.WaitGroup
	last := make([][]byte, writers)
	errs := make([]error, writers)
	for w := range writers {
		wg.Go(func() {
			for r := range rounds {
				buf := bytes.Repeat([]byte{byte(w*rounds + r)}, piece)
				if _, errs[w] = s.WriteAt(buf, int64(1000+w*piece)); errs[w] != nil {
					return
				}
				last[w] = buf
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	got := make([]byte, writers*piece)
	_, err := s.ReadAt(got, 1000)
	require.NoError(t, err)
	for w := range writers {
		require.Equal(t, last[w], got[w*piece:(w+1)*piece], "writer %d lost its update", w)
	}
}

// With one command at a time every command leaves in its own socket write at once; with many
// writers, the commands queued while holdAfter are outstanding leave together when responses
// come back, in fewer writes than commands, and every byte still lands.
func TestCommandsBatchUnderLoad(t *testing.T) {
	d := startTgtd(t, tgtdConfig{})
	s := dial(t, d, Options{Log: testLog(t)})
	counts := func() (cmds, writes int64) {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.c.sentCmds, s.c.socketWrites
	}
	c0, w0 := counts()
	buf := make([]byte, 4096)
	for i := range 64 {
		_, err := s.WriteAt(buf, int64(i)*4096)
		require.NoError(t, err)
	}
	c1, w1 := counts()
	require.Equal(t, int64(64), c1-c0)
	require.Equal(t, c1-c0, w1-w0, "a lone command is never held back")

	want, err := hammer(s, 32, 16<<20, 2*time.Second)
	require.NoError(t, err)
	require.NotEmpty(t, want)
	c2, w2 := counts()
	cmds, writes := c2-c1, w2-w1
	t.Logf("%d commands in %d socket writes (%.1f per write)", cmds, writes, float64(cmds)/float64(writes))
	require.Less(t, writes*4, cmds*3, "32 writers: at most 3 writes per 4 commands")
}
