package iscsi

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dlvm-project/dlvm/connector/blockdev"
)

// connDown runs when c's reader stops: it waits for c's writer, moves c's tasks back to the
// session and starts reconnecting.
func (s *Session) connDown(c *conn, cause error) {
	s.mu.Lock()
	c.dead = true
	s.cond.Broadcast()
	s.mu.Unlock()
	c.nc.Close()
	<-c.writerDone

	s.mu.Lock()
	defer s.mu.Unlock()
	defer close(c.readerDone)
	c.waitEnd++
	for c.writing { // a submitter still in drain: let it finish with the task buffers
		s.cond.Wait()
	}
	c.waitEnd--
	var ts []*task
	for _, t := range c.tasks {
		ts = append(ts, t)
	}
	clear(c.tasks)
	if s.c == c {
		s.c = nil
	}
	if s.state == stClosed || s.aborted {
		for _, t := range ts {
			t.finish(blockdev.ErrClosed)
		}
		return
	}
	if !errors.Is(cause, errLoggedOut) {
		s.log.Warn("iscsi connection lost", "err", cause, "outstanding", len(ts))
	}
	for _, t := range ts {
		t.requeues++
		if t.requeues > maxRequeues {
			t.finish(fmt.Errorf("%w: command resent %d times", blockdev.ErrIO, maxRequeues))
			continue
		}
		s.pending = append(s.pending, t)
	}
	if s.state == stConnected {
		s.state = stReconnecting
		s.lostAt = time.Now()
		s.bg.Add(1)
		go s.reconnect()
	}
}

// reconnect logs in again (same ISID, TSIH 0: session reinstatement at ERL 0) until it works
// or the session closes, failing queued I/O once ReconnectTimeout has passed.
func (s *Session) reconnect() {
	defer s.bg.Done()
	backoff := 50 * time.Millisecond
	for {
		s.mu.Lock()
		lostAt := s.lostAt
		s.mu.Unlock()
		wait := s.opts.ReconnectTimeout - time.Since(lostAt)
		ctx, cancel := context.WithTimeout(context.Background(), max(wait, 2*time.Second))
		go func() {
			select {
			case <-s.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		c, err := s.connect(ctx)
		cancel()

		s.mu.Lock()
		if s.state == stClosed {
			s.mu.Unlock()
			if c != nil {
				c.nc.Close()
			}
			return
		}
		if err == nil {
			s.log.Info("iscsi session reconnected", "down_for", time.Since(lostAt).Round(time.Millisecond),
				"resending", len(s.pending))
			s.c, s.state = c, stConnected
			for _, t := range s.pending {
				c.enqueue(t)
			}
			clear(s.pending)
			s.pending = s.pending[:0]
			c.start()
			s.mu.Unlock()
			return
		}
		if s.state == stReconnecting && time.Since(lostAt) >= s.opts.ReconnectTimeout {
			s.log.Error("iscsi session down, failing I/O", "err", err, "failed", len(s.pending))
			s.state = stFailed
			for _, t := range s.pending {
				t.finish(fmt.Errorf("%w: no iscsi session to %s for %v: %v", blockdev.ErrIO,
					s.target.IQN, s.opts.ReconnectTimeout, err))
			}
			clear(s.pending)
			s.pending = s.pending[:0]
		}
		s.mu.Unlock()
		s.log.Debug("iscsi reconnect failed", "err", err)
		select {
		case <-s.stop:
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

// monitor pings idle connections and drops connections whose pings or commands time out.
func (s *Session) monitor() {
	defer s.bg.Done()
	tick := min(time.Second, s.opts.PingInterval/2)
	tk := time.NewTicker(tick)
	defer tk.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tk.C:
		}
		now := time.Now()
		var kill *conn
		s.mu.Lock()
		if c := s.c; c != nil && !c.dead {
			for _, t := range c.tasks {
				if now.Sub(t.queuedAt) > s.opts.IOTimeout {
					s.log.Warn("iscsi command timed out, dropping connection", "itt", t.itt)
					kill = c
					break
				}
			}
			switch {
			case c.pingITT != reservedTag && now.Sub(c.pingAt) > s.opts.PingInterval:
				s.log.Warn("iscsi ping timed out, dropping connection")
				kill = c
			case c.pingITT == reservedTag && now.Sub(c.lastRecv) > s.opts.PingInterval:
				c.pingITT = c.allocITT()
				c.pingAt = now
				c.ctrlq = append(c.ctrlq, nopOutPDU(c.pingITT, reservedTag, 0, nil))
				s.cond.Broadcast()
			}
		}
		s.mu.Unlock()
		if kill != nil {
			kill.nc.Close()
		}
	}
}
