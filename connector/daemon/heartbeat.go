package daemon

import (
	"context"
	"log/slog"
	"time"
)

// Caster sends one-way messages on the bus (the server's rpc.Bus satisfies it; this package
// does not import it).
type Caster interface {
	// Cast sends method with args to one consumer of topic; heartbeats may be lost or
	// repeated harmlessly.
	Cast(ctx context.Context, topic, method string, args any) error
}

// Report is what the heartbeat says about this host; its JSON is the volume manager's
// ihost_heartbeat message (rpc.IHostHeartbeat).
type Report struct {
	Host      string `json:"host"`
	URL       string `json:"url"`
	Initiator string `json:"initiator"`
}

// HeartbeatOptions says where heartbeats go. cmd fills Topic and Method with rpc.TopicVolume
// and rpc.MethodIHostHeartbeat.
type HeartbeatOptions struct {
	Topic    string
	Method   string
	Interval time.Duration // default 10 s
}

// RunHeartbeat casts r at once and then every interval until ctx ends; failures are logged and
// retried at the next tick. It returns ctx's error.
func RunHeartbeat(ctx context.Context, c Caster, r Report, opts HeartbeatOptions, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Interval <= 0 {
		opts.Interval = 10 * time.Second
	}
	t := time.NewTicker(opts.Interval)
	defer t.Stop()
	for {
		if err := c.Cast(ctx, opts.Topic, opts.Method, r); err != nil && ctx.Err() == nil {
			log.Warn("connector heartbeat: cast", "host", r.Host, "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
