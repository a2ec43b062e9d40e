package volume

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume/rpc"
	"github.com/dlvm-project/dlvm/volume/target"
)

// WatchLegs runs the manager's leg upkeep once (the sweeper calls it): a replace_leg workflow
// for every leg of a mirrored volume whose dpv is draining or has been silent longer than
// LegReplaceAfter (one
// at a time per leg, and only while another leg of its group can serve the bytes), and the
// deletion of retired legs from dpvs that answer again.
func (m *Manager) WatchLegs(ctx context.Context) {
	if err := m.replaceLostLegs(ctx); err != nil {
		m.log.Warn("leg watch: replacing lost legs", "err", err)
	}
	if err := m.deleteRetiredLegs(ctx); err != nil {
		m.log.Warn("leg watch: deleting retired legs", "err", err)
	}
}

func (m *Manager) replaceLostLegs(ctx context.Context) error {
	st := m.db.Store()
	dpvs, err := st.ListDPVs(ctx, "")
	if err != nil {
		return err
	}
	now := time.Now()
	alive := map[string]bool{}
	var lost []*model.DPV
	for _, p := range dpvs {
		age := now.Sub(p.HeartbeatAt)
		alive[p.ID] = age <= m.opts.HeartbeatTimeout && p.State != "down"
		// Legs leave a dpv silent too long (unless leg_replace_after is 0), and a draining one at
		// once (an operator's `dlvm dpv drain`).
		if (m.opts.LegReplaceAfter > 0 && age > m.opts.LegReplaceAfter) || p.State == model.DPVDraining {
			lost = append(lost, p)
		}
	}
	if len(lost) == 0 {
		return nil
	}
	wfs, err := st.ListUnfinishedWorkflows(ctx)
	if err != nil {
		return err
	}
	replacing := map[string]bool{}
	for _, w := range wfs {
		if w.Kind == model.WfReplaceLeg {
			var p ReplaceParams
			_ = json.Unmarshal(w.Params, &p)
			replacing[p.OldLegID] = true
		}
	}
	for _, p := range lost {
		legs, err := st.ListLegsOnDPV(ctx, p.ID)
		if err != nil {
			return err
		}
		for _, l := range legs {
			if l.OwnerKind != model.OwnerVolume || l.Status != model.LegAvailable || replacing[l.ID] {
				continue
			}
			v, err := st.GetVolume(ctx, l.OwnerID)
			if errors.Is(err, model.ErrNotFound) {
				continue
			} else if err != nil {
				return err
			}
			if v.Layout.Mirrors < 2 || busyStatuses[v.Status] {
				continue
			}
			if !m.groupServes(ctx, v.ID, l, alive) {
				m.log.Warn("leg lost with no live mirror to rebuild it from", "volume_id", v.ID, "leg_id", l.ID, "dpv_id", p.ID)
				continue
			}
			params, _ := json.Marshal(ReplaceParams{OldLegID: l.ID})
			w := &model.Workflow{ID: uuid.NewString(), Kind: model.WfReplaceLeg, VolumeID: v.ID, State: model.WfPending, Params: params}
			// The workflow and the owner's user message (the volume is degraded until the new
			// leg is in) are written together.
			if err := m.db.InTx(ctx, func(s *db.Store) error {
				if err := s.CreateWorkflow(ctx, w); err != nil {
					return err
				}
				return m.addMessage(ctx, s, v.ProjectID, model.MsgResourceVolume, v.ID, model.ActionReplaceLeg, model.DetailLegLostDPV)
			}); err != nil {
				return err
			}
			replacing[l.ID] = true
			m.log.Warn("replacing a leg of a lost or draining dpv", "dpv_id", p.ID, "dpv_state", p.State,
				"silent_for", now.Sub(p.HeartbeatAt).Round(time.Second), "volume_id", v.ID, "leg_id", l.ID, "workflow_id", w.ID)
			_ = m.bus.Cast(ctx, rpc.TopicVolume, rpc.MethodRunWorkflow, rpc.WorkflowRef{WorkflowID: w.ID})
		}
	}
	return nil
}

// busyStatuses are volume statuses whose own workflow changes the legs: no replacement then.
var busyStatuses = map[string]bool{model.StatusCreating: true, model.StatusDeleting: true,
	model.StatusExtending: true, model.StatusErrorDeleting: true}

// groupServes reports whether another leg of l's group sits on a live dpv.
func (m *Manager) groupServes(ctx context.Context, volumeID string, l *model.Leg, alive map[string]bool) bool {
	legs, err := m.db.Store().ListLegs(ctx, volumeID)
	if err != nil {
		return false
	}
	for _, o := range legs {
		if o.ID != l.ID && o.Group == l.Group && alive[o.DPVID] {
			return true
		}
	}
	return false
}

// deleteRetiredLegs deletes replaced legs from their dpvs once those answer again.
func (m *Manager) deleteRetiredLegs(ctx context.Context) error {
	st := m.db.Store()
	legs, err := st.ListLegsByKind(ctx, model.OwnerRetired)
	if err != nil {
		return err
	}
	dpvs := map[string]*model.DPV{}
	for _, l := range legs {
		p, err := st.GetDPV(ctx, l.DPVID)
		if err == nil && time.Since(p.HeartbeatAt) > m.opts.HeartbeatTimeout {
			continue // still away
		}
		if err == nil {
			ag, aerr := m.agentFor(ctx, dpvs, l.DPVID)
			if aerr == nil {
				aerr = ag.DeleteLeg(ctx, l.ID)
			}
			if aerr != nil {
				m.log.Warn("retired leg not deleted yet", "leg_id", l.ID, "dpv_id", l.DPVID, "err", aerr)
				continue
			}
		} else if !errors.Is(err, model.ErrNotFound) {
			return err
		}
		l.Status = model.LegDeleted
		if err := st.UpdateLeg(ctx, l); err != nil {
			return err
		}
		m.log.Info("retired leg deleted from its dpv", "leg_id", l.ID, "dpv_id", l.DPVID)
	}
	return nil
}

// resyncExports hands a dpv that (re)started the exports the database knows for its legs:
// every leg of an attached volume, to the initiator of each host it is connected to, with the
// host's CHAP credentials. Legs of unattached volumes are not named (the agent leaves them).
func (m *Manager) resyncExports(ctx context.Context, p *model.DPV, log *slog.Logger) error {
	st := m.db.Store()
	legs, err := st.ListLegsOnDPV(ctx, p.ID)
	if err != nil {
		return err
	}
	var want []target.LegExports
	vols := map[string][]target.Access{}
	for _, l := range legs {
		if l.OwnerKind != model.OwnerVolume {
			continue
		}
		acc, ok := vols[l.OwnerID]
		if !ok {
			if acc, err = m.volumeAccess(ctx, l.OwnerID); err != nil {
				return err
			}
			vols[l.OwnerID] = acc
		}
		if len(acc) > 0 {
			want = append(want, target.LegExports{LegID: l.ID, Access: acc})
		}
	}
	if len(want) == 0 {
		return nil
	}
	ag, err := m.agentFor(ctx, map[string]*model.DPV{p.ID: p}, p.ID)
	if err != nil {
		return err
	}
	if err := ag.ResyncExports(ctx, want); err != nil {
		return err
	}
	log.Info("dpv exports rebuilt from the database", "dpv_id", p.ID, "legs", len(want))
	return nil
}

// volumeAccess returns who is allowed on a volume's legs: one access per connected attachment's
// host (the host's dlvm connector for assembled volumes, its own iSCSI stack otherwise).
func (m *Manager) volumeAccess(ctx context.Context, volumeID string) ([]target.Access, error) {
	st := m.db.Store()
	v, err := st.GetVolume(ctx, volumeID)
	if errors.Is(err, model.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	atts, err := st.ListAttachments(ctx, db.AttachmentQuery{VolumeID: volumeID})
	if err != nil {
		return nil, err
	}
	var out []target.Access
	seen := map[string]bool{}
	for _, a := range atts {
		if a.ConnectionInfo == nil || a.Host == "" {
			continue
		}
		var conn connectorDict
		_ = json.Unmarshal(a.Connector, &conn)
		ih, err := st.GetIHost(ctx, a.Host)
		if errors.Is(err, model.ErrNotFound) {
			continue
		} else if err != nil {
			return nil, err
		}
		initiator := firstNonEmpty(conn.Initiator, ih.Initiator)
		if driverKind(conn, v) == "local" {
			initiator = firstNonEmpty(ih.Initiator, conn.Initiator)
		}
		if initiator == "" || seen[initiator] {
			continue
		}
		seen[initiator] = true
		out = append(out, target.Access{InitiatorIQN: initiator, CHAPUser: ih.CHAPUser, CHAPSecret: ih.CHAPSecret})
	}
	return out, nil
}
