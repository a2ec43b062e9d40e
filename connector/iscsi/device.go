package iscsi

import (
	"fmt"
	"sync"

	"github.com/dlvm-project/dlvm/connector/blockdev"
)

var _ blockdev.Device = (*Session)(nil)

// Size is the LUN's size in bytes (as of the last READ CAPACITY).
func (s *Session) Size() int64 { return s.size.Load() }

// BlockSize is the LUN's logical block size in bytes.
func (s *Session) BlockSize() int64 { return s.blockSize }

// clip checks [off, off+n) against the device: it returns how many bytes are inside it, or an
// error when off itself is outside.
func (s *Session) clip(off int64, n int) (int, error) {
	size := s.Size()
	if off < 0 || off > size || (off == size && n > 0) {
		return 0, fmt.Errorf("%w: offset %d, size %d", blockdev.ErrOutOfRange, off, size)
	}
	return int(min(int64(n), size-off)), nil
}

// ReadAt reads len(p) bytes at off. Unaligned requests read the covering blocks. A request
// running past the end reads what is inside and returns the count with ErrOutOfRange.
func (s *Session) ReadAt(p []byte, off int64) (int, error) {
	n, err := s.clip(off, len(p))
	if err != nil || n == 0 {
		return 0, err
	}
	bs := s.blockSize
	start, end := off/bs*bs, (off+int64(n)+bs-1)/bs*bs
	if start == off && end == off+int64(n) {
		if err := s.transfer(false, p[:n], off/bs); err != nil {
			return 0, err
		}
	} else {
		tmp := make([]byte, end-start)
		if err := s.transfer(false, tmp, start/bs); err != nil {
			return 0, err
		}
		copy(p[:n], tmp[off-start:])
	}
	if n < len(p) {
		return n, fmt.Errorf("%w: read of %d bytes at %d", blockdev.ErrOutOfRange, len(p), off)
	}
	return n, nil
}

// WriteAt writes len(p) bytes at off. Unaligned edges are read, patched and written back with
// the edge blocks locked, so concurrent unaligned writes to one block do not lose each other's
// bytes. A request running past the end writes what is inside and returns ErrOutOfRange.
func (s *Session) WriteAt(p []byte, off int64) (int, error) {
	n, err := s.clip(off, len(p))
	if err != nil || n == 0 {
		return 0, err
	}
	bs := s.blockSize
	start, end := off/bs*bs, (off+int64(n)+bs-1)/bs*bs
	if start == off && end == off+int64(n) {
		if err := s.transfer(true, p[:n], off/bs); err != nil {
			return 0, err
		}
	} else if err := s.writeRMW(p[:n], off, start, end); err != nil {
		return 0, err
	}
	if n < len(p) {
		return n, fmt.Errorf("%w: write of %d bytes at %d", blockdev.ErrOutOfRange, len(p), off)
	}
	return n, nil
}

func (s *Session) writeRMW(p []byte, off, start, end int64) error {
	bs := s.blockSize
	head, tail := start/bs, end/bs-1
	headPartial, tailPartial := off != start, off+int64(len(p)) != end
	var locked []int64
	if headPartial {
		locked = append(locked, head)
	}
	if tailPartial && (tail != head || !headPartial) {
		locked = append(locked, tail)
	}
	s.rmw.lock(locked)
	defer s.rmw.unlock(locked)

	tmp := make([]byte, end-start)
	if headPartial {
		if err := s.transfer(false, tmp[:bs], head); err != nil {
			return err
		}
	}
	if tailPartial && (tail != head || !headPartial) {
		if err := s.transfer(false, tmp[len(tmp)-int(bs):], tail); err != nil {
			return err
		}
	}
	copy(tmp[off-start:], p)
	return s.transfer(true, tmp, head)
}

// transfer runs READ(16)/WRITE(16) for whole blocks, split into commands of at most maxXfer
// bytes that run concurrently.
func (s *Session) transfer(write bool, buf []byte, lba int64) error {
	if len(buf) <= s.maxXfer {
		return s.rw(write, buf, lba)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		ferr error
	)
	for off := 0; off < len(buf); off += s.maxXfer {
		chunk := buf[off:min(off+s.maxXfer, len(buf))]
		clba := lba + int64(off)/s.blockSize
		wg.Go(func() {
			if err := s.rw(write, chunk, clba); err != nil {
				mu.Lock()
				if ferr == nil {
					ferr = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return ferr
}

// taskPool recycles READ/WRITE tasks with their done channel: once exec returned, the
// connection has dropped every reference to the task (it is removed from the connection's
// table before it is finished).
var taskPool = sync.Pool{New: func() any { return &task{done: make(chan error, 1)} }}

func (s *Session) rw(write bool, buf []byte, lba int64) error {
	blocks := uint32(int64(len(buf)) / s.blockSize)
	t := taskPool.Get().(*task)
	*t = task{cdb: rw16CDB(write, uint64(lba), blocks), read: !write, write: write, buf: buf, done: t.done}
	err := s.exec(t)
	residual := t.residual
	*t = task{done: t.done}
	taskPool.Put(t)
	if err != nil {
		return err
	}
	if residual != 0 {
		return fmt.Errorf("%w: %d of %d bytes not transferred", blockdev.ErrIO, residual, len(buf))
	}
	return nil
}

// Flush issues SYNCHRONIZE CACHE for the whole LUN.
func (s *Session) Flush() error {
	_, err := s.command(syncCache10CDB(), false, false, nil)
	return err
}

// Discard unmaps the whole blocks inside [off, off+n) when the LUN supports UNMAP (Block Limits
// VPD); partial edge blocks are left alone. Without UNMAP support it does nothing and returns
// nil, which the Device contract allows.
func (s *Session) Discard(off, n int64) error {
	if off < 0 || n < 0 || off+n > s.Size() {
		return fmt.Errorf("%w: discard [%d,+%d), size %d", blockdev.ErrOutOfRange, off, n, s.Size())
	}
	if !s.unmap {
		s.mu.Lock()
		closed := s.closing
		s.mu.Unlock()
		if closed {
			return blockdev.ErrClosed
		}
		return nil
	}
	bs := s.blockSize
	lba, last := uint64((off+bs-1)/bs), uint64((off+n)/bs)
	for lba < last {
		var ext [][2]uint64
		for lba < last && len(ext) < s.unmapDescs {
			k := min(last-lba, uint64(s.unmapMax))
			ext = append(ext, [2]uint64{lba, k})
			lba += k
		}
		params := unmapParams(ext)
		if _, err := s.command(unmapCDB(len(params)), false, true, params); err != nil {
			return err
		}
	}
	return nil
}

// blockLocks serializes read-modify-write cycles on the same blocks.
type blockLocks struct {
	mu   sync.Mutex
	cond *sync.Cond
	held map[int64]bool
}

// lock waits until none of blocks is held, then holds them all.
func (l *blockLocks) lock(blocks []int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held == nil {
		l.held = make(map[int64]bool)
	}
	for {
		free := true
		for _, b := range blocks {
			if l.held[b] {
				free = false
				break
			}
		}
		if free {
			break
		}
		l.cond.Wait()
	}
	for _, b := range blocks {
		l.held[b] = true
	}
}

func (l *blockLocks) unlock(blocks []int64) {
	l.mu.Lock()
	for _, b := range blocks {
		delete(l.held, b)
	}
	l.cond.Broadcast()
	l.mu.Unlock()
}
