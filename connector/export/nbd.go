package export

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"syscall"

	"github.com/dlvm-project/dlvm/connector/blockdev"
)

// NBDOptions configures ServeNBD.
type NBDOptions struct {
	// ExportName is the export's name. Clients may also ask for the default export "".
	ExportName string
	// ReadOnly advertises NBD_FLAG_READ_ONLY and fails writes, trims and zeroing with EPERM.
	ReadOnly bool
	// MaxInFlight bounds the requests one connection executes at once (default 128).
	MaxInFlight int
	Log         *slog.Logger
}

// NBDServer serves one device over NBD on a unix socket until Close.
type NBDServer struct {
	dev  blockdev.Device
	opts NBDOptions
	log  *slog.Logger
	ln   net.Listener
	path string

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// ServeNBD listens on socketPath and serves dev to any number of clients, each with many
// requests in flight (fixed newstyle handshake, simple replies). It replaces a stale socket
// file nobody listens on and fails when another server is listening there. ctx bounds only the
// setup; the server runs until Close. The server does not own dev.
func ServeNBD(ctx context.Context, dev blockdev.Device, socketPath string, opts NBDOptions) (*NBDServer, error) {
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = 128
	}
	if err := removeStaleSocket(ctx, socketPath); err != nil {
		return nil, err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "unix", socketPath)
	if err != nil {
		return nil, fmt.Errorf("nbd: listen on %s: %w", socketPath, err)
	}
	s := &NBDServer{
		dev: dev, opts: opts, log: logOrDiscard(opts.Log).With("socket", socketPath),
		ln: ln, path: socketPath, conns: map[net.Conn]struct{}{},
	}
	s.wg.Add(1)
	go s.accept()
	s.log.Info("nbd export serving", "export_name", opts.ExportName, "size", dev.Size(), "read_only", opts.ReadOnly)
	return s, nil
}

// SocketPath is where the server listens.
func (s *NBDServer) SocketPath() string { return s.path }

// Close stops accepting, drops every connection (requests already executing finish on the
// device, their replies are lost), waits for the handlers and removes the socket file. It
// does not flush or close the device. Idempotent.
func (s *NBDServer) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	err := s.ln.Close()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	if rerr := os.Remove(s.path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		err = errors.Join(err, rerr)
	}
	if err != nil {
		return fmt.Errorf("nbd: close %s: %w", s.path, err)
	}
	return nil
}

func removeStaleSocket(ctx context.Context, path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("nbd: stat %s: %w", path, err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("nbd: %s exists and is not a socket", path)
	}
	var d net.Dialer
	if c, err := d.DialContext(ctx, "unix", path); err == nil {
		_ = c.Close()
		return fmt.Errorf("nbd: another server listens on %s", path)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("nbd: remove stale socket: %w", err)
	}
	return nil
}

func (s *NBDServer) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if !closed {
				s.log.Error("nbd accept failed; server stops accepting", "error", err)
			}
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(c)
	}
}

func (s *NBDServer) serveConn(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		_ = c.Close()
	}()
	br := bufio.NewReaderSize(c, 256<<10)
	ok, err := s.negotiate(c, br)
	if err != nil {
		s.log.Warn("nbd handshake failed", "error", err)
		return
	}
	if !ok {
		return
	}
	if err := s.transmit(c, br); err != nil {
		s.log.Warn("nbd connection ended", "error", err)
	}
}

func (s *NBDServer) transmissionFlags() uint16 {
	f := uint16(nbdFlagHasFlags | nbdFlagSendFlush | nbdFlagSendFUA | nbdFlagSendTrim |
		nbdFlagSendWriteZeroes | nbdFlagCanMultiConn)
	if s.opts.ReadOnly {
		f |= nbdFlagReadOnly
	}
	return f
}

func (s *NBDServer) nameOK(name string) bool { return name == "" || name == s.opts.ExportName }

// negotiate runs the fixed newstyle handshake and option haggling. It returns true when the
// client entered the transmission phase, false when it aborted.
func (s *NBDServer) negotiate(c net.Conn, br *bufio.Reader) (bool, error) {
	hello := make([]byte, 18)
	binary.BigEndian.PutUint64(hello[0:], nbdMagic)
	binary.BigEndian.PutUint64(hello[8:], nbdOptMagic)
	binary.BigEndian.PutUint16(hello[16:], nbdFlagFixedNewstyle|nbdFlagNoZeroes)
	if _, err := c.Write(hello); err != nil {
		return false, fmt.Errorf("send greeting: %w", err)
	}
	var cf [4]byte
	if _, err := io.ReadFull(br, cf[:]); err != nil {
		return false, fmt.Errorf("read client flags: %w", err)
	}
	clientFlags := binary.BigEndian.Uint32(cf[:])
	if clientFlags&^uint32(nbdFlagFixedNewstyle|nbdFlagNoZeroes) != 0 {
		return false, fmt.Errorf("%w: unknown client flags %#x", errBadRequest, clientFlags)
	}
	noZeroes := clientFlags&nbdFlagNoZeroes != 0
	for {
		var hdr [16]byte
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return false, fmt.Errorf("read option: %w", err)
		}
		if m := binary.BigEndian.Uint64(hdr[0:]); m != nbdOptMagic {
			return false, fmt.Errorf("%w: option magic %#x", errBadRequest, m)
		}
		opt, n := binary.BigEndian.Uint32(hdr[8:]), binary.BigEndian.Uint32(hdr[12:])
		if n > maxOptionLen {
			if _, err := io.CopyN(io.Discard, br, int64(n)); err != nil {
				return false, fmt.Errorf("skip option: %w", err)
			}
			if err := s.reply(c, opt, nbdRepErrTooBig, nil); err != nil {
				return false, err
			}
			continue
		}
		data := make([]byte, n)
		if _, err := io.ReadFull(br, data); err != nil {
			return false, fmt.Errorf("read option data: %w", err)
		}
		done, err := s.option(c, opt, data, noZeroes)
		if err != nil || done {
			return done && err == nil && opt != nbdOptAbort, err
		}
	}
}

// option answers one option. done reports that negotiation is over: the client entered
// transmission (EXPORT_NAME, GO) or aborted.
func (s *NBDServer) option(c net.Conn, opt uint32, data []byte, noZeroes bool) (done bool, err error) {
	switch opt {
	case nbdOptExportName:
		if !s.nameOK(string(data)) {
			return false, fmt.Errorf("unknown export %q requested with NBD_OPT_EXPORT_NAME", data)
		}
		b := make([]byte, 10, 134)
		binary.BigEndian.PutUint64(b[0:], uint64(s.dev.Size()))
		binary.BigEndian.PutUint16(b[8:], s.transmissionFlags())
		if !noZeroes {
			b = b[:134]
		}
		if _, err := c.Write(b); err != nil {
			return false, fmt.Errorf("send export info: %w", err)
		}
		return true, nil
	case nbdOptAbort:
		_ = s.reply(c, opt, nbdRepAck, nil)
		return true, nil
	case nbdOptList:
		if len(data) != 0 {
			return false, s.reply(c, opt, nbdRepErrInvalid, nil)
		}
		p := binary.BigEndian.AppendUint32(nil, uint32(len(s.opts.ExportName)))
		if err := s.reply(c, opt, nbdRepServer, append(p, s.opts.ExportName...)); err != nil {
			return false, err
		}
		return false, s.reply(c, opt, nbdRepAck, nil)
	case nbdOptInfo, nbdOptGo:
		name, infos, err := parseInfoRequest(data)
		if err != nil {
			return false, s.reply(c, opt, nbdRepErrInvalid, []byte(err.Error()))
		}
		if !s.nameOK(name) {
			return false, s.reply(c, opt, nbdRepErrUnknown, []byte("no such export"))
		}
		if err := s.reply(c, opt, nbdRepInfo, infoExport(s.dev.Size(), s.transmissionFlags())); err != nil {
			return false, err
		}
		for _, i := range infos {
			if i == nbdInfoBlockSize {
				if err := s.reply(c, opt, nbdRepInfo, infoBlockSize()); err != nil {
					return false, err
				}
			}
		}
		if err := s.reply(c, opt, nbdRepAck, nil); err != nil {
			return false, err
		}
		return opt == nbdOptGo, nil
	default:
		return false, s.reply(c, opt, nbdRepErrUnsup, nil)
	}
}

func (s *NBDServer) reply(c net.Conn, opt, typ uint32, payload []byte) error {
	if _, err := c.Write(optionReply(opt, typ, payload)); err != nil {
		return fmt.Errorf("send option reply: %w", err)
	}
	return nil
}

// nbdConn is one connection in the transmission phase: one reader (the caller of transmit),
// handlers running concurrently, replies queued under mu and written by whichever handler
// finds no write in progress (many replies per write(2), and no handler waits for another's
// socket write).
type nbdConn struct {
	s *NBDServer
	c net.Conn

	mu      sync.Mutex
	hdrs    []byte      // reply headers of the queued replies
	queue   net.Buffers // queued replies: headers (slices of hdrs) and READ payloads
	recycle [][]byte    // READ payloads to recycle once written
	writing bool
	broken  bool
}

func (s *NBDServer) transmit(c net.Conn, br *bufio.Reader) error {
	nc := &nbdConn{s: s, c: c}
	sem := make(chan struct{}, s.opts.MaxInFlight)
	var wg sync.WaitGroup
	defer wg.Wait()
	size := s.dev.Size()
	hdr := make([]byte, nbdRequestSize)
	for {
		if _, err := io.ReadFull(br, hdr); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read request: %w", err)
		}
		req, err := parseRequest(hdr)
		if err != nil {
			return err
		}
		if req.typ == nbdCmdDisc {
			return nil
		}
		errno := validateRequest(req, size, s.opts.ReadOnly)
		var payload []byte
		if req.typ == nbdCmdWrite {
			if req.length > maxPayload {
				return fmt.Errorf("%w: write of %d bytes", errBadRequest, req.length)
			}
			payload = blockdev.GetBuf(int(req.length))
			if _, err := io.ReadFull(br, payload); err != nil {
				return fmt.Errorf("read write payload: %w", err)
			}
		}
		if errno != 0 {
			blockdev.PutBuf(payload)
			nc.send(req.handle, errno, nil)
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			data, errno := nc.execute(req, payload)
			blockdev.PutBuf(payload) // devices do not keep the buffers they are given
			nc.send(req.handle, errno, data)
		}()
	}
}

// execute runs one validated request on the device; data is a READ's payload.
func (nc *nbdConn) execute(req nbdRequest, payload []byte) (data []byte, errno syscall.Errno) {
	dev, off, n := nc.s.dev, int64(req.offset), int64(req.length)
	var err error
	switch req.typ {
	case nbdCmdRead:
		data = blockdev.GetBuf(int(n))
		var got int
		got, err = dev.ReadAt(data, off)
		if got == len(data) {
			err = nil // io.ReaderAt may report io.EOF with a full read at the end
		}
	case nbdCmdWrite:
		_, err = dev.WriteAt(payload, off)
	case nbdCmdFlush:
		err = dev.Flush()
	case nbdCmdTrim:
		err = dev.Discard(off, n)
	case nbdCmdWriteZeroes:
		err = zeroRange(dev, off, n)
	}
	if err == nil && req.flags&nbdCmdFlagFUA != 0 {
		err = dev.Flush()
	}
	if err != nil {
		blockdev.PutBuf(data)
		nc.s.log.Warn("nbd request failed", "command", req.typ, "offset", off, "length", n, "error", err)
		return nil, errnoFor(err)
	}
	return data, 0
}

// send queues one simple reply (data follows only a successful READ; send takes ownership of
// it) and, unless another handler is writing already, writes every queued reply, including
// those queued meanwhile. A failed write closes the connection so the reader stops too.
func (nc *nbdConn) send(handle uint64, errno syscall.Errno, data []byte) {
	nc.mu.Lock()
	if nc.broken {
		nc.mu.Unlock()
		blockdev.PutBuf(data)
		return
	}
	at := len(nc.hdrs)
	nc.hdrs = binary.BigEndian.AppendUint32(nc.hdrs, nbdSimpleRepMagic)
	nc.hdrs = binary.BigEndian.AppendUint32(nc.hdrs, uint32(errno))
	nc.hdrs = binary.BigEndian.AppendUint64(nc.hdrs, handle)
	nc.queue = append(nc.queue, nc.hdrs[at:len(nc.hdrs):len(nc.hdrs)])
	if errno == 0 && len(data) > 0 {
		nc.queue = append(nc.queue, data)
		nc.recycle = append(nc.recycle, data)
	}
	if nc.writing {
		nc.mu.Unlock()
		return
	}
	nc.writing = true
	for len(nc.queue) > 0 && !nc.broken {
		q, recycle := nc.queue, nc.recycle
		nc.queue, nc.recycle, nc.hdrs = nil, nil, make([]byte, 0, 16*nbdReplySize)
		nc.mu.Unlock()
		_, err := q.WriteTo(nc.c)
		for _, b := range recycle {
			blockdev.PutBuf(b)
		}
		nc.mu.Lock()
		if err != nil {
			nc.broken = true
			_ = nc.c.Close()
		}
	}
	nc.writing = false
	nc.mu.Unlock()
}
