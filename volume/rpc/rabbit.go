package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// DefaultExchange is the durable topic exchange every dlvm message goes through unless
// RabbitOptions.Exchange ([DEFAULT] control_exchange) names another; each topic is a durable
// queue "<exchange>.<topic>" bound to it with the topic as routing key, so deployments (or test
// runs) sharing one broker and vhost stay apart by exchange name.
const DefaultExchange = "dlvm"

// RabbitOptions configures the RabbitMQ transport.
type RabbitOptions struct {
	URLs      []string      // amqp://user:pass@host:port/vhost, tried in order on (re)connect
	Exchange  string        // control exchange (default DefaultExchange); prefixes the queue names
	Heartbeat time.Duration // AMQP heartbeat (default 10 s)
	Log       *slog.Logger
}

// Rabbit is the RabbitMQ transport: durable queues, publisher confirms, manual acks, and
// reconnection with jittered exponential backoff. Safe for concurrent use.
//
// Messages are transient (delivery mode 1): they only wake a service, the work is in the
// database, and the volume manager's sweep casts a pending workflow again when its message was
// lost, so the broker need not write each one to disk before confirming it. A broker restart
// drops what was queued; the durable queues stay.
type Rabbit struct {
	opts RabbitOptions
	log  *slog.Logger

	mu     sync.Mutex
	conn   *amqp.Connection
	pub    *amqp.Channel // publishing channel in confirm mode
	closed bool
	subs   []*rabbitSub
	pubMu  sync.Mutex // guards declared and the declare-then-publish sequence on the channel
	// declared are the topics whose queue this process declared on declCh (the publishing
	// channel; a reconnect brings a new one and they are declared again there)
	declared map[string]bool
	declCh   *amqp.Channel
	wg       sync.WaitGroup
}

// consumerParallelism is how many messages of one subscription are handled at once.
const consumerParallelism = 8

type rabbitSub struct {
	ctx   context.Context
	topic string
	h     Handler
}

// DialRabbit connects (retrying until ctx ends) and declares the exchange.
func DialRabbit(ctx context.Context, opts RabbitOptions) (*Rabbit, error) {
	if len(opts.URLs) == 0 {
		return nil, errors.New("rpc: rabbit: no URL")
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = 10 * time.Second
	}
	if opts.Exchange == "" {
		opts.Exchange = DefaultExchange
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	r := &Rabbit{opts: opts, log: opts.Log}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := r.reconnect(dctx); err != nil {
		return nil, err
	}
	return r, nil
}

// reconnect dials until it succeeds or ctx ends, then restarts every consumer.
func (r *Rabbit) reconnect(ctx context.Context) error {
	backoff := 200 * time.Millisecond
	for attempt := 0; ; attempt++ {
		url := r.opts.URLs[attempt%len(r.opts.URLs)]
		conn, err := amqp.DialConfig(url, amqp.Config{Heartbeat: r.opts.Heartbeat, Locale: "en_US"})
		if err == nil {
			if err = r.setup(conn); err == nil {
				return nil
			}
			conn.Close()
		}
		if errors.Is(err, ErrClosed) {
			return err
		}
		r.log.Warn("rpc: rabbit connect failed", "attempt", attempt+1, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("rpc: rabbit: %w (last error: %v)", ctx.Err(), err)
		case <-time.After(backoff + rand.N(backoff/2)):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

func (r *Rabbit) setup(conn *amqp.Connection) error {
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	if err := ch.ExchangeDeclare(r.opts.Exchange, "topic", true, false, false, false, nil); err != nil {
		return err
	}
	if err := ch.Confirm(false); err != nil {
		return err
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		conn.Close()
		return ErrClosed
	}
	r.conn, r.pub = conn, ch
	subs := append([]*rabbitSub(nil), r.subs...)
	r.mu.Unlock()
	for _, s := range subs {
		if s.ctx.Err() == nil {
			if err := r.consume(conn, s); err != nil {
				return err
			}
		}
	}
	// Watch the connection; on loss, reconnect in the background.
	notify := conn.NotifyClose(make(chan *amqp.Error, 1))
	go func() {
		err := <-notify
		r.mu.Lock()
		closed := r.closed
		r.mu.Unlock()
		if closed {
			return
		}
		r.log.Warn("rpc: rabbit connection lost, reconnecting", "err", err)
		if rerr := r.reconnect(context.Background()); rerr != nil {
			r.log.Error("rpc: rabbit reconnect gave up", "err", rerr)
		}
	}()
	return nil
}

// queue is the durable queue of topic.
func (r *Rabbit) queue(topic string) string { return r.opts.Exchange + "." + topic }

func (r *Rabbit) declareQueue(ch *amqp.Channel, topic string) error {
	if _, err := ch.QueueDeclare(r.queue(topic), true, false, false, false, amqp.Table{"x-queue-type": "classic"}); err != nil {
		return err
	}
	return ch.QueueBind(r.queue(topic), topic, r.opts.Exchange, false, nil)
}

// Cast publishes a persistent message and waits for the broker's confirm. On a broken
// connection it waits for the reconnect (bounded by ctx).
func (r *Rabbit) Cast(ctx context.Context, topic, method string, args any) error {
	raw, err := json.Marshal(envelope{Method: method, Args: mustRaw(args)})
	if err != nil {
		return err
	}
	for {
		r.mu.Lock()
		closed, ch := r.closed, r.pub
		r.mu.Unlock()
		if closed {
			return ErrClosed
		}
		err := r.publish(ctx, ch, topic, raw)
		if err == nil {
			return nil
		}
		r.log.Warn("rpc: rabbit publish failed, retrying", "topic", topic, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("rpc: cast %s.%s: %w", topic, method, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// publish sends body to topic on ch and waits for the broker's confirm. The topic's queue is
// declared (and bound) once per channel, before its first message; the confirms of concurrent
// publishes are awaited concurrently (the channel numbers them), not one publish at a time.
func (r *Rabbit) publish(ctx context.Context, ch *amqp.Channel, topic string, body []byte) error {
	conf, err := r.send(ctx, ch, topic, body)
	if err != nil {
		return err
	}
	ok, err := conf.WaitContext(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return errors.New("broker nacked the message")
	}
	return nil
}

func (r *Rabbit) send(ctx context.Context, ch *amqp.Channel, topic string, body []byte) (*amqp.DeferredConfirmation, error) {
	r.pubMu.Lock()
	defer r.pubMu.Unlock()
	if ch == nil || ch.IsClosed() {
		return nil, errors.New("channel closed")
	}
	if r.declCh != ch {
		r.declCh, r.declared = ch, map[string]bool{}
	}
	if !r.declared[topic] {
		if err := r.declareQueue(ch, topic); err != nil {
			return nil, err
		}
		r.declared[topic] = true
	}
	return ch.PublishWithDeferredConfirmWithContext(ctx, r.opts.Exchange, topic, true, false, amqp.Publishing{
		ContentType: "application/json", DeliveryMode: amqp.Transient, Body: body, Timestamp: time.Now(),
	})
}

type envelope struct {
	Method string          `json:"method"`
	Args   json.RawMessage `json:"args"`
}

func mustRaw(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage("null")
	}
	return b
}

// Subscribe consumes topic's durable queue until ctx ends; it survives reconnects.
func (r *Rabbit) Subscribe(ctx context.Context, topic string, h Handler) error {
	s := &rabbitSub{ctx: ctx, topic: topic, h: h}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return ErrClosed
	}
	r.subs = append(r.subs, s)
	conn := r.conn
	r.mu.Unlock()
	return r.consume(conn, s)
}

func (r *Rabbit) consume(conn *amqp.Connection, s *rabbitSub) error {
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	if err := r.declareQueue(ch, s.topic); err != nil {
		return err
	}
	if err := ch.Qos(consumerParallelism, 0, false); err != nil {
		return err
	}
	deliveries, err := ch.Consume(r.queue(s.topic), "", false, false, false, false, nil)
	if err != nil {
		return err
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer ch.Close()
		for {
			select {
			case <-s.ctx.Done():
				return
			case d, ok := <-deliveries:
				if !ok {
					return // channel gone: reconnect starts a new consumer
				}
				var env envelope
				if err := json.Unmarshal(d.Body, &env); err != nil {
					r.log.Error("rpc: dropping malformed message", "topic", s.topic, "err", err)
					_ = d.Ack(false)
					continue
				}
				// Handlers are idempotent and the workflow sweeper retries failures, so a
				// message is acknowledged once handled, whatever the outcome. Up to
				// consumerParallelism handlers run at once (the prefetch window).
				r.wg.Add(1)
				go func(d amqp.Delivery, env envelope) {
					defer r.wg.Done()
					if err := s.h(s.ctx, env.Method, env.Args); err != nil {
						r.log.Error("rpc: handler failed", "topic", s.topic, "method", env.Method, "err", err)
					}
					_ = d.Ack(false)
				}(d, env)
			}
		}
	}()
	return nil
}

// Close stops consumers and closes the connection. Idempotent.
func (r *Rabbit) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	conn := r.conn
	r.mu.Unlock()
	var err error
	if conn != nil {
		err = conn.Close()
	}
	r.wg.Wait()
	return err
}
