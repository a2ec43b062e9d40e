package export

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var dioModes = []struct {
	name string
	dio  bool
}{{"loop direct io off", false}, {"loop direct io on", true}}

// exposeTest attaches dev and registers a Close (after anything registered later, e.g. an
// umount, since cleanups run last-in first-out).
func exposeTest(t *testing.T, dev *fileDev, mountDir string, dio bool) *Loop {
	t.Helper()
	requireRoot(t)
	requireTool(t, "losetup")
	l, err := ExposeLoop(context.Background(), dev, LoopOptions{MountDir: mountDir, DirectIO: dio})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, l.Close(context.Background())) })
	dioAttr, err := l.sysfs("loop/dio")
	require.NoError(t, err)
	require.Equal(t, boolDigit(dio), dioAttr, "loop device direct I/O as requested")
	return l
}

// mountTest mounts a block device at a fresh directory and unmounts it on cleanup.
func mountTest(t *testing.T, dev string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mnt")
	require.NoError(t, os.Mkdir(dir, 0o755))
	run(t, "mount", dev, dir)
	t.Cleanup(func() { _ = exec.Command("umount", dir).Run() })
	return dir
}

// writeTree writes big random files and many small ones and returns name -> sha256.
func writeTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	sums := map[string]string{}
	write := func(name string, size int) {
		b := make([]byte, size)
		_, _ = rand.Read(b)
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, b, 0o644))
		s := sha256.Sum256(b)
		sums[name] = hex.EncodeToString(s[:])
	}
	for i := range 3 {
		write(fmt.Sprintf("big/%d.bin", i), 24<<20+i*4097)
	}
	for i := range 600 {
		write(fmt.Sprintf("small/%02d/%d.bin", i%20, i), 1+(i*977)%16384)
	}
	return sums
}

func checkTree(t *testing.T, dir string, sums map[string]string) {
	t.Helper()
	for name, want := range sums {
		b, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		s := sha256.Sum256(b)
		require.Equal(t, want, hex.EncodeToString(s[:]), name)
	}
}

// TestLoopExt4SurvivesReexpose is the export's correctness test: a filesystem built and
// filled through the loop device, detached, and attached again reads back bit for bit and
// fsck finds nothing, with the loop device's direct I/O off and on.
func TestLoopExt4SurvivesReexpose(t *testing.T) {
	requireTool(t, "mkfs.ext4", "e2fsck", "mount", "umount")
	for _, mode := range dioModes {
		t.Run(mode.name, func(t *testing.T) {
			dev, _ := newFileDev(t, 512<<20)
			fuseDir := filepath.Join(t.TempDir(), "fuse")

			var sums map[string]string
			t.Run("write", func(t *testing.T) {
				l := exposeTest(t, dev, fuseDir, mode.dio)
				run(t, "mkfs.ext4", "-q", "-F", l.Path())
				mnt := mountTest(t, l.Path())
				sums = writeTree(t, mnt)
				run(t, "sync", "-f", mnt)
				checkTree(t, mnt, sums)
				run(t, "umount", mnt)
			})
			require.NotEmpty(t, sums)
			flushes := dev.flushes.Load()
			require.Positive(t, flushes, "ext4's flushes reached the device")

			t.Run("reexpose", func(t *testing.T) {
				l := exposeTest(t, dev, fuseDir, mode.dio)
				out, err := exec.Command("e2fsck", "-fn", l.Path()).CombinedOutput()
				require.NoError(t, err, "e2fsck: %s", out)
				mnt := mountTest(t, l.Path())
				checkTree(t, mnt, sums)
			})
		})
	}
}

// TestLoopFioVerify runs fio's own write-and-verify at queue depth 32 on the loop device.
func TestLoopFioVerify(t *testing.T) {
	requireTool(t, "fio")
	for _, mode := range dioModes {
		t.Run(mode.name, func(t *testing.T) {
			dev, _ := newFileDev(t, 128<<20)
			l := exposeTest(t, dev, filepath.Join(t.TempDir(), "fuse"), mode.dio)
			out, err := exec.Command("fio", "--name=t", "--filename="+l.Path(), "--rw=randwrite",
				"--bs=4k", "--iodepth=32", "--ioengine=libaio", "--direct=1", "--size=64M",
				"--verify=crc32c", "--do_verify=1", "--verify_fatal=1", "--runtime=10",
				"--verify_state_save=0", "--output-format=terse", "--terse-version=3").CombinedOutput()
			require.NoError(t, err, "fio: %s", out)
			require.NotContains(t, string(out), "verify:")
			fields := strings.Split(strings.TrimSpace(string(out)), ";")
			require.Greater(t, len(fields), 5, string(out))
			require.Equal(t, "0", fields[4], "fio error field: %s", out)
		})
	}
}

// TestLoopBytesReachDevice checks the data path byte for byte at the backing file: writes,
// discards (which must read back as zeros though the device's Discard keeps the old bytes),
// a read-only export and an online resize.
func TestLoopBytesReachDevice(t *testing.T) {
	requireTool(t, "dd", "blkdiscard", "blockdev")
	for _, mode := range dioModes {
		t.Run(mode.name, func(t *testing.T) {
			dev, backing := newFileDev(t, 16<<20)
			l := exposeTest(t, dev, filepath.Join(t.TempDir(), "fuse"), mode.dio)

			pattern := bytes.Repeat([]byte("dlvm-export!"), (3<<20)/12+1)[:3<<20]
			src := filepath.Join(t.TempDir(), "src")
			require.NoError(t, os.WriteFile(src, pattern, 0o600))
			run(t, "dd", "if="+src, "of="+l.Path(), "bs=1M", "seek=5", "oflag=direct", "conv=fsync", "status=none")
			b, err := os.ReadFile(backing)
			require.NoError(t, err)
			require.Equal(t, pattern, b[5<<20:8<<20])

			run(t, "blkdiscard", "-o", fmt.Sprint(6<<20), "-l", fmt.Sprint(1<<20), l.Path())
			b, err = os.ReadFile(backing)
			require.NoError(t, err)
			require.Equal(t, make([]byte, 1<<20), b[6<<20:7<<20], "discarded range reads as zeros")
			require.Equal(t, pattern[2<<20:], b[7<<20:8<<20])

			require.NoError(t, dev.grow(32<<20))
			require.NoError(t, l.Resize(context.Background()))
			require.Equal(t, fmt.Sprint(32<<20), strings.TrimSpace(run(t, "blockdev", "--getsize64", l.Path())))
			run(t, "dd", "if="+src, "of="+l.Path(), "bs=1M", "seek=20", "oflag=direct", "status=none")
			f, err := os.Open(backing)
			require.NoError(t, err)
			defer f.Close()
			got := make([]byte, len(pattern))
			_, err = f.ReadAt(got, 20<<20)
			require.NoError(t, err)
			require.Equal(t, pattern, got, "bytes written past the old end reach the device")
		})
	}
}

func TestLoopReadOnly(t *testing.T) {
	dev, backing := newFileDev(t, 8<<20)
	require.NoError(t, os.WriteFile(backing, bytes.Repeat([]byte{0x42}, 8<<20), 0o600))
	requireRoot(t)
	l, err := ExposeLoop(context.Background(), dev, LoopOptions{MountDir: filepath.Join(t.TempDir(), "fuse"), ReadOnly: true})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, l.Close(context.Background())) })

	f, err := os.Open(l.Path())
	require.NoError(t, err)
	defer f.Close()
	got := make([]byte, 4096)
	_, err = io.ReadFull(io.NewSectionReader(f, 1<<20, 4096), got)
	require.NoError(t, err)
	require.Equal(t, bytes.Repeat([]byte{0x42}, 4096), got)
	_, err = f.WriteAt(got, 0)
	require.Error(t, err, "a read-only loop device refuses writes")
	_, err = os.OpenFile(l.File(), os.O_WRONLY, 0)
	require.ErrorIs(t, err, syscall.EROFS, "the FUSE file refuses writers")
}

func TestLoopCloseWhileOpen(t *testing.T) {
	dev, _ := newFileDev(t, 8<<20)
	l := exposeTest(t, dev, filepath.Join(t.TempDir(), "fuse"), true)
	f, err := os.Open(l.Path())
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, l.Close(ctx), ErrLoopBusy)
	_, err = os.Stat(l.File())
	require.NoError(t, err, "the FUSE file stays while the loop device is open")

	require.NoError(t, f.Close()) // last close: the kernel detaches (autoclear)
	require.NoError(t, l.Close(context.Background()))
	require.False(t, l.attached())
	require.NoError(t, l.Close(context.Background()), "idempotent")
}
