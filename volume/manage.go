package volume

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
)

// Statuses of a volume or snapshot being adopted by os-volume-manage / os-snapshot-manage.
const (
	statusManaging      = "managing"
	statusErrorManaging = "error_managing"
)

// manageOwner checks that every leg the service layer adopted for a managed volume or snapshot
// is on its dpv (it reads its first byte there), then makes the owner available.
func (m *Manager) manageOwner(ctx context.Context, w *model.Workflow, log *slog.Logger) error {
	st := m.db.Store()
	owner := w.VolumeID
	if w.Kind == model.WfManageSnapshot {
		owner = w.SnapshotID
	}
	legs, err := st.ListLegs(ctx, owner)
	if err != nil {
		return err
	}
	if len(legs) == 0 {
		return model.Errorf(model.ErrInvalid, "Manage existing failed: no legs to adopt.")
	}
	dpvs := map[string]*model.DPV{}
	one := make([]byte, 1)
	for _, l := range legs {
		ag, err := m.agentFor(ctx, dpvs, l.DPVID)
		if err != nil {
			return err
		}
		if _, err := ag.ReadAt(ctx, l.ID, one, 0); err != nil {
			return model.Wrap(model.ErrInvalid, fmt.Errorf("leg %s: %w", l.ID, err),
				fmt.Sprintf("Manage existing failed: leg %s is not on its storage server.", l.ID))
		}
	}
	log.Info("legs adopted", "legs", len(legs))
	return m.db.InTx(ctx, func(s *db.Store) error {
		var err error
		if w.Kind == model.WfManageSnapshot {
			err = s.SetSnapshotStatus(ctx, owner, []string{statusManaging}, model.StatusAvailable)
		} else {
			err = s.SetVolumeStatus(ctx, owner, []string{statusManaging}, model.StatusAvailable)
		}
		if err != nil {
			return err
		}
		return finishIn(ctx, s, w, model.WfDone, "")
	})
}

// rollbackManage leaves a failed adoption in error_managing (a snapshot in error) with the
// reason; the legs stay with it, so deleting it removes them and unmanaging it frees them again.
func (m *Manager) rollbackManage(ctx context.Context, w *model.Workflow, reason string) error {
	return m.db.InTx(ctx, func(s *db.Store) error {
		if w.Kind == model.WfManageVolume {
			return m.failVolume(ctx, s, w, statusErrorManaging, reason)
		}
		if sn, err := s.GetSnapshot(ctx, w.SnapshotID); err == nil {
			sn.Status, sn.ErrorReason = model.StatusError, reason
			if err := s.UpdateSnapshot(ctx, sn); err != nil {
				return err
			}
		}
		return finishIn(ctx, s, w, model.WfFailed, reason)
	})
}
