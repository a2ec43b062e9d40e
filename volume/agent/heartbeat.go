package agent

import (
	"context"
	"log/slog"
	"time"

	"github.com/dlvm-project/dlvm/volume/pool"
	"github.com/dlvm-project/dlvm/volume/rpc"
)

// Caster sends one-way messages on the bus (rpc.Bus satisfies it).
type Caster interface {
	// Cast sends method with args to one consumer of topic; it returns once the transport
	// accepted it. Not idempotent, but heartbeats may be lost or repeated harmlessly.
	Cast(ctx context.Context, topic, method string, args any) error
}

// CapacitySource is the part of a pool the heartbeat reads.
type CapacitySource interface {
	// Capacity reports the pool's Total and Free bytes; read-only.
	Capacity(ctx context.Context) (pool.Stats, error)
	// Type is the pool type ("file" or "lvm").
	Type() string
}

// RunHeartbeat casts rpc.MethodDPVHeartbeat to rpc.TopicVolume at once and then every
// interval until ctx ends, each time a copy of hb with the pool's fresh Total/Free bytes (and
// PoolType when hb leaves it empty). Failures are logged and retried at the next tick. It
// returns ctx's error.
func RunHeartbeat(ctx context.Context, p CapacitySource, caster Caster, hb rpc.DPVHeartbeat, interval time.Duration, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if hb.PoolType == "" {
		hb.PoolType = p.Type()
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		beat(ctx, p, caster, hb, log)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func beat(ctx context.Context, p CapacitySource, caster Caster, hb rpc.DPVHeartbeat, log *slog.Logger) {
	st, err := p.Capacity(ctx)
	if err != nil {
		if ctx.Err() == nil {
			log.Warn("dpv heartbeat: pool stats", "dpv", hb.Name, "err", err)
		}
		return
	}
	hb.TotalBytes, hb.FreeBytes = st.TotalBytes, st.FreeBytes
	if err := caster.Cast(ctx, rpc.TopicVolume, rpc.MethodDPVHeartbeat, hb); err != nil && ctx.Err() == nil {
		log.Warn("dpv heartbeat: cast", "dpv", hb.Name, "err", err)
	}
}
