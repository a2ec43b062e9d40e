package kernelconnector

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/internal/runner"
)

const mib = int64(1) << 20

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

// thinPool makes VG vg on a loop device with thin pool "tp" of poolMiB; removed at the end.
func thinPool(t *testing.T, vg string, poolMiB int) {
	t.Helper()
	img := filepath.Join(t.TempDir(), vg+".img")
	f, err := os.Create(img)
	require.NoError(t, err)
	require.NoError(t, f.Truncate(int64(poolMiB+32)*mib))
	require.NoError(t, f.Close())
	loop := strings.TrimSpace(sh(t, "losetup", "-f", "--show", img))
	t.Cleanup(func() { _, _ = runner.Exec{}.Run(context.Background(), "losetup", "-d", loop) })
	sh(t, "lvm", "pvcreate", "-y", loop)
	sh(t, "lvm", "vgcreate", "-y", vg, loop)
	t.Cleanup(func() {
		_, _ = runner.Exec{}.Run(context.Background(), "lvm", "vgremove", "-y", "-ff", vg)
		_, _ = runner.Exec{}.Run(context.Background(), "lvm", "pvremove", "-y", "-ff", loop)
	})
	sh(t, "lvm", "lvcreate", "-y", "--type", "thin-pool", "-L", strconv.Itoa(poolMiB)+"m", "-n", "tp", vg)
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

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// ddSum reads lenMiB from the start of dev with iflag=direct and returns the sha256.
func ddSum(t *testing.T, dev string, lenMiB int64) string {
	t.Helper()
	out := sh(t, "dd", "if="+dev, "bs=1M", "count="+strconv.FormatInt(lenMiB, 10), "iflag=direct", "status=none")
	require.Len(t, out, int(lenMiB*mib), "short read of %s", dev)
	return sum([]byte(out))
}

// writeFiles writes files name+i (i < n) of size bytes with seeds from seed on into dir, syncs,
// and returns their checksums by name.
func writeFiles(t *testing.T, dir, name string, seed byte, n int, size int64) map[string]string {
	t.Helper()
	sums := map[string]string{}
	for i := range n {
		b := pattern(seed+byte(i), size)
		f := filepath.Join(dir, name+strconv.Itoa(i))
		require.NoError(t, os.WriteFile(f, b, 0o644))
		sums[f] = sum(b)
	}
	sh(t, "sync")
	return sums
}

// checkFiles asserts every file has its checksum.
func checkFiles(t *testing.T, sums map[string]string) {
	t.Helper()
	for f, want := range sums {
		b, err := os.ReadFile(f)
		require.NoError(t, err, f)
		require.Equal(t, want, sum(b), "content of %s", f)
	}
}

// eventually polls cond every 250ms until it is true or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		require.False(t, time.Now().After(deadline), "timed out waiting for %s", what)
		time.Sleep(250 * time.Millisecond)
	}
}
