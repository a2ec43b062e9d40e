package api

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume/rpc"
)

// DeleteVolume starts deletion. Without force the volume must be available, error,
// error_restoring, error_extending or error_managing, not attached, and have no snapshots unless
// cascade (then its snapshots are deleted first). force (admin, os-force_delete) accepts any
// state but attached. Deleting a volume already deleting is not an error.
//
// With cascade every snapshot (available or error; any state with force; already deleting ones
// are left alone) goes to deleting with a delete_snapshot workflow ({"cascade":true}) created
// before the volume's delete_volume workflow ({"cascade":true}); the manager must finish them
// before removing the volume's legs. Quota is released by the manager when the delete completes.
func (a *API) DeleteVolume(ctx context.Context, c Caller, id string, cascade, force bool) error {
	var wfs []*model.Workflow
	var createWf []*model.Workflow
	err := a.db.InTx(ctx, func(s *db.Store) error {
		wfs, createWf = nil, nil
		v, err := getVolume(ctx, s, c, id)
		if err != nil {
			return err
		}
		if v.Status == model.StatusDeleting {
			// Already being deleted, unless an admin reset the status to deleting: then no
			// workflow runs and a force delete starts one.
			if !force {
				return nil
			}
			if running, err := s.HasUnfinishedWorkflow(ctx, model.WfDeleteVolume, id, ""); err != nil || running {
				return err
			}
		}
		if v.AttachStatus == model.AttachAttached || v.Status == model.StatusInUse {
			return model.Errorf(model.ErrInvalid, "Invalid volume: Volume must not be attached to be deleted (status: %s, attach_status: %s).", v.Status, v.AttachStatus)
		}
		if !force && !slices.Contains(deletable, v.Status) {
			return model.Errorf(model.ErrInvalid, "Invalid volume: Volume status must be available or error or error_restoring or error_extending or error_managing and must not be migrating, attached, belong to a group, have snapshots, awaiting a transfer, or be disassociated from snapshots after volume transfer. Current status is: %s.", v.Status)
		}
		snaps, err := s.ListSnapshots(ctx, db.SnapshotQuery{VolumeID: id})
		if err != nil {
			return err
		}
		if len(snaps) > 0 && !cascade {
			return model.Errorf(model.ErrInvalid, "Invalid volume: Volume has snapshots (%d); delete them first or use cascade.", len(snaps))
		}
		cascadeParams, _ := json.Marshal(map[string]bool{"cascade": true})
		// Strictly increasing creation times keep "oldest first" (ListUnfinishedWorkflows) in
		// the order the manager must run them: snapshots, then the volume.
		base := a.opts.Now().UTC().Truncate(time.Microsecond)
		stamp := func(w *model.Workflow) *model.Workflow {
			w.CreatedAt = base.Add(time.Duration(len(wfs)) * time.Microsecond)
			return w
		}
		for _, sn := range snaps {
			if sn.GroupSnapshotID != "" && !force {
				return model.Errorf(model.ErrInvalid, "Invalid volume: Snapshot %s of the volume is part of group snapshot %s; delete the group snapshot first.", sn.ID, sn.GroupSnapshotID)
			}
			if sn.Status == model.StatusDeleting {
				continue
			}
			if !force && sn.Status != model.StatusAvailable && sn.Status != model.StatusError {
				return model.Errorf(model.ErrInvalid, "Invalid volume: Snapshot %s status must be available or error to delete it with its volume, but current status is: %s.", sn.ID, sn.Status)
			}
			if err := s.SetSnapshotStatus(ctx, sn.ID, nil, model.StatusDeleting); err != nil {
				return err
			}
			wf := stamp(newWorkflow(model.WfDeleteSnapshot, id, sn.ID, cascadeParams))
			if err := s.CreateWorkflow(ctx, wf); err != nil {
				return err
			}
			wfs = append(wfs, wf)
		}
		from := deletable
		if force {
			from = []string{v.Status}
		}
		if err := stateErr(s.SetVolumeStatus(ctx, id, from, model.StatusDeleting)); err != nil {
			return err
		}
		params := []byte(nil)
		if cascade {
			params = cascadeParams
		}
		wf := stamp(newWorkflow(model.WfDeleteVolume, id, "", params))
		if err := s.CreateWorkflow(ctx, wf); err != nil {
			return err
		}
		wfs = append(wfs, wf)
		if v.Status == model.StatusCreating {
			createWf, err = pendingCreates(ctx, s, id)
		}
		return err
	})
	if err != nil {
		return err
	}
	a.abandonCreates(ctx, createWf)
	for _, wf := range wfs {
		a.cast(ctx, rpc.TopicVolume, rpc.MethodRunWorkflow, wf.ID)
	}
	if len(wfs) > 0 {
		a.log.Info("volume delete started", "volume_id", id, "cascade", cascade, "force", force)
	}
	return nil
}

// pendingCreates returns the unfinished create_volume workflows of a volume.
func pendingCreates(ctx context.Context, s *db.Store, volumeID string) ([]*model.Workflow, error) {
	all, err := s.ListUnfinishedWorkflows(ctx)
	if err != nil {
		return nil, err
	}
	var out []*model.Workflow
	for _, w := range all {
		if w.VolumeID == volumeID && w.Kind == model.WfCreateVolume && w.State == model.WfPending {
			out = append(out, w)
		}
	}
	return out, nil
}

// abandonCreates marks still-unclaimed pending create workflows of a volume being deleted as
// failed, so the scheduler does not place legs for it. Best effort: a workflow somebody already
// claimed is left to its owner (the delete workflow removes whatever legs it made).
func (a *API) abandonCreates(ctx context.Context, wfs []*model.Workflow) {
	s := a.db.Store()
	for _, w := range wfs {
		ok, err := s.ClaimWorkflow(ctx, w.ID, "api:delete", time.Time{}) // only if unowned
		if err != nil || !ok {
			continue
		}
		w.State, w.Owner, w.Error = model.WfFailed, "", "volume deleted before it was scheduled"
		if err := s.UpdateWorkflow(ctx, w); err != nil {
			a.log.Warn("could not abandon create workflow", "workflow_id", w.ID, "err", err)
		}
	}
}

// ExtendVolume grows an available volume to newSize GiB (> current), reserving the extra
// gigabytes; the volume goes to extending and an extend_volume workflow
// ({"new_size":N,"old_size":M}) does the rest. Any other status is ErrInvalid (an in-use
// volume grows through ExtendVolumeInUse, microversion 3.42).
func (a *API) ExtendVolume(ctx context.Context, c Caller, id string, newSize int) error {
	return a.extendVolume(ctx, c, id, newSize, false)
}

// ExtendVolumeInUse is ExtendVolume that also accepts an in-use volume (Cinder 3.42): its
// legs and exported LUNs grow, every host assembling it grows its device, it returns to in-use
// and Nova gets a volume-extended event per server.
func (a *API) ExtendVolumeInUse(ctx context.Context, c Caller, id string, newSize int) error {
	return a.extendVolume(ctx, c, id, newSize, true)
}

func (a *API) extendVolume(ctx context.Context, c Caller, id string, newSize int, inUseOK bool) error {
	var wf *model.Workflow
	err := a.db.InTx(ctx, func(s *db.Store) error {
		v, err := getVolume(ctx, s, c, id)
		if err != nil {
			return err
		}
		inUse := v.Status == model.StatusInUse
		if v.Status != model.StatusAvailable && !(inUse && inUseOK) {
			want := "available"
			if inUseOK {
				want = "available or in-use"
			}
			return model.Errorf(model.ErrInvalid, "Invalid volume: Volume %s status must be %s to extend, but current status is: %s.", id, want, v.Status)
		}
		if newSize <= v.Size {
			return model.Errorf(model.ErrInvalid, "New size for extend must be greater than current size. (current: %d, extended: %d).", v.Size, newSize)
		}
		limits, err := a.effectiveLimits(ctx, s, v.ProjectID)
		if err != nil {
			return err
		}
		if err := checkPerVolume(limits, newSize); err != nil {
			return err
		}
		delta := int64(newSize - v.Size)
		if vt, err := s.GetType(ctx, v.VolumeTypeID); err == nil {
			if err := a.checkTypeQuota(ctx, s, v.ProjectID, vt, limits, 0, delta, 0); err != nil {
				return err
			}
		}
		if err := s.Reserve(ctx, v.ProjectID, map[string]int64{model.ResGigabytes: delta}, limits); err != nil {
			return err
		}
		if err := stateErr(s.SetVolumeStatus(ctx, id, []string{v.Status}, model.StatusExtending)); err != nil {
			return err
		}
		params, _ := json.Marshal(map[string]any{"new_size": newSize, "old_size": v.Size, "in_use": inUse})
		wf = newWorkflow(model.WfExtendVolume, id, "", params)
		return s.CreateWorkflow(ctx, wf)
	})
	if err != nil {
		return err
	}
	a.log.Info("volume extend started", "volume_id", id, "new_size", newSize, "workflow_id", wf.ID)
	a.cast(ctx, rpc.TopicVolume, rpc.MethodRunWorkflow, wf.ID)
	return nil
}
