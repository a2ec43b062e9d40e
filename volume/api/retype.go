package api

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume/rpc"
)

// RetypeVolume starts changing volume id to type newType (id or name) — Cinder's os-retype. It
// checks what can be checked now, sets the volume "retyping" and casts a retype_volume workflow
// to the scheduler, which keeps the volume where it is when its dvg satisfies the new type with
// the same layout (only the type changes), and otherwise, with policy on-demand, places new legs
// and lets the manager migrate the volume (policy never: the retype fails and the volume goes
// back to its status, with the reason). Errors: ErrInvalid for a bad policy, the same type, a
// volume not available or in-use, or one being migrated, and for a new layout with policy never
// or on an attached volume (known here, unlike the backend question); ErrNotFound for an unknown volume or
// type; a QuotaError when the new type's per-type quota is exceeded.
func (a *API) RetypeVolume(ctx context.Context, c Caller, id, newType, policy string) error {
	if policy == "" {
		policy = model.MigrationNever
	}
	if policy != model.MigrationNever && policy != model.MigrationOnDemand {
		return model.Errorf(model.ErrInvalid, "Invalid migration_policy %q: must be never or on-demand.", policy)
	}
	vt, err := a.lookupType(ctx, c, newType)
	if err != nil {
		return err
	}
	lay, err := a.layoutOf(vt.ExtraSpecs)
	if err != nil {
		return err
	}
	var wf *model.Workflow
	err = a.db.InTx(ctx, func(s *db.Store) error {
		v, err := getVolume(ctx, s, c, id)
		if err != nil {
			return err
		}
		if v.Status != model.StatusAvailable && v.Status != model.StatusInUse {
			return model.Errorf(model.ErrInvalid, "Invalid volume: Volume %s status must be available or in-use to retype, but current status is: %s.", id, v.Status)
		}
		if err := notMigrating(v); err != nil {
			return err
		}
		if v.VolumeTypeID == vt.ID {
			return model.Errorf(model.ErrInvalid, "Invalid input received: New volume type must be different from the original.")
		}
		if lay != v.Layout {
			// A new layout means new legs: only a migration can do that, and only detached.
			if policy == model.MigrationNever {
				return model.Errorf(model.ErrInvalid, "Invalid input received: Volume type %s has another layout (dlvm:mirrors, dlvm:stripes, dlvm:stripe_chunk_kib); changing it needs migration_policy on-demand.", vt.Name)
			}
			if v.Status != model.StatusAvailable {
				return model.Errorf(model.ErrInvalid, "Invalid volume: Volume type %s has another layout, which needs a migration, and an attached volume cannot be migrated.", vt.Name)
			}
		}
		limits, err := a.effectiveLimits(ctx, s, v.ProjectID)
		if err != nil {
			return err
		}
		if err := a.checkTypeQuota(ctx, s, v.ProjectID, vt, limits, 1, int64(v.Size), 0); err != nil {
			return err
		}
		wf, err = a.startRetype(ctx, s, v, model.StatusRetyping, model.RetypeParams{
			NewTypeID: vt.ID, Layout: lay, Policy: policy, OldStatus: v.Status})
		return err
	})
	if err != nil {
		return err
	}
	a.log.Info("volume retype started", "volume_id", id, "new_type", vt.Name, "policy", policy, "workflow_id", wf.ID)
	a.cast(ctx, rpc.TopicScheduler, rpc.MethodSchedule, wf.ID)
	return nil
}

// MigrateVolume starts moving an available volume to host ("dlvm@<backend>#<dvg>", or
// "dlvm@<backend>" when that backend has one dvg) — Cinder's admin os-migrate_volume. The volume
// keeps its type and layout and is locked (status maintenance) while its bytes are copied to new
// legs in the destination dvg; migration_status goes starting, migrating, success (or error,
// the volume back to available). forceHostCopy is accepted for compatibility: dlvm always
// copies through its managers. Errors: ErrForbidden for a non-admin; ErrInvalid for an unknown
// host, the volume's own host, a volume not available, one with snapshots or being migrated.
func (a *API) MigrateVolume(ctx context.Context, c Caller, id, host string, forceHostCopy bool) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	var wf *model.Workflow
	err := a.db.InTx(ctx, func(s *db.Store) error {
		v, err := getVolume(ctx, s, c, id)
		if err != nil {
			return err
		}
		if v.Status != model.StatusAvailable {
			return model.Errorf(model.ErrInvalid, "Invalid volume: Volume %s status must be available to migrate, but current status is: %s.", id, v.Status)
		}
		if err := notMigrating(v); err != nil {
			return err
		}
		g, err := dvgOfHost(ctx, s, host)
		if err != nil {
			return err
		}
		if g.ID == v.DVGID {
			return model.Errorf(model.ErrInvalid, "Invalid host: Destination host must be different than the current host.")
		}
		snaps, err := s.ListSnapshots(ctx, db.SnapshotQuery{VolumeID: v.ID})
		if err != nil {
			return err
		}
		if len(snaps) > 0 {
			return model.Errorf(model.ErrInvalid, "Invalid volume: Volume must not have snapshots.")
		}
		wf, err = a.startRetype(ctx, s, v, model.StatusMaintenance, model.RetypeParams{
			Layout: v.Layout, Policy: model.MigrationOnDemand, OldStatus: v.Status, DestDVGID: g.ID, ForceCopy: true})
		return err
	})
	if err != nil {
		return err
	}
	a.log.Info("volume migration started", "volume_id", id, "host", host, "force_host_copy", forceHostCopy, "workflow_id", wf.ID)
	a.cast(ctx, rpc.TopicScheduler, rpc.MethodSchedule, wf.ID)
	return nil
}

// startRetype locks v in status and writes its retype_volume workflow, in the caller's
// transaction.
func (a *API) startRetype(ctx context.Context, s *db.Store, v *model.Volume, status string, p model.RetypeParams) (*model.Workflow, error) {
	if err := stateErr(s.SetVolumeStatus(ctx, v.ID, []string{p.OldStatus}, status)); err != nil {
		return nil, err
	}
	if status == model.StatusMaintenance {
		v, err := s.GetVolume(ctx, v.ID)
		if err != nil {
			return nil, err
		}
		v.MigrationStatus = "starting"
		if err := s.UpdateVolume(ctx, v); err != nil {
			return nil, err
		}
	}
	params, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	wf := newWorkflow(model.WfRetypeVolume, v.ID, "", params)
	return wf, s.CreateWorkflow(ctx, wf)
}

func notMigrating(v *model.Volume) error {
	switch v.MigrationStatus {
	case "starting", model.MigrationMigrating:
		return model.Errorf(model.ErrInvalid, "Invalid volume: Volume %s is already part of an active migration.", v.ID)
	}
	return nil
}

// dvgOfHost finds the dvg a Cinder host names: "dlvm@<backend>#<dvg>" by dvg name (the backend
// must match), "dlvm@<backend>" when that backend has exactly one dvg.
func dvgOfHost(ctx context.Context, s *db.Store, host string) (*model.DVG, error) {
	_, rest, ok := strings.Cut(host, "@")
	if !ok || rest == "" {
		return nil, model.Errorf(model.ErrInvalid, "Invalid host %q: expected host@backend#pool.", host)
	}
	backend, pool, hasPool := strings.Cut(rest, "#")
	dvgs, err := s.ListDVGs(ctx)
	if err != nil {
		return nil, err
	}
	var found []*model.DVG
	for _, g := range dvgs {
		if g.BackendName == backend && (!hasPool || g.Name == pool) {
			found = append(found, g)
		}
	}
	if len(found) != 1 {
		return nil, model.Errorf(model.ErrInvalid, "Invalid host: no single backend pool matches %s.", host)
	}
	return found[0], nil
}
