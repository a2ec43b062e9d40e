// Package iscsi is the userspace engine's iSCSI initiator (RFC 7143): it logs in to one LUN of
// one target (CHAP or no authentication), runs SCSI READ/WRITE(16), SYNCHRONIZE CACHE, UNMAP
// with many commands in flight, reconnects when the connection breaks and retries what was
// outstanding, and exposes the LUN as a blockdev.Device. One TCP connection per session,
// ErrorRecoveryLevel 0, no digests.
package iscsi

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dlvm-project/dlvm/connector/blockdev"
)

// Target says where a LUN is and how to log in to it.
type Target struct {
	Portal       string // host:port
	IQN          string
	LUN          uint64
	InitiatorIQN string
	// CHAPUser and CHAPSecret enable one-way CHAP; empty means no authentication.
	CHAPUser, CHAPSecret string
}

// Options tune a session. Zero values take the defaults.
type Options struct {
	QueueDepth int // commands in flight at once; default 32
	// IOTimeout bounds one command; when it passes the connection is considered dead and
	// re-established (the command is retried). Default 30s.
	IOTimeout time.Duration
	// ReconnectTimeout: after this long without a session, outstanding and new I/O fail with
	// an error wrapping blockdev.ErrIO. Default 20s.
	ReconnectTimeout time.Duration
	// PingInterval: an idle connection is pinged (NOP-Out) this often, and declared dead when
	// a ping gets no answer within the same time. Default 5s.
	PingInterval time.Duration
	Log          *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.QueueDepth <= 0 {
		o.QueueDepth = 32
	}
	if o.IOTimeout <= 0 {
		o.IOTimeout = 30 * time.Second
	}
	if o.ReconnectTimeout <= 0 {
		o.ReconnectTimeout = 20 * time.Second
	}
	if o.PingInterval <= 0 {
		o.PingInterval = 5 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return o
}

type sessionState int

const (
	stConnected    sessionState = iota
	stReconnecting              // no connection; I/O waits
	stFailed                    // no connection for ReconnectTimeout; I/O fails, reconnecting goes on
	stClosed
)

// maxRequeues bounds how often one command is resent after its connection died.
const maxRequeues = 8

var errTarget = fmt.Errorf("%w: target failure", blockdev.ErrIO)

// Session is a logged-in iSCSI session to one LUN. It implements blockdev.Device and is safe
// for concurrent use.
type Session struct {
	target Target
	opts   Options
	log    *slog.Logger
	isid   [6]byte
	sem    chan struct{}

	// Learnt at Dial, fixed afterwards (size may grow, see refreshCapacity).
	blockSize  int64
	size       atomic.Int64
	maxXfer    int // bytes per READ/WRITE command
	unmap      bool
	unmapMax   uint32 // blocks per UNMAP descriptor
	unmapDescs int    // descriptors per UNMAP command

	rmw blockLocks

	mu       sync.Mutex
	cond     *sync.Cond
	c        *conn
	state    sessionState
	closing  bool
	aborted  bool    // Dial's ctx ended: fail everything, never reconnect
	pending  []*task // waiting for a connection
	lostAt   time.Time
	inflight sync.WaitGroup
	stop     chan struct{}
	bg       sync.WaitGroup
}

// task is one SCSI command through its retries.
type task struct {
	cdb   [16]byte
	read  bool
	write bool
	buf   []byte

	done     chan error // one value per attempt
	itt      uint32
	queuedAt time.Time
	sent     bool
	requeues int
	status   byte
	residual uint32
	sense    []byte
}

func (t *task) finish(err error) { t.done <- err }

// Dial connects and logs in to t, then checks the LUN is a disk and learns its geometry.
// ctx bounds the whole of it; the returned session outlives ctx.
func Dial(ctx context.Context, t Target, o Options) (*Session, error) {
	if t.Portal == "" || t.IQN == "" || t.InitiatorIQN == "" {
		return nil, fmt.Errorf("iscsi: target needs Portal, IQN and InitiatorIQN")
	}
	o = o.withDefaults()
	s := &Session{
		target: t,
		opts:   o,
		log:    o.Log.With("portal", t.Portal, "target_iqn", t.IQN),
		sem:    make(chan struct{}, o.QueueDepth),
		stop:   make(chan struct{}),
	}
	s.cond = sync.NewCond(&s.mu)
	s.rmw.cond = sync.NewCond(&s.rmw.mu)
	if _, err := rand.Read(s.isid[1:]); err != nil {
		return nil, err
	}
	s.isid[0] = 0x80 // ISID type "random" (RFC 7143 §11.12.5)

	c, err := s.connect(ctx)
	if err != nil {
		return nil, err
	}
	s.c = c
	c.start()
	s.bg.Add(1)
	go s.monitor()

	// The probe's commands run without ctx; if ctx ends first, close the session under them.
	stop := context.AfterFunc(ctx, s.abort)
	err = s.probe()
	if !stop() || err != nil {
		_ = s.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("iscsi: dial %s: %w", t.IQN, ctx.Err())
		}
		return nil, fmt.Errorf("iscsi: dial %s: %w", t.IQN, err)
	}
	s.log.Debug("iscsi session up", "size", s.Size(), "block_size", s.blockSize,
		"max_xfer", s.maxXfer, "unmap", s.unmap)
	return s, nil
}

// connect opens a TCP connection and logs in. The returned conn is not started.
func (s *Session) connect(ctx context.Context) (*conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", s.target.Portal)
	if err != nil {
		return nil, err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
		_ = tc.SetKeepAlive(true)
	}
	lr, err := login(ctx, nc, s.target, s.isid, 1)
	if err != nil {
		nc.Close()
		return nil, err
	}
	s.log.Debug("iscsi login", "tsih", lr.tsih, "max_burst", lr.p.maxBurst,
		"first_burst", lr.p.firstBurst, "max_send_segment", lr.p.maxSendSegment,
		"initial_r2t", lr.p.initialR2T, "immediate_data", lr.p.immediateData)
	return newConn(s, nc, lr), nil
}

// abort fails everything in flight at once and prevents reconnecting (Dial's ctx ended).
func (s *Session) abort() {
	s.mu.Lock()
	s.aborted = true
	c := s.c
	s.mu.Unlock()
	if c != nil {
		c.nc.Close()
	}
}

// Healthy reports whether the session has a logged-in connection right now.
func (s *Session) Healthy() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state == stConnected
}

// exec runs one command to completion: resends it across reconnects, retries UNIT ATTENTION
// and BUSY/TASK SET FULL, and turns other failures into errors wrapping blockdev.ErrIO.
func (s *Session) exec(t *task) error {
	s.sem <- struct{}{}
	defer func() { <-s.sem }()
	if t.done == nil {
		t.done = make(chan error, 1)
	}
	for attempt := 0; ; attempt++ {
		if err := s.submit(t); err != nil {
			return err
		}
		switch t.status {
		case statusGood:
			return nil
		case statusCheckCondition:
			se := newSenseError(t.status, t.sense)
			if se.Key == senseUnitAttention && attempt < 10 {
				s.log.Debug("iscsi unit attention", "asc", se.ASC, "ascq", se.ASCQ)
				if se.ASC == 0x2a && se.ASCQ == 0x09 {
					s.refreshCapacity()
				}
				continue
			}
			return se
		case statusBusy, statusTaskSetFull:
			if attempt < 200 {
				time.Sleep(time.Duration(min(attempt+1, 20)) * 5 * time.Millisecond)
				continue
			}
		}
		return &SenseError{Status: t.status}
	}
}

// submit sends t once and waits for its response; nil means t.status is valid.
func (s *Session) submit(t *task) error {
	s.mu.Lock()
	switch {
	case s.closing || s.state == stClosed:
		s.mu.Unlock()
		return blockdev.ErrClosed
	case s.state == stFailed:
		s.mu.Unlock()
		return fmt.Errorf("%w: iscsi session to %s is down", blockdev.ErrIO, s.target.IQN)
	}
	s.inflight.Add(1)
	defer s.inflight.Done()
	t.status, t.residual, t.sense, t.sent = 0, 0, nil, false
	if s.c != nil {
		s.c.enqueue(t)
		s.c.kick()
	} else {
		s.pending = append(s.pending, t)
	}
	s.mu.Unlock()
	return <-t.done
}

// Close waits for I/O in flight, logs out and releases the session. Further calls fail with
// blockdev.ErrClosed. Idempotent; always returns nil.
func (s *Session) Close() error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return nil
	}
	s.closing = true
	s.mu.Unlock()
	s.inflight.Wait()

	s.mu.Lock()
	s.state = stClosed
	close(s.stop)
	for _, t := range s.pending {
		t.finish(blockdev.ErrClosed)
	}
	s.pending = nil
	c := s.c
	var logout chan struct{}
	if c != nil && !c.dead {
		logout = make(chan struct{})
		c.logoutITT = c.allocITT()
		c.logoutCh = logout
		c.ctrlq = append(c.ctrlq, logoutPDU(c.logoutITT))
		s.cond.Broadcast()
	}
	s.mu.Unlock()
	if c != nil {
		select {
		case <-logout:
		case <-c.readerDone:
		case <-time.After(5 * time.Second):
		}
		c.nc.Close()
		<-c.readerDone
	}
	s.bg.Wait()
	return nil
}
