// Package kerneltest holds the helpers of the kernel-tier tests (test/kernel,
// test/kernelconnector), which run as root inside shared/tools/kernel-vm: the skip outside the VM,
// commands that must succeed, loop-backed LVM thin pools, deterministic data.
package kerneltest

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/internal/runner"
)

// MiB is a mebibyte.
const MiB = int64(1) << 20

// RequireVM skips the test outside the kernel VM (scripts/test-kernel.sh sets DLVM_KERNEL_TEST=1
// there) and requires root inside it.
func RequireVM(t *testing.T) {
	t.Helper()
	if os.Getenv("DLVM_KERNEL_TEST") != "1" {
		t.Skip("kernel tier: run through scripts/test-kernel.sh (DLVM_KERNEL_TEST=1 inside shared/tools/kernel-vm)")
	}
	require.Zero(t, os.Geteuid(), "kernel tests run as root")
}

// Sh runs a command that must succeed and returns its stdout.
func Sh(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := runner.Exec{}.Run(context.Background(), name, args...)
	require.NoError(t, err, runner.Line(name, args...))
	return string(out)
}

// ThinPool makes VG vg on a loop device over a sparse file, with a thin pool named thin of
// poolMiB; everything is removed when the test ends.
func ThinPool(t *testing.T, vg, thin string, poolMiB int) {
	t.Helper()
	img := filepath.Join(t.TempDir(), vg+".img")
	f, err := os.Create(img)
	require.NoError(t, err)
	require.NoError(t, f.Truncate(int64(poolMiB+64)*MiB))
	require.NoError(t, f.Close())
	loop := strings.TrimSpace(Sh(t, "losetup", "-f", "--show", img))
	t.Cleanup(func() { _, _ = runner.Exec{}.Run(context.Background(), "losetup", "-d", loop) })
	Sh(t, "lvm", "pvcreate", "-y", loop)
	Sh(t, "lvm", "vgcreate", "-y", vg, loop)
	t.Cleanup(func() {
		_, _ = runner.Exec{}.Run(context.Background(), "lvm", "vgremove", "-y", "-ff", vg)
		_, _ = runner.Exec{}.Run(context.Background(), "lvm", "pvremove", "-y", "-ff", loop)
	})
	Sh(t, "lvm", "lvcreate", "-y", "--type", "thin-pool", "-L", strconv.Itoa(poolMiB)+"m", "-n", thin, vg)
}

// Pattern returns n deterministic pseudo-random bytes for seed.
func Pattern(seed byte, n int64) []byte {
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
