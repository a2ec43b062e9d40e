package assemble

import (
	"bytes"
	"errors"
	"fmt"
	"sync"

	"github.com/dlvm-project/dlvm/connector/blockdev"
)

// markDirty sets the regions' bits durably before a write goes out. Regions already durable
// in m.dirty cost a read lock. Otherwise the bits are set without holding bmMu, so writers to
// many clean regions share the bitmap's syncs (FileBitmap group commit); a region enters
// m.dirty only once its bit is durable, so a concurrent writer to it that finds it in m.dirty
// never goes out ahead of the bit. The caller counts the regions in m.inflight first, so clean
// cannot clear them meanwhile.
func (m *Mirror) markDirty(first, last int64) error {
	m.bmMu.RLock()
	var need []int64
	for r := first; r <= last; r++ {
		if !m.dirty[r] {
			need = append(need, r)
		}
	}
	m.bmMu.RUnlock()
	if len(need) == 0 {
		return nil
	}
	if err := m.bitmap.Set(need...); err != nil {
		return fmt.Errorf("%w: set mirror bitmap: %w", blockdev.ErrIO, err)
	}
	m.bmMu.Lock()
	for _, r := range need {
		m.dirty[r] = true
	}
	m.bmMu.Unlock()
	return nil
}

// modify runs a write-like request (write or discard) on [off, off+n) under the rules in the
// Mirror doc comment.
func (m *Mirror) modify(off, n int64, what string, op func(l *leg) error) error {
	if err := m.check(off, n); err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	defer m.locks.lock(off, off+n)()
	first, last := m.span(off, n)
	m.mu.Lock()
	for r := first; r <= last; r++ {
		m.inflight[r]++
		m.touched[r] = true
	}
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		for r := first; r <= last; r++ {
			if m.inflight[r]--; m.inflight[r] == 0 {
				delete(m.inflight, r)
			}
		}
		m.mu.Unlock()
	}()
	if err := m.markDirty(first, last); err != nil {
		return err
	}
	m.mu.Lock()
	var targets []*leg
	for _, l := range m.legs {
		if l.state == LegOK || l.state == LegResyncing {
			targets = append(targets, l)
		}
	}
	m.mu.Unlock()
	errs := make([]error, len(targets))
	var wg sync.WaitGroup
	for i, l := range targets {
		wg.Go(func() { errs[i] = op(l) })
	}
	wg.Wait()
	for i, l := range targets {
		if errs[i] != nil {
			m.fail(l, errs[i])
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, l := range targets {
		if errs[i] == nil && l.state == LegOK {
			return nil
		}
	}
	return fmt.Errorf("%w: mirror %s of %d bytes at %d reached no in-sync leg", blockdev.ErrIO, what, n, off)
}

// WriteAt writes p to every healthy leg; see the Mirror doc comment for when it is acknowledged.
func (m *Mirror) WriteAt(p []byte, off int64) (int, error) {
	buf := p
	if m.opts.IOTimeout > 0 { // a timed-out leg may still read the buffer after we return
		buf = bytes.Clone(p)
	}
	err := m.modify(off, int64(len(p)), "write", func(l *leg) error {
		return m.legIO(l, len(buf), func() (int, error) { return l.dev.WriteAt(buf, off) })
	})
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// Discard discards the range on every healthy leg. A leg answering errors.ErrUnsupported keeps
// its bytes and is not failed.
func (m *Mirror) Discard(off, n int64) error {
	return m.modify(off, n, "discard", func(l *leg) error {
		err := m.legIO(l, 0, func() (int, error) { return 0, l.dev.Discard(off, n) })
		if errors.Is(err, errors.ErrUnsupported) {
			return nil
		}
		return err
	})
}

// Flush flushes every healthy leg (a leg failing it is marked failed), then clears the regions
// every leg completed and makes the bitmap durable. It fails with ErrIO when no in-sync leg
// flushed.
func (m *Mirror) Flush() error {
	if m.closed.Load() {
		return blockdev.ErrClosed
	}
	m.mu.Lock()
	var targets []*leg
	for _, l := range m.legs {
		if l.state == LegOK || l.state == LegResyncing {
			targets = append(targets, l)
		}
	}
	m.mu.Unlock()
	errs := make([]error, len(targets))
	var wg sync.WaitGroup
	for i, l := range targets {
		wg.Go(func() { errs[i] = m.legIO(l, 0, func() (int, error) { return 0, l.dev.Flush() }) })
	}
	wg.Wait()
	ok := false
	for i, l := range targets {
		if errs[i] != nil {
			m.fail(l, errs[i])
		} else if l.state == LegOK {
			ok = true
		}
	}
	if !ok {
		return fmt.Errorf("%w: mirror flush reached no in-sync leg", blockdev.ErrIO)
	}
	m.clean(false)
	if err := m.bitmap.Flush(); err != nil {
		return fmt.Errorf("%w: flush mirror bitmap: %w", blockdev.ErrIO, err)
	}
	return nil
}
