package userspace

import (
	"context"
	"fmt"

	"github.com/dlvm-project/dlvm/connector"
	"github.com/dlvm-project/dlvm/connector/assemble"
	"github.com/dlvm-project/dlvm/connector/iscsi"
)

// Extend grows an attached volume after its legs grew: every session re-reads its capacity, the
// mirrors and the stripe grow, and the exports are resized.
func (e *Engine) Extend(ctx context.Context, p connector.Plan) error {
	v, err := e.get(p.VolumeID)
	if err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, l := range v.legs {
		if err := rescan(ctx, l.session); err != nil {
			return fmt.Errorf("leg %s: %w", l.plan.LegID, err)
		}
	}
	for g, m := range v.groups {
		if m == nil {
			continue
		}
		size := int64(-1)
		for _, l := range v.legs {
			if l.plan.Group == g && (size < 0 || l.session.Size() < size) {
				size = l.session.Size()
			}
		}
		if err := m.Grow(size); err != nil {
			return err
		}
	}
	if st, ok := v.top.(*assemble.Stripe); ok {
		if _, err := st.Grow(); err != nil {
			return err
		}
	}
	v.plan.SizeBytes = p.SizeBytes
	v.win.resize(p.SizeBytes)
	if v.loop != nil {
		return v.loop.Resize(ctx)
	}
	return nil
}

// ReplaceLeg logs in to a new leg and resyncs it into the failed leg's place while I/O goes on.
// Idempotent: a volume that already has the new leg is success. When old is no longer in the
// volume (replaced by an earlier, abandoned attempt), the leg now in nl's slot (Group, Mirror)
// is replaced instead.
func (e *Engine) ReplaceLeg(ctx context.Context, volumeID, old string, nl connector.PlanLeg) error {
	v, err := e.get(volumeID)
	if err != nil {
		return err
	}
	v.mu.Lock()
	if _, done := v.legs[nl.LegID]; done && nl.LegID != old {
		v.mu.Unlock()
		return nil
	}
	ol, ok := v.legs[old]
	if !ok {
		ol = v.slot(nl.Group, nl.Mirror)
	}
	v.mu.Unlock()
	if ol == nil {
		return fmt.Errorf("userspace: volume %s has no leg %s", volumeID, old)
	}
	m := v.groups[ol.plan.Group]
	if m == nil {
		return fmt.Errorf("userspace: leg %s is not mirrored; it cannot be replaced online", old)
	}
	s, err := iscsi.Dial(ctx, e.target(nl), e.opts.ISCSI)
	if err != nil {
		return fmt.Errorf("new leg %s: %w", nl.LegID, err)
	}
	// A leg that comes back under its own id only needs the regions written while it was away.
	// A new leg holds nothing yet: until its first full resync ends, a rejoin after a failure
	// must copy every region again, not only the dirty ones. It takes the slot before the
	// mirror starts the resync, so the resync's end is recorded on it.
	full := nl.LegID != ol.plan.LegID
	nl.Group, nl.Mirror = ol.plan.Group, ol.plan.Mirror
	v.mu.Lock()
	delete(v.legs, ol.plan.LegID)
	v.legs[nl.LegID] = &leg{plan: nl, session: s, state: "resyncing", full: full}
	v.mu.Unlock()
	if err := m.ReplaceLeg(ol.plan.Mirror, s, full); err != nil {
		_ = s.Close()
		v.mu.Lock()
		delete(v.legs, nl.LegID)
		v.legs[ol.plan.LegID] = ol
		v.mu.Unlock()
		return err
	}
	// The mirror closed the device that held the slot (the old session).
	e.log.Info("leg replaced; full resync started", "volume_id", volumeID, "old_leg_id", ol.plan.LegID, "leg_id", nl.LegID)
	return nil
}

// slot returns the leg in group g, mirror i, or nil. Call with v.mu held.
func (v *volume) slot(g, i int) *leg {
	for _, l := range v.legs {
		if l.plan.Group == g && l.plan.Mirror == i {
			return l
		}
	}
	return nil
}

// Health reports each leg's state.
func (e *Engine) Health(ctx context.Context, volumeID string) ([]connector.LegHealth, error) {
	v, err := e.get(volumeID)
	if err != nil {
		return nil, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make([]connector.LegHealth, 0, len(v.legs))
	for _, l := range v.legs {
		h := connector.LegHealth{LegID: l.plan.LegID, State: l.state}
		if m := v.groups[l.plan.Group]; m != nil {
			if st := m.Health(); l.plan.Mirror < len(st) {
				h.State = st[l.plan.Mirror].String()
			}
			h.DirtyRegions = m.DirtyRegions()
		}
		if l.err != nil {
			h.Message = l.err.Error()
		}
		out = append(out, h)
	}
	return out, nil
}

// Quiesce pauses new I/O and drains what is in flight.
func (e *Engine) Quiesce(ctx context.Context, volumeID string) (func(), error) {
	v, err := e.get(volumeID)
	if err != nil {
		return nil, err
	}
	return v.gate.Quiesce(ctx)
}

// rescan makes a session re-read its LUN's capacity after the leg grew.
func rescan(ctx context.Context, s *iscsi.Session) error { return s.Rescan(ctx) }
