package userspace

import (
	"sync/atomic"

	"github.com/dlvm-project/dlvm/connector/blockdev"
)

// window shows the first size bytes of a device: the assembled stack of a mirrored volume is
// a little larger than the volume (each leg carries a metadata area after its data share, see
// model.MirrorMetadataBytes), and the host must see exactly the volume's size.
type window struct {
	blockdev.Device
	size atomic.Int64
}

func newWindow(d blockdev.Device, size int64) *window {
	w := &window{Device: d}
	w.size.Store(min(size, d.Size()))
	return w
}

// Size is the volume's size.
func (w *window) Size() int64 { return w.size.Load() }

// resize sets the visible size (after an extend), never beyond the device.
func (w *window) resize(size int64) { w.size.Store(min(size, w.Device.Size())) }

// clip returns how much of n bytes at off lies inside the window.
func (w *window) clip(off int64, n int) (int, error) {
	size := w.Size()
	if off < 0 || off >= size {
		if n == 0 && off == size {
			return 0, nil
		}
		return 0, blockdev.ErrOutOfRange
	}
	if off+int64(n) > size {
		return int(size - off), blockdev.ErrOutOfRange
	}
	return n, nil
}

func (w *window) ReadAt(p []byte, off int64) (int, error) {
	k, cerr := w.clip(off, len(p))
	if k == 0 {
		return 0, cerr
	}
	n, err := w.Device.ReadAt(p[:k], off)
	if err == nil {
		err = cerr
	}
	return n, err
}

func (w *window) WriteAt(p []byte, off int64) (int, error) {
	k, cerr := w.clip(off, len(p))
	if k == 0 {
		return 0, cerr
	}
	n, err := w.Device.WriteAt(p[:k], off)
	if err == nil {
		err = cerr
	}
	return n, err
}

func (w *window) Discard(off, n int64) error {
	size := w.Size()
	if off >= size {
		return nil
	}
	return w.Device.Discard(off, min(n, size-off))
}
