package assemble

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/dlvm-project/dlvm/connector/blockdev"
)

// ReplaceLeg puts dev in slot i (a returning leg, or a new one on another server) in state
// LegResyncing and starts copying regions to it in the background from in-sync legs, while
// I/O continues. full=false copies only the regions dirty in the bitmap: right for a leg that
// returns with the bytes it had when it failed (every region written since is dirty, because
// no bit is cleared while a leg is not LegOK). full=true copies every region: for a new leg,
// or when the bitmap was not persisted across the leg's absence.
//
// The leg receives every write from now on. Each region is copied holding that region's range
// lock, so no write to it is in flight during its copy: a write either finishes before the copy
// (and is copied) or starts after it (and goes to the new leg itself). When every region is
// copied the leg becomes LegOK and the bitmap's regions are cleared by the next batch. If the
// new leg fails a write, or no in-sync leg is left to copy from, it becomes LegFailed and the
// resync stops. The device previously in
// slot i, if different, is closed. Replacing a slot that is resyncing restarts its resync.
func (m *Mirror) ReplaceLeg(i int, dev blockdev.Device, full bool) error {
	if m.closed.Load() {
		return blockdev.ErrClosed
	}
	if i < 0 || i >= len(m.legs) {
		return fmt.Errorf("assemble: mirror has no leg %d", i)
	}
	if dev == nil {
		return errors.New("assemble: replacement leg is nil")
	}
	if dev.Size() < m.Size() {
		return fmt.Errorf("%w: replacement leg has %d bytes, mirror %d", blockdev.ErrOutOfRange, dev.Size(), m.Size())
	}
	ctx, cancel := context.WithCancel(context.Background())
	nl := &leg{idx: i, dev: dev, state: LegResyncing, cancel: cancel}
	// Under both locks: a write that did not see the new leg has its regions marked dirty
	// already, so they are in the copy list below.
	m.bmMu.Lock()
	m.mu.Lock()
	old := m.legs[i]
	if old.cancel != nil {
		old.cancel()
	}
	old.state = LegFailed
	m.legs[i] = nl
	var regions []int64
	if full {
		for r := range m.regions(m.Size()) {
			regions = append(regions, r)
		}
	} else {
		regions = slices.Sorted(maps.Keys(m.dirty))
	}
	m.mu.Unlock()
	m.bmMu.Unlock()
	if old.dev != nil && old.dev != dev {
		if err := old.dev.Close(); err != nil {
			m.log.Debug("close replaced leg", "leg", i, "err", err)
		}
	}
	m.log.Info("mirror leg resyncing", "leg", i, "regions", len(regions), "full", full)
	if m.opts.OnLegState != nil {
		m.opts.OnLegState(i, LegResyncing, nil)
	}
	m.notify()
	m.resyncWG.Go(func() { m.resync(ctx, nl, regions) })
	return nil
}

// resync copies regions to l and makes it LegOK when all are copied.
func (m *Mirror) resync(ctx context.Context, l *leg, regions []int64) {
	defer l.cancel()
	start := time.Now()
	buf := make([]byte, m.region)
	for _, r := range regions {
		if m.ctxDone(ctx) {
			return
		}
		if err := m.copyRegion(buf, r, []*leg{l}); err != nil {
			if !m.ctxDone(ctx) { // no in-sync leg to copy from: the leg cannot be completed
				m.fail(l, fmt.Errorf("resync stopped at region %d: %w", r, err))
			}
			return
		}
	}
	if m.setState(l, LegResyncing, LegOK) {
		m.log.Info("mirror resync done", "leg", l.idx, "regions", len(regions), "took", time.Since(start))
	}
}

// copyRegion copies region r from an in-sync leg (not one of dsts) to every leg of dsts still
// resyncing or in sync, holding the region's range lock. A dst that fails is marked failed;
// the error says the copy could not happen at all (no source, or every dst failed).
func (m *Mirror) copyRegion(buf []byte, r int64, dsts []*leg) error {
	off := r * m.region
	defer m.locks.lock(off, off+m.region)()
	size := m.Size()
	if off >= size {
		return nil
	}
	p := buf[:min(m.region, size-off)]
	skip := map[*leg]bool{}
	for _, d := range dsts {
		skip[d] = true
	}
	if _, err := m.readFrom(p, off, skip); err != nil {
		return err
	}
	wrote := false
	for _, d := range dsts {
		m.mu.Lock()
		live := d.state != LegFailed && m.legs[d.idx] == d
		m.mu.Unlock()
		if !live {
			continue
		}
		if err := m.legIO(d, len(p), func() (int, error) { return d.dev.WriteAt(p, off) }); err != nil {
			m.fail(d, err)
			continue
		}
		wrote = true
	}
	if !wrote && len(dsts) > 0 {
		return fmt.Errorf("%w: no leg took region %d", blockdev.ErrIO, r)
	}
	return nil
}

// RecoverDirty makes the legs agree after an unclean shutdown: every region the bitmap held
// dirty at assembly is copied from the source leg (MirrorOptions.Source, or another in-sync leg
// if it failed) to the other in-sync legs, one region at a time under its range lock, while
// I/O continues. Until it returns, reads prefer the source leg. Call it once after NewMirror;
// it returns at once when nothing was dirty. Not to be called concurrently with itself. On ctx
// cancellation the remaining regions stay
// dirty and reads keep preferring the source; calling it again resumes.
func (m *Mirror) RecoverDirty(ctx context.Context) error {
	m.mu.Lock()
	regions := slices.Clone(m.recovering)
	m.mu.Unlock()
	buf := make([]byte, m.region)
	for len(regions) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		if m.closed.Load() {
			return blockdev.ErrClosed
		}
		src := m.pickRead(nil)
		if src == nil {
			return fmt.Errorf("%w: mirror has no in-sync leg to recover from", blockdev.ErrIO)
		}
		m.mu.Lock()
		var dsts []*leg
		for _, l := range m.legs {
			if l != src && l.state == LegOK {
				dsts = append(dsts, l)
			}
		}
		m.mu.Unlock()
		// dsts may be empty (one leg left): the region is then consistent by definition.
		if err := m.copyRegionFrom(buf, regions[0], src, dsts); err != nil {
			continue // src failed: pick another and retry the region
		}
		regions = regions[1:]
		m.mu.Lock()
		m.recovering = m.recovering[1:]
		m.mu.Unlock()
	}
	m.log.Info("mirror dirty regions recovered")
	return nil
}

// copyRegionFrom copies region r from src only (it must not silently fall back to a leg whose
// bytes may differ); an error means src failed.
func (m *Mirror) copyRegionFrom(buf []byte, r int64, src *leg, dsts []*leg) error {
	off := r * m.region
	defer m.locks.lock(off, off+m.region)()
	size := m.Size()
	if off >= size {
		return nil
	}
	p := buf[:min(m.region, size-off)]
	if err := m.legIO(src, len(p), func() (int, error) { return src.dev.ReadAt(p, off) }); err != nil {
		m.fail(src, err)
		return err
	}
	for _, d := range dsts {
		if err := m.legIO(d, len(p), func() (int, error) { return d.dev.WriteAt(p, off) }); err != nil {
			m.fail(d, err)
		}
	}
	return nil
}

// WaitResync waits until no leg is resyncing (each ended LegOK or LegFailed; see Health).
func (m *Mirror) WaitResync(ctx context.Context) error {
	for {
		m.mu.Lock()
		busy := false
		for _, l := range m.legs {
			busy = busy || l.state == LegResyncing
		}
		ch := m.changed
		m.mu.Unlock()
		if !busy {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// Grow extends the mirror to newSize after its legs were extended. Every leg not failed must
// already hold newSize bytes; shrinking is refused. New regions start clean.
func (m *Mirror) Grow(newSize int64) error {
	if m.closed.Load() {
		return blockdev.ErrClosed
	}
	m.bmMu.Lock()
	defer m.bmMu.Unlock()
	if newSize < m.Size() {
		return fmt.Errorf("%w: mirror cannot shrink from %d to %d", blockdev.ErrOutOfRange, m.Size(), newSize)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, l := range m.legs {
		if l.state != LegFailed && l.dev.Size() < newSize {
			return fmt.Errorf("%w: leg %d has %d bytes, below %d", blockdev.ErrOutOfRange, l.idx, l.dev.Size(), newSize)
		}
	}
	if err := m.bitmap.Resize(m.regions(newSize)); err != nil {
		return fmt.Errorf("%w: resize mirror bitmap: %w", blockdev.ErrIO, err)
	}
	m.size.Store(newSize)
	return nil
}

// Close stops resyncs and the bitmap clearing, clears the regions every leg completed (a
// clean shutdown leaves only regions some leg lacks dirty), closes the bitmap and every leg.
// Requests still in flight may fail with ErrClosed. Idempotent.
func (m *Mirror) Close() error {
	if m.closed.Swap(true) {
		return nil
	}
	close(m.stop)
	m.cleaner.Wait()
	m.mu.Lock()
	for _, l := range m.legs {
		if l.cancel != nil {
			l.cancel()
		}
	}
	m.mu.Unlock()
	m.clean(false)
	errs := []error{m.bitmap.Close()}
	for _, l := range m.legs {
		if l.dev != nil {
			errs = append(errs, l.dev.Close())
		}
	}
	m.resyncWG.Wait()
	return errors.Join(errs...)
}

// clearLoop clears, every ClearInterval until Close, the regions that saw no write during the
// last interval. A region being written keeps its bit: clearing it would only make the next
// write to it wait for a bitmap sync again (md's bitmap daemon is lazy for the same reason).
func (m *Mirror) clearLoop() {
	t := time.NewTicker(m.opts.ClearInterval)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.clean(true)
		}
	}
}

// clean clears, in one batch, every dirty region with no write in flight (with onlyIdle, also
// none started since the previous clean), provided every leg is LegOK and no recovery is
// pending.
func (m *Mirror) clean(onlyIdle bool) {
	m.bmMu.Lock()
	defer m.bmMu.Unlock()
	m.mu.Lock()
	var cand []int64
	allOK := len(m.recovering) == 0
	for _, l := range m.legs {
		allOK = allOK && l.state == LegOK
	}
	if allOK {
		for r := range m.dirty {
			if m.inflight[r] == 0 && !(onlyIdle && m.touched[r]) {
				cand = append(cand, r)
			}
		}
	}
	clear(m.touched)
	m.mu.Unlock()
	if len(cand) == 0 {
		return
	}
	if err := m.bitmap.Clear(cand...); err != nil {
		m.log.Warn("mirror bitmap clear failed", "regions", len(cand), "err", err)
		return
	}
	for _, r := range cand {
		delete(m.dirty, r)
	}
}

// ctxDone reports whether ctx is done or the mirror closed.
func (m *Mirror) ctxDone(ctx context.Context) bool {
	return ctx.Err() != nil || m.closed.Load()
}
