package userspace

import (
	"context"
	"time"

	"github.com/dlvm-project/dlvm/connector/assemble"
	"github.com/dlvm-project/dlvm/connector/iscsi"
)

// rejoin watches a volume's mirrors until it is detached: a failed leg is dialled again every
// RejoinInterval, and once its target answers (its dpv or tgtd is back) the leg rejoins its
// mirror through ReplaceLeg with full=false, so only the regions written while it was away are
// copied to it while I/O goes on — unless it is a replacement leg that never finished its first
// full resync, which is copied in full again.
func (e *Engine) rejoin(v *volume) {
	t := time.NewTicker(e.opts.RejoinInterval)
	defer t.Stop()
	for {
		select {
		case <-v.stop:
			return
		case <-t.C:
		}
		for g, m := range v.groups {
			if m == nil {
				continue
			}
			for i, st := range m.Health() {
				if st == assemble.LegFailed {
					e.tryRejoin(v, m, g, i)
				}
			}
		}
	}
}

func (e *Engine) tryRejoin(v *volume, m *assemble.Mirror, g, i int) {
	v.mu.Lock()
	l := v.slot(g, i)
	var full bool
	if l != nil {
		full = l.full
	}
	v.mu.Unlock()
	if l == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), e.opts.RejoinInterval+3*time.Second)
	s, err := iscsi.Dial(ctx, e.target(l.plan), e.opts.ISCSI)
	cancel()
	if err != nil {
		return // still away; try again next tick
	}
	select {
	case <-v.stop:
		_ = s.Close()
		return
	default:
	}
	// ReplaceLeg closes the device that held the slot (the old, broken session).
	if err := m.ReplaceLeg(i, s, full); err != nil {
		_ = s.Close()
		e.log.Warn("leg answered again but could not rejoin", "volume_id", v.plan.VolumeID, "leg_id", l.plan.LegID, "err", err)
		return
	}
	v.mu.Lock()
	l.session, l.state, l.err = s, "resyncing", nil
	v.mu.Unlock()
	e.log.Info("leg is back; resyncing the regions written while it was away", "volume_id", v.plan.VolumeID, "leg_id", l.plan.LegID)
}
