package iscsi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"
)

func fuzzSeeds(f *testing.F) {
	for _, h := range []string{
		"25830000000000020001000000000000" + "00000001ffffffff0000001000000020" + "00000040000000000000000000000000abcd0000",
		"31800000000000000001000000000000" + "00000002000000770000001000000020" + "00000040000000000000000000001000",
		"21800000000000120001000000000000" + "00000001000000000000001000000020" + "0000004000000000000000000000000000107000060000000000000000002900000000000000",
		"2080000000000000000000000000000" + "0ffffffff000000030000001000000020" + "00000040000000000000000000000000",
		"23870000000000000000000000000000" + "00000000000000000000000100000002" + "00000003000000000000000000000000",
	} {
		b, _ := hex.DecodeString(h)
		f.Add(b)
	}
	f.Add([]byte{})
}

// FuzzReadPDU: no input makes the PDU or text parsers panic.
func FuzzReadPDU(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bufio.NewReader(bytes.NewReader(b))
		for {
			p, err := readPDU(r, 1<<16)
			if err != nil {
				return
			}
			_, _ = parseText(p.data)
		}
	})
}

// FuzzConnHandle feeds garbage to the full-feature-phase receive path with a read and a write
// task outstanding: it may fail the connection but must not panic or write out of bounds.
func FuzzConnHandle(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		s := &Session{log: slog.New(slog.DiscardHandler), target: Target{LUN: 1}}
		s.cond = sync.NewCond(&s.mu)
		c := newConn(s, nil, loginResult{p: defaultParams()})
		c.br = bufio.NewReader(bytes.NewReader(b))
		for i, rd := range []bool{true, false} {
			tk := &task{read: rd, write: !rd, buf: make([]byte, 4096), done: make(chan error, 1)}
			tk.itt = uint32(i + 1)
			c.tasks[tk.itt] = tk
		}
		var h bhs
		for readHeader(c.br, &h) == nil {
			if c.handle(&h) != nil {
				return
			}
		}
	})
}

// FuzzLogin plays a target answering a login with arbitrary bytes.
func FuzzLogin(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		cl, tg := net.Pipe()
		defer cl.Close()
		go func() {
			defer tg.Close()
			go func() { _, _ = io.Copy(io.Discard, tg) }()
			_, _ = tg.Write(b)
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, _ = login(ctx, cl, Target{IQN: "iqn.t:x", InitiatorIQN: "iqn.i:y", CHAPUser: "u", CHAPSecret: "s"}, [6]byte{0x80}, 1)
	})
}
