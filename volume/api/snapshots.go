package api

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume/rpc"
)

// snapshotStatuses are the values os-reset_status accepts for a snapshot.
var snapshotStatuses = []string{model.StatusCreating, model.StatusAvailable, model.StatusDeleting,
	model.StatusError, model.StatusErrorDeleting, "unmanaging", "backing-up", "restoring"}

// CreateSnapshot snapshots a volume: available (or in-use with force), reserves snapshots +
// gigabytes quota, inserts the snapshot (creating, Size = the volume's size) and a
// create_snapshot workflow in one transaction, casts it to the volume manager. On error nothing
// is written.
func (a *API) CreateSnapshot(ctx context.Context, c Caller, volumeID, name, description string, force bool, md map[string]string) (*model.Snapshot, error) {
	if len(name) > 255 || len(description) > 255 {
		return nil, model.Errorf(model.ErrInvalid, "Name and description must be at most 255 characters.")
	}
	if err := checkMetadata(md); err != nil {
		return nil, err
	}
	if md == nil {
		md = map[string]string{}
	}
	var sn *model.Snapshot
	var wf *model.Workflow
	err := a.db.InTx(ctx, func(s *db.Store) error {
		v, err := getVolume(ctx, s, c, volumeID)
		if err != nil {
			return err
		}
		sn, wf, err = a.snapshotVolume(ctx, s, c, v, name, description, force, md, "")
		return err
	})
	if err != nil {
		return nil, err
	}
	a.log.Info("snapshot create started", "snapshot_id", sn.ID, "volume_id", volumeID, "workflow_id", wf.ID)
	a.cast(ctx, rpc.TopicVolume, rpc.MethodRunWorkflow, wf.ID)
	return sn, nil
}

// snapshotVolume is CreateSnapshot's work inside the caller's transaction: it checks the
// volume's state, reserves quota and writes the snapshot (of group snapshot groupSnapshotID, or
// "") and its create_snapshot workflow. The caller casts the workflow once committed.
func (a *API) snapshotVolume(ctx context.Context, s *db.Store, c Caller, v *model.Volume, name, description string, force bool, md map[string]string, groupSnapshotID string) (*model.Snapshot, *model.Workflow, error) {
	ok := v.Status == model.StatusAvailable || (force && v.Status == model.StatusInUse)
	if !ok {
		return nil, nil, model.Errorf(model.ErrInvalid, "Invalid volume: Volume %s status must be available, but current status is: %s.", v.ID, v.Status)
	}
	limits, err := a.effectiveLimits(ctx, s, v.ProjectID)
	if err != nil {
		return nil, nil, err
	}
	if vt, err := s.GetType(ctx, v.VolumeTypeID); err == nil {
		if err := a.checkTypeQuota(ctx, s, v.ProjectID, vt, limits, 0, int64(v.Size), 1); err != nil {
			return nil, nil, err
		}
	}
	deltas := map[string]int64{model.ResSnapshots: 1, model.ResGigabytes: int64(v.Size)}
	if err := s.Reserve(ctx, v.ProjectID, deltas, limits); err != nil {
		return nil, nil, err
	}
	if md == nil {
		md = map[string]string{}
	}
	sn := &model.Snapshot{
		ID:              uuid.NewString(),
		ProjectID:       v.ProjectID,
		UserID:          c.UserID,
		VolumeID:        v.ID,
		Name:            name,
		Description:     description,
		Size:            v.Size,
		Status:          model.StatusCreating,
		Progress:        "0%",
		Metadata:        md,
		GroupSnapshotID: groupSnapshotID,
	}
	if err := s.CreateSnapshot(ctx, sn); err != nil {
		return nil, nil, err
	}
	wf := newWorkflow(model.WfCreateSnapshot, v.ID, sn.ID, nil)
	return sn, wf, s.CreateWorkflow(ctx, wf)
}

// GetSnapshot returns a snapshot the caller may see (ErrNotFound for another project's).
func (a *API) GetSnapshot(ctx context.Context, c Caller, id string) (*model.Snapshot, error) {
	return getSnapshot(ctx, a.db.Store(), c, id)
}

func getSnapshot(ctx context.Context, s *db.Store, c Caller, id string) (*model.Snapshot, error) {
	sn, err := s.GetSnapshot(ctx, id)
	if err != nil {
		return nil, notFound(err, "Snapshot %s could not be found.", id)
	}
	if !visible(c, sn.ProjectID) {
		return nil, model.Errorf(model.ErrNotFound, "Snapshot %s could not be found.", id)
	}
	return sn, nil
}

// ListSnapshots lists snapshots with the same project rules as ListVolumes.
func (a *API) ListSnapshots(ctx context.Context, c Caller, q db.SnapshotQuery, allTenants bool) ([]*model.Snapshot, error) {
	if !c.IsAdmin || !allTenants {
		q.ProjectID = c.ProjectID
	}
	return a.db.Store().ListSnapshots(ctx, q)
}

// CountSnapshots counts what ListSnapshots would return without paging (with_count, 3.45+).
func (a *API) CountSnapshots(ctx context.Context, c Caller, q db.SnapshotQuery, allTenants bool) (int, error) {
	if !c.IsAdmin || !allTenants {
		q.ProjectID = c.ProjectID
	}
	return a.db.Store().CountSnapshots(ctx, q)
}

// UpdateSnapshot changes name/description (nil = unchanged) and returns the snapshot.
func (a *API) UpdateSnapshot(ctx context.Context, c Caller, id string, name, description *string) (*model.Snapshot, error) {
	if (name != nil && len(*name) > 255) || (description != nil && len(*description) > 255) {
		return nil, model.Errorf(model.ErrInvalid, "Name and description must be at most 255 characters.")
	}
	var out *model.Snapshot
	err := a.db.InTx(ctx, func(s *db.Store) error {
		sn, err := getSnapshot(ctx, s, c, id)
		if err != nil {
			return err
		}
		if name != nil {
			sn.Name = *name
		}
		if description != nil {
			sn.Description = *description
		}
		if err := s.UpdateSnapshot(ctx, sn); err != nil {
			return err
		}
		out, err = s.GetSnapshot(ctx, id)
		return err
	})
	return out, err
}

// DeleteSnapshot starts deletion (available or error; force accepts any state): the snapshot
// goes to deleting and a delete_snapshot workflow is cast to the volume manager. Volumes created
// from the snapshot do not block it (they are independent copies). A snapshot already deleting
// is not an error. Quota is released by the manager when the delete completes.
func (a *API) DeleteSnapshot(ctx context.Context, c Caller, id string, force bool) error {
	var wf *model.Workflow
	err := a.db.InTx(ctx, func(s *db.Store) error {
		wf = nil
		sn, err := getSnapshot(ctx, s, c, id)
		if err != nil {
			return err
		}
		if sn.Status == model.StatusDeleting {
			// Already being deleted, unless an admin reset the status to deleting: then no
			// workflow runs and a force delete starts one.
			if !force {
				return nil
			}
			if running, err := s.HasUnfinishedWorkflow(ctx, model.WfDeleteSnapshot, sn.VolumeID, id); err != nil || running {
				return err
			}
		}
		if sn.GroupSnapshotID != "" && !force {
			return model.Errorf(model.ErrInvalid, "Invalid snapshot: Snapshot %s is part of group snapshot %s; delete the group snapshot instead.", id, sn.GroupSnapshotID)
		}
		from := []string{model.StatusAvailable, model.StatusError}
		if force {
			from = []string{sn.Status}
		} else if !slices.Contains(from, sn.Status) {
			return model.Errorf(model.ErrInvalid, "Invalid snapshot: Snapshot status must be available or error and must not be part of a group, but current status is: %s.", sn.Status)
		}
		if err := stateErr(s.SetSnapshotStatus(ctx, id, from, model.StatusDeleting)); err != nil {
			return err
		}
		wf = newWorkflow(model.WfDeleteSnapshot, sn.VolumeID, id, nil)
		return s.CreateWorkflow(ctx, wf)
	})
	if err != nil || wf == nil {
		return err
	}
	a.log.Info("snapshot delete started", "snapshot_id", id, "force", force, "workflow_id", wf.ID)
	a.cast(ctx, rpc.TopicVolume, rpc.MethodRunWorkflow, wf.ID)
	return nil
}

// ResetSnapshotStatus (admin) sets a snapshot's status to a known value.
func (a *API) ResetSnapshotStatus(ctx context.Context, c Caller, id, status string) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	if !slices.Contains(snapshotStatuses, status) {
		return model.Errorf(model.ErrInvalid, "Must specify a valid status")
	}
	return a.db.InTx(ctx, func(s *db.Store) error {
		if _, err := getSnapshot(ctx, s, c, id); err != nil {
			return err
		}
		return s.SetSnapshotStatus(ctx, id, nil, status)
	})
}

// snapshotStatusUpdates are the transitions os-update_snapshot_status allows (Nova's assisted
// snapshots report progress this way): from creating or deleting only.
var snapshotStatusUpdates = map[string][]string{
	model.StatusCreating: {model.StatusCreating, model.StatusAvailable, model.StatusError},
	model.StatusDeleting: {model.StatusDeleting, model.StatusErrorDeleting},
}

// UpdateSnapshotStatus (os-update_snapshot_status) moves a creating or deleting snapshot to
// one of its allowed next statuses and records progress ("NN%"), if given.
func (a *API) UpdateSnapshotStatus(ctx context.Context, c Caller, id, status, progress string) error {
	return a.db.InTx(ctx, func(s *db.Store) error {
		sn, err := getSnapshot(ctx, s, c, id)
		if err != nil {
			return err
		}
		next, ok := snapshotStatusUpdates[sn.Status]
		if !ok {
			return model.Errorf(model.ErrInvalid, "Snapshot status %s not allowed for update_snapshot_status", sn.Status)
		}
		if !slices.Contains(next, status) {
			return model.Errorf(model.ErrInvalid, "Provided snapshot status %s not allowed for snapshot with status %s.", status, sn.Status)
		}
		sn.Status = status
		if progress != "" {
			n, err := strconv.Atoi(strings.TrimSuffix(progress, "%"))
			if err != nil || !strings.HasSuffix(progress, "%") || n < 0 || n > 100 {
				return model.Errorf(model.ErrInvalid, "progress must be an integer percentage")
			}
			sn.Progress = progress
		}
		return s.UpdateSnapshot(ctx, sn)
	})
}

// SetSnapshotMetadata merges (or replaces) metadata and returns the result.
func (a *API) SetSnapshotMetadata(ctx context.Context, c Caller, id string, md map[string]string, replace bool) (map[string]string, error) {
	if err := checkMetadata(md); err != nil {
		return nil, err
	}
	var out map[string]string
	err := a.db.InTx(ctx, func(s *db.Store) error {
		if _, err := getSnapshot(ctx, s, c, id); err != nil {
			return err
		}
		if err := s.SetSnapshotMetadata(ctx, id, md, replace); err != nil {
			return err
		}
		sn, err := s.GetSnapshot(ctx, id)
		if err != nil {
			return err
		}
		out = sn.Metadata
		return nil
	})
	return out, err
}

// DeleteSnapshotMetadata removes one key; ErrNotFound if absent.
func (a *API) DeleteSnapshotMetadata(ctx context.Context, c Caller, id, key string) error {
	if _, err := a.GetSnapshot(ctx, c, id); err != nil {
		return err
	}
	return notFound(a.db.Store().DeleteSnapshotMetadata(ctx, id, key), "Metadata item was not found")
}
