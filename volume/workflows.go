package volume

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
)

// Steps of create_volume.
const (
	stepCreateLegs = 0 // every leg exists on its dpv (created, cloned or copied)
	stepCopyData   = 1 // bytes copied from a source whose geometry differs
	stepActivate   = 2 // volume available
)

func (m *Manager) createVolume(ctx context.Context, w *model.Workflow, log *slog.Logger) error {
	// the volume, its legs and their dpvs: one query
	v, legs, dpvs, err := m.db.Store().GetVolumeLegs(ctx, w.VolumeID)
	if errors.Is(err, model.ErrNotFound) {
		return m.finish(ctx, w, model.WfFailed, "volume no longer exists")
	} else if err != nil {
		return err
	}
	if len(legs) != v.Layout.Legs() {
		return model.Errorf(model.ErrInvalid, "volume has %d legs placed, its layout needs %d", len(legs), v.Layout.Legs())
	}
	src, err := m.cloneSource(ctx, v)
	if err != nil {
		return err
	}
	sameShape := src != nil && src.layout.Stripes == v.Layout.Stripes && src.layout.ChunkKiB == v.Layout.ChunkKiB

	needCopy := src != nil && !sameShape
	var made []*model.Leg // legs created by this run, their status not yet recorded
	if w.Step <= stepCreateLegs {
		if made, err = m.createLegs(ctx, dpvs, legs, src, sameShape); err != nil {
			return err
		}
		if needCopy {
			// the copy may take long and is redone in full by a resumed run: record the legs
			// and the step first, in one transaction
			if err := m.db.InTx(ctx, func(s *db.Store) error {
				if err := setLegsAvailable(ctx, s, made); err != nil {
					return err
				}
				w.Step = stepCopyData
				return s.UpdateOwnedWorkflow(ctx, w)
			}); err != nil {
				return err
			}
			made = nil
		}
	}
	if w.Step <= stepCopyData && needCopy {
		log.Info("copying data between geometries", "from", src.layout, "to", v.Layout)
		if err := m.copyLogical(ctx, dpvs, src, legs, v.Layout, int64(src.sizeGiB)*model.GiB); err != nil {
			return err
		}
		if err := m.advance(ctx, w, stepActivate); err != nil {
			return err
		}
	}
	// Without a copy, the legs' status, the volume's and the workflow's end are one transaction
	// (one commit instead of one per leg and per step): a run that stops before it redoes the
	// leg creations, which are idempotent by leg id. The workflow write checks our claim, so a
	// manager that lost it writes none of this.
	return m.db.InTx(ctx, func(s *db.Store) error {
		if err := setLegsAvailable(ctx, s, made); err != nil {
			return err
		}
		if err := s.SetVolumeStatus(ctx, v.ID, []string{model.StatusCreating}, model.StatusAvailable); err != nil {
			return err
		}
		if err := groupMemberDone(ctx, s, v.GroupID, ""); err != nil {
			return err
		}
		w.Step = stepActivate
		return finishIn(ctx, s, w, model.WfDone, "")
	})
}

// createLegs makes every leg of a new volume that is not available yet on its dpv: a clone
// from the source (sameShape, one leg after the other, each recorded available as it is made)
// or an empty leg (all legs at once, each on its own dpv). It returns the legs it made and did
// not record yet, in legs order. On an error, unrecorded legs made so far
// stay on their dpvs unrecorded: a resumed run makes them again (idempotent by leg id) and a
// rollback deletes every leg of the volume.
func (m *Manager) createLegs(ctx context.Context, dpvs map[string]*model.DPV, legs []*model.Leg, src *source, sameShape bool) ([]*model.Leg, error) {
	var todo []*model.Leg
	var ags []Agent
	for _, l := range legs {
		if l.Status == model.LegAvailable {
			continue
		}
		ag, err := m.agentFor(ctx, dpvs, l.DPVID)
		if err != nil {
			return nil, err
		}
		todo, ags = append(todo, l), append(ags, ag)
	}
	if sameShape {
		// a clone may copy bytes from another dpv: each leg is recorded as it completes, so a
		// resumed run copies none of them again
		st := m.db.Store()
		for i, l := range todo {
			if err := m.cloneLegFrom(ctx, dpvs, ags[i], l, src.group(l.Group)); err != nil {
				return nil, fmt.Errorf("leg %s: %w", l.ID, err)
			}
			if err := setLegsAvailable(ctx, st, todo[i:i+1]); err != nil {
				return nil, err
			}
		}
		return nil, nil
	}
	errs := make([]error, len(todo))
	var wg sync.WaitGroup
	for i, l := range todo {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := ags[i].CreateLeg(ctx, l.ID, l.SizeBytes); err != nil {
				errs[i] = fmt.Errorf("leg %s: %w", l.ID, err)
			}
		}()
	}
	wg.Wait()
	// the first failure in legs order, as the sequential loop reported it
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return todo, nil
}

// setLegsAvailable records legs as available (one statement).
func setLegsAvailable(ctx context.Context, s *db.Store, legs []*model.Leg) error {
	return s.SetLegStatuses(ctx, legs, model.LegAvailable)
}

// source is the clone source of a new volume: its legs and geometry.
type source struct {
	legs    []*model.Leg
	layout  model.Layout
	sizeGiB int
}

func (s *source) group(g int) []*model.Leg {
	var out []*model.Leg
	for _, l := range s.legs {
		if l.Group == g && l.Status == model.LegAvailable {
			out = append(out, l)
		}
	}
	return out
}

func (m *Manager) cloneSource(ctx context.Context, v *model.Volume) (*source, error) {
	st := m.db.Store()
	switch {
	case v.SnapshotID != "":
		sn, err := st.GetSnapshot(ctx, v.SnapshotID)
		if err != nil {
			return nil, fmt.Errorf("source snapshot: %w", err)
		}
		legs, err := st.ListLegs(ctx, sn.ID)
		if err != nil {
			return nil, err
		}
		// A snapshot's legs have the geometry of their volume, which never changes.
		lay := layoutOf(legs)
		if sv, err := st.GetVolume(ctx, sn.VolumeID); err == nil {
			lay = sv.Layout
		}
		return &source{legs: legs, layout: lay, sizeGiB: sn.Size}, nil
	case v.SourceVolID != "":
		sv, err := st.GetVolume(ctx, v.SourceVolID)
		if err != nil {
			return nil, fmt.Errorf("source volume: %w", err)
		}
		legs, err := st.ListLegs(ctx, sv.ID)
		if err != nil {
			return nil, err
		}
		return &source{legs: legs, layout: sv.Layout, sizeGiB: sv.Size}, nil
	}
	return nil, nil
}

// layoutOf derives mirrors and stripes from legs, with the default chunk; used only when the
// snapshot's volume cannot be read.
func layoutOf(legs []*model.Leg) model.Layout {
	lay := model.Layout{ChunkKiB: 512}
	for _, l := range legs {
		if l.Group+1 > lay.Stripes {
			lay.Stripes = l.Group + 1
		}
		if l.Mirror+1 > lay.Mirrors {
			lay.Mirrors = l.Mirror + 1
		}
	}
	return lay
}

// cloneLegFrom fills leg l from one of the source legs of its group: a local clone when a source
// leg sits on the same dpv, otherwise a fresh leg and a byte copy across dpvs.
func (m *Manager) cloneLegFrom(ctx context.Context, dpvs map[string]*model.DPV, ag Agent, l *model.Leg, group []*model.Leg) error {
	if len(group) == 0 {
		return model.Errorf(model.ErrInvalid, "source group %d has no available leg", l.Group)
	}
	for _, s := range group {
		if s.DPVID == l.DPVID {
			_, err := ag.CloneLeg(ctx, l.ID, s.ID, l.SizeBytes)
			return err
		}
	}
	s := group[0]
	sag, err := m.agentFor(ctx, dpvs, s.DPVID)
	if err != nil {
		return err
	}
	if _, err := ag.CreateLeg(ctx, l.ID, l.SizeBytes); err != nil {
		return err
	}
	return copyBytes(ctx, sag, s.ID, ag, l.ID, 0, 0, min(s.SizeBytes, l.SizeBytes))
}

func (m *Manager) deleteVolume(ctx context.Context, w *model.Workflow, log *slog.Logger) error {
	st := m.db.Store()
	v, err := st.GetVolume(ctx, w.VolumeID)
	if errors.Is(err, model.ErrNotFound) {
		return m.finish(ctx, w, model.WfDone, "")
	} else if err != nil {
		return err
	}
	if err := m.waitSnapshotDeletes(ctx, v.ID); err != nil {
		return err
	}
	if err := m.deleteLegs(ctx, v.ID); err != nil {
		return err
	}
	return m.db.InTx(ctx, func(s *db.Store) error {
		if err := s.DeleteVolume(ctx, v.ID); err != nil {
			return err
		}
		if err := s.Reserve(ctx, v.ProjectID, VolumeQuota(v, -1), nil); err != nil {
			return err
		}
		if v.GroupID != "" {
			if err := s.CompleteGroupDelete(ctx, v.GroupID); err != nil {
				return err
			}
		}
		return finishIn(ctx, s, w, model.WfDone, "")
	})
}

// waitSnapshotDeletes lets the delete_snapshot workflows of a cascade delete finish before the
// volume goes (they run concurrently, started with it): the volume is never gone while its
// snapshots are still listed. A snapshot left behind (its delete failed) fails the volume's
// delete. Waiting longer than a minute, or a stopping manager, leaves the workflow for a retry.
func (m *Manager) waitSnapshotDeletes(ctx context.Context, volumeID string) error {
	st := m.db.Store()
	deadline := time.Now().Add(time.Minute)
	for {
		running, err := st.HasUnfinishedWorkflow(ctx, model.WfDeleteSnapshot, volumeID, "")
		if err != nil {
			return err
		}
		if !running {
			break
		}
		if time.Now().After(deadline) {
			return model.Errorf(model.ErrUnavailable, "Snapshots of volume %s are still being deleted.", volumeID)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-m.stop:
			return model.Errorf(model.ErrUnavailable, "The volume manager is stopping.")
		case <-time.After(100 * time.Millisecond):
		}
	}
	left, err := st.ListSnapshots(ctx, db.SnapshotQuery{VolumeID: volumeID})
	if err != nil {
		return err
	}
	if len(left) > 0 {
		return model.Errorf(model.ErrInvalid, "Volume %s still has %d snapshot(s) that could not be deleted.", volumeID, len(left))
	}
	return nil
}

// deleteLegs removes every leg of a volume or snapshot from its dpv and marks it deleted.
func (m *Manager) deleteLegs(ctx context.Context, ownerID string) error {
	st := m.db.Store()
	legs, err := st.ListLegs(ctx, ownerID)
	if err != nil {
		return err
	}
	dpvs := map[string]*model.DPV{}
	for _, l := range legs {
		ag, err := m.agentFor(ctx, dpvs, l.DPVID)
		if errors.Is(err, model.ErrNotFound) {
			// The dpv was removed from the database: nothing left to delete there.
		} else if err != nil {
			return err
		} else if err := ag.DeleteLeg(ctx, l.ID); err != nil {
			return fmt.Errorf("delete leg %s: %w", l.ID, err)
		}
		l.Status = model.LegDeleted
		if err := st.UpdateLeg(ctx, l); err != nil {
			return err
		}
	}
	return nil
}

// ExtendParams are the parameters of an extend_volume workflow.
type ExtendParams struct {
	NewSize int  `json:"new_size"`
	OldSize int  `json:"old_size"`
	InUse   bool `json:"in_use,omitempty"` // the volume was in-use when the extend began
}

func (m *Manager) extendVolume(ctx context.Context, w *model.Workflow, log *slog.Logger) error {
	var p ExtendParams
	if err := json.Unmarshal(w.Params, &p); err != nil || p.NewSize <= 0 {
		return model.Errorf(model.ErrInvalid, "bad extend parameters")
	}
	st := m.db.Store()
	v, err := st.GetVolume(ctx, w.VolumeID)
	if err != nil {
		return err
	}
	legs, err := st.ListLegs(ctx, v.ID)
	if err != nil {
		return err
	}
	// An in-use volume is assembled on hosts: their I/O pauses while the legs' LUNs are
	// re-created at the new size, then each host grows its device.
	hosts, err := m.hostJobs(ctx, v, legs)
	if err != nil {
		return err
	}
	size := v.Layout.LegSize(p.NewSize)
	dpvs := map[string]*model.DPV{}
	resume, paused := func() {}, false
	defer func() { resume() }()
	for _, l := range legs {
		if l.SizeBytes >= size {
			continue
		}
		ag, err := m.agentFor(ctx, dpvs, l.DPVID)
		if err != nil {
			return err
		}
		if len(hosts) > 0 && !paused {
			if resume, err = m.quiesceHosts(ctx, v.ID, log); err != nil {
				resume = func() {}
				return err
			}
			paused = true
		}
		if _, err := ag.ExtendLeg(ctx, l.ID, size); err != nil {
			return fmt.Errorf("extend leg %s: %w", l.ID, err)
		}
		l.SizeBytes = size
		if err := st.UpdateLeg(ctx, l); err != nil {
			return err
		}
	}
	resume()
	resume = func() {}
	v.Size = p.NewSize // the plans the hosts get carry the new size
	if err := m.growHosts(ctx, hosts, log); err != nil {
		return err
	}
	err = m.db.InTx(ctx, func(s *db.Store) error {
		v, err := s.GetVolume(ctx, w.VolumeID)
		if err != nil {
			return err
		}
		v.Size = p.NewSize
		v.Status = model.StatusAvailable
		if err := s.UpdateVolume(ctx, v); err != nil {
			return err
		}
		if err := s.SyncVolumeAttachState(ctx, v.ID); err != nil { // back to in-use when attached
			return err
		}
		return finishIn(ctx, s, w, model.WfDone, "")
	})
	if err == nil && p.InUse {
		m.notifyExtended(ctx, v.ID, log)
	}
	return err
}

func (m *Manager) createSnapshot(ctx context.Context, w *model.Workflow, log *slog.Logger) error {
	st := m.db.Store()
	sn, err := st.GetSnapshot(ctx, w.SnapshotID)
	if errors.Is(err, model.ErrNotFound) {
		return m.finish(ctx, w, model.WfFailed, "snapshot no longer exists")
	} else if err != nil {
		return err
	}
	slegs, err := st.ListLegs(ctx, sn.ID)
	if err != nil {
		return err
	}
	if len(slegs) == 0 {
		vlegs, err := st.ListLegs(ctx, sn.VolumeID)
		if err != nil {
			return err
		}
		now := time.Now().UTC()
		for _, vl := range vlegs {
			slegs = append(slegs, &model.Leg{
				ID: uuid.NewString(), OwnerKind: model.OwnerSnapshot, OwnerID: sn.ID, Group: vl.Group,
				Mirror: vl.Mirror, DPVID: vl.DPVID, SizeBytes: vl.SizeBytes, SourceLegID: vl.ID,
				Status: model.LegCreating, CreatedAt: now, UpdatedAt: now,
			})
		}
		if err := st.CreateLegs(ctx, slegs); err != nil {
			return err
		}
	}
	dpvs := map[string]*model.DPV{}
	pending := 0
	for _, l := range slegs {
		if l.Status != model.LegAvailable {
			pending++
		}
	}
	if pending > 0 && pending < len(slegs) {
		// A run that stopped half way took some legs at another instant: take them all again
		// under one pause, or the snapshot would not be crash-consistent across legs.
		for _, l := range slegs {
			if l.Status != model.LegAvailable {
				continue
			}
			ag, err := m.agentFor(ctx, dpvs, l.DPVID)
			if err != nil {
				return err
			}
			if err := ag.DeleteLeg(ctx, l.ID); err != nil {
				return fmt.Errorf("retake snapshot leg %s: %w", l.ID, err)
			}
			l.Status = model.LegCreating
			if err := st.UpdateLeg(ctx, l); err != nil {
				return err
			}
		}
		pending = len(slegs)
	}
	if pending > 0 && len(slegs) > 1 {
		resume, err := m.quiesceHosts(ctx, sn.VolumeID, log)
		if err != nil {
			return err
		}
		defer resume()
	}
	for _, l := range slegs {
		if l.Status == model.LegAvailable {
			continue
		}
		ag, err := m.agentFor(ctx, dpvs, l.DPVID)
		if err != nil {
			return err
		}
		if _, err := ag.SnapshotLeg(ctx, l.ID, l.SourceLegID); err != nil {
			return fmt.Errorf("snapshot leg %s: %w", l.SourceLegID, err)
		}
		l.Status = model.LegAvailable
		if err := st.UpdateLeg(ctx, l); err != nil {
			return err
		}
	}
	return m.db.InTx(ctx, func(s *db.Store) error {
		sn, err := s.GetSnapshot(ctx, w.SnapshotID)
		if err != nil {
			return err
		}
		sn.Status = model.StatusAvailable
		sn.Progress = "100%"
		if err := s.UpdateSnapshot(ctx, sn); err != nil {
			return err
		}
		if err := groupMemberDone(ctx, s, "", sn.GroupSnapshotID); err != nil {
			return err
		}
		return finishIn(ctx, s, w, model.WfDone, "")
	})
}

func (m *Manager) deleteSnapshot(ctx context.Context, w *model.Workflow, log *slog.Logger) error {
	st := m.db.Store()
	sn, err := st.GetSnapshot(ctx, w.SnapshotID)
	if errors.Is(err, model.ErrNotFound) {
		return m.finish(ctx, w, model.WfDone, "")
	} else if err != nil {
		return err
	}
	if err := m.deleteLegs(ctx, sn.ID); err != nil {
		return err
	}
	return m.db.InTx(ctx, func(s *db.Store) error {
		if err := s.DeleteSnapshot(ctx, sn.ID); err != nil {
			return err
		}
		if err := s.Reserve(ctx, sn.ProjectID, SnapshotQuota(sn, -1), nil); err != nil {
			return err
		}
		if sn.GroupSnapshotID != "" {
			if err := s.CompleteGroupSnapshotDelete(ctx, sn.GroupSnapshotID); err != nil {
				return err
			}
		}
		return finishIn(ctx, s, w, model.WfDone, "")
	})
}

// rollback undoes what a failed workflow left behind and puts its resource in an error state
// with a user-safe reason. It is idempotent, like the steps.
func (m *Manager) rollback(ctx context.Context, w *model.Workflow, cause error, log *slog.Logger) error {
	reason := model.UserMessage(cause)
	st := m.db.Store()
	switch w.Kind {
	case model.WfCreateBackup, model.WfRestoreBackup, model.WfDeleteBackup, model.WfImportBackup:
		return m.rollbackBackup(ctx, w, cause)
	case model.WfManageVolume, model.WfManageSnapshot:
		return m.rollbackManage(ctx, w, reason)
	case model.WfCreateVolume:
		if err := m.deleteLegs(ctx, w.VolumeID); err != nil && !errors.Is(err, model.ErrUnavailable) {
			return err
		}
		return m.db.InTx(ctx, func(s *db.Store) error {
			if err := m.volumeMessage(ctx, s, w.VolumeID, model.ActionCreateVolumeFromBackend, model.DetailDriverFailedCreate); err != nil {
				return err
			}
			return m.failVolume(ctx, s, w, model.StatusError, reason)
		})
	case model.WfDeleteVolume:
		return m.db.InTx(ctx, func(s *db.Store) error {
			return m.failVolume(ctx, s, w, model.StatusErrorDeleting, reason)
		})
	case model.WfExtendVolume:
		var p ExtendParams
		_ = json.Unmarshal(w.Params, &p)
		return m.db.InTx(ctx, func(s *db.Store) error {
			v, err := s.GetVolume(ctx, w.VolumeID)
			if err != nil {
				return err
			}
			if d := p.NewSize - p.OldSize; d > 0 {
				if err := s.Reserve(ctx, v.ProjectID, map[string]int64{model.ResGigabytes: -int64(d)}, nil); err != nil {
					return err
				}
			}
			if err := m.volumeMessage(ctx, s, v.ID, model.ActionExtendVolume, model.DetailDriverFailedExtend); err != nil {
				return err
			}
			return m.failVolume(ctx, s, w, model.StatusErrorExtending, reason)
		})
	case model.WfRetypeVolume:
		return m.rollbackRetype(ctx, w, reason)
	case model.WfReplaceLeg:
		// The volume keeps its status; the half-filled replacement goes (a later check starts
		// another replacement if the old leg is still lost).
		if err := m.deleteLegs(ctx, w.ID); err != nil && !errors.Is(err, model.ErrUnavailable) {
			return err
		}
		return m.finish(ctx, w, model.WfFailed, reason)
	case model.WfCreateSnapshot, model.WfDeleteSnapshot:
		if w.Kind == model.WfCreateSnapshot {
			if err := m.deleteLegs(ctx, w.SnapshotID); err != nil && !errors.Is(err, model.ErrUnavailable) {
				return err
			}
		}
		status := model.StatusError
		if w.Kind == model.WfDeleteSnapshot {
			status = model.StatusErrorDeleting
		}
		return m.db.InTx(ctx, func(s *db.Store) error {
			sn, err := s.GetSnapshot(ctx, w.SnapshotID)
			if err == nil {
				sn.Status = status
				sn.ErrorReason = reason
				if err := s.UpdateSnapshot(ctx, sn); err != nil {
					return err
				}
				if err := groupMemberDone(ctx, s, "", sn.GroupSnapshotID); err != nil {
					return err
				}
				action, detail := model.ActionSnapshotCreate, model.DetailSnapshotCreateError
				if w.Kind == model.WfDeleteSnapshot {
					action, detail = model.ActionSnapshotDelete, model.DetailSnapshotDeleteError
				}
				if err := m.addMessage(ctx, s, sn.ProjectID, model.MsgResourceSnapshot, sn.ID, action, detail); err != nil {
					return err
				}
			} else if !errors.Is(err, model.ErrNotFound) {
				return err
			}
			return finishIn(ctx, s, w, model.WfFailed, reason)
		})
	}
	return st.UpdateOwnedWorkflow(ctx, w)
}

// volumeMessage leaves the user message of a failed workflow on volume id (nothing when the
// volume is gone).
func (m *Manager) volumeMessage(ctx context.Context, s *db.Store, id string, action model.MsgAction, detail model.MsgDetail) error {
	v, err := s.GetVolume(ctx, id)
	if errors.Is(err, model.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	return m.addMessage(ctx, s, v.ProjectID, model.MsgResourceVolume, v.ID, action, detail)
}

// addMessage writes a user message (Cinder's message API) in the caller's transaction.
func (m *Manager) addMessage(ctx context.Context, s *db.Store, project, resourceType, id string, action model.MsgAction, detail model.MsgDetail) error {
	msg := model.NewMessage(project, resourceType, id, action, detail, time.Now().UTC(), m.opts.MessageTTL)
	msg.ID = uuid.NewString()
	return s.CreateMessage(ctx, msg)
}

func (m *Manager) failVolume(ctx context.Context, s *db.Store, w *model.Workflow, status, reason string) error {
	v, err := s.GetVolume(ctx, w.VolumeID)
	if err == nil {
		v.Status = status
		v.ErrorReason = reason
		if err := s.UpdateVolume(ctx, v); err != nil {
			return err
		}
		if err := groupMemberDone(ctx, s, v.GroupID, ""); err != nil {
			return err
		}
	} else if !errors.Is(err, model.ErrNotFound) {
		return err
	}
	return finishIn(ctx, s, w, model.WfFailed, reason)
}

// VolumeQuota is the quota a volume holds, times sign (+1 to reserve, -1 to release).
func VolumeQuota(v *model.Volume, sign int64) map[string]int64 {
	return map[string]int64{model.ResVolumes: sign, model.ResGigabytes: sign * int64(v.Size)}
}

// SnapshotQuota is the quota a snapshot holds, times sign.
func SnapshotQuota(sn *model.Snapshot, sign int64) map[string]int64 {
	return map[string]int64{model.ResSnapshots: sign, model.ResGigabytes: sign * int64(sn.Size)}
}

// groupMemberDone lets a creating group (or group snapshot) whose member volume (or snapshot)
// just finished or failed move on: available when every member is, error when one failed.
func groupMemberDone(ctx context.Context, s *db.Store, groupID, groupSnapshotID string) error {
	if groupID != "" {
		return s.CompleteGroupCreate(ctx, groupID)
	}
	if groupSnapshotID != "" {
		return s.CompleteGroupSnapshotCreate(ctx, groupSnapshotID)
	}
	return nil
}
