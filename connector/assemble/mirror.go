package assemble

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dlvm-project/dlvm/connector/blockdev"
)

// LegState is a mirror leg's state.
type LegState int

// Leg states.
const (
	// LegOK: the leg holds every region; it receives every write and serves reads.
	LegOK LegState = iota
	// LegResyncing: a returning or new leg being copied in the background. It receives every
	// write (so a region, once copied, stays current) but serves no read until the copy ends.
	LegResyncing
	// LegFailed: the leg returned an error (or is absent); it receives no I/O. Regions written
	// while any leg is not LegOK stay dirty in the bitmap, so a returning leg can be resynced
	// with only those.
	LegFailed
)

func (s LegState) String() string {
	switch s {
	case LegOK:
		return "ok"
	case LegResyncing:
		return "resyncing"
	case LegFailed:
		return "failed"
	}
	return fmt.Sprintf("LegState(%d)", int(s))
}

// MirrorOptions configures a Mirror. The zero value is usable.
type MirrorOptions struct {
	// RegionSize is the bitmap's granularity in bytes (default 512 KiB).
	RegionSize int64
	// Bitmap is the write-intent bitmap; nil keeps one in memory (then a crash of this process
	// loses it, and a leg that missed writes must be replaced with full=true).
	Bitmap Bitmap
	// Log receives leg state changes and resync progress; nil discards.
	Log *slog.Logger
	// OnLegState, if set, is called after a leg changes state (err says why it failed). It is
	// called from I/O goroutines with no lock held and must not block for long.
	OnLegState func(leg int, state LegState, err error)
	// Source is the leg RecoverDirty copies dirty regions from: the leg the caller's records
	// say was in sync most recently (default 0). Until RecoverDirty ends, reads go to it.
	Source int
	// ClearInterval is how often the regions that had no write during the last interval (and
	// whose writes completed on every leg) are cleared in the bitmap, in one batch (default
	// 1s). Flush and Close clear every region with no write in flight. Negative: only Flush
	// and Close clear.
	ClearInterval time.Duration
	// IOTimeout, if positive, fails a leg that does not answer a request within it (a hung
	// target). The request then proceeds on the other legs; the late leg request still runs
	// against the leg's device on a private copy of the data.
	IOTimeout time.Duration
}

type leg struct {
	idx     int
	dev     blockdev.Device
	state   LegState     // guarded by Mirror.mu
	cancel  func()       // stops this leg's resync; guarded by Mirror.mu
	pending atomic.Int64 // outstanding reads, for balancing
}

// Mirror is RAID1 over legs with a write-intent bitmap.
//
// Writes: a write first sets its regions' bits durably in the bitmap (only a region not dirty
// yet costs a sync, and concurrent writers share syncs), then goes to every leg in state LegOK
// or LegResyncing, in parallel. It is acknowledged when it succeeded on at least one
// LegOK leg and every other leg it went to either succeeded or was marked LegFailed; with no
// LegOK leg left it fails with ErrIO. Overlapping writes are serialised (so legs never diverge
// on concurrent writes to the same bytes); disjoint ones run concurrently. A region's bit is
// cleared, lazily and in batches, only when no write to it is in flight and every leg is LegOK:
// the bitmap never says clean for a region some leg may lack.
//
// Reads go to the LegOK leg with the fewest outstanding reads (round-robin on ties); a failed
// read marks the leg failed and is retried on another LegOK leg, so the caller sees ErrIO only
// when none is left.
//
// A leg whose request fails with any error (or times out, see IOTimeout) is marked LegFailed
// and gets no further I/O until ReplaceLeg. Discard is sent to every leg; a leg that does not
// support it (errors.ErrUnsupported) keeps its old bytes, so a discarded range may read
// differently from different legs until it is written again.
type Mirror struct {
	opts   MirrorOptions
	log    *slog.Logger
	region int64
	size   atomic.Int64
	bitmap Bitmap
	locks  rangeLock
	rr     atomic.Uint64

	mu         sync.Mutex
	legs       []*leg
	inflight   map[int64]int  // writes in flight per region
	touched    map[int64]bool // regions written since the last clean
	changed    chan struct{}  // closed and replaced on every leg state change
	recovering []int64        // regions dirty at assembly, until RecoverDirty ends

	bmMu  sync.RWMutex
	dirty map[int64]bool // regions set in the bitmap; guarded by bmMu

	closed   atomic.Bool
	stop     chan struct{}
	work     chan func() // idle leg workers receive here (legio.go)
	workers  atomic.Int32
	cleaner  sync.WaitGroup
	resyncWG sync.WaitGroup
}

var _ blockdev.Device = (*Mirror)(nil)

// NewMirror assembles legs into a mirror. A nil leg is absent (LegFailed) and can be added with
// ReplaceLeg; at least one leg must be present. The size is the smallest present leg's size.
// Regions the bitmap holds dirty (a previous attachment did not shut down cleanly) are read
// from opts.Source until RecoverDirty copies them to the other legs.
func NewMirror(legs []blockdev.Device, opts MirrorOptions) (*Mirror, error) {
	if opts.RegionSize == 0 {
		opts.RegionSize = 512 << 10
	}
	if opts.RegionSize < 0 {
		return nil, fmt.Errorf("assemble: mirror region size %d must be positive", opts.RegionSize)
	}
	if opts.ClearInterval == 0 {
		opts.ClearInterval = time.Second
	}
	if opts.Source < 0 || opts.Source >= len(legs) {
		return nil, fmt.Errorf("assemble: mirror source leg %d out of %d legs", opts.Source, len(legs))
	}
	m := &Mirror{
		opts: opts, log: opts.Log, region: opts.RegionSize,
		inflight: map[int64]int{}, touched: map[int64]bool{}, dirty: map[int64]bool{},
		changed: make(chan struct{}), stop: make(chan struct{}), work: make(chan func()),
	}
	if m.log == nil {
		m.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	size := int64(-1)
	for i, d := range legs {
		l := &leg{idx: i, dev: d, state: LegFailed}
		if d != nil {
			l.state = LegOK
			if size < 0 || d.Size() < size {
				size = d.Size()
			}
		}
		m.legs = append(m.legs, l)
	}
	if size < 0 {
		return nil, errors.New("assemble: mirror needs at least one leg")
	}
	m.size.Store(size)
	m.bitmap = opts.Bitmap
	if m.bitmap == nil {
		m.bitmap = NewMemBitmap(m.regions(size))
	} else if err := m.bitmap.Resize(m.regions(size)); err != nil {
		return nil, fmt.Errorf("assemble: mirror bitmap: %w", err)
	}
	dirty, err := m.bitmap.Dirty()
	if err != nil {
		return nil, fmt.Errorf("assemble: mirror bitmap: %w", err)
	}
	for _, r := range dirty {
		m.dirty[r] = true
	}
	m.recovering = dirty
	if opts.ClearInterval > 0 {
		m.cleaner.Go(m.clearLoop)
	}
	return m, nil
}

func (m *Mirror) regions(size int64) int64 { return (size + m.region - 1) / m.region }

// span returns the regions [first, last] that [off, off+n) touches (n > 0).
func (m *Mirror) span(off, n int64) (int64, int64) { return off / m.region, (off + n - 1) / m.region }

// Size returns the mirror's size.
func (m *Mirror) Size() int64 { return m.size.Load() }

// Health returns every leg's state, by leg index.
func (m *Mirror) Health() []LegState {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]LegState, len(m.legs))
	for i, l := range m.legs {
		out[i] = l.state
	}
	return out
}

func (m *Mirror) check(off, n int64) error {
	if m.closed.Load() {
		return blockdev.ErrClosed
	}
	return blockdev.CheckRange(off, n, m.Size())
}

// notify wakes WaitResync callers after a state change (and after OnLegState saw it).
func (m *Mirror) notify() {
	m.mu.Lock()
	defer m.mu.Unlock()
	close(m.changed)
	m.changed = make(chan struct{})
}

// fail marks l failed (once) and reports it. It is a no-op for a leg already failed or
// replaced, and quiet after Close.
func (m *Mirror) fail(l *leg, err error) {
	m.mu.Lock()
	if l.state == LegFailed || m.legs[l.idx] != l {
		m.mu.Unlock()
		return
	}
	l.state = LegFailed
	if l.cancel != nil {
		l.cancel()
	}
	m.mu.Unlock()
	if !m.closed.Load() {
		m.log.Warn("mirror leg failed", "leg", l.idx, "err", err)
		if m.opts.OnLegState != nil {
			m.opts.OnLegState(l.idx, LegFailed, err)
		}
	}
	m.notify()
}

// setState moves l from one state to another and reports it; false if l was not in from.
func (m *Mirror) setState(l *leg, from, to LegState) bool {
	m.mu.Lock()
	if l.state != from || m.legs[l.idx] != l {
		m.mu.Unlock()
		return false
	}
	l.state = to
	m.mu.Unlock()
	m.log.Info("mirror leg state", "leg", l.idx, "state", to.String())
	if m.opts.OnLegState != nil {
		m.opts.OnLegState(l.idx, to, nil)
	}
	m.notify()
	return true
}

// pickRead returns the LegOK leg to read from, skipping those in skip; nil when none is left.
// While dirty regions from a previous attachment await RecoverDirty, the source leg is
// preferred for every read (other legs may hold older bytes there).
func (m *Mirror) pickRead(skip map[*leg]bool) *leg {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.recovering) > 0 {
		if s := m.legs[m.opts.Source]; s.state == LegOK && !skip[s] {
			return s
		}
	}
	n := len(m.legs)
	start := int(m.rr.Add(1) % uint64(n))
	var best *leg
	for k := range n {
		l := m.legs[(start+k)%n]
		if l.state != LegOK || skip[l] {
			continue
		}
		if best == nil || l.pending.Load() < best.pending.Load() {
			best = l
		}
	}
	return best
}

// readFrom reads p at off from LegOK legs, failing over until one succeeds. skip holds legs
// not to use and is updated with legs that failed.
func (m *Mirror) readFrom(p []byte, off int64, skip map[*leg]bool) (*leg, error) {
	for {
		l := m.pickRead(skip)
		if l == nil {
			return nil, fmt.Errorf("%w: mirror has no in-sync leg to read %d bytes at %d", blockdev.ErrIO, len(p), off)
		}
		l.pending.Add(1)
		buf := p
		if m.opts.IOTimeout > 0 { // a timed-out leg may still write into its buffer later
			buf = blockdev.GetBuf(len(p))
		}
		err := m.legIO(l, len(p), func() (int, error) { return l.dev.ReadAt(buf, off) })
		l.pending.Add(-1)
		if m.opts.IOTimeout > 0 {
			if err == nil {
				copy(p, buf)
			}
			if !errors.Is(err, errLegTimeout) { // a timed-out leg may still write into buf
				blockdev.PutBuf(buf)
			}
		}
		if err == nil {
			return l, nil
		}
		m.fail(l, err)
		skip[l] = true
	}
}

// ReadAt reads from one in-sync leg, retrying on the others; ErrIO only when none is left.
func (m *Mirror) ReadAt(p []byte, off int64) (int, error) {
	if err := m.check(off, int64(len(p))); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if _, err := m.readFrom(p, off, map[*leg]bool{}); err != nil {
		return 0, err
	}
	return len(p), nil
}
