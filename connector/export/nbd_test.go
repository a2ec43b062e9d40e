package export

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/connector/blockdev"
)

func serveTestNBD(t *testing.T, dev blockdev.Device, opts NBDOptions) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "nbd.sock")
	s, err := ServeNBD(context.Background(), dev, sock, opts)
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, s.Close())
		_, err := os.Stat(sock)
		require.ErrorIs(t, err, os.ErrNotExist, "Close removes the socket")
	})
	return sock
}

func TestNBDHandshakeOptions(t *testing.T) {
	const size = 8 << 20
	dev, _ := newFileDev(t, size)
	sock := serveTestNBD(t, dev, NBDOptions{ExportName: "vol-1"})
	wantFlags := uint16(nbdFlagHasFlags | nbdFlagSendFlush | nbdFlagSendFUA | nbdFlagSendTrim | nbdFlagSendWriteZeroes | nbdFlagCanMultiConn)

	tests := []struct {
		name     string
		opt      uint32
		data     []byte
		wantType uint32
	}{
		{"unsupported option", 99, nil, nbdRepErrUnsup},
		{"structured replies are unsupported", 8, nil, nbdRepErrUnsup},
		{"info of unknown export", nbdOptInfo, infoPayload("nope"), nbdRepErrUnknown},
		{"malformed info", nbdOptInfo, []byte{0, 0, 0, 9, 'x'}, nbdRepErrInvalid},
		{"list with payload", nbdOptList, []byte{1}, nbdRepErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc := dialNBD(t, sock)
			tc.sendOption(tt.opt, tt.data)
			r := tc.readOptReply()
			require.Equal(t, tt.opt, r.opt)
			require.Equal(t, tt.wantType, r.typ)
			// the connection stays in negotiation: GO still works afterwards
			gotSize, flags := tc.optGo("vol-1")
			require.Equal(t, int64(size), gotSize)
			require.Equal(t, wantFlags, flags)
		})
	}

	t.Run("list then info then go on the default export", func(t *testing.T) {
		tc := dialNBD(t, sock)
		tc.sendOption(nbdOptList, nil)
		r := tc.readOptReply()
		require.Equal(t, uint32(nbdRepServer), r.typ)
		require.Equal(t, append([]byte{0, 0, 0, 5}, "vol-1"...), r.data)
		require.Equal(t, uint32(nbdRepAck), tc.readOptReply().typ)
		tc.sendOption(nbdOptInfo, infoPayload("vol-1"))
		r = tc.readOptReply()
		require.Equal(t, uint32(nbdRepInfo), r.typ)
		require.Equal(t, infoExport(size, wantFlags), r.data)
		require.Equal(t, uint32(nbdRepAck), tc.readOptReply().typ)
		gotSize, _ := tc.optGo("")
		require.Equal(t, int64(size), gotSize)
		tc.request(nbdCmdFlush, 0, 7, 0, 0, nil)
		h, e := tc.readReply()
		require.Equal(t, uint64(7), h)
		require.Zero(t, e)
	})

	t.Run("export name with no zeroes", func(t *testing.T) {
		tc := dialNBD(t, sock)
		tc.sendOption(nbdOptExportName, []byte("vol-1"))
		var b [10]byte
		_, err := io.ReadFull(tc.br, b[:])
		require.NoError(t, err)
		require.Equal(t, uint64(size), binary.BigEndian.Uint64(b[:]))
		require.Equal(t, wantFlags, binary.BigEndian.Uint16(b[8:]))
		tc.request(nbdCmdRead, 0, 1, 0, 512, nil)
		h, e := tc.readReply()
		require.Equal(t, uint64(1), h)
		require.Zero(t, e)
		_, err = io.CopyN(io.Discard, tc.br, 512)
		require.NoError(t, err)
	})

	t.Run("abort", func(t *testing.T) {
		tc := dialNBD(t, sock)
		tc.sendOption(nbdOptAbort, nil)
		require.Equal(t, uint32(nbdRepAck), tc.readOptReply().typ)
		_, err := tc.br.ReadByte()
		require.ErrorIs(t, err, io.EOF, "server closes after abort")
	})
}

func TestNBDCommands(t *testing.T) {
	const size = 4 << 20
	tests := []struct {
		name      string
		readOnly  bool
		typ       uint16
		flags     uint16
		off       uint64
		length    uint32
		wantErrno syscall.Errno
		check     func(t *testing.T, dev *fileDev, backing string)
	}{
		{name: "write on read-only export", readOnly: true, typ: nbdCmdWrite, length: 4096, wantErrno: syscall.EPERM},
		{name: "trim on read-only export", readOnly: true, typ: nbdCmdTrim, length: 4096, wantErrno: syscall.EPERM},
		{name: "read beyond the end", typ: nbdCmdRead, off: size - 512, length: 1024, wantErrno: syscall.EINVAL},
		{name: "write beyond the end", typ: nbdCmdWrite, off: size, length: 512, wantErrno: syscall.ENOSPC},
		{name: "unknown command", typ: 42, wantErrno: syscall.EINVAL},
		{name: "unknown flag", typ: nbdCmdWrite, flags: 1 << 7, length: 512, wantErrno: syscall.EINVAL},
		{name: "fua write flushes", typ: nbdCmdWrite, flags: nbdCmdFlagFUA, off: 4096, length: 4096,
			check: func(t *testing.T, dev *fileDev, _ string) { require.Equal(t, int64(1), dev.flushes.Load()) }},
		{name: "trim discards", typ: nbdCmdTrim, off: 0, length: 1 << 20,
			check: func(t *testing.T, dev *fileDev, _ string) { require.Equal(t, int64(1), dev.discards.Load()) }},
		{name: "write zeroes zeroes even though discard keeps data", typ: nbdCmdWriteZeroes, off: 8192, length: 3 << 20,
			check: func(t *testing.T, _ *fileDev, backing string) {
				b, err := os.ReadFile(backing)
				require.NoError(t, err)
				require.Equal(t, make([]byte, 3<<20), b[8192:8192+3<<20])
				require.Equal(t, bytes.Repeat([]byte{0xee}, 8192), b[:8192])
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dev, backing := newFileDev(t, size)
			_, err := dev.WriteAt(bytes.Repeat([]byte{0xee}, size), 0)
			require.NoError(t, err)
			tc := dialNBD(t, serveTestNBD(t, dev, NBDOptions{ReadOnly: tt.readOnly}))
			tc.optGo("")
			var payload []byte
			if tt.typ == nbdCmdWrite { // the server consumes a WRITE's payload even when it refuses it
				payload = bytes.Repeat([]byte{0x5a}, int(tt.length))
			}
			tc.request(tt.typ, tt.flags, 99, tt.off, tt.length, payload)
			h, e := tc.readReply()
			require.Equal(t, uint64(99), h)
			require.Equal(t, uint32(tt.wantErrno), e)
			if tt.check != nil {
				tt.check(t, dev, backing)
			}
		})
	}
}

// gatedDev holds every WriteAt until want writes are executing at once, proving the server
// runs a connection's requests concurrently (a serializing server times out here).
type gatedDev struct {
	*fileDev
	mu      sync.Mutex
	cond    *sync.Cond
	running int
	want    int
	opened  bool
}

func (g *gatedDev) WriteAt(p []byte, off int64) (int, error) {
	g.mu.Lock()
	g.running++
	if g.running >= g.want {
		g.opened = true
		g.cond.Broadcast()
	}
	deadline := time.AfterFunc(5*time.Second, func() { g.mu.Lock(); g.cond.Broadcast(); g.mu.Unlock() })
	start := time.Now()
	for !g.opened && time.Since(start) < 5*time.Second {
		g.cond.Wait()
	}
	deadline.Stop()
	opened := g.opened
	g.running--
	g.mu.Unlock()
	if !opened {
		return 0, fmt.Errorf("only %d writes in flight, want %d: %w", g.running+1, g.want, blockdev.ErrIO)
	}
	return g.fileDev.WriteAt(p, off)
}

func TestNBDConcurrentRequests(t *testing.T) {
	const n, chunk = 64, 64 << 10
	fd, backing := newFileDev(t, n*chunk)
	dev := &gatedDev{fileDev: fd, want: 16}
	dev.cond = sync.NewCond(&dev.mu)
	tc := dialNBD(t, serveTestNBD(t, dev, NBDOptions{}))
	tc.optGo("")

	pattern := func(i int) []byte { return bytes.Repeat([]byte{byte(i + 1)}, chunk) }
	var wg sync.WaitGroup
	for w := range 4 { // four writers pipeline requests on one connection
		wg.Go(func() {
			for i := w; i < n; i += 4 {
				tc.request(nbdCmdWrite, 0, uint64(i), uint64(i*chunk), chunk, pattern(i))
			}
		})
	}
	seen := map[uint64]bool{}
	for range n {
		h, e := tc.readReply()
		require.Zero(t, e, "write %d", h)
		require.False(t, seen[h], "one reply per handle")
		seen[h] = true
	}
	wg.Wait()

	for i := range n {
		tc.request(nbdCmdRead, 0, uint64(1000+i), uint64(i*chunk), chunk, nil)
	}
	for range n {
		h, e := tc.readReply()
		require.Zero(t, e)
		got := make([]byte, chunk)
		_, err := io.ReadFull(tc.br, got)
		require.NoError(t, err)
		require.Equal(t, pattern(int(h-1000)), got, "read %d", h)
	}
	tc.request(nbdCmdDisc, 0, 0, 0, 0, nil)
	b, err := os.ReadFile(backing)
	require.NoError(t, err)
	for i := range n {
		require.Equal(t, pattern(i), b[i*chunk:(i+1)*chunk])
	}
}
