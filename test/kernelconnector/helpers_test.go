package kernelconnector

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/test/kerneltest"
)

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

// Shorthands for the shared kernel-tier helpers.
const mib = kerneltest.MiB

var (
	requireKernelVM = kerneltest.RequireVM
	sh              = kerneltest.Sh
	pattern         = kerneltest.Pattern
)
