package blockdev

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// Fault is how a Faulty device misbehaves in one direction.
type Fault int

// Faults a Faulty device can inject.
const (
	// FaultNone passes I/O through.
	FaultNone Fault = iota
	// FaultError fails every call with ErrIO at once (a dead leg, a refused session).
	FaultError
	// FaultHang blocks every call until the fault is changed or the device is closed, then
	// fails it with ErrIO (a dead tgtd: commands time out, nothing answers).
	FaultHang
	// FaultDrop (writes only) reports success and stores nothing: a leg that lost acknowledged
	// writes, as a volatile cache does in a crash. Discard and Flush succeed doing nothing.
	FaultDrop
)

// Faulty wraps a Device for tests: reads and writes (Flush and Discard count as writes) can be
// made to fail, hang or, for writes, be silently lost. The zero Fault passes through, so
// &Faulty{Device: d} behaves like d. Calls are counted.
type Faulty struct {
	Device

	mu          sync.Mutex
	read, write Fault
	hang        chan struct{} // closed to release hung calls
	closed      bool

	reads, writes atomic.Int64
}

// SetReads sets the fault for ReadAt.
func (f *Faulty) SetReads(x Fault) { f.set(&f.read, x) }

// SetWrites sets the fault for WriteAt, Flush and Discard.
func (f *Faulty) SetWrites(x Fault) { f.set(&f.write, x) }

// Set sets the same fault for reads and writes (FaultDrop applies to writes only).
func (f *Faulty) Set(x Fault) {
	f.set(&f.write, x)
	if x == FaultDrop {
		x = FaultNone
	}
	f.set(&f.read, x)
}

func (f *Faulty) set(dir *Fault, x Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if *dir == FaultHang && x != FaultHang && f.hang != nil {
		close(f.hang)
		f.hang = nil
	}
	*dir = x
}

// Reads returns how many ReadAt calls reached the wrapper.
func (f *Faulty) Reads() int64 { return f.reads.Load() }

// Writes returns how many WriteAt calls reached the wrapper.
func (f *Faulty) Writes() int64 { return f.writes.Load() }

// fault returns the current fault of a direction and, for FaultHang, the channel to wait on.
func (f *Faulty) fault(write bool) (Fault, chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	x := f.read
	if write {
		x = f.write
	}
	if x != FaultHang {
		return x, nil
	}
	if f.closed {
		return FaultError, nil
	}
	if f.hang == nil {
		f.hang = make(chan struct{})
	}
	return x, f.hang
}

// inject returns (handled, err): handled is true when the fault decided the call's outcome.
func (f *Faulty) inject(write bool, what string) (bool, error) {
	x, ch := f.fault(write)
	switch x {
	case FaultError:
		return true, fmt.Errorf("%w: injected %s failure", ErrIO, what)
	case FaultHang:
		<-ch
		return true, fmt.Errorf("%w: injected %s hang released", ErrIO, what)
	case FaultDrop:
		return write, nil
	}
	return false, nil
}

// ReadAt reads through the fault.
func (f *Faulty) ReadAt(p []byte, off int64) (int, error) {
	f.reads.Add(1)
	if done, err := f.inject(false, "read"); done {
		return 0, err
	}
	return f.Device.ReadAt(p, off)
}

// WriteAt writes through the fault.
func (f *Faulty) WriteAt(p []byte, off int64) (int, error) {
	f.writes.Add(1)
	if done, err := f.inject(true, "write"); done {
		if err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return f.Device.WriteAt(p, off)
}

// Flush flushes through the write fault.
func (f *Faulty) Flush() error {
	if done, err := f.inject(true, "flush"); done {
		return err
	}
	return f.Device.Flush()
}

// Discard discards through the write fault.
func (f *Faulty) Discard(off, n int64) error {
	if done, err := f.inject(true, "discard"); done {
		return err
	}
	return f.Device.Discard(off, n)
}

// Close releases hung calls and closes the wrapped device.
func (f *Faulty) Close() error {
	f.mu.Lock()
	f.closed = true
	if f.hang != nil {
		close(f.hang)
		f.hang = nil
	}
	f.mu.Unlock()
	return f.Device.Close()
}
