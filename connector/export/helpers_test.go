package export

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/dlvm-project/dlvm/connector/blockdev"
)

// fileDev is a test blockdev.Device over a regular file (until blockdev grows its own File).
// It counts flushes and discards so tests can see them arrive.
type fileDev struct {
	f        *os.File
	size     atomic.Int64
	flushes  atomic.Int64
	discards atomic.Int64
	mu       sync.Mutex
	closed   bool
}

var _ blockdev.Device = (*fileDev)(nil)

// newFileDev creates a sparse backing file of size bytes under t.TempDir and returns the
// device and the file's path. The device is closed by t.Cleanup.
func newFileDev(t *testing.T, size int64) (*fileDev, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "backing.img")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	require.NoError(t, err)
	require.NoError(t, f.Truncate(size))
	d := &fileDev{f: f}
	d.size.Store(size)
	t.Cleanup(func() { _ = d.Close() })
	return d, path
}

func (d *fileDev) check(off, n int64) error {
	if off < 0 || off+n > d.size.Load() {
		return fmt.Errorf("[%d,+%d): %w", off, n, blockdev.ErrOutOfRange)
	}
	return nil
}

func (d *fileDev) ReadAt(p []byte, off int64) (int, error) {
	if err := d.check(off, int64(len(p))); err != nil {
		return 0, err
	}
	return d.f.ReadAt(p, off)
}

func (d *fileDev) WriteAt(p []byte, off int64) (int, error) {
	if err := d.check(off, int64(len(p))); err != nil {
		return 0, err
	}
	return d.f.WriteAt(p, off)
}

func (d *fileDev) Size() int64 { return d.size.Load() }

func (d *fileDev) Flush() error { d.flushes.Add(1); return d.f.Sync() }

// Discard deliberately leaves the data in place (allowed by the contract), so a test catches
// an export that treats Discard as zeroing.
func (d *fileDev) Discard(off, n int64) error { d.discards.Add(1); return d.check(off, n) }

// grow extends the device (for Resize tests).
func (d *fileDev) grow(size int64) error {
	if err := d.f.Truncate(size); err != nil {
		return err
	}
	d.size.Store(size)
	return nil
}

func (d *fileDev) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	return d.f.Close()
}

// requireTool skips the test when an external tool is missing.
func requireTool(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			t.Skipf("%s not installed", n)
		}
	}
}

// requireRoot skips tests that need loop devices, mounts and /dev/fuse.
func requireRoot(t *testing.T) {
	t.Helper()
	if unix.Geteuid() != 0 {
		t.Skip("needs root for loop devices and mounts")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("no /dev/fuse")
	}
}

// run runs a command and fails the test with its output when it fails.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	require.NoError(t, err, "%s %s: %s", name, strings.Join(args, " "), out)
	return string(out)
}

// memDev is a small in-memory test device.
type memDev struct {
	mu sync.Mutex
	b  []byte
}

func (m *memDev) ReadAt(p []byte, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if off < 0 || off+int64(len(p)) > int64(len(m.b)) {
		return 0, blockdev.ErrOutOfRange
	}
	return copy(p, m.b[off:]), nil
}

func (m *memDev) WriteAt(p []byte, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if off < 0 || off+int64(len(p)) > int64(len(m.b)) {
		return 0, blockdev.ErrOutOfRange
	}
	return copy(m.b[off:], p), nil
}

func (m *memDev) Size() int64                { return int64(len(m.b)) }
func (m *memDev) Flush() error               { return nil }
func (m *memDev) Discard(off, n int64) error { return nil }
func (m *memDev) Close() error               { return nil }
