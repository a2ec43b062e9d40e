package volume

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/dlvm-project/dlvm/connector"
	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/scheduler"
	"github.com/dlvm-project/dlvm/volume/target"
)

// ReplaceParams are the parameters of a replace_leg workflow. NewLegID and NewDPVID are
// recorded by its first step, so a rerun fills the same new leg.
type ReplaceParams struct {
	OldLegID string `json:"old_leg_id"`
	NewLegID string `json:"new_leg_id,omitempty"`
	NewDPVID string `json:"new_dpv_id,omitempty"`
}

// Steps of replace_leg.
const (
	stepReplacePlace = 0 // a dpv chosen and the new leg's row written (OwnerReplacement)
	stepReplaceMake  = 1 // the new leg exists on its dpv
	stepReplaceFill  = 2 // the new leg holds the group's bytes (hosts resynced it, or copied)
	stepReplaceSwap  = 3 // the new leg is the volume's, the old one retired
)

// replaceLeg runs a replace_leg workflow: place a new leg for the lost one (another dpv of the
// volume's dvg, away from its mirrors), create it, fill it — every host assembling the volume
// swaps it into its mirror and resyncs it fully while I/O goes on, or, when no host assembles
// the volume, it is copied from a surviving mirror — then swap it in the database. The volume
// keeps its status throughout.
func (m *Manager) replaceLeg(ctx context.Context, w *model.Workflow, log *slog.Logger) error {
	var p ReplaceParams
	if err := json.Unmarshal(w.Params, &p); err != nil || p.OldLegID == "" {
		return model.Errorf(model.ErrInvalid, "bad replace_leg parameters")
	}
	st := m.db.Store()
	v, err := st.GetVolume(ctx, w.VolumeID)
	if errors.Is(err, model.ErrNotFound) {
		return m.finish(ctx, w, model.WfFailed, "volume no longer exists")
	} else if err != nil {
		return err
	}
	legs, err := st.ListLegs(ctx, v.ID)
	if err != nil {
		return err
	}
	var old *model.Leg
	var others []*model.Leg
	for _, l := range legs {
		if l.ID == p.OldLegID {
			old = l
		} else {
			others = append(others, l)
		}
	}
	if old == nil {
		if w.Step >= stepReplaceSwap || p.NewLegID != "" && containsLeg(legs, p.NewLegID) {
			return m.finish(ctx, w, model.WfDone, "") // swapped by an earlier run
		}
		return m.finish(ctx, w, model.WfFailed, "the leg to replace is no longer part of the volume")
	}
	log = log.With("old_leg_id", old.ID, "old_dpv_id", old.DPVID)

	if w.Step <= stepReplacePlace {
		if err := m.placeReplacement(ctx, w, &p, v, old, others, log); err != nil {
			return err
		}
	}
	nl := &model.Leg{ID: p.NewLegID, OwnerKind: model.OwnerReplacement, OwnerID: w.ID, Group: old.Group, Mirror: old.Mirror,
		DPVID: p.NewDPVID, SizeBytes: old.SizeBytes, SourceLegID: old.ID, Status: model.LegCreating}
	log = log.With("new_leg_id", nl.ID, "new_dpv_id", nl.DPVID)
	dpvs := map[string]*model.DPV{}
	if w.Step <= stepReplaceMake {
		ag, err := m.agentFor(ctx, dpvs, nl.DPVID)
		if err != nil {
			return err
		}
		if _, err := ag.CreateLeg(ctx, nl.ID, nl.SizeBytes); err != nil {
			return fmt.Errorf("create replacement leg %s: %w", nl.ID, err)
		}
		if err := m.advance(ctx, w, stepReplaceFill); err != nil {
			return err
		}
	}
	if w.Step <= stepReplaceFill {
		hosts, err := m.hostJobs(ctx, v, legs)
		if err != nil {
			return err
		}
		if len(hosts) > 0 {
			err = m.resyncOnHosts(ctx, w, hosts, old, nl, log)
		} else {
			err = m.copyFromMirror(ctx, dpvs, others, old, nl, log)
		}
		if err != nil {
			return err
		}
		if err := m.advance(ctx, w, stepReplaceSwap); err != nil {
			return err
		}
	}
	return m.db.InTx(ctx, func(s *db.Store) error {
		if err := s.SwapLeg(ctx, v.ID, old.ID, nl.ID); err != nil {
			return err
		}
		log.Info("leg replaced")
		return finishIn(ctx, s, w, model.WfDone, "")
	})
}

func containsLeg(legs []*model.Leg, id string) bool {
	for _, l := range legs {
		if l.ID == id {
			return true
		}
	}
	return false
}

// placeReplacement chooses the new leg's dpv by the scheduler's rules and records it with the
// new leg's row, in one transaction.
func (m *Manager) placeReplacement(ctx context.Context, w *model.Workflow, p *ReplaceParams, v *model.Volume,
	old *model.Leg, others []*model.Leg, log *slog.Logger) error {
	if p.NewLegID != "" {
		return nil
	}
	st := m.db.Store()
	state := scheduler.State{Now: time.Now().UTC(), HeartbeatTimeout: m.opts.HeartbeatTimeout}
	var err error
	if state.DVGs, err = st.ListDVGs(ctx); err != nil {
		return err
	}
	if state.DPVs, err = st.ListDPVs(ctx, ""); err != nil {
		return err
	}
	if state.Provisioned, err = st.ProvisionedBytesByDPV(ctx); err != nil {
		return err
	}
	dvg := v.DVGID
	if dvg == "" {
		if d, err := st.GetDPV(ctx, old.DPVID); err == nil {
			dvg = d.DVGID
		}
	}
	dpv, err := scheduler.PlaceReplacement(scheduler.ReplaceRequest{DVGID: dvg, SizeBytes: old.SizeBytes, Group: old.Group,
		Legs: others, Exclude: []string{old.DPVID}}, state)
	if err != nil {
		// Nowhere to go yet (every other dpv full or down): try again at a later sweep.
		return model.Wrap(model.ErrUnavailable, err, model.UserMessage(err))
	}
	p.NewLegID, p.NewDPVID = uuid.NewString(), dpv
	raw, _ := json.Marshal(p)
	return m.db.InTx(ctx, func(s *db.Store) error {
		if err := s.CreateLegs(ctx, []*model.Leg{{ID: p.NewLegID, OwnerKind: model.OwnerReplacement, OwnerID: w.ID,
			Group: old.Group, Mirror: old.Mirror, DPVID: dpv, SizeBytes: old.SizeBytes, SourceLegID: old.ID,
			Status: model.LegCreating}}); err != nil {
			return err
		}
		w.Params, w.Step = raw, stepReplaceMake
		log.Info("replacement leg placed", "new_leg_id", p.NewLegID, "new_dpv_id", dpv)
		return s.UpdateWorkflow(ctx, w)
	})
}

// resyncOnHosts exports the new leg to every host assembling the volume, has each swap it into
// the old leg's mirror slot (a full resync while I/O goes on), and waits until every host
// reports it in sync, touching the workflow meanwhile so no other manager takes it over.
func (m *Manager) resyncOnHosts(ctx context.Context, w *model.Workflow, hosts []*attachJob, old, nl *model.Leg, log *slog.Logger) error {
	type host struct {
		name string
		hc   HostConnector
	}
	var hs []host
	for _, j := range hosts {
		hc := m.connectorFor(j.ihost.URL)
		if hc == nil {
			return model.Errorf(model.ErrInvalid, "Host %s runs no dlvm connector to replace leg %s.", j.att.Host, old.ID)
		}
		pl, err := m.exportNewLeg(ctx, j, nl)
		if err != nil {
			return err
		}
		if err := hc.ReplaceLeg(ctx, j.vol.ID, old.ID, pl); err != nil {
			return hostErr(j.att.Host, err)
		}
		log.Info("host resyncing the replacement leg", "host", j.att.Host)
		hs = append(hs, host{j.att.Host, hc})
	}
	deadline := time.Now().Add(m.opts.ResyncTimeout)
	touched := time.Now()
	for {
		synced := true
		for _, h := range hs {
			legs, err := h.hc.Health(ctx, w.VolumeID)
			if err != nil {
				return hostErr(h.name, err)
			}
			state := ""
			for _, l := range legs {
				if l.LegID == nl.ID {
					state = l.State
				}
			}
			if state == model.LegStateFailed || state == "" {
				return model.Errorf(model.ErrUnavailable, "Host %s lost the replacement leg %s (%q).", h.name, nl.ID, state)
			}
			synced = synced && state == model.LegStateOK
		}
		if synced {
			log.Info("replacement leg in sync on every host")
			return nil
		}
		if time.Now().After(deadline) {
			return model.Errorf(model.ErrUnavailable, "The replacement leg %s is not in sync after %s.", nl.ID, m.opts.ResyncTimeout)
		}
		if time.Since(touched) > m.opts.SweepInterval {
			if err := m.advance(ctx, w, w.Step); err != nil { // keeps the claim fresh
				return err
			}
			touched = time.Now()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(m.opts.ResyncPoll):
		}
	}
}

// exportNewLeg exports the new leg to the initiator of j's host with its CHAP credentials and
// returns it as a plan leg.
func (m *Manager) exportNewLeg(ctx context.Context, j *attachJob, nl *model.Leg) (connector.PlanLeg, error) {
	initiator := firstNonEmpty(j.ihost.Initiator, j.conn.Initiator)
	if initiator == "" {
		return connector.PlanLeg{}, model.Errorf(model.ErrInvalid, "The connector of host %s has no iSCSI initiator.", j.att.Host)
	}
	creds := target.Access{InitiatorIQN: initiator, CHAPUser: j.ihost.CHAPUser, CHAPSecret: j.ihost.CHAPSecret}
	dpvs := map[string]*model.DPV{}
	ag, err := m.agentFor(ctx, dpvs, nl.DPVID)
	if err != nil {
		return connector.PlanLeg{}, err
	}
	e, err := ag.ExportLeg(ctx, nl.ID, creds)
	if err != nil {
		return connector.PlanLeg{}, fmt.Errorf("export leg %s: %w", nl.ID, err)
	}
	if e.Portal == "" {
		e.Portal = dpvs[nl.DPVID].TargetPortal
	}
	return connector.PlanLeg{LegID: nl.ID, Group: nl.Group, Mirror: nl.Mirror, SizeBytes: nl.SizeBytes, Portal: e.Portal,
		IQN: e.IQN, LUN: e.LUN, AuthMethod: "CHAP", AuthUser: creds.CHAPUser, AuthSecret: creds.CHAPSecret}, nil
}

// copyFromMirror fills the new leg of a volume no host assembles from a surviving leg of its
// group on a dpv that answers.
func (m *Manager) copyFromMirror(ctx context.Context, dpvs map[string]*model.DPV, others []*model.Leg, old, nl *model.Leg, log *slog.Logger) error {
	dst, err := m.agentFor(ctx, dpvs, nl.DPVID)
	if err != nil {
		return err
	}
	var errs []error
	for _, s := range others {
		if s.Group != old.Group || s.Status != model.LegAvailable {
			continue
		}
		src, err := m.agentFor(ctx, dpvs, s.DPVID)
		if err == nil {
			err = copyBytes(ctx, src, s.ID, dst, nl.ID, 0, 0, min(s.SizeBytes, nl.SizeBytes))
		}
		if err == nil {
			log.Info("replacement leg copied from its mirror", "source_leg_id", s.ID)
			return nil
		}
		errs = append(errs, fmt.Errorf("copy from leg %s: %w", s.ID, err))
	}
	if len(errs) == 0 {
		return model.Errorf(model.ErrInvalid, "Group %d has no other leg to copy from.", old.Group)
	}
	return model.Wrap(model.ErrUnavailable, errors.Join(errs...), "No mirror of the lost leg can be read now.")
}
