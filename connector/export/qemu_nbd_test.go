package export

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNBDWithQemu(t *testing.T) {
	requireTool(t, "qemu-img", "qemu-io")
	tests := []struct {
		name       string
		exportName string
		uriPath    string
	}{
		{"default export", "", "/"},
		{"named export", "vol-9", "/vol-9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const size = 64 << 20
			dev, backing := newFileDev(t, size)
			sock := serveTestNBD(t, dev, NBDOptions{ExportName: tt.exportName})
			uri := fmt.Sprintf("nbd+unix://%s?socket=%s", tt.uriPath, sock)

			info := run(t, "qemu-img", "info", "--output=human", uri)
			require.Contains(t, info, fmt.Sprintf("virtual size: 64 MiB (%d bytes)", size))

			out := run(t, "qemu-io", "-f", "raw", uri,
				"-c", "write -P 0xab 0 1M", "-c", "write -P 0xcd 3M 512k",
				"-c", "write -z 1M 64k", "-c", "discard 2M 64k", "-c", "flush",
				"-c", "read -P 0xab 0 64k", "-c", "read -P 0 1M 64k", "-c", "read -P 0xcd 3M 512k")
			require.NotContains(t, out, "fail")
			require.NotContains(t, out, "Pattern verification failed")
			require.Equal(t, 3, strings.Count(out, "read "), out)

			b, err := os.ReadFile(backing)
			require.NoError(t, err)
			require.Equal(t, bytes.Repeat([]byte{0xab}, 1<<20), b[:1<<20])
			require.Equal(t, bytes.Repeat([]byte{0xcd}, 512<<10), b[3<<20:3<<20+512<<10])
			require.Positive(t, dev.flushes.Load(), "qemu's flush reached the device")
		})
	}
}
