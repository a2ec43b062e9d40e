package volume

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
)

// Steps of retype_volume (a migration; a retype in place never reaches the manager).
const (
	stepMigLegs    = 0 // the new legs, owned by the workflow, exist on their dpvs
	stepMigCopy    = 1 // the volume's bytes copied into them (re-striped when the layout changes)
	stepMigSwap    = 2 // one transaction: legs swapped, volume takes type, layout, dvg and host
	stepMigCleanup = 3 // the old legs, now owned by the workflow, deleted
)

func retypeParams(w *model.Workflow) (model.RetypeParams, error) {
	var p model.RetypeParams
	if err := json.Unmarshal(w.Params, &p); err != nil || !p.Migrate {
		return p, model.Errorf(model.ErrInvalid, "bad retype parameters")
	}
	return p, nil
}

// retypeVolume migrates a volume to the legs the scheduler placed under the workflow id. The
// volume is locked (retyping or maintenance) and detached throughout, so the copy sees no
// writes. Each step is idempotent and recorded; the swap and the volume's new placement are one
// transaction, so a crash leaves either the old volume whole or the new one.
func (m *Manager) retypeVolume(ctx context.Context, w *model.Workflow, log *slog.Logger) error {
	p, err := retypeParams(w)
	if err != nil {
		return err
	}
	st := m.db.Store()
	v, err := st.GetVolume(ctx, w.VolumeID)
	if errors.Is(err, model.ErrNotFound) {
		if err := m.deleteLegs(ctx, w.ID); err != nil {
			return err
		}
		return m.finish(ctx, w, model.WfFailed, "volume no longer exists")
	} else if err != nil {
		return err
	}
	dpvs := map[string]*model.DPV{}
	if w.Step <= stepMigLegs {
		legs, err := st.ListLegs(ctx, w.ID)
		if err != nil {
			return err
		}
		if len(legs) != p.Layout.Legs() {
			return model.Errorf(model.ErrInvalid, "migration has %d legs placed, the layout needs %d", len(legs), p.Layout.Legs())
		}
		for _, l := range legs {
			if l.Status == model.LegAvailable {
				continue
			}
			ag, err := m.agentFor(ctx, dpvs, l.DPVID)
			if err != nil {
				return err
			}
			if _, err := ag.CreateLeg(ctx, l.ID, l.SizeBytes); err != nil {
				return fmt.Errorf("leg %s: %w", l.ID, err)
			}
			l.Status = model.LegAvailable
			if err := st.UpdateLeg(ctx, l); err != nil {
				return err
			}
		}
		if err := m.advance(ctx, w, stepMigCopy); err != nil {
			return err
		}
	}
	if w.Step <= stepMigCopy {
		old, err := st.ListLegs(ctx, v.ID)
		if err != nil {
			return err
		}
		legs, err := st.ListLegs(ctx, w.ID)
		if err != nil {
			return err
		}
		log.Info("migrating volume", "from_dvg", v.DVGID, "to_dvg", p.DVGID, "from", v.Layout, "to", p.Layout)
		src := &source{legs: old, layout: v.Layout, sizeGiB: v.Size}
		if err := m.copyLogical(ctx, dpvs, src, legs, p.Layout, int64(v.Size)*model.GiB); err != nil {
			return err
		}
		if err := m.advance(ctx, w, stepMigSwap); err != nil {
			return err
		}
	}
	if w.Step <= stepMigSwap {
		err := m.db.InTx(ctx, func(s *db.Store) error {
			if err := s.SwapLegOwners(ctx, v.ID, w.ID); err != nil {
				return err
			}
			v, err := s.GetVolume(ctx, w.VolumeID)
			if err != nil {
				return err
			}
			if p.NewTypeID != "" {
				v.VolumeTypeID = p.NewTypeID
			}
			v.Layout, v.DVGID, v.Host = p.Layout, p.DVGID, p.Host
			v.Status, v.MigrationStatus, v.ErrorReason = p.OldStatus, model.MigrationSuccess, ""
			v.Epoch++
			if err := s.UpdateVolume(ctx, v); err != nil {
				return err
			}
			w.Step = stepMigCleanup
			return s.UpdateWorkflow(ctx, w)
		})
		if err != nil {
			w.Step = stepMigSwap
			return err
		}
	}
	// The old legs are the workflow's now.
	if err := m.deleteLegs(ctx, w.ID); err != nil {
		return err
	}
	return m.finish(ctx, w, model.WfDone, "")
}

// rollbackRetype deletes the new legs of a migration that failed before its swap and gives the
// volume its status back with migration_status error and the reason. After the swap the volume
// is already migrated; only old legs may be left, and they are deleted again.
func (m *Manager) rollbackRetype(ctx context.Context, w *model.Workflow, reason string) error {
	if err := m.deleteLegs(ctx, w.ID); err != nil && !errors.Is(err, model.ErrUnavailable) {
		return err
	}
	p, _ := retypeParams(w)
	return m.db.InTx(ctx, func(s *db.Store) error {
		if w.Step < stepMigCleanup {
			v, err := s.GetVolume(ctx, w.VolumeID)
			if err == nil && (v.Status == model.StatusRetyping || v.Status == model.StatusMaintenance) {
				v.Status = p.OldStatus
				if v.Status == "" {
					v.Status = model.StatusAvailable
				}
				v.MigrationStatus, v.ErrorReason = model.MigrationError, reason
				if err := s.UpdateVolume(ctx, v); err != nil {
					return err
				}
			} else if err != nil && !errors.Is(err, model.ErrNotFound) {
				return err
			}
		}
		return finishIn(ctx, s, w, model.WfFailed, reason)
	})
}
