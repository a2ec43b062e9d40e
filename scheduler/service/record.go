package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/scheduler"
)

// request builds the scheduler request of volume v: its size, layout and AZ, the extra specs of
// its type (specs; nil when the type is gone), and the legs of its clone source if any.
func (s *Service) request(ctx context.Context, v *model.Volume, specs map[string]string) (scheduler.Request, error) {
	st := s.db.Store()
	req := scheduler.Request{VolumeID: v.ID, SizeGiB: v.Size, Layout: v.Layout, AvailabilityZone: v.AvailabilityZone}
	if v.VolumeTypeID != "" {
		if specs == nil {
			s.log.Warn("scheduler: volume type gone, any backend will do", "volume_id", v.ID, "volume_type_id", v.VolumeTypeID)
		}
		req.ExtraSpecs = specs
	}
	src := v.SnapshotID
	if src == "" {
		src = v.SourceVolID
	}
	if src == "" {
		return req, nil
	}
	legs, err := st.ListLegs(ctx, src)
	if err != nil {
		return req, fmt.Errorf("scheduler: legs of clone source %s: %w", src, err)
	}
	for _, l := range legs {
		c := *l
		if c.Status != model.LegAvailable {
			c.DPVID = "" // nothing to clone from there: keeps its slot, pins nothing
		}
		req.SourceLegs = append(req.SourceLegs, &c)
	}
	return req, nil
}

// snapshot reads the read-only state the scheduler works on, and the backend's cinder-volume
// service row (nil when there is none) with the dvgs: two queries, and a third (the sum over
// every leg) once per provisionedTTL.
func (s *Service) snapshot(ctx context.Context) (scheduler.State, *model.Service, error) {
	st := s.db.Store()
	state := scheduler.State{Now: s.now(), HeartbeatTimeout: s.opts.HeartbeatTimeout}
	var (
		svc *model.Service
		err error
	)
	if state.DVGs, svc, err = st.ListDVGsWithService(ctx, model.VolumeServiceHost(s.opts.Backend), model.BinaryVolume); err != nil {
		return state, nil, fmt.Errorf("scheduler: list dvgs: %w", err)
	}
	if state.DPVs, err = st.ListDPVs(ctx, ""); err != nil {
		return state, nil, fmt.Errorf("scheduler: list dpvs: %w", err)
	}
	if state.Provisioned, err = s.prov.get(ctx, st, state.Now); err != nil {
		return state, nil, fmt.Errorf("scheduler: provisioned bytes: %w", err)
	}
	return state, svc, nil
}

// volumeServiceRefusal says why the backend's cinder-volume service svc may get no new volume,
// or "" when it may: its os-services row is missing (svc nil: no volume manager has registered
// yet), or it is enabled, not frozen and heard from within ServiceDownTime.
func (s *Service) volumeServiceRefusal(svc *model.Service, now time.Time) string {
	host := model.VolumeServiceHost(s.opts.Backend)
	switch {
	case svc == nil:
		return ""
	case svc.Disabled:
		return fmt.Sprintf("The cinder-volume service %s is disabled.", host)
	case svc.Frozen:
		return fmt.Sprintf("The cinder-volume service %s is frozen.", host)
	case now.Sub(svc.UpdatedAt) > s.opts.ServiceDownTime:
		return fmt.Sprintf("The cinder-volume service %s is down.", host)
	}
	return ""
}

// record writes plan for workflow w of volume volID in one transaction. It returns errPlaced
// when the volume already has legs (another scheduler won) and errSettled when the volume left
// creating; both roll back.
//
// The volume gets its dvg and host through one conditional UPDATE (db.PlaceVolume), not a read
// and a rewrite of the whole row.
//
// The first statement writes the workflow row. That row lock makes a concurrent scheduler of the
// same workflow wait until this transaction ends, and only then read: MySQL's REPEATABLE READ
// takes its snapshot at the first read, not at BEGIN, so the reads below see the winner's legs.
// (SQLite transactions start with BEGIN IMMEDIATE and are serialized anyway.)
func (s *Service) record(ctx context.Context, w *model.Workflow, volID string, plan *scheduler.Plan) error {
	var legs []*model.Leg
	err := s.db.InTx(ctx, func(st *db.Store) error {
		nw := *w
		nw.State, nw.Error = model.WfScheduled, ""
		if err := st.UpdateWorkflow(ctx, &nw); err != nil {
			return err
		}
		// placed already (legs exist, or the volume has a dvg) or no longer creating: the
		// conditional UPDATE writes nothing then, and unplaced says which
		ok, err := st.PlaceVolume(ctx, volID, plan.DVG.ID, s.hostOf(plan.DVG))
		if err != nil {
			return err
		}
		if !ok {
			if _, err := unplaced(ctx, st, volID); err != nil {
				return err
			}
			return fmt.Errorf("volume %s: could not record its placement", volID)
		}
		legs = make([]*model.Leg, len(plan.Legs))
		for i, l := range plan.Legs {
			legs[i] = &model.Leg{
				ID: uuid.NewString(), OwnerKind: model.OwnerVolume, OwnerID: volID,
				Group: l.Group, Mirror: l.Mirror, DPVID: l.DPVID, SizeBytes: l.SizeBytes,
				Status: model.LegCreating,
			}
		}
		return st.CreateLegs(ctx, legs)
	})
	if err == nil {
		s.prov.add(legs)
	}
	return err
}

// hostOf is the Cinder host of a volume placed in dvg g: "dlvm@<backend>#<dvg>", the backend
// being g's volume_backend_name (Options.Backend for a dvg that has none).
func (s *Service) hostOf(g *model.DVG) string {
	backend := g.BackendName
	if backend == "" {
		backend = s.opts.Backend
	}
	return fmt.Sprintf("dlvm@%s#%s", backend, g.Name)
}

// fail records a placement failure: volume error with the reason, workflow failed, and a user
// message (schedule allocate volume: no backend), all in one transaction. A volume
// that another scheduler placed or that left creating meanwhile is left alone.
func (s *Service) fail(ctx context.Context, w *model.Workflow, volID, reason string) error {
	err := s.db.InTx(ctx, func(st *db.Store) error {
		nw := *w
		nw.State, nw.Error = model.WfFailed, reason
		if err := st.UpdateWorkflow(ctx, &nw); err != nil { // first: the row lock, see record
			return err
		}
		v, err := unplaced(ctx, st, volID)
		if err != nil {
			return err
		}
		v.Status, v.ErrorReason = model.StatusError, reason
		if err := st.UpdateVolume(ctx, v); err != nil {
			return err
		}
		// The user message Cinder leaves for a volume no backend can take.
		m := model.NewMessage(v.ProjectID, model.MsgResourceVolume, v.ID, model.ActionScheduleAllocateVolume,
			model.DetailNoBackendAvailable, s.now().UTC(), s.opts.MessageTTL)
		m.ID = uuid.NewString()
		return st.CreateMessage(ctx, m)
	})
	if errors.Is(err, errPlaced) || errors.Is(err, errSettled) {
		s.log.Info("scheduler: volume settled by another scheduler", "workflow_id", w.ID, "volume_id", volID)
		return nil
	}
	if err != nil {
		return fmt.Errorf("scheduler: record failure of volume %s: %w", volID, err)
	}
	return nil
}

// unplaced returns the volume while it still waits for placement; errSettled when it is missing
// or no longer creating, errPlaced when it already has a dvg or legs.
func unplaced(ctx context.Context, st *db.Store, volID string) (*model.Volume, error) {
	v, err := st.GetVolume(ctx, volID)
	if errors.Is(err, model.ErrNotFound) {
		return nil, errSettled
	} else if err != nil {
		return nil, err
	}
	if v.DVGID != "" {
		return nil, errPlaced
	}
	if v.Status != model.StatusCreating {
		return nil, errSettled
	}
	legs, err := st.ListLegs(ctx, volID)
	if err != nil {
		return nil, err
	}
	if len(legs) > 0 {
		return nil, errPlaced
	}
	return v, nil
}
