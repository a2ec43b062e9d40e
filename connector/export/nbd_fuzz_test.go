package export

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"
)

// FuzzNBDParse feeds arbitrary bytes to the request and option decoders: no panic, and what
// validateRequest accepts stays inside the export.
func FuzzNBDParse(f *testing.F) {
	f.Add(infoPayload("vol", nbdInfoBlockSize), []byte{0x25, 0x60, 0x95, 0x13, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff}, []byte{})
	f.Fuzz(func(t *testing.T, opt, req []byte) {
		if name, infos, err := parseInfoRequest(opt); err == nil && 4+len(name)+2+2*len(infos) != len(opt) {
			t.Fatalf("accepted %d bytes as name %q + %d infos", len(opt), name, len(infos))
		}
		r, err := parseRequest(req)
		if err != nil {
			return
		}
		const size = 1 << 20
		if validateRequest(r, size, false) == 0 && r.typ != nbdCmdFlush && r.offset+uint64(r.length) > size {
			t.Fatalf("accepted request beyond the end: %+v", r)
		}
	})
}

// FuzzNBDSession plays arbitrary client bytes (after a valid client-flags word) against a
// server connection: the server must neither panic nor hang.
func FuzzNBDSession(f *testing.F) {
	goOpt := binary.BigEndian.AppendUint64(nil, nbdOptMagic)
	goOpt = binary.BigEndian.AppendUint32(goOpt, nbdOptGo)
	p := infoPayload("")
	goOpt = append(binary.BigEndian.AppendUint32(goOpt, uint32(len(p))), p...)
	read := binary.BigEndian.AppendUint32(nil, nbdRequestMagic)
	read = append(read, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0)
	f.Add(goOpt)
	f.Add(append(append([]byte{}, goOpt...), read...))
	f.Add([]byte("IHAVEOPT\x00\x00\x00\x03\x00\x00\x00\x00"))

	dev := &memDev{b: make([]byte, 1<<20)}
	s := &NBDServer{dev: dev, log: logOrDiscard(nil), opts: NBDOptions{MaxInFlight: 4}}
	f.Fuzz(func(t *testing.T, in []byte) {
		srv, cli := net.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			defer srv.Close()
			br := bufio.NewReader(srv)
			if ok, err := s.negotiate(srv, br); ok && err == nil {
				_ = s.transmit(srv, br)
			}
		}()
		go func() { _, _ = io.Copy(io.Discard, cli) }()
		_, _ = cli.Write(binary.BigEndian.AppendUint32(nil, nbdFlagFixedNewstyle|nbdFlagNoZeroes))
		_, _ = cli.Write(in)
		_ = cli.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("server did not finish after the client closed")
		}
	})
}
