//go:build linux

package blockdev

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// File is a Device over a regular file or a block device, doing positional I/O (pread/pwrite).
// Flush is fsync; Discard punches a hole (regular file) or issues BLKDISCARD (block device).
// Size follows the file: a file or device grown underneath (an extended leg) is seen on the
// next Size call, or on the first access beyond the size last seen.
type File struct {
	f     *os.File
	block bool
	size  atomic.Int64
	mu    sync.RWMutex // held shared by I/O, exclusively by Close
	shut  bool
}

// OpenFile opens path read-write. It fails if path is neither a regular file nor a block device.
func OpenFile(path string) (*File, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	d := &File{f: f, block: st.Mode()&os.ModeDevice != 0 && st.Mode()&os.ModeCharDevice == 0}
	if !d.block && !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("open %s: not a regular file or block device", path)
	}
	if _, err := d.refresh(); err != nil {
		f.Close()
		return nil, err
	}
	return d, nil
}

func (d *File) refresh() (int64, error) {
	n, err := d.f.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, fmt.Errorf("%w: size of %s: %w", ErrIO, d.f.Name(), err)
	}
	d.size.Store(n)
	return n, nil
}

// Size returns the file's current size (0 when it cannot be read or the device is closed).
func (d *File) Size() int64 {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.shut {
		return d.size.Load()
	}
	n, err := d.refresh()
	if err != nil {
		return d.size.Load()
	}
	return n
}

// check validates an access against the cached size, re-reading the size once on a miss.
func (d *File) check(off, n int64) error {
	if d.shut {
		return ErrClosed
	}
	if CheckRange(off, n, d.size.Load()) == nil {
		return nil
	}
	size, err := d.refresh()
	if err != nil {
		return err
	}
	return CheckRange(off, n, size)
}

// ReadAt reads len(p) bytes at off; a failed read wraps ErrIO.
func (d *File) ReadAt(p []byte, off int64) (int, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if err := d.check(off, int64(len(p))); err != nil {
		return 0, err
	}
	n, err := d.f.ReadAt(p, off)
	if err != nil {
		return n, fmt.Errorf("%w: read %s at %d: %w", ErrIO, d.f.Name(), off, err)
	}
	return n, nil
}

// WriteAt writes p at off; a failed write wraps ErrIO.
func (d *File) WriteAt(p []byte, off int64) (int, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if err := d.check(off, int64(len(p))); err != nil {
		return 0, err
	}
	n, err := d.f.WriteAt(p, off)
	if err != nil {
		return n, fmt.Errorf("%w: write %s at %d: %w", ErrIO, d.f.Name(), off, err)
	}
	return n, nil
}

// Flush fsyncs the file: every write completed before the call is durable when it returns.
func (d *File) Flush() error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.shut {
		return ErrClosed
	}
	if err := d.f.Sync(); err != nil {
		return fmt.Errorf("%w: fsync %s: %w", ErrIO, d.f.Name(), err)
	}
	return nil
}

// Discard punches a hole in a regular file (size kept) or discards the range of a block device.
// A filesystem or device without discard support yields an error wrapping
// errors.ErrUnsupported; the data is then left as it was.
func (d *File) Discard(off, n int64) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if err := d.check(off, n); err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	var err error
	if d.block {
		r := [2]uint64{uint64(off), uint64(n)}
		_, _, e := unix.Syscall(unix.SYS_IOCTL, d.f.Fd(), unix.BLKDISCARD, uintptr(unsafe.Pointer(&r)))
		if e != 0 {
			err = e
		}
	} else {
		err = unix.Fallocate(int(d.f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ENOTTY), errors.Is(err, unix.EINVAL):
		return fmt.Errorf("discard %s: %w: %w", d.f.Name(), errors.ErrUnsupported, err)
	default:
		return fmt.Errorf("%w: discard %s at %d+%d: %w", ErrIO, d.f.Name(), off, n, err)
	}
}

// Close closes the file. Idempotent; later calls fail with ErrClosed.
func (d *File) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.shut {
		return nil
	}
	d.shut = true
	return d.f.Close()
}
