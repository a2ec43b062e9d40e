package assemble

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/dlvm-project/dlvm/connector/blockdev"
)

// Bitmap is a mirror's write-intent bitmap: one bit per region, set while the region's legs
// may differ. Implementations are safe for concurrent use.
type Bitmap interface {
	// Set marks regions dirty. When it returns without error the bits are durable: they survive
	// a crash of this process. Setting a set bit is a no-op.
	Set(regions ...int64) error
	// Clear marks regions clean. It need not be durable before Flush; a clear lost in a crash
	// only costs a needless resync of the region.
	Clear(regions ...int64) error
	// Dirty lists the regions set, in ascending order.
	Dirty() ([]int64, error)
	// Resize changes the number of regions (online extend); new regions are clean.
	Resize(regions int64) error
	// Flush makes every earlier Clear durable.
	Flush() error
	// Close flushes and releases the bitmap. Idempotent.
	Close() error
}

// MemBitmap is a Bitmap kept in memory: durable only for the life of the process. A mirror
// without a persistent bitmap uses one.
type MemBitmap struct {
	mu   sync.Mutex
	bits []byte
	n    int64
}

// NewMemBitmap returns a clean in-memory bitmap of n regions.
func NewMemBitmap(n int64) *MemBitmap { return &MemBitmap{bits: make([]byte, (n+7)/8), n: n} }

func setBits(bits []byte, n int64, regions []int64, v bool) error {
	for _, r := range regions {
		if r < 0 || r >= n {
			return fmt.Errorf("assemble: bitmap region %d out of %d", r, n)
		}
		if v {
			bits[r/8] |= 1 << (r % 8)
		} else {
			bits[r/8] &^= 1 << (r % 8)
		}
	}
	return nil
}

func listBits(bits []byte, n int64) []int64 {
	var out []int64
	for i, b := range bits {
		for b != 0 {
			j := int64(i*8) + int64(trailingZeros(b))
			if j < n {
				out = append(out, j)
			}
			b &= b - 1
		}
	}
	return out
}

func trailingZeros(b byte) int {
	n := 0
	for b&1 == 0 {
		b >>= 1
		n++
	}
	return n
}

// Set marks regions dirty.
func (b *MemBitmap) Set(regions ...int64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return setBits(b.bits, b.n, regions, true)
}

// Clear marks regions clean.
func (b *MemBitmap) Clear(regions ...int64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return setBits(b.bits, b.n, regions, false)
}

// Dirty lists the dirty regions.
func (b *MemBitmap) Dirty() ([]int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return listBits(b.bits, b.n), nil
}

// Resize changes the region count.
func (b *MemBitmap) Resize(n int64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.bits, b.n = resized(b.bits, b.n, n), n
	return nil
}

func resized(bits []byte, old, n int64) []byte {
	nb := make([]byte, (n+7)/8)
	copy(nb, bits)
	if n < old { // drop bits beyond the new end
		for r := n; r < min(old, int64(len(nb))*8); r++ {
			nb[r/8] &^= 1 << (r % 8)
		}
	}
	return nb
}

// Flush does nothing.
func (b *MemBitmap) Flush() error { return nil }

// Close does nothing.
func (b *MemBitmap) Close() error { return nil }

// FileBitmap is a Bitmap persisted in a file: a 16-byte header ("DLVMBMP1", region count as a
// little-endian uint64) then one bit per region. Set writes the changed bytes and returns once an
// fdatasync that started after that write has completed; Clear writes without syncing (Flush and
// Close sync).
//
// Syncs are group commits: while one caller's fdatasync runs, other Set callers write their
// bytes and wait; the next fdatasync, run by one of them, covers them all. A thousand regions
// dirtied at once by concurrent writers cost a few syncs, not a thousand. A failed sync makes
// the bitmap fail every later Set, Flush and Resize: after a failed fsync the kernel may have
// dropped the dirty pages, so nothing written before it can be trusted to be on disk.
type FileBitmap struct {
	mu     sync.Mutex
	cond   *sync.Cond // signalled when a sync ends
	f      *os.File
	bits   []byte
	n      int64
	closed bool

	written uint64 // generation of the last write to the file
	synced  uint64 // every write up to this generation is durable
	syncing bool   // a caller is in fdatasync with mu released
	failed  error  // sticky: a sync failed
	syncs   uint64 // fdatasyncs run (tests, metrics)
	// syncFile makes the file durable (f.Sync); tests replace it to watch or fail syncs.
	syncFile func() error
}

var fileBitmapMagic = []byte("DLVMBMP1")

const fileBitmapHeader = 16

// OpenFileBitmap opens the bitmap at path, creating it clean with the given number of regions
// when it does not exist. An existing bitmap keeps its bits; a different region count is
// resized to the one given (new regions clean).
func OpenFileBitmap(path string, regions int64) (*FileBitmap, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("assemble: open bitmap: %w", err)
	}
	b := &FileBitmap{f: f}
	b.syncFile = f.Sync
	b.cond = sync.NewCond(&b.mu)
	b.mu.Lock()
	err = b.load(regions)
	b.mu.Unlock()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("assemble: bitmap %s: %w", path, err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil { // make a new file's entry durable
		_ = d.Sync()
		d.Close()
	}
	return b, nil
}

func (b *FileBitmap) load(regions int64) error {
	data, err := io.ReadAll(b.f)
	if err != nil {
		return err
	}
	if len(data) == 0 {
		b.n, b.bits = regions, make([]byte, (regions+7)/8)
		return b.writeAll()
	}
	if len(data) < fileBitmapHeader || !bytes.Equal(data[:8], fileBitmapMagic) {
		return errors.New("not a dlvm bitmap")
	}
	old := int64(binary.LittleEndian.Uint64(data[8:16]))
	bits := data[fileBitmapHeader:]
	if int64(len(bits)) < (old+7)/8 {
		return fmt.Errorf("truncated: %d regions in %d bytes", old, len(bits))
	}
	b.n, b.bits = old, bits[:(old+7)/8]
	if old != regions {
		b.bits, b.n = resized(b.bits, old, regions), regions
		return b.writeAll()
	}
	return nil
}

func (b *FileBitmap) writeAll() error {
	buf := make([]byte, fileBitmapHeader+len(b.bits))
	copy(buf, fileBitmapMagic)
	binary.LittleEndian.PutUint64(buf[8:16], uint64(b.n))
	copy(buf[fileBitmapHeader:], b.bits)
	if _, err := b.f.WriteAt(buf, 0); err != nil {
		return err
	}
	if err := b.f.Truncate(int64(len(buf))); err != nil {
		return err
	}
	b.written++
	return b.syncLocked()
}

// update changes the bits and writes the bytes that changed; with sync it returns once they
// are durable. Caller holds b.mu, which sync releases while waiting.
func (b *FileBitmap) update(regions []int64, v, sync bool) error {
	if b.closed {
		return errors.New("assemble: bitmap closed")
	}
	if b.failed != nil {
		return b.failed
	}
	if err := setBits(b.bits, b.n, regions, v); err != nil {
		return err
	}
	idx := make([]int64, 0, len(regions))
	for _, r := range regions {
		idx = append(idx, r/8)
	}
	slices.Sort(idx)
	idx = slices.Compact(idx)
	for i := 0; i < len(idx); { // write runs of adjacent bytes
		j := i
		for j+1 < len(idx) && idx[j+1] == idx[j]+1 {
			j++
		}
		if _, err := b.f.WriteAt(b.bits[idx[i]:idx[j]+1], fileBitmapHeader+idx[i]); err != nil {
			return fmt.Errorf("assemble: write bitmap: %w", err)
		}
		i = j + 1
	}
	b.written++
	if sync {
		return b.waitSynced(b.written)
	}
	return nil
}

// waitSynced returns once every write up to generation gen is durable: it waits for a sync in
// progress (which may not cover gen) and runs the next one itself unless another waiter does.
// Caller holds b.mu; it is released during the sync and the waits.
func (b *FileBitmap) waitSynced(gen uint64) error {
	for b.synced < gen {
		if b.failed != nil {
			return b.failed
		}
		if b.syncing {
			b.cond.Wait()
			continue
		}
		if b.closed {
			return errors.New("assemble: bitmap closed")
		}
		b.syncing = true
		upto := b.written // every write so far is in the file: this sync covers it
		b.mu.Unlock()
		err := b.syncFile()
		b.mu.Lock()
		b.syncing = false
		b.syncs++
		if err != nil {
			b.failed = fmt.Errorf("%w: sync bitmap: %w", blockdev.ErrIO, err)
		} else if upto > b.synced {
			b.synced = upto
		}
		b.cond.Broadcast()
	}
	return nil
}

// syncLocked makes every write so far durable. Caller holds b.mu.
func (b *FileBitmap) syncLocked() error {
	if b.failed != nil {
		return b.failed
	}
	return b.waitSynced(b.written)
}

// Set marks regions dirty, durably. Concurrent calls share syncs.
func (b *FileBitmap) Set(regions ...int64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.update(regions, true, true)
}

// Clear marks regions clean; durable after Flush.
func (b *FileBitmap) Clear(regions ...int64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.update(regions, false, false)
}

// Syncs reports how many fdatasyncs the bitmap has run.
func (b *FileBitmap) Syncs() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.syncs
}

// Dirty lists the dirty regions.
func (b *FileBitmap) Dirty() ([]int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return listBits(b.bits, b.n), nil
}

// Resize changes the region count, durably.
func (b *FileBitmap) Resize(n int64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failed != nil {
		return b.failed
	}
	b.bits, b.n = resized(b.bits, b.n, n), n
	return b.writeAll()
}

// Flush makes earlier clears durable.
func (b *FileBitmap) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	return b.syncLocked()
}

// Close syncs and closes the file. Idempotent.
func (b *FileBitmap) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	err := b.syncLocked()
	b.closed = true
	for b.syncing { // a Set's sync still runs on the file
		b.cond.Wait()
	}
	return errors.Join(err, b.f.Close())
}
