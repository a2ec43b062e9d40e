package assemble

import (
	"errors"
	"fmt"

	"github.com/dlvm-project/dlvm/connector/blockdev"
)

// markDirty sets the regions' bits durably before a write goes out. Regions already durable
// in m.dirty cost a read lock. Otherwise the bits are set without holding bmMu, so writers to
// many clean regions share the bitmap's syncs (FileBitmap group commit); a region enters
// m.dirty only once its bit is durable, so a concurrent writer to it that finds it in m.dirty
// never goes out ahead of the bit. The caller counts the regions in m.inflight first, so clean
// cannot clear them meanwhile.
//
// A write that dirties a clean region right after a dirty one looks like a sequential stream:
// the next seqAhead regions are set in the same sync (and count as just written, so the lazy
// clearing keeps them a while), so a stream pays one sync per seqAhead regions instead of one
// per region. Extra dirty bits only cost resync work after a crash.
func (m *Mirror) markDirty(first, last int64) error {
	m.bmMu.RLock()
	var need []int64
	for r := first; r <= last; r++ {
		if !m.dirty[r] {
			need = append(need, r)
		}
	}
	ahead := len(need) > 0 && first > 0 && m.dirty[first-1]
	if ahead {
		end := min(last+seqAhead, m.regions(m.Size())-1)
		for r := last + 1; r <= end; r++ {
			if !m.dirty[r] {
				need = append(need, r)
			}
		}
	}
	m.bmMu.RUnlock()
	if len(need) == 0 {
		return nil
	}
	if err := m.bitmap.Set(need...); err != nil {
		return fmt.Errorf("%w: set mirror bitmap: %w", blockdev.ErrIO, err)
	}
	if ahead {
		m.mu.Lock()
		for _, r := range need {
			m.touched[r] = true
		}
		m.mu.Unlock()
	}
	m.bmMu.Lock()
	for _, r := range need {
		m.dirty[r] = true
	}
	m.bmMu.Unlock()
	return nil
}

// seqAhead is how many regions past a sequential write markDirty sets with it.
const seqAhead = 8

// writeTargets lists the legs a write goes to: those LegOK or LegResyncing.
func (m *Mirror) writeTargets() []*leg {
	m.mu.Lock()
	defer m.mu.Unlock()
	targets := make([]*leg, 0, len(m.legs))
	for _, l := range m.legs {
		if l.state == LegOK || l.state == LegResyncing {
			targets = append(targets, l)
		}
	}
	return targets
}

// modify runs a write-like request (write or discard) on [off, off+n) under the rules in the
// Mirror doc comment: op on every target leg (want bytes each, see legsDo). timedOut says a
// leg op was abandoned still running.
func (m *Mirror) modify(off, n int64, what string, want int, op func(l *leg) (int, error)) (timedOut bool, err error) {
	if err := m.check(off, n); err != nil {
		return false, err
	}
	if n == 0 {
		return false, nil
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
		return false, err
	}
	targets := m.writeTargets()
	errs, timedOut := m.legsDo(targets, want, op)
	for i, l := range targets {
		if errs[i] != nil {
			m.fail(l, errs[i])
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, l := range targets {
		if errs[i] == nil && l.state == LegOK {
			return timedOut, nil
		}
	}
	return timedOut, fmt.Errorf("%w: mirror %s of %d bytes at %d reached no in-sync leg", blockdev.ErrIO, what, n, off)
}

// WriteAt writes p to every healthy leg; see the Mirror doc comment for when it is acknowledged.
func (m *Mirror) WriteAt(p []byte, off int64) (int, error) {
	buf := p
	if m.opts.IOTimeout > 0 { // a timed-out leg may still read the buffer after we return
		buf = blockdev.GetBuf(len(p))
		copy(buf, p)
	}
	timedOut, err := m.modify(off, int64(len(p)), "write", len(buf), func(l *leg) (int, error) { return l.dev.WriteAt(buf, off) })
	if m.opts.IOTimeout > 0 && !timedOut {
		blockdev.PutBuf(buf)
	}
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// Discard discards the range on every healthy leg. A leg answering errors.ErrUnsupported keeps
// its bytes and is not failed.
func (m *Mirror) Discard(off, n int64) error {
	_, err := m.modify(off, n, "discard", 0, func(l *leg) (int, error) {
		err := l.dev.Discard(off, n)
		if errors.Is(err, errors.ErrUnsupported) {
			return 0, nil
		}
		return 0, err
	})
	return err
}

// Flush flushes every healthy leg (a leg failing it is marked failed), then clears the regions
// every leg completed and makes the bitmap durable. It fails with ErrIO when no in-sync leg
// flushed.
func (m *Mirror) Flush() error {
	if m.closed.Load() {
		return blockdev.ErrClosed
	}
	targets := m.writeTargets()
	errs, _ := m.legsDo(targets, 0, func(l *leg) (int, error) { return 0, l.dev.Flush() })
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
