package assemble

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/dlvm-project/dlvm/connector/blockdev"
)

// Stripe is RAID0 over groups with device-mapper's striped mapping: chunk c = off/chunk lives
// on group c%len(groups) at group offset (c/len(groups))*chunk + off%chunk. A request is split
// at chunk boundaries and the groups are driven in parallel. Stripe adds no redundancy: a group
// error fails the request (a group is normally a Mirror, which hides leg failures).
type Stripe struct {
	groups []blockdev.Device
	chunk  int64
	size   atomic.Int64
	closed atomic.Bool
	growMu sync.Mutex
}

var _ blockdev.Device = (*Stripe)(nil)

// NewStripe stripes groups with the given chunk size in bytes. The size is len(groups) times
// the smallest group size rounded down to a chunk; bytes of larger groups beyond it are unused.
func NewStripe(groups []blockdev.Device, chunk int64) (*Stripe, error) {
	if len(groups) == 0 {
		return nil, errors.New("assemble: stripe needs at least one group")
	}
	if chunk <= 0 {
		return nil, fmt.Errorf("assemble: stripe chunk %d must be positive", chunk)
	}
	for i, g := range groups {
		if g == nil {
			return nil, fmt.Errorf("assemble: stripe group %d is nil", i)
		}
	}
	s := &Stripe{groups: append([]blockdev.Device(nil), groups...), chunk: chunk}
	s.size.Store(s.computeSize())
	return s, nil
}

func (s *Stripe) computeSize() int64 {
	per := s.groups[0].Size()
	for _, g := range s.groups[1:] {
		per = min(per, g.Size())
	}
	return int64(len(s.groups)) * (per / s.chunk * s.chunk)
}

// Size returns the striped size.
func (s *Stripe) Size() int64 { return s.size.Load() }

// Grow re-reads the group sizes after they were extended and returns the new size. The mapping
// of existing offsets does not change. A smaller result (a group shrank) is refused with
// ErrOutOfRange and the size is kept.
func (s *Stripe) Grow() (int64, error) {
	s.growMu.Lock()
	defer s.growMu.Unlock()
	if s.closed.Load() {
		return 0, blockdev.ErrClosed
	}
	n, old := s.computeSize(), s.size.Load()
	if n < old {
		return old, fmt.Errorf("%w: stripe groups shrank to %d bytes, below %d", blockdev.ErrOutOfRange, n, old)
	}
	s.size.Store(n)
	return n, nil
}

// piece is one chunk-bounded part of a request.
type piece struct {
	group  int
	legOff int64
	bufOff int64 // offset into the request
	n      int64
}

// mapRange splits [off, off+n) at chunk boundaries, in request order.
func (s *Stripe) mapRange(off, n int64) []piece {
	var ps []piece
	stripes := int64(len(s.groups))
	for done := int64(0); done < n; {
		o := off + done
		c := o / s.chunk
		k := min(s.chunk-o%s.chunk, n-done)
		ps = append(ps, piece{group: int(c % stripes), legOff: (c/stripes)*s.chunk + o%s.chunk, bufOff: done, n: k})
		done += k
	}
	return ps
}

// do runs op on every piece, the pieces of one group in order and the groups in parallel. It
// returns the length of the prefix of the request that completed and the first error.
func (s *Stripe) do(off, n int64, op func(p piece) error) (int64, error) {
	if s.closed.Load() {
		return 0, blockdev.ErrClosed
	}
	if err := blockdev.CheckRange(off, n, s.Size()); err != nil {
		return 0, err
	}
	ps := s.mapRange(off, n)
	errs := make([]error, len(ps))
	issued := make([]bool, len(ps))
	byGroup := make(map[int][]int, len(s.groups))
	for i, p := range ps {
		byGroup[p.group] = append(byGroup[p.group], i)
	}
	run := func(idx []int) {
		for _, i := range idx {
			issued[i] = true
			if errs[i] = op(ps[i]); errs[i] != nil {
				return // later pieces of this group are not issued
			}
		}
	}
	if len(byGroup) == 1 {
		run(byGroup[ps[0].group])
	} else {
		var wg sync.WaitGroup
		for _, idx := range byGroup {
			wg.Go(func() { run(idx) })
		}
		wg.Wait()
	}
	for i, p := range ps {
		if errs[i] != nil {
			return p.bufOff, fmt.Errorf("stripe group %d at %d: %w", p.group, p.legOff, errs[i])
		}
		if !issued[i] {
			return p.bufOff, fmt.Errorf("stripe group %d at %d: not issued after an earlier error: %w", p.group, p.legOff, blockdev.ErrIO)
		}
	}
	return n, nil
}

// ReadAt reads len(p) bytes at off.
func (s *Stripe) ReadAt(p []byte, off int64) (int, error) {
	n, err := s.do(off, int64(len(p)), func(pc piece) error {
		_, err := s.groups[pc.group].ReadAt(p[pc.bufOff:pc.bufOff+pc.n], pc.legOff)
		return err
	})
	return int(n), err
}

// WriteAt writes p at off. On error some chunks may have been written and others not.
func (s *Stripe) WriteAt(p []byte, off int64) (int, error) {
	n, err := s.do(off, int64(len(p)), func(pc piece) error {
		_, err := s.groups[pc.group].WriteAt(p[pc.bufOff:pc.bufOff+pc.n], pc.legOff)
		return err
	})
	return int(n), err
}

// Discard discards the range: each group receives one contiguous range (consecutive chunks of
// a group are adjacent on it).
func (s *Stripe) Discard(off, n int64) error {
	if s.closed.Load() {
		return blockdev.ErrClosed
	}
	if err := blockdev.CheckRange(off, n, s.Size()); err != nil {
		return err
	}
	span := map[int][2]int64{}
	for _, p := range s.mapRange(off, n) {
		r, ok := span[p.group]
		if !ok {
			r[0] = p.legOff
		}
		r[1] = p.legOff + p.n
		span[p.group] = r
	}
	return s.fan(func(g int, d blockdev.Device) error {
		r, ok := span[g]
		if !ok {
			return nil
		}
		return d.Discard(r[0], r[1]-r[0])
	})
}

// Flush flushes every group in parallel; it fails if any group fails.
func (s *Stripe) Flush() error {
	if s.closed.Load() {
		return blockdev.ErrClosed
	}
	return s.fan(func(_ int, d blockdev.Device) error { return d.Flush() })
}

// Close closes every group. Idempotent.
func (s *Stripe) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return s.fan(func(_ int, d blockdev.Device) error { return d.Close() })
}

func (s *Stripe) fan(op func(g int, d blockdev.Device) error) error {
	errs := make([]error, len(s.groups))
	var wg sync.WaitGroup
	for i, d := range s.groups {
		wg.Go(func() {
			if err := op(i, d); err != nil {
				errs[i] = fmt.Errorf("stripe group %d: %w", i, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
