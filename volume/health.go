package volume

import (
	"context"

	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume/rpc"
)

// RecordLegHealth stores a connector daemon's leg report (the host's full view: volumes it
// no longer reports are forgotten for that host). Legs that are no longer part of their volume
// (replaced meanwhile) are ignored; replacements being filled are kept. A volume whose health changes is logged, as a warning when
// it is worse than healthy.
func (m *Manager) RecordLegHealth(ctx context.Context, r rpc.LegHealthReport) error {
	st := m.db.Store()
	var rows []*model.LegHealth
	for _, v := range r.Volumes {
		// A replacement being resynced is reported by the hosts before it joins the volume.
		legs, err := st.ListVolumeLegsWithReplacements(ctx, v.VolumeID)
		if err != nil {
			return err
		}
		known := map[string]*model.Leg{}
		for _, l := range legs {
			known[l.ID] = l
		}
		before, err := st.ListLegHealth(ctx, v.VolumeID)
		if err != nil {
			return err
		}
		var now []*model.LegHealth
		for _, l := range v.Legs {
			if known[l.LegID] == nil {
				continue
			}
			now = append(now, &model.LegHealth{LegID: l.LegID, VolumeID: v.VolumeID, State: l.State,
				DirtyRegions: l.DirtyRegions, Message: l.Message})
		}
		rows = append(rows, now...)
		was, is := healthOf(legs, before, r.Host, nil), healthOf(legs, before, r.Host, now)
		if was != is {
			log := m.log.With("volume_id", v.VolumeID, "host", r.Host, "health", is, "was", was)
			if is == model.HealthHealthy {
				log.Info("volume health changed")
			} else {
				log.Warn("volume health changed")
			}
		}
	}
	return st.SetHostLegHealth(ctx, r.Host, rows)
}

// healthOf derives a volume's health from the stored reports, with host's reports replaced by
// now when now is not nil.
func healthOf(legs []*model.Leg, stored []*model.LegHealth, host string, now []*model.LegHealth) string {
	var reports []*model.LegHealth
	for _, h := range stored {
		if now == nil || h.Host != host {
			reports = append(reports, h)
		}
	}
	reports = append(reports, now...)
	return model.DeriveHealth(model.MergeLegHealth(legs, reports))
}
