package iscsi

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/dlvm-project/dlvm/connector/blockdev"
	"github.com/stretchr/testify/require"
)

func testLog(t testing.TB) *slog.Logger {
	if os.Getenv("ISCSI_DEBUG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func TestLogin(t *testing.T) {
	tests := []struct {
		name    string
		cfg     tgtdConfig
		mutate  func(*Target)
		wantErr error
	}{
		{name: "no auth"},
		{name: "chap", cfg: tgtdConfig{chapUser: "leguser", chapSecret: "secret-0123456789"}},
		{name: "chap offered, target has none", mutate: func(tg *Target) { tg.CHAPUser, tg.CHAPSecret = "u", "s-0123456789ab" }},
		{name: "wrong chap secret", cfg: tgtdConfig{chapUser: "leguser", chapSecret: "secret-0123456789"},
			mutate: func(tg *Target) { tg.CHAPSecret = "wrong-secret-0000" }, wantErr: ErrAuth},
		{name: "chap required, none given", cfg: tgtdConfig{chapUser: "leguser", chapSecret: "secret-0123456789"},
			mutate: func(tg *Target) { tg.CHAPUser, tg.CHAPSecret = "", "" }, wantErr: ErrAuth},
		// tgtd answers an ACL refusal with "target not found" (0x0203), hiding the target.
		{name: "initiator not in ACL", cfg: tgtdConfig{allow: "iqn.2024-01.org.dlvm:someone-else"}, wantErr: ErrNotFound},
		{name: "unknown target", mutate: func(tg *Target) { tg.IQN += "-nope" }, wantErr: ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := startTgtd(t, tc.cfg)
			tg := d.target()
			if tc.mutate != nil {
				tc.mutate(&tg)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s, err := Dial(ctx, tg, Options{Log: testLog(t)})
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			defer s.Close()
			require.Equal(t, tc.cfg.size+64<<20*boolInt(tc.cfg.size == 0), s.Size())
			require.EqualValues(t, 512, s.BlockSize())
			require.True(t, s.Healthy())
			buf := randBytes(4096)
			_, err = s.WriteAt(buf, 8192)
			require.NoError(t, err)
			got := make([]byte, 4096)
			_, err = s.ReadAt(got, 8192)
			require.NoError(t, err)
			require.Equal(t, buf, got)
			require.NoError(t, s.Close())
			_, err = s.ReadAt(got, 0)
			require.ErrorIs(t, err, blockdev.ErrClosed)
			require.NoError(t, s.Close())
		})
	}
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func TestReadWritePatterns(t *testing.T) {
	targets := []struct {
		name   string
		params [][2]string
		check  func(t *testing.T, p params)
	}{
		{name: "tgtd defaults: InitialR2T, 8 KiB segments", check: func(t *testing.T, p params) {
			require.True(t, p.initialR2T)
		}},
		{name: "unsolicited data-out, larger segments", params: [][2]string{{"InitialR2T", "No"},
			{"FirstBurstLength", "131072"}, {"MaxRecvDataSegmentLength", "32768"}, {"MaxBurstLength", "524288"}},
			check: func(t *testing.T, p params) {
				require.False(t, p.initialR2T)
				require.EqualValues(t, 131072, p.firstBurst)
				require.EqualValues(t, 32768, p.maxSendSegment)
				require.EqualValues(t, 524288, p.maxBurst)
			}},
		{name: "no immediate data", params: [][2]string{{"ImmediateData", "No"}, {"InitialR2T", "No"}},
			check: func(t *testing.T, p params) {
				require.False(t, p.immediateData)
				require.False(t, p.initialR2T)
			}},
	}
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			d := startTgtd(t, tgtdConfig{params: tg.params})
			s := dial(t, d, Options{Log: testLog(t)})
			s.mu.Lock()
			p := s.c.p
			s.mu.Unlock()
			tg.check(t, p)
			testPatterns(t, d, s)
		})
	}
}

func testPatterns(t *testing.T, d *tgtd, s *Session) {
	tests := []struct {
		name string
		off  int64
		n    int
	}{
		{"one sector", 0, 512},
		{"4k", 4096, 4096},
		{"immediate limit", 1 << 20, 8192},
		{"just over immediate", 2 << 20, 8192 + 512},
		{"one burst", 3 << 20, 262144},
		{"crosses max burst", 4 << 20, 262144 + 4096},
		{"1 MiB", 6 << 20, 1 << 20},
		{"4 MiB crossing commands", 8<<20 + 512, 4 << 20},
		{"unaligned inside a sector", 13<<20 + 100, 200},
		{"unaligned head", 14<<20 + 300, 4096},
		{"unaligned tail", 15 << 20, 1000},
		{"unaligned both, multi MiB", 16<<20 + 7, 3<<20 + 11},
		{"last bytes of the device", 64<<20 - 777, 777},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := make([]byte, tc.n+2048)
			lo := max(tc.off-1024, 0)
			_, err := s.ReadAt(before[:min(int64(len(before)), s.Size()-lo)], lo)
			require.NoError(t, err)

			buf := randBytes(tc.n)
			n, err := s.WriteAt(buf, tc.off)
			require.NoError(t, err)
			require.Equal(t, tc.n, n)
			got := make([]byte, tc.n)
			n, err = s.ReadAt(got, tc.off)
			require.NoError(t, err)
			require.Equal(t, tc.n, n)
			require.True(t, bytes.Equal(buf, got), "read back differs")

			// Bytes around the write are untouched (read-modify-write kept them).
			around := make([]byte, len(before))
			_, err = s.ReadAt(around[:min(int64(len(around)), s.Size()-lo)], lo)
			require.NoError(t, err)
			copy(before[tc.off-lo:], buf)
			require.True(t, bytes.Equal(before, around), "neighbouring bytes changed")

			// And the backing file has them after Flush.
			require.NoError(t, s.Flush())
			f, err := os.Open(d.file)
			require.NoError(t, err)
			defer f.Close()
			_, err = f.ReadAt(got, tc.off)
			require.NoError(t, err)
			require.True(t, bytes.Equal(buf, got), "backing file differs")
		})
	}
}

func TestOutOfRange(t *testing.T) {
	d := startTgtd(t, tgtdConfig{size: 1 << 20})
	s := dial(t, d, Options{Log: testLog(t)})
	buf := make([]byte, 4096)
	_, err := s.ReadAt(buf, 1<<20)
	require.ErrorIs(t, err, blockdev.ErrOutOfRange)
	_, err = s.WriteAt(buf, -1)
	require.ErrorIs(t, err, blockdev.ErrOutOfRange)
	n, err := s.WriteAt(buf, 1<<20-1000)
	require.ErrorIs(t, err, blockdev.ErrOutOfRange)
	require.Equal(t, 1000, n)
	n, err = s.ReadAt(buf, 1<<20-1000)
	require.ErrorIs(t, err, blockdev.ErrOutOfRange)
	require.Equal(t, 1000, n)
	n, err = s.ReadAt(nil, 0)
	require.NoError(t, err)
	require.Zero(t, n)
}

var _ = errors.Is
