package assemble

import "sync"

// rangeLock serialises overlapping byte ranges in arrival order: a request waits while any
// earlier request (granted or still waiting) overlaps it, so a resync waiting for a busy region
// is not starved by later writes. Non-overlapping requests run concurrently.
type rangeLock struct {
	mu      sync.Mutex
	q       []*rangeReq // arrival order
	waiting int         // requests in q not granted yet
}

type rangeReq struct {
	off, end int64
	granted  bool
	ready    chan struct{}
}

func (r *rangeReq) overlaps(o *rangeReq) bool { return r.off < o.end && o.off < r.end }

// lock blocks until [off, end) is held and returns the unlock function. A request that
// overlaps nothing queued is granted at once, without a channel.
func (l *rangeLock) lock(off, end int64) func() {
	r := &rangeReq{off: off, end: end}
	l.mu.Lock()
	free := true
	for _, e := range l.q {
		if e.overlaps(r) {
			free = false
			break
		}
	}
	l.q = append(l.q, r)
	if free {
		r.granted = true
		l.mu.Unlock()
		return func() { l.unlock(r) }
	}
	r.ready = make(chan struct{})
	l.waiting++
	l.mu.Unlock()
	<-r.ready
	return func() { l.unlock(r) }
}

func (l *rangeLock) unlock(r *rangeReq) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, x := range l.q {
		if x == r {
			l.q = append(l.q[:i], l.q[i+1:]...)
			l.q[len(l.q):cap(l.q)][0] = nil
			break
		}
	}
	if l.waiting > 0 {
		l.grantLocked()
	}
}

// grantLocked grants every waiting request that no earlier request overlaps.
func (l *rangeLock) grantLocked() {
	for i, r := range l.q {
		if r.granted {
			continue
		}
		free := true
		for _, e := range l.q[:i] {
			if e.overlaps(r) {
				free = false
				break
			}
		}
		if free {
			r.granted = true
			l.waiting--
			close(r.ready)
		}
	}
}
