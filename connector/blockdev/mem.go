package blockdev

import (
	"fmt"
	"sync"
)

const memPage = 4096

// Mem is a sparse in-memory Device for tests: pages never written read as zeros and take no
// memory. Nothing is durable; Flush only checks the device is open.
type Mem struct {
	mu     sync.RWMutex
	size   int64
	pages  map[int64][]byte
	closed bool
}

// NewMem returns a zero-filled in-memory device of size bytes.
func NewMem(size int64) *Mem {
	return &Mem{size: size, pages: map[int64][]byte{}}
}

// Size returns the current size.
func (m *Mem) Size() int64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.size
}

// Resize changes the size (an extended leg); bytes beyond a shrunk end are dropped.
func (m *Mem) Resize(size int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for p := range m.pages {
		if p*memPage >= size {
			delete(m.pages, p)
		}
	}
	m.size = size
}

// ReadAt reads len(p) bytes at off. An access crossing the end fails with ErrOutOfRange and
// reads nothing.
func (m *Mem) ReadAt(p []byte, off int64) (int, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if err := m.check(off, int64(len(p))); err != nil {
		return 0, err
	}
	for done := 0; done < len(p); {
		pg, in := (off+int64(done))/memPage, (off+int64(done))%memPage
		k := min(len(p)-done, memPage-int(in))
		if b, ok := m.pages[pg]; ok {
			copy(p[done:done+k], b[in:])
		} else {
			clear(p[done : done+k])
		}
		done += k
	}
	return len(p), nil
}

// WriteAt writes p at off. An access crossing the end fails with ErrOutOfRange and writes
// nothing.
func (m *Mem) WriteAt(p []byte, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(off, int64(len(p))); err != nil {
		return 0, err
	}
	for done := 0; done < len(p); {
		pg, in := (off+int64(done))/memPage, (off+int64(done))%memPage
		k := min(len(p)-done, memPage-int(in))
		b, ok := m.pages[pg]
		if !ok {
			b = make([]byte, memPage)
			m.pages[pg] = b
		}
		copy(b[in:], p[done:done+k])
		done += k
	}
	return len(p), nil
}

// Flush succeeds on an open device.
func (m *Mem) Flush() error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.check(0, 0)
}

// Discard zeroes the range, freeing whole pages.
func (m *Mem) Discard(off, n int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(off, n); err != nil {
		return err
	}
	for done := int64(0); done < n; {
		pg, in := (off+done)/memPage, (off+done)%memPage
		k := min(n-done, memPage-in)
		if k == memPage {
			delete(m.pages, pg)
		} else if b, ok := m.pages[pg]; ok {
			clear(b[in : in+k])
		}
		done += k
	}
	return nil
}

// Close marks the device closed. Idempotent.
func (m *Mem) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}

// Pages reports how many pages hold data (a sparseness check for tests).
func (m *Mem) Pages() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.pages)
}

func (m *Mem) check(off, n int64) error {
	if m.closed {
		return ErrClosed
	}
	return CheckRange(off, n, m.size)
}

// CheckRange returns an error wrapping ErrOutOfRange unless [off, off+n) lies inside a device
// of the given size.
func CheckRange(off, n, size int64) error {
	if off < 0 || n < 0 || off > size || n > size-off {
		return fmt.Errorf("%w: %d bytes at %d, size %d", ErrOutOfRange, n, off, size)
	}
	return nil
}
