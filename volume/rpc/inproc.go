package rpc

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
)

// Inproc is the in-process bus of the all-in-one mode: a buffered queue per topic, consumers
// served round-robin, each message handled on its own goroutine.
type Inproc struct {
	log    *slog.Logger
	mu     sync.Mutex
	subs   map[string][]sub
	next   map[string]int
	seq    int
	closed bool
	wg     sync.WaitGroup
}

// NewInproc returns an empty in-process bus.
func NewInproc(log *slog.Logger) *Inproc {
	return &Inproc{log: log, subs: map[string][]sub{}, next: map[string]int{}}
}

type sub struct {
	id int
	h  Handler
}

// Cast delivers the message to one subscriber of topic, asynchronously. With no subscriber the
// message is dropped (as with a queue nobody consumes, the workflow sweeper picks the work up).
func (b *Inproc) Cast(ctx context.Context, topic, method string, args any) error {
	raw, err := json.Marshal(args)
	if err != nil {
		return err
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	hs := b.subs[topic]
	if len(hs) == 0 {
		b.mu.Unlock()
		b.log.Warn("rpc: no consumer", "topic", topic, "method", method)
		return nil
	}
	h := hs[b.next[topic]%len(hs)].h
	b.next[topic]++
	b.wg.Add(1)
	b.mu.Unlock()
	go func() {
		defer b.wg.Done()
		if err := h(context.WithoutCancel(ctx), method, raw); err != nil {
			b.log.Error("rpc: handler failed", "topic", topic, "method", method, "err", err)
		}
	}()
	return nil
}

// Subscribe adds h to topic until ctx ends.
func (b *Inproc) Subscribe(ctx context.Context, topic string, h Handler) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	b.seq++
	id := b.seq
	b.subs[topic] = append(b.subs[topic], sub{id: id, h: h})
	b.mu.Unlock()
	go func() {
		<-ctx.Done()
		b.mu.Lock()
		defer b.mu.Unlock()
		var keep []sub
		for _, s := range b.subs[topic] {
			if s.id != id {
				keep = append(keep, s)
			}
		}
		b.subs[topic] = keep
	}()
	return nil
}

// Close refuses new casts and waits for handlers in flight.
func (b *Inproc) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.wg.Wait()
	return nil
}
