package export

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// testClient is a minimal NBD client speaking just enough of the protocol to drive the server
// from Go: fixed newstyle, NO_ZEROES, options, pipelined requests with replies matched by handle.
type testClient struct {
	t   *testing.T
	c   net.Conn
	br  *bufio.Reader
	wmu sync.Mutex
}

type optReply struct {
	opt, typ uint32
	data     []byte
}

func dialNBD(t *testing.T, path string) *testClient {
	t.Helper()
	c, err := net.Dial("unix", path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	tc := &testClient{t: t, c: c, br: bufio.NewReader(c)}
	var hello [18]byte
	_, err = io.ReadFull(tc.br, hello[:])
	require.NoError(t, err)
	require.Equal(t, uint64(nbdMagic), binary.BigEndian.Uint64(hello[0:]))
	require.Equal(t, uint64(nbdOptMagic), binary.BigEndian.Uint64(hello[8:]))
	require.Equal(t, uint16(nbdFlagFixedNewstyle|nbdFlagNoZeroes), binary.BigEndian.Uint16(hello[16:]))
	_, err = c.Write(binary.BigEndian.AppendUint32(nil, nbdFlagFixedNewstyle|nbdFlagNoZeroes))
	require.NoError(t, err)
	return tc
}

func (tc *testClient) sendOption(opt uint32, data []byte) {
	tc.t.Helper()
	b := binary.BigEndian.AppendUint64(nil, nbdOptMagic)
	b = binary.BigEndian.AppendUint32(b, opt)
	b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
	_, err := tc.c.Write(append(b, data...))
	require.NoError(tc.t, err)
}

func (tc *testClient) readOptReply() optReply {
	tc.t.Helper()
	var h [20]byte
	_, err := io.ReadFull(tc.br, h[:])
	require.NoError(tc.t, err)
	require.Equal(tc.t, uint64(nbdRepMagic), binary.BigEndian.Uint64(h[0:]))
	r := optReply{opt: binary.BigEndian.Uint32(h[8:]), typ: binary.BigEndian.Uint32(h[12:])}
	r.data = make([]byte, binary.BigEndian.Uint32(h[16:]))
	_, err = io.ReadFull(tc.br, r.data)
	require.NoError(tc.t, err)
	return r
}

// infoPayload builds an NBD_OPT_INFO/GO payload.
func infoPayload(name string, infos ...uint16) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(name)))
	b = append(b, name...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(infos)))
	for _, i := range infos {
		b = binary.BigEndian.AppendUint16(b, i)
	}
	return b
}

// optGo negotiates NBD_OPT_GO and returns the export size and transmission flags.
func (tc *testClient) optGo(name string) (int64, uint16) {
	tc.t.Helper()
	tc.sendOption(nbdOptGo, infoPayload(name, nbdInfoBlockSize))
	var size int64 = -1
	var flags uint16
	for {
		r := tc.readOptReply()
		require.Equal(tc.t, uint32(nbdOptGo), r.opt)
		if r.typ == nbdRepAck {
			require.NotEqual(tc.t, int64(-1), size, "NBD_INFO_EXPORT before ACK")
			return size, flags
		}
		require.Equal(tc.t, uint32(nbdRepInfo), r.typ)
		switch binary.BigEndian.Uint16(r.data) {
		case nbdInfoExport:
			require.Len(tc.t, r.data, 12)
			size = int64(binary.BigEndian.Uint64(r.data[2:]))
			flags = binary.BigEndian.Uint16(r.data[10:])
		case nbdInfoBlockSize:
			require.Len(tc.t, r.data, 14)
			require.Equal(tc.t, uint32(1), binary.BigEndian.Uint32(r.data[2:]))
		}
	}
}

// request sends one transmission request (payload for WRITE). Safe to call concurrently.
func (tc *testClient) request(typ, flags uint16, handle, off uint64, length uint32, payload []byte) {
	tc.t.Helper()
	b := binary.BigEndian.AppendUint32(nil, nbdRequestMagic)
	b = binary.BigEndian.AppendUint16(b, flags)
	b = binary.BigEndian.AppendUint16(b, typ)
	b = binary.BigEndian.AppendUint64(b, handle)
	b = binary.BigEndian.AppendUint64(b, off)
	b = binary.BigEndian.AppendUint32(b, length)
	tc.wmu.Lock()
	defer tc.wmu.Unlock()
	_, err := tc.c.Write(append(b, payload...))
	require.NoError(tc.t, err)
}

// readReply reads one simple reply header: handle and error.
func (tc *testClient) readReply() (uint64, uint32) {
	tc.t.Helper()
	var h [16]byte
	_, err := io.ReadFull(tc.br, h[:])
	require.NoError(tc.t, err)
	require.Equal(tc.t, uint32(nbdSimpleRepMagic), binary.BigEndian.Uint32(h[0:]))
	return binary.BigEndian.Uint64(h[8:]), binary.BigEndian.Uint32(h[4:])
}
