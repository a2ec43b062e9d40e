package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/google/uuid"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/scheduler"
)

// scheduleRetype decides a retype_volume workflow (pending):
//   - the volume's dvg satisfies the new type's extra specs, the layout is unchanged and no
//     destination is forced: in one transaction the volume takes the new type and its old
//     status back, and the workflow is done. No byte moves.
//   - otherwise, with policy never, or for an attached volume or one with snapshots (dlvm cannot
//     move those): the volume goes back to its status with the reason, the workflow fails.
//   - otherwise the volume migrates: scheduler.Place finds legs for the new layout in a dvg that
//     satisfies the new type (or in the forced dvg); one transaction creates them owned by the
//     workflow, records the destination in the workflow's params, sets migration_status
//     migrating and the workflow scheduled; then the manager is woken.
//
// Scheduled or running workflows are only re-cast to the manager; finished ones are ignored.
func (s *Service) scheduleRetype(ctx context.Context, w *model.Workflow, log *slog.Logger) error {
	switch w.State {
	case model.WfPending:
	case model.WfDone, model.WfFailed:
		return nil
	default:
		return s.castRun(ctx, w.ID)
	}
	var p model.RetypeParams
	if err := json.Unmarshal(w.Params, &p); err != nil {
		return s.endRetype(ctx, w, p, "bad retype parameters", nil)
	}
	st := s.db.Store()
	v, err := st.GetVolume(ctx, w.VolumeID)
	if errors.Is(err, model.ErrNotFound) {
		return s.endRetype(ctx, w, p, "volume no longer exists", nil)
	} else if err != nil {
		return fmt.Errorf("scheduler: load volume %s: %w", w.VolumeID, err)
	}
	specs := map[string]string{}
	typeID := v.VolumeTypeID
	if p.NewTypeID != "" {
		typeID = p.NewTypeID
	}
	if t, err := st.GetType(ctx, typeID); err == nil {
		specs = t.ExtraSpecs
	} else if !errors.Is(err, model.ErrNotFound) {
		return fmt.Errorf("scheduler: load type %s: %w", typeID, err)
	}
	snap, _, err := s.snapshot(ctx)
	if err != nil {
		return err
	}
	var cur *model.DVG
	for _, g := range snap.DVGs {
		if g.ID == v.DVGID {
			cur = g
		}
	}
	stays := cur != nil && !p.ForceCopy && (p.DestDVGID == "" || p.DestDVGID == cur.ID) &&
		p.Layout == v.Layout && scheduler.MatchSpecs(specs, scheduler.CapabilitiesOf(cur, snap)) == ""
	if stays {
		log.Info("scheduler: retype in place", "dvg", cur.Name)
		return s.endRetype(ctx, w, p, "", func(v *model.Volume) { v.VolumeTypeID = typeID })
	}
	var refuse string
	switch {
	case p.Policy != model.MigrationOnDemand:
		refuse = "Retype needs a migration (the volume's backend does not satisfy the new type, or the layout changes) and the migration policy is never."
	case p.OldStatus != model.StatusAvailable:
		refuse = "Retype needs a migration, and an attached volume cannot be migrated."
	default:
		snaps, err := st.ListSnapshots(ctx, db.SnapshotQuery{VolumeID: v.ID})
		if err != nil {
			return err
		}
		if len(snaps) > 0 {
			refuse = "Retype needs a migration, and a volume with snapshots cannot be migrated."
		}
	}
	if refuse != "" {
		log.Info("scheduler: retype refused", "reason", refuse)
		return s.endRetype(ctx, w, p, refuse, nil)
	}
	plan, err := scheduler.Place(scheduler.Request{VolumeID: v.ID, SizeGiB: v.Size, Layout: p.Layout,
		AvailabilityZone: v.AvailabilityZone, ExtraSpecs: specs, DVGID: p.DestDVGID}, snap)
	if errors.Is(err, model.ErrNoPlacement) || errors.Is(err, model.ErrInvalid) {
		reason := model.UserMessage(err)
		log.Warn("scheduler: no placement for the migration", "reason", reason)
		return s.endRetype(ctx, w, p, reason, nil)
	} else if err != nil {
		return fmt.Errorf("scheduler: place migration of volume %s: %w", v.ID, err)
	}
	p.Migrate, p.DVGID, p.Host = true, plan.DVG.ID, s.hostOf(plan.DVG)
	params, err := json.Marshal(p)
	if err != nil {
		return err
	}
	var legs []*model.Leg
	err = s.db.InTx(ctx, func(st *db.Store) error {
		nw := *w
		nw.State, nw.Params = model.WfScheduled, params
		if err := st.UpdateWorkflow(ctx, &nw); err != nil { // first: the row lock, see record
			return err
		}
		if have, err := st.ListLegs(ctx, w.ID); err != nil {
			return err
		} else if len(have) > 0 {
			return errPlaced
		}
		v, err := st.GetVolume(ctx, w.VolumeID)
		if errors.Is(err, model.ErrNotFound) {
			return errSettled
		} else if err != nil {
			return err
		}
		if v.Status != model.StatusRetyping && v.Status != model.StatusMaintenance {
			return errSettled // another scheduler ended the retype meanwhile
		}
		legs = make([]*model.Leg, len(plan.Legs))
		for i, l := range plan.Legs {
			legs[i] = &model.Leg{ID: uuid.NewString(), OwnerKind: model.OwnerVolume, OwnerID: w.ID,
				Group: l.Group, Mirror: l.Mirror, DPVID: l.DPVID, SizeBytes: l.SizeBytes, Status: model.LegCreating}
		}
		if err := st.CreateLegs(ctx, legs); err != nil {
			return err
		}
		v.MigrationStatus = model.MigrationMigrating
		return st.UpdateVolume(ctx, v)
	})
	if err == nil {
		s.prov.add(legs)
	}
	switch {
	case errors.Is(err, errSettled):
		log.Info("scheduler: retype ended meanwhile, nothing to place")
		return nil
	case errors.Is(err, errPlaced):
		log.Info("scheduler: migration placed by another scheduler, waking the manager")
	case err != nil:
		return fmt.Errorf("scheduler: record migration of volume %s: %w", w.VolumeID, err)
	default:
		log.Info("scheduler: migration placed", "dvg", plan.DVG.Name, "legs", len(plan.Legs))
	}
	return s.castRun(ctx, w.ID)
}

// endRetype finishes a retype without moving the volume, in one transaction: the volume gets its
// old status back (and change applied, when the retype succeeded in place; reason empty) or the
// reason (migration_status error for a migration that failed), and the workflow is done or
// failed. A volume that left the retyping/maintenance status meanwhile is left alone.
func (s *Service) endRetype(ctx context.Context, w *model.Workflow, p model.RetypeParams, reason string, change func(*model.Volume)) error {
	return s.db.InTx(ctx, func(st *db.Store) error {
		nw := *w
		nw.State, nw.Error = model.WfDone, ""
		if reason != "" {
			nw.State, nw.Error = model.WfFailed, reason
		}
		if err := st.UpdateWorkflow(ctx, &nw); err != nil {
			return err
		}
		v, err := st.GetVolume(ctx, w.VolumeID)
		if errors.Is(err, model.ErrNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		if v.Status != model.StatusRetyping && v.Status != model.StatusMaintenance {
			return nil
		}
		v.Status = p.OldStatus
		if v.Status == "" {
			v.Status = model.StatusAvailable
		}
		if change != nil {
			change(v)
		}
		if reason != "" {
			v.ErrorReason = reason
			if p.NewTypeID == "" { // os-migrate_volume: Cinder reports the failed migration
				v.MigrationStatus = model.MigrationError
			}
		}
		return st.UpdateVolume(ctx, v)
	})
}
