package iscsi

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// conn is one logged-in TCP connection of a session. All mutable fields are guarded by the
// session's mu; the writer goroutine waits on the session's cond.
type conn struct {
	s  *Session
	nc net.Conn
	br *bufio.Reader
	bw *bufio.Writer
	p  params

	cmdSN, expCmdSN, maxCmdSN, expStatSN uint32

	tasks   map[uint32]*task // every task of this connection, queued or sent, by ITT
	sendq   []*task          // tasks waiting for the CmdSN window
	ctrlq   []*pdu           // Data-Out and immediate PDUs, sent regardless of the window
	nextITT uint32
	dead    bool
	writing bool   // a goroutine is writing to the socket (see kick)
	flush   bool   // the reader asks the writer to send the commands kick held back
	batch   []*pdu // reused by whoever is writing
	waitEnd int    // goroutines waiting for writing to end (connDown)

	sentCmds, socketWrites int64 // SCSI commands sent and the socket writes that carried any

	lastRecv  time.Time
	pingITT   uint32
	pingAt    time.Time
	logoutITT uint32
	logoutCh  chan struct{} // closed when the Logout Response arrives

	writerDone chan struct{}
	readerDone chan struct{}
}

var errLoggedOut = errors.New("iscsi: logged out")

func newConn(s *Session, nc net.Conn, lr loginResult) *conn {
	return &conn{
		s:          s,
		nc:         nc,
		br:         bufio.NewReaderSize(nc, 256<<10),
		bw:         bufio.NewWriterSize(nc, 256<<10),
		p:          lr.p,
		cmdSN:      lr.expCmdSN,
		expCmdSN:   lr.expCmdSN,
		maxCmdSN:   lr.maxCmdSN,
		expStatSN:  lr.expStatSN,
		tasks:      make(map[uint32]*task),
		nextITT:    1,
		lastRecv:   time.Now(),
		pingITT:    reservedTag,
		logoutITT:  reservedTag,
		writerDone: make(chan struct{}),
		readerDone: make(chan struct{}),
	}
}

func (c *conn) start() {
	go c.writeLoop()
	go c.readLoop()
}

// allocITT returns a free Initiator Task Tag. Caller holds s.mu.
func (c *conn) allocITT() uint32 {
	for {
		itt := c.nextITT
		c.nextITT++
		if itt == reservedTag || itt == 0 {
			continue
		}
		if _, busy := c.tasks[itt]; !busy && itt != c.pingITT && itt != c.logoutITT {
			return itt
		}
	}
}

// enqueue hands t to this connection; the caller then kicks it, or starts the connection.
// Caller holds s.mu.
func (c *conn) enqueue(t *task) {
	t.itt = c.allocITT()
	t.queuedAt = time.Now()
	c.tasks[t.itt] = t
	c.sendq = append(c.sendq, t)
}

// holdAfter is how many commands may be outstanding at the target before new ones wait for
// the next batch of responses instead of going out one write each: with the target busy, a
// command sent a few microseconds later costs no throughput, and the commands queued
// meanwhile then leave in one socket write (which the target also reads in one). Below it,
// every command goes out at once, so a shallow queue waits for nothing.
const holdAfter = 4

// outstanding is the number of commands sent and not yet answered. Caller holds s.mu.
func (c *conn) outstanding() int { return len(c.tasks) - len(c.sendq) }

// holding reports whether the commands ready to go wait for the reader's flush (see
// holdAfter). Control PDUs (Data-Out for an R2T, NOP-Out, Logout) never wait. Caller holds s.mu.
func (c *conn) holding() bool {
	return !c.flush && len(c.ctrlq) == 0 && c.outstanding() >= holdAfter
}

func (c *conn) windowOpen() bool { return seqLE(c.cmdSN, c.maxCmdSN) }

// commandPDUs builds t's SCSI Command with its immediate data and any unsolicited Data-Out
// (RFC 7143 §4.2.5.2: at most FirstBurstLength unsolicited, each PDU at most the target's
// MaxRecvDataSegmentLength).
func (c *conn) commandPDUs(t *task, out []*pdu) []*pdu {
	lun := c.s.target.LUN
	var imm []byte
	unsolicited := 0
	if t.write {
		unsolicited = min(len(t.buf), int(c.p.firstBurst))
		if c.p.initialR2T {
			unsolicited = 0
		}
		if c.p.immediateData {
			imm = t.buf[:min(len(t.buf), int(c.p.firstBurst), int(c.p.maxSendSegment))]
			unsolicited = max(unsolicited, len(imm))
		}
	}
	final := unsolicited == len(imm)
	cmd := scsiCmdPDU(lun, t.itt, t.cdb[:], t.read, t.write, uint32(len(t.buf)), final, imm)
	cmd.h.put32(24, c.cmdSN)
	c.cmdSN++
	out = append(out, cmd)
	dataSN := uint32(0)
	for off := len(imm); off < unsolicited; {
		n := min(unsolicited-off, int(c.p.maxSendSegment))
		out = append(out, dataOutPDU(lun, t.itt, reservedTag, dataSN, uint32(off), off+n == unsolicited, t.buf[off:off+n]))
		dataSN++
		off += n
	}
	t.sent = true
	return out
}

// ready reports whether something can be sent now. Caller holds s.mu.
func (c *conn) ready() bool {
	return len(c.ctrlq) > 0 || (len(c.sendq) > 0 && c.windowOpen())
}

// kick sends what is ready from the calling goroutine unless another goroutine is already
// sending (then that one picks it up) or the target has holdAfter commands outstanding (then
// the reader flushes it with the next responses): a submitter writes its own command without
// waking the writer goroutine. Caller holds s.mu, which is released while writing.
func (c *conn) kick() {
	if !c.writing && !c.dead && c.ready() && !c.holding() {
		c.writing = true
		c.drain()
	}
}

// drain writes batches until nothing is ready, then clears c.writing. Caller holds s.mu and
// has set c.writing; s.mu is released during the socket writes. A write error closes the
// socket, which the reader turns into connDown.
func (c *conn) drain() {
	s := c.s
	for !c.dead && c.ready() {
		c.flush = false
		batch := c.batch[:0]
		for _, p := range c.ctrlq {
			if p.h.immediate() {
				p.h.put32(24, c.cmdSN)
			}
			batch = append(batch, p)
		}
		clear(c.ctrlq)
		c.ctrlq = c.ctrlq[:0]
		n := 0
		for n < len(c.sendq) && c.windowOpen() {
			batch = c.commandPDUs(c.sendq[n], batch)
			n++
		}
		if n > 0 {
			c.sentCmds += int64(n)
			c.socketWrites++
		}
		clear(c.sendq[copy(c.sendq, c.sendq[n:]):])
		c.sendq = c.sendq[:len(c.sendq)-n]
		for _, p := range batch {
			p.h.put32(28, c.expStatSN)
		}
		s.mu.Unlock()
		err := c.writeBatch(batch)
		clear(batch)
		s.mu.Lock()
		c.batch = batch[:0]
		if err != nil {
			c.nc.Close()
			break
		}
	}
	c.writing = false
	if c.waitEnd > 0 {
		s.cond.Broadcast()
	}
}

func (c *conn) writeBatch(batch []*pdu) error {
	for _, p := range batch {
		if err := writePDU(c.bw, p); err != nil {
			return err
		}
	}
	return c.bw.Flush()
}

// writeLoop sends what the reader queues (Data-Out for R2Ts, NOP-Outs) and commands the CmdSN
// window held back, whenever no submitter is sending already.
func (c *conn) writeLoop() {
	defer close(c.writerDone)
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		for !c.dead && (c.writing || !c.ready() || c.holding()) {
			s.cond.Wait()
		}
		if c.dead {
			return
		}
		c.writing = true
		c.drain()
	}
}

func (c *conn) readLoop() {
	var err error
	var h bhs
	for {
		if err = readHeader(c.br, &h); err != nil {
			break
		}
		if err = c.handle(&h); err != nil {
			break
		}
		if c.br.Buffered() == 0 {
			c.flushHeld()
		}
	}
	c.s.connDown(c, err)
}

// flushHeld wakes the writer for the commands kick held back, once the reader has handled
// every response it has (it is about to wait for more).
func (c *conn) flushHeld() {
	s := c.s
	s.mu.Lock()
	if len(c.sendq) > 0 && !c.writing && !c.flush {
		c.flush = true
		s.cond.Broadcast()
	}
	s.mu.Unlock()
}

// sn records the sequence numbers a target PDU carries: StatSN (advancing ExpStatSN when the
// PDU carries status) and the ExpCmdSN/MaxCmdSN window (RFC 7143 §4.2.2.1). Caller holds s.mu.
func (c *conn) sn(h *bhs, status bool) {
	c.lastRecv = time.Now()
	if status {
		if st := h.u32(24) + 1; seqLT(c.expStatSN, st) {
			c.expStatSN = st
		}
	}
	exp, mx := h.u32(28), h.u32(32)
	if !seqLE(exp-1, mx) {
		return // MaxCmdSN < ExpCmdSN-1: the values are to be ignored
	}
	if seqLT(c.expCmdSN, exp) {
		c.expCmdSN = exp
	}
	if seqLT(c.maxCmdSN, mx) {
		open := !c.windowOpen()
		c.maxCmdSN = mx
		if open && len(c.sendq) > 0 {
			c.s.cond.Broadcast()
		}
	}
}

// handle processes one target PDU whose header has been read; it reads the data segment.
func (c *conn) handle(h *bhs) error {
	s := c.s
	switch h.opcode() {
	case opDataIn:
		return c.dataIn(h)
	case opSCSIResp:
		data, err := c.data(h)
		if err != nil {
			return err
		}
		s.mu.Lock()
		c.sn(h, true)
		t := c.tasks[h.itt()]
		if t != nil {
			delete(c.tasks, t.itt)
		}
		s.mu.Unlock()
		if t == nil {
			return nil // a task we already gave up on
		}
		if resp := h[2]; resp != 0 {
			t.finish(fmt.Errorf("%w: iSCSI response 0x%02x", errTarget, resp))
			return nil
		}
		t.status = h[3]
		t.residual = residual(h)
		if h[3] == statusCheckCondition && len(data) >= 2 {
			sl := int(data[0])<<8 | int(data[1])
			t.sense = append([]byte(nil), data[2:2+min(sl, len(data)-2)]...)
		}
		t.finish(nil)
	case opR2T:
		s.mu.Lock()
		defer s.mu.Unlock()
		c.sn(h, false)
		t := c.tasks[h.itt()]
		off, n := int(h.u32(40)), int(h.u32(44))
		if t == nil {
			return nil
		}
		if !t.write || n == 0 || off < 0 || off+n > len(t.buf) {
			return fmt.Errorf("%w: R2T for [%d,+%d) of a %d-byte transfer", errPDU, off, n, len(t.buf))
		}
		lun, ttt := s.target.LUN, h.u32(20)
		for sn, end := uint32(0), off+n; off < end; sn++ {
			m := min(end-off, int(c.p.maxSendSegment))
			c.ctrlq = append(c.ctrlq, dataOutPDU(lun, t.itt, ttt, sn, uint32(off), off+m == end, t.buf[off:off+m]))
			off += m
		}
		s.cond.Broadcast()
	case opNOPIn:
		data, err := c.data(h)
		if err != nil {
			return err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		itt := h.itt()
		c.sn(h, itt != reservedTag)
		if itt != reservedTag && itt == c.pingITT {
			c.pingITT = reservedTag
		}
		if ttt := h.u32(20); ttt != reservedTag {
			lun := uint64(h[8])<<56 | uint64(h[9])<<48 | uint64(h[10])<<40 | uint64(h[11])<<32 |
				uint64(h[12])<<24 | uint64(h[13])<<16 | uint64(h[14])<<8 | uint64(h[15])
			c.ctrlq = append(c.ctrlq, nopOutPDU(reservedTag, ttt, lun, data))
			s.cond.Broadcast()
		}
	case opAsync:
		if _, err := c.data(h); err != nil {
			return err
		}
		s.mu.Lock()
		c.sn(h, true)
		s.mu.Unlock()
		switch ev := h[36]; ev {
		case 1, 2, 3:
			return fmt.Errorf("iscsi: target async event %d (logout requested or connection dropping)", ev)
		default:
			s.log.Info("iscsi async event", "event", ev, "vcode", h[37])
		}
	case opReject:
		data, err := c.data(h)
		if err != nil {
			return err
		}
		s.mu.Lock()
		c.sn(h, true)
		var t *task
		if len(data) >= bhsLen {
			var rh bhs
			copy(rh[:], data)
			if t = c.tasks[rh.itt()]; t != nil {
				delete(c.tasks, t.itt)
			}
		}
		s.mu.Unlock()
		if t == nil {
			return fmt.Errorf("%w: target rejected a PDU (reason 0x%02x)", errPDU, h[2])
		}
		t.finish(fmt.Errorf("%w: target rejected the command (reason 0x%02x)", errTarget, h[2]))
	case opLogoutResp:
		if _, err := c.data(h); err != nil {
			return err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		c.sn(h, true)
		if h.itt() == c.logoutITT && c.logoutCh != nil {
			close(c.logoutCh)
			c.logoutCh = nil
			return errLoggedOut
		}
	case opTaskMgmtRsp, opTextResp:
		if _, err := c.data(h); err != nil {
			return err
		}
		s.mu.Lock()
		c.sn(h, true)
		s.mu.Unlock()
	default:
		return fmt.Errorf("%w: unexpected opcode 0x%02x", errPDU, h.opcode())
	}
	return nil
}

// data reads a (small) data segment, bounded by what we declared we accept.
func (c *conn) data(h *bhs) ([]byte, error) {
	n := h.dataLen()
	if n > int(c.p.maxRecvSegment) {
		return nil, fmt.Errorf("%w: %d-byte data segment exceeds MaxRecvDataSegmentLength", errPDU, n)
	}
	var b []byte
	if n > 0 {
		b = make([]byte, n)
	}
	return b, readData(c.br, h, b)
}

// dataIn reads a Data-In PDU straight into its task's buffer and completes the task when the
// PDU carries status (S bit).
func (c *conn) dataIn(h *bhs) error {
	s := c.s
	n, off := h.dataLen(), int(h.u32(40))
	s.mu.Lock()
	st := h.flags()&dataInStatus != 0
	c.sn(h, st)
	t := c.tasks[h.itt()]
	if t != nil && (!t.read || off < 0 || off+n > len(t.buf) || n > int(c.p.maxRecvSegment)) {
		s.mu.Unlock()
		return fmt.Errorf("%w: Data-In for [%d,+%d) of a %d-byte read", errPDU, off, n, len(t.buf))
	}
	s.mu.Unlock()
	if t == nil {
		// A task we gave up on: skip its data.
		if _, err := io.CopyN(io.Discard, c.br, int64(n+padLen(n))); err != nil {
			return err
		}
		return nil
	}
	if err := readData(c.br, h, t.buf[off:off+n]); err != nil {
		return err
	}
	if st {
		s.mu.Lock()
		delete(c.tasks, t.itt)
		s.mu.Unlock()
		t.status = h[3]
		t.residual = residual(h)
		t.finish(nil)
	}
	return nil
}

// residual returns the underflow residual count of a SCSI Response or final Data-In (0 on
// overflow or when none is reported).
func residual(h *bhs) uint32 {
	if h.flags()&flagUnderflow != 0 {
		return h.u32(44)
	}
	return 0
}
