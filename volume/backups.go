package volume

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume/backup"
)

// BackupParams are the parameters of the backup workflows (create, restore, delete, import).
type BackupParams struct {
	BackupID string `json:"backup_id"`
	// PrevStatus is the status the backed-up volume returns to (available or in-use).
	PrevStatus string `json:"prev_status,omitempty"`
	// NewVolume says the restore target was created for the restore: it is still being
	// created when the restore starts, and reads as zeros, so holes need no writing.
	NewVolume bool `json:"new_volume,omitempty"`
}

// restoreWaitLimit bounds how long a restore waits for its new target volume to be created.
const restoreWaitLimit = 10 * time.Minute

// errNoBackupDriver fails backup workflows on a manager started without [backup].
var errNoBackupDriver = model.Errorf(model.ErrInvalid, "The volume manager has no backup driver configured.")

func backupParams(w *model.Workflow) (BackupParams, error) {
	var p BackupParams
	if err := json.Unmarshal(w.Params, &p); err != nil || p.BackupID == "" {
		return p, model.Errorf(model.ErrInvalid, "bad backup workflow parameters")
	}
	return p, nil
}

// createBackup reads the volume (or its snapshot) through the stripe map into the backup driver.
// An in-use volume is read from temporary snapshot legs taken under one I/O pause, so the
// backup is crash-consistent and the guest is paused only for the snapshot, not the copy.
func (m *Manager) createBackup(ctx context.Context, w *model.Workflow, log *slog.Logger) error {
	p, err := backupParams(w)
	if err != nil {
		return err
	}
	st := m.db.Store()
	b, err := st.GetBackup(ctx, p.BackupID)
	if errors.Is(err, model.ErrNotFound) {
		return m.finish(ctx, w, model.WfFailed, "backup no longer exists")
	} else if err != nil {
		return err
	}
	if m.opts.Backup == nil {
		return errNoBackupDriver
	}
	v, err := st.GetVolume(ctx, b.VolumeID)
	if err != nil {
		return err
	}
	src := &source{layout: v.Layout, sizeGiB: b.Size}
	switch {
	case b.Status != model.BackupCreating:
		// Force-deleted while it ran: nothing to read.
	case b.SnapshotID != "":
		if src.legs, err = st.ListLegs(ctx, b.SnapshotID); err != nil {
			return err
		}
	case p.PrevStatus == model.StatusInUse:
		if src.legs, err = m.tempSnapshotLegs(ctx, b.ID, v.ID, log); err != nil {
			return err
		}
	default:
		if src.legs, err = st.ListLegs(ctx, v.ID); err != nil {
			return err
		}
	}
	if b.Status == model.BackupCreating {
		dpvs := map[string]*model.DPV{}
		renew := m.leaseRenewer(ctx, w)
		read := func(ctx context.Context, buf []byte, off int64) error {
			renew()
			return m.readLogical(ctx, dpvs, src, buf, off)
		}
		vm := backup.VolumeMeta{Metadata: v.Metadata, Bootable: v.Bootable}
		man, err := m.opts.Backup.Backup(ctx, b.ServiceMetadata, b.ID, v.ID, int64(b.Size)*model.GiB, read, vm)
		if err != nil {
			return err
		}
		b.ObjectCount = len(man.Chunks)
		log.Info("backup written", "backup_id", b.ID, "chunks", len(man.Chunks))
		if cur, err := st.GetBackup(ctx, b.ID); err != nil || cur.Status != model.BackupCreating {
			// Force-deleted while it was written: the delete may have run before the last
			// chunks landed, so remove what this run wrote.
			if err := m.opts.Backup.Delete(b.ServiceMetadata); err != nil {
				return err
			}
		}
	}
	if err := m.deleteLegs(ctx, b.ID); err != nil { // the temporary snapshot legs, if any
		return err
	}
	return m.db.InTx(ctx, func(s *db.Store) error {
		cur, err := s.GetBackup(ctx, b.ID)
		if err != nil && !errors.Is(err, model.ErrNotFound) {
			return err
		}
		if err == nil && cur.Status == model.BackupCreating {
			cur.Status, cur.ObjectCount, cur.FailReason = model.BackupAvailable, b.ObjectCount, ""
			if err := s.UpdateBackup(ctx, cur); err != nil {
				return err
			}
		}
		if err := m.releaseBackupSource(ctx, s, b, p); err != nil {
			return err
		}
		return finishIn(ctx, s, w, model.WfDone, "")
	})
}

// releaseBackupSource puts the backed-up volume (or snapshot) back in the status it had.
func (m *Manager) releaseBackupSource(ctx context.Context, s *db.Store, b *model.Backup, p BackupParams) error {
	var err error
	if b.SnapshotID != "" {
		err = s.SetSnapshotStatus(ctx, b.SnapshotID, []string{model.StatusBackingUp}, model.StatusAvailable)
	} else {
		prev := p.PrevStatus
		if prev == "" {
			prev = model.StatusAvailable
		}
		err = s.SetVolumeStatus(ctx, b.VolumeID, []string{model.StatusBackingUp}, prev)
	}
	if errors.Is(err, model.ErrConflict) || errors.Is(err, model.ErrNotFound) {
		return nil // an admin reset it meanwhile, or it is gone
	}
	return err
}

// tempSnapshotLegs snapshots every leg of a volume in use, under one pause of the hosts'
// I/O, into legs owned by the backup; createBackup deletes them when done.
func (m *Manager) tempSnapshotLegs(ctx context.Context, backupID, volumeID string, log *slog.Logger) ([]*model.Leg, error) {
	st := m.db.Store()
	if err := m.deleteLegs(ctx, backupID); err != nil { // a half-taken set of an earlier run
		return nil, err
	}
	vlegs, err := st.ListLegs(ctx, volumeID)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	var legs []*model.Leg
	for _, vl := range vlegs {
		if vl.Status != model.LegAvailable {
			continue
		}
		legs = append(legs, &model.Leg{
			ID: uuid.NewString(), OwnerKind: model.OwnerSnapshot, OwnerID: backupID, Group: vl.Group,
			Mirror: vl.Mirror, DPVID: vl.DPVID, SizeBytes: vl.SizeBytes, SourceLegID: vl.ID,
			Status: model.LegCreating, CreatedAt: now, UpdatedAt: now,
		})
	}
	if err := st.CreateLegs(ctx, legs); err != nil {
		return nil, err
	}
	resume, err := m.quiesceHosts(ctx, volumeID, log)
	if err != nil {
		return nil, err
	}
	defer resume()
	dpvs := map[string]*model.DPV{}
	for _, l := range legs {
		ag, err := m.agentFor(ctx, dpvs, l.DPVID)
		if err != nil {
			return nil, err
		}
		if _, err := ag.SnapshotLeg(ctx, l.ID, l.SourceLegID); err != nil {
			return nil, fmt.Errorf("snapshot leg %s: %w", l.SourceLegID, err)
		}
		l.Status = model.LegAvailable
		if err := st.UpdateLeg(ctx, l); err != nil {
			return nil, err
		}
	}
	return legs, nil
}

// restoreBackup writes a backup into every mirror leg of its target volume, checking every
// chunk's sha256 first, then gives the volume the backed-up volume's metadata and bootable flag.
func (m *Manager) restoreBackup(ctx context.Context, w *model.Workflow, log *slog.Logger) error {
	p, err := backupParams(w)
	if err != nil {
		return err
	}
	st := m.db.Store()
	b, err := st.GetBackup(ctx, p.BackupID)
	if err != nil {
		return err
	}
	if m.opts.Backup == nil {
		return errNoBackupDriver
	}
	if p.NewVolume {
		if err := m.waitRestoreTarget(ctx, w.VolumeID, m.leaseRenewer(ctx, w)); err != nil {
			return err
		}
	}
	v, err := st.GetVolume(ctx, w.VolumeID)
	if err != nil {
		return err
	}
	man, err := m.opts.Backup.Manifest(b.ServiceMetadata)
	if err != nil {
		return err
	}
	if man.SizeBytes > int64(v.Size)*model.GiB {
		return model.Errorf(model.ErrInvalid, "Backup of %d bytes does not fit volume %s of %d GiB.", man.SizeBytes, v.ID, v.Size)
	}
	legs, err := st.ListLegs(ctx, v.ID)
	if err != nil {
		return err
	}
	dpvs := map[string]*model.DPV{}
	renew := m.leaseRenewer(ctx, w)
	write := func(ctx context.Context, buf []byte, off int64) error {
		renew()
		return m.writeLogical(ctx, dpvs, legs, v.Layout, buf, off)
	}
	if man, err = m.opts.Backup.Restore(ctx, b.ServiceMetadata, write, !p.NewVolume); err != nil {
		return err
	}
	log.Info("backup restored", "backup_id", b.ID, "chunks", len(man.Chunks))
	return m.db.InTx(ctx, func(s *db.Store) error {
		v, err := s.GetVolume(ctx, w.VolumeID)
		if err != nil {
			return err
		}
		if v.Status == model.StatusRestoring {
			v.Status = model.StatusAvailable
		}
		v.Bootable = v.Bootable || man.Volume.Bootable
		v.ErrorReason = ""
		if err := s.UpdateVolume(ctx, v); err != nil {
			return err
		}
		if len(man.Volume.Metadata) > 0 {
			if err := s.SetVolumeMetadata(ctx, v.ID, man.Volume.Metadata, false); err != nil {
				return err
			}
		}
		if err := s.SetBackupStatus(ctx, b.ID, []string{model.BackupRestoring}, model.BackupAvailable); err != nil && !errors.Is(err, model.ErrConflict) {
			return err
		}
		return finishIn(ctx, s, w, model.WfDone, "")
	})
}

// waitRestoreTarget waits until the volume created for a restore has left creating, then takes
// it for the restore (available -> restoring-backup). A volume that failed to create, or that
// someone took meanwhile, fails the restore.
func (m *Manager) waitRestoreTarget(ctx context.Context, volumeID string, renew func()) error {
	st := m.db.Store()
	deadline := time.Now().Add(restoreWaitLimit)
	for {
		v, err := st.GetVolume(ctx, volumeID)
		if err != nil {
			return err
		}
		switch v.Status {
		case model.StatusRestoring:
			return nil // taken by an earlier run
		case model.StatusAvailable:
			err := st.SetVolumeStatus(ctx, volumeID, []string{model.StatusAvailable}, model.StatusRestoring)
			if errors.Is(err, model.ErrConflict) {
				continue
			}
			return err
		case model.StatusCreating:
			renew()
			if time.Now().After(deadline) {
				return model.Errorf(model.ErrInvalid, "Volume %s created for the restore did not become available in time.", volumeID)
			}
		default:
			return model.Errorf(model.ErrInvalid, "Volume %s created for the restore is %s.", volumeID, v.Status)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-m.stop:
			// Left running: the manager that starts next resumes the wait.
			return model.Errorf(model.ErrUnavailable, "The volume manager is stopping.")
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// deleteBackup removes the backup's stored data (unless another backup record, made by
// import_record, still points at it), then soft-deletes it and releases its quota.
func (m *Manager) deleteBackup(ctx context.Context, w *model.Workflow, log *slog.Logger) error {
	p, err := backupParams(w)
	if err != nil {
		return err
	}
	st := m.db.Store()
	b, err := st.GetBackup(ctx, p.BackupID)
	if errors.Is(err, model.ErrNotFound) {
		return m.finish(ctx, w, model.WfDone, "")
	} else if err != nil {
		return err
	}
	if err := m.removeBackupData(ctx, b); err != nil {
		return err
	}
	if err := m.deleteLegs(ctx, b.ID); err != nil { // temporary legs of an interrupted create
		return err
	}
	return m.db.InTx(ctx, func(s *db.Store) error {
		if err := s.DeleteBackup(ctx, b.ID); err != nil {
			return err
		}
		if err := s.Reserve(ctx, b.ProjectID, BackupQuota(b, -1), nil); err != nil {
			return err
		}
		return finishIn(ctx, s, w, model.WfDone, "")
	})
}

// removeBackupData deletes a backup's files unless another live record shares them.
func (m *Manager) removeBackupData(ctx context.Context, b *model.Backup) error {
	if b.ServiceMetadata == "" {
		return nil
	}
	others, err := m.db.Store().ListBackups(ctx, db.BackupQuery{ServiceMetadata: b.ServiceMetadata})
	if err != nil {
		return err
	}
	for _, o := range others {
		if o.ID != b.ID {
			return nil
		}
	}
	if m.opts.Backup == nil {
		return errNoBackupDriver
	}
	return m.opts.Backup.Delete(b.ServiceMetadata)
}

// importBackup checks that the stored data an imported record points at is there and whole
// enough to restore (its manifest parses), then makes the backup available.
func (m *Manager) importBackup(ctx context.Context, w *model.Workflow, log *slog.Logger) error {
	p, err := backupParams(w)
	if err != nil {
		return err
	}
	st := m.db.Store()
	b, err := st.GetBackup(ctx, p.BackupID)
	if errors.Is(err, model.ErrNotFound) {
		return m.finish(ctx, w, model.WfFailed, "backup no longer exists")
	} else if err != nil {
		return err
	}
	if m.opts.Backup == nil {
		return errNoBackupDriver
	}
	man, err := m.opts.Backup.Manifest(b.ServiceMetadata)
	if err != nil {
		return err
	}
	return m.db.InTx(ctx, func(s *db.Store) error {
		cur, err := s.GetBackup(ctx, b.ID)
		if err != nil {
			return err
		}
		if cur.Status == model.BackupCreating {
			cur.Status, cur.ObjectCount = model.BackupAvailable, len(man.Chunks)
			if err := s.UpdateBackup(ctx, cur); err != nil {
				return err
			}
		}
		return finishIn(ctx, s, w, model.WfDone, "")
	})
}

// rollbackBackup ends a failed backup workflow: the backup and its volume get error statuses
// with the reason, and a failed create leaves no data or temporary legs behind.
func (m *Manager) rollbackBackup(ctx context.Context, w *model.Workflow, cause error) error {
	reason := model.UserMessage(cause)
	p, err := backupParams(w)
	if err != nil {
		return m.finish(ctx, w, model.WfFailed, reason)
	}
	b, err := m.db.Store().GetBackup(ctx, p.BackupID)
	if errors.Is(err, model.ErrNotFound) {
		return m.finish(ctx, w, model.WfFailed, reason)
	} else if err != nil {
		return err
	}
	if w.Kind == model.WfCreateBackup {
		if err := m.deleteLegs(ctx, b.ID); err != nil && !errors.Is(err, model.ErrUnavailable) {
			return err
		}
		if m.opts.Backup != nil {
			if err := m.opts.Backup.Delete(b.ServiceMetadata); err != nil && !errors.Is(err, model.ErrInvalid) {
				return err
			}
		}
	}
	return m.db.InTx(ctx, func(s *db.Store) error {
		status := model.BackupError
		switch {
		case w.Kind == model.WfDeleteBackup:
			status = "error_deleting"
		case w.Kind == model.WfRestoreBackup && !errors.Is(cause, backup.ErrCorrupt):
			status = model.BackupAvailable // the backup is fine; the target failed
		}
		if cur, err := s.GetBackup(ctx, b.ID); err == nil && cur.Status != model.BackupDeleting || w.Kind == model.WfDeleteBackup {
			b.Status, b.FailReason = status, reason
			if err := s.UpdateBackup(ctx, b); err != nil && !errors.Is(err, model.ErrNotFound) {
				return err
			}
		}
		switch w.Kind {
		case model.WfCreateBackup:
			if err := m.releaseBackupSource(ctx, s, b, p); err != nil {
				return err
			}
		case model.WfRestoreBackup:
			if v, err := s.GetVolume(ctx, w.VolumeID); err == nil && (v.Status == model.StatusRestoring || v.Status == model.StatusCreating) {
				v.Status, v.ErrorReason = model.StatusErrorRestoring, reason
				if err := s.UpdateVolume(ctx, v); err != nil {
					return err
				}
			}
		}
		return finishIn(ctx, s, w, model.WfFailed, reason)
	})
}

// leaseRenewer returns a func that touches the workflow at most every few seconds, so a long
// copy is not taken for a stale workflow by another manager.
func (m *Manager) leaseRenewer(ctx context.Context, w *model.Workflow) func() {
	last := time.Now()
	every := max(m.opts.StaleAfter/4, time.Second)
	return func() {
		if time.Since(last) < every {
			return
		}
		last = time.Now()
		if err := m.db.Store().UpdateWorkflow(ctx, w); err != nil {
			m.log.Warn("renew workflow", "workflow_id", w.ID, "err", err)
		}
	}
}

// BackupQuota is the quota a backup holds, times sign.
func BackupQuota(b *model.Backup, sign int64) map[string]int64 {
	return map[string]int64{model.ResBackups: sign, model.ResBackupGigabytes: sign * int64(b.Size)}
}
