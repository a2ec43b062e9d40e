package kernel

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/test/kerneltest"
)

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

// Shorthands for the shared kernel-tier helpers.
const mib = kerneltest.MiB

var (
	requireKernelVM = kerneltest.RequireVM
	sh              = kerneltest.Sh
	pattern         = kerneltest.Pattern
)
