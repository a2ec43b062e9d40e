package assemble

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/dlvm-project/dlvm/connector/blockdev"
)

// errLegTimeout marks a leg request abandoned after MirrorOptions.IOTimeout; it is still
// running, so its buffer must not be reused.
var errLegTimeout = errors.New("leg did not answer in time")

// maxLegWorkers bounds a mirror's idle leg workers; beyond it a request gets its own goroutine.
const maxLegWorkers = 256

// spawn runs f on an idle leg worker, or on a new one. Workers live until Close, so the
// per-request cost is a channel hand-off, not a goroutine start and the stack growth of the
// deep iSCSI call chain each time.
func (m *Mirror) spawn(f func()) {
	select {
	case m.work <- f:
		return
	default:
	}
	if m.workers.Add(1) > maxLegWorkers {
		m.workers.Add(-1)
		go f()
		return
	}
	go m.worker(f)
}

func (m *Mirror) worker(f func()) {
	defer m.workers.Add(-1)
	for {
		f()
		select {
		case f = <-m.work:
		case <-m.stop:
			return
		}
	}
}

// legsDo runs op on every leg of targets at once and returns each one's error (a count below
// want is an error). With IOTimeout, a leg that has not answered when it passes gets an error
// wrapping errLegTimeout and blockdev.ErrIO, its op is left running and timedOut is true.
func (m *Mirror) legsDo(targets []*leg, want int, op func(l *leg) (int, error)) (errs []error, timedOut bool) {
	errs = make([]error, len(targets))
	call := func(l *leg) error {
		n, err := op(l)
		if err == nil && n < want {
			err = fmt.Errorf("%w: short transfer %d of %d", blockdev.ErrIO, n, want)
		}
		return err
	}
	if m.opts.IOTimeout <= 0 {
		if len(targets) == 0 {
			return errs, false
		}
		var wg sync.WaitGroup
		for i, l := range targets[1:] {
			wg.Add(1)
			m.spawn(func() { errs[i+1] = call(l); wg.Done() })
		}
		errs[0] = call(targets[0])
		wg.Wait()
		return errs, false
	}
	w := getLegWait(len(targets), m.opts.IOTimeout)
	ch := w.ch // late answers land here and are dropped: w is then not reused
	for i, l := range targets {
		m.spawn(func() { ch <- legResult{i, call(l)} })
	}
	var few [maxPooledLegs]bool // answered, without an allocation for the usual mirror
	answered := few[:min(len(targets), len(few))]
	if len(targets) > len(few) {
		answered = make([]bool, len(targets))
	}
	for left := len(targets); left > 0; left-- {
		select {
		case r := <-ch:
			errs[r.i], answered[r.i] = r.err, true
		case <-w.timer.C:
			for i, l := range targets {
				if !answered[i] {
					errs[i] = fmt.Errorf("%w: %w: leg %d, %s", blockdev.ErrIO, errLegTimeout, l.idx, m.opts.IOTimeout)
				}
			}
			return errs, true
		}
	}
	w.put()
	return errs, false
}

// legResult is one leg's answer to a legsDo request.
type legResult struct {
	i   int
	err error
}

// maxPooledLegs bounds the requests whose legWait is recycled (a mirror has 2 or 3 legs).
const maxPooledLegs = 4

// legWait is what a legsDo request with IOTimeout waits on: the legs' answers and the timer.
// One whose every leg answered is recycled (nothing can send to its channel any more); one
// that timed out is left to the garbage collector, since a late leg still holds its channel.
type legWait struct {
	ch    chan legResult
	timer *time.Timer
}

var legWaitPool sync.Pool

func getLegWait(n int, timeout time.Duration) *legWait {
	if n <= maxPooledLegs {
		if w, ok := legWaitPool.Get().(*legWait); ok {
			w.timer.Reset(timeout)
			return w
		}
		return &legWait{ch: make(chan legResult, maxPooledLegs), timer: time.NewTimer(timeout)}
	}
	return &legWait{ch: make(chan legResult, n), timer: time.NewTimer(timeout)}
}

// put stops the timer and recycles w; every leg answered, so its channel is empty.
func (w *legWait) put() {
	w.timer.Stop()
	if cap(w.ch) == maxPooledLegs {
		legWaitPool.Put(w)
	}
}

// legIO runs one leg request, applying IOTimeout. A short count is an error.
func (m *Mirror) legIO(l *leg, want int, op func() (int, error)) error {
	errs, _ := m.legsDo([]*leg{l}, want, func(*leg) (int, error) { return op() })
	return errs[0]
}
