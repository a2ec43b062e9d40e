package api

import (
	"context"
	"errors"

	"github.com/dlvm-project/dlvm/model"
)

// VolumeHealth returns a volume's health for operators (admin only): every leg (and replacement
// being resynced) with its dpv and
// whether that dpv is heartbeating, the worst state the hosts assembling the volume report for
// it, and the derived status (healthy, resyncing, degraded, failed; unknown when no host
// assembles it). A volume nobody assembles but with a leg on a dpv that stopped heartbeating
// is degraded (or failed when a whole group is down).
func (a *API) VolumeHealth(ctx context.Context, c Caller, id string) (*model.VolumeHealth, error) {
	if err := requireAdmin(c); err != nil {
		return nil, err
	}
	st := a.db.Store()
	v, err := getVolume(ctx, st, c, id)
	if err != nil {
		return nil, err
	}
	legs, err := st.ListVolumeLegsWithReplacements(ctx, v.ID)
	if err != nil {
		return nil, err
	}
	reports, err := st.ListLegHealth(ctx, v.ID)
	if err != nil {
		return nil, err
	}
	out := &model.VolumeHealth{VolumeID: v.ID, Legs: model.MergeLegHealth(legs, reports)}
	out.Status = model.DeriveHealth(out.Legs)
	now := a.opts.Now()
	replaced := map[string]bool{} // legs whose replacement is being filled: out of service already
	for _, l := range legs {
		if l.OwnerKind == model.OwnerReplacement {
			replaced[l.SourceLegID] = true
		}
	}
	downs := make([]model.LegReport, len(out.Legs))
	for i := range out.Legs {
		l := &out.Legs[i]
		l.DPVState = "down"
		if p, err := st.GetDPV(ctx, l.DPVID); err == nil {
			l.DPVState = p.State
			if now.Sub(p.HeartbeatAt) > a.opts.HeartbeatTimeout {
				l.DPVState = "down"
			}
		} else if !errors.Is(err, model.ErrNotFound) {
			return nil, err
		}
		// What the dpvs alone say: a leg on a dead dpv is out of service whatever was reported.
		downs[i] = *l
		downs[i].State = model.LegStateOK
		switch {
		case replaced[l.LegID]:
			downs[i].State = ""
		case l.DPVState == "down":
			downs[i].State = model.LegStateFailed
		}
	}
	if byDPV := model.DeriveHealth(downs); worseHealth(byDPV, out.Status) {
		out.Status = byDPV
	}
	// A replacement is not done until it has taken the old leg's place: until then the volume
	// is at best resyncing, even when the hosts already report the new leg in sync.
	if len(replaced) > 0 && out.Status == model.HealthHealthy {
		out.Status = model.HealthResyncing
	}
	return out, nil
}

// worseHealth reports whether volume health a is worse than b.
func worseHealth(a, b string) bool { return healthRank(a) > healthRank(b) }

func healthRank(s string) int {
	switch s {
	case model.HealthFailed:
		return 4
	case model.HealthDegraded:
		return 3
	case model.HealthResyncing:
		return 2
	case model.HealthHealthy:
		return 1
	}
	return 0
}
