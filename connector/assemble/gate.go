package assemble

import (
	"context"
	"fmt"
	"sync"

	"github.com/dlvm-project/dlvm/connector/blockdev"
)

// Gate wraps a Device so its I/O can be paused: Quiesce blocks new requests, waits for the ones
// in flight and flushes the device, so every write acknowledged before it returned is on every
// leg and none is in progress; the caller then snapshots the legs (crash-consistent across
// legs) and resumes. Requests arriving while paused wait, they are not failed. Size and Close
// pass through without waiting.
type Gate struct {
	dev blockdev.Device

	mu       sync.Mutex
	inflight int
	paused   chan struct{} // non-nil while quiesced; closed on resume
	drained  chan struct{} // closed when inflight reaches 0 while paused
}

var _ blockdev.Device = (*Gate)(nil)

// NewGate wraps dev.
func NewGate(dev blockdev.Device) *Gate { return &Gate{dev: dev} }

func (g *Gate) enter() {
	g.mu.Lock()
	for g.paused != nil {
		ch := g.paused
		g.mu.Unlock()
		<-ch
		g.mu.Lock()
	}
	g.inflight++
	g.mu.Unlock()
}

func (g *Gate) leave() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inflight--
	if g.inflight == 0 && g.drained != nil {
		close(g.drained)
		g.drained = nil
	}
}

// Quiesce pauses I/O: new requests block, in-flight ones drain, then the device is flushed. It
// returns resume (idempotent), which lets blocked requests go on. A second Quiesce waits for the
// first to be resumed. If ctx ends before the drain (or the flush fails), I/O is resumed and
// the error returned.
func (g *Gate) Quiesce(ctx context.Context) (resume func(), err error) {
	g.mu.Lock()
	for g.paused != nil {
		ch := g.paused
		g.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		g.mu.Lock()
	}
	paused := make(chan struct{})
	g.paused = paused
	var drained chan struct{}
	if g.inflight > 0 {
		drained = make(chan struct{})
		g.drained = drained
	}
	g.mu.Unlock()
	var once sync.Once
	resume = func() {
		once.Do(func() {
			g.mu.Lock()
			g.paused, g.drained = nil, nil
			g.mu.Unlock()
			close(paused)
		})
	}
	if drained != nil {
		select {
		case <-drained:
		case <-ctx.Done():
			resume()
			return nil, ctx.Err()
		}
	}
	if err := g.dev.Flush(); err != nil {
		resume()
		return nil, fmt.Errorf("quiesce: flush: %w", err)
	}
	return resume, nil
}

// ReadAt reads through the gate.
func (g *Gate) ReadAt(p []byte, off int64) (int, error) {
	g.enter()
	defer g.leave()
	return g.dev.ReadAt(p, off)
}

// WriteAt writes through the gate.
func (g *Gate) WriteAt(p []byte, off int64) (int, error) {
	g.enter()
	defer g.leave()
	return g.dev.WriteAt(p, off)
}

// Flush flushes through the gate.
func (g *Gate) Flush() error {
	g.enter()
	defer g.leave()
	return g.dev.Flush()
}

// Discard discards through the gate.
func (g *Gate) Discard(off, n int64) error {
	g.enter()
	defer g.leave()
	return g.dev.Discard(off, n)
}

// Size returns the wrapped device's size.
func (g *Gate) Size() int64 { return g.dev.Size() }

// Close closes the wrapped device; it does not wait for a pause to end.
func (g *Gate) Close() error { return g.dev.Close() }
