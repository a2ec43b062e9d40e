package kernel

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/internal/runner"
)

const mib = int64(1) << 20

// requireKernelVM skips the test outside the kernel VM.
func requireKernelVM(t *testing.T) {
	t.Helper()
	if os.Getenv("DLVM_KERNEL_TEST") != "1" {
		t.Skip("kernel tier: run through scripts/test-kernel.sh (DLVM_KERNEL_TEST=1 inside shared/tools/kernel-vm)")
	}
	require.Zero(t, os.Geteuid(), "kernel tests run as root")
}

// sh runs a command that must succeed and returns its stdout.
func sh(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := runner.Exec{}.Run(context.Background(), name, args...)
	require.NoError(t, err, runner.Line(name, args...))
	return string(out)
}

// thinPool makes a VG on a loop device over a sparse file with a thin pool of poolMiB and
// returns the VG name; everything is removed when the test ends.
func thinPool(t *testing.T, vg, thin string, poolMiB int) {
	t.Helper()
	img := filepath.Join(t.TempDir(), vg+".img")
	f, err := os.Create(img)
	require.NoError(t, err)
	require.NoError(t, f.Truncate(int64(poolMiB+64)*mib))
	require.NoError(t, f.Close())
	loop := strings.TrimSpace(sh(t, "losetup", "-f", "--show", img))
	t.Cleanup(func() { _, _ = runner.Exec{}.Run(context.Background(), "losetup", "-d", loop) })
	sh(t, "lvm", "pvcreate", "-y", loop)
	sh(t, "lvm", "vgcreate", "-y", vg, loop)
	t.Cleanup(func() {
		_, _ = runner.Exec{}.Run(context.Background(), "lvm", "vgremove", "-y", "-ff", vg)
		_, _ = runner.Exec{}.Run(context.Background(), "lvm", "pvremove", "-y", "-ff", loop)
	})
	sh(t, "lvm", "lvcreate", "-y", "--type", "thin-pool", "-L", strconv.Itoa(poolMiB)+"m", "-n", thin, vg)
}

// pattern returns n deterministic pseudo-random bytes for seed.
func pattern(seed byte, n int64) []byte {
	b := make([]byte, n)
	x := uint32(seed)*2654435761 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

// ddWrite writes data at offMiB of dev with dd, bypassing the page cache.
func ddWrite(t *testing.T, dev string, data []byte, offMiB int64) {
	t.Helper()
	src := filepath.Join(t.TempDir(), "pattern")
	require.NoError(t, os.WriteFile(src, data, 0o600))
	sh(t, "dd", "if="+src, "of="+dev, "bs=1M", "seek="+strconv.FormatInt(offMiB, 10), "oflag=direct", "conv=fsync,notrunc", "status=none")
}

// ddSum reads lenMiB at offMiB of dev with dd iflag=direct and returns the sha256.
func ddSum(t *testing.T, dev string, offMiB, lenMiB int64) string {
	t.Helper()
	out := sh(t, "dd", "if="+dev, "bs=1M", "skip="+strconv.FormatInt(offMiB, 10),
		"count="+strconv.FormatInt(lenMiB, 10), "iflag=direct", "status=none")
	require.Len(t, out, int(lenMiB*mib), "short read of %s", dev)
	return sum([]byte(out))
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// devSize returns the size of a block device in bytes.
func devSize(t *testing.T, dev string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(strings.TrimSpace(sh(t, "blockdev", "--getsize64", dev)), 10, 64)
	require.NoError(t, err)
	return n
}
