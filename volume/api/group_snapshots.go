package api

import (
	"context"
	"errors"
	"slices"

	"github.com/google/uuid"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume/rpc"
)

// groupSnapshotStatuses are the values a group snapshot's reset_status accepts.
var groupSnapshotStatuses = []string{model.StatusCreating, model.StatusAvailable, model.StatusDeleting,
	model.StatusError, "error_deleting"}

// CreateGroupSnapshot snapshots every volume of an available group (available or in-use
// volumes) in one transaction: the group snapshot (creating), one snapshot per volume with its
// quota and create_snapshot workflow. The volume manager makes each snapshot's bytes with the
// ordinary snapshot workflow (pausing I/O of an attached volume); the group snapshot becomes
// available when the last one does, error when one fails. On error nothing is written.
func (a *API) CreateGroupSnapshot(ctx context.Context, c Caller, groupID, name, description string) (*model.GroupSnapshot, error) {
	if len(name) > 255 || len(description) > 255 {
		return nil, model.Errorf(model.ErrInvalid, "Name and description must be at most 255 characters.")
	}
	var gs *model.GroupSnapshot
	var wfs []*model.Workflow
	err := a.db.InTx(ctx, func(s *db.Store) error {
		wfs = nil
		g, err := getGroup(ctx, s, c, groupID)
		if err != nil {
			return err
		}
		if g.Status != model.StatusAvailable {
			return model.Errorf(model.ErrInvalid, "Invalid group: Group %s status must be available, but current status is: %s.", groupID, g.Status)
		}
		vols, err := s.ListVolumes(ctx, db.VolumeQuery{GroupID: groupID})
		if err != nil {
			return err
		}
		gs = &model.GroupSnapshot{ID: uuid.NewString(), ProjectID: g.ProjectID, UserID: c.UserID, GroupID: groupID,
			GroupTypeID: g.GroupTypeID, Name: name, Description: description, Status: model.StatusCreating}
		if err := s.CreateGroupSnapshot(ctx, gs); err != nil {
			return err
		}
		for _, v := range vols {
			_, wf, err := a.snapshotVolume(ctx, s, c, v, "snapshot-"+gs.ID, "", true, nil, gs.ID)
			if err != nil {
				return err
			}
			wfs = append(wfs, wf)
		}
		return s.CompleteGroupSnapshotCreate(ctx, gs.ID) // an empty group: available at once
	})
	if err != nil {
		return nil, err
	}
	for _, wf := range wfs {
		a.cast(ctx, rpc.TopicVolume, rpc.MethodRunWorkflow, wf.ID)
	}
	a.log.Info("group snapshot create started", "group_snapshot_id", gs.ID, "group_id", groupID, "snapshots", len(wfs))
	return gs, nil
}

// GetGroupSnapshot returns a group snapshot the caller may see.
func (a *API) GetGroupSnapshot(ctx context.Context, c Caller, id string) (*model.GroupSnapshot, error) {
	return getGroupSnapshot(ctx, a.db.Store(), c, id)
}

func getGroupSnapshot(ctx context.Context, s *db.Store, c Caller, id string) (*model.GroupSnapshot, error) {
	gs, err := s.GetGroupSnapshot(ctx, id)
	if err != nil {
		return nil, notFound(err, "GroupSnapshot %s could not be found.", id)
	}
	if !visible(c, gs.ProjectID) {
		return nil, model.Errorf(model.ErrNotFound, "GroupSnapshot %s could not be found.", id)
	}
	return gs, nil
}

// ListGroupSnapshots lists group snapshots with the project rules of ListVolumes.
func (a *API) ListGroupSnapshots(ctx context.Context, c Caller, q db.GroupSnapshotQuery, allTenants bool) ([]*model.GroupSnapshot, error) {
	if !c.IsAdmin || !allTenants {
		q.ProjectID = c.ProjectID
	}
	return a.db.Store().ListGroupSnapshots(ctx, q)
}

// DeleteGroupSnapshot deletes a group snapshot (available or error; again when already deleting)
// with every snapshot of it; the row goes when the manager has deleted the last snapshot.
func (a *API) DeleteGroupSnapshot(ctx context.Context, c Caller, id string) error {
	var wfs []*model.Workflow
	err := a.db.InTx(ctx, func(s *db.Store) error {
		wfs = nil
		gs, err := getGroupSnapshot(ctx, s, c, id)
		if err != nil {
			return err
		}
		if !slices.Contains([]string{model.StatusAvailable, model.StatusError, model.StatusDeleting}, gs.Status) {
			return model.Errorf(model.ErrInvalid, "Invalid group snapshot: Group snapshot status must be available or error, but current status is: %s.", gs.Status)
		}
		snaps, err := s.ListSnapshots(ctx, db.SnapshotQuery{GroupSnapshotID: id})
		if err != nil {
			return err
		}
		for _, sn := range snaps {
			if sn.Status == model.StatusDeleting {
				continue
			}
			if err := s.SetSnapshotStatus(ctx, sn.ID, nil, model.StatusDeleting); err != nil {
				return err
			}
			wf := newWorkflow(model.WfDeleteSnapshot, sn.VolumeID, sn.ID, nil)
			if err := s.CreateWorkflow(ctx, wf); err != nil {
				return err
			}
			wfs = append(wfs, wf)
		}
		if gs.Status != model.StatusDeleting {
			if err := s.SetGroupSnapshotStatus(ctx, id, nil, model.StatusDeleting); err != nil {
				return err
			}
		}
		return s.CompleteGroupSnapshotDelete(ctx, id)
	})
	if err != nil {
		return err
	}
	for _, wf := range wfs {
		a.cast(ctx, rpc.TopicVolume, rpc.MethodRunWorkflow, wf.ID)
	}
	a.log.Info("group snapshot delete started", "group_snapshot_id", id, "snapshots", len(wfs))
	return nil
}

// ResetGroupSnapshotStatus (admin) sets a group snapshot's status.
func (a *API) ResetGroupSnapshotStatus(ctx context.Context, c Caller, id, status string) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	if !slices.Contains(groupSnapshotStatuses, status) {
		return model.Errorf(model.ErrInvalid, "Group snapshot status %s not allowed.", status)
	}
	return a.db.InTx(ctx, func(s *db.Store) error {
		if _, err := getGroupSnapshot(ctx, s, c, id); err != nil {
			return err
		}
		return s.SetGroupSnapshotStatus(ctx, id, nil, status)
	})
}

// CreateGroupFromSource makes a new group of the source's type and volume types with one new
// volume per source member: from each snapshot of the group snapshot, or cloned from each
// volume of the source group, through the ordinary create_volume workflow (the bytes are
// copied by the volume manager). The group is creating until its last volume is available
// (error if one fails). Exactly one of groupSnapshotID and sourceGroupID is given.
func (a *API) CreateGroupFromSource(ctx context.Context, c Caller, name, description, groupSnapshotID, sourceGroupID string) (*model.Group, error) {
	if (groupSnapshotID == "") == (sourceGroupID == "") {
		return nil, model.Errorf(model.ErrInvalid, "Either group_snapshot_id or source_group_id must be provided, but not both.")
	}
	var src *model.Group
	var reqs []CreateVolumeRequest
	s := a.db.Store()
	if groupSnapshotID != "" {
		gs, err := a.GetGroupSnapshot(ctx, c, groupSnapshotID)
		if err != nil {
			return nil, err
		}
		if gs.Status != model.StatusAvailable {
			return nil, model.Errorf(model.ErrInvalid, "Invalid group snapshot: Group snapshot %s status must be available, but current status is: %s.", gs.ID, gs.Status)
		}
		if src, err = s.GetGroup(ctx, gs.GroupID); err != nil {
			return nil, notFound(err, "Group %s could not be found.", gs.GroupID)
		}
		snaps, err := s.ListSnapshots(ctx, db.SnapshotQuery{GroupSnapshotID: gs.ID})
		if err != nil {
			return nil, err
		}
		for _, sn := range snaps {
			v, err := s.GetVolume(ctx, sn.VolumeID)
			if err != nil {
				return nil, notFound(err, "Volume %s could not be found.", sn.VolumeID)
			}
			reqs = append(reqs, CreateVolumeRequest{Name: v.Name, Description: v.Description, SnapshotID: sn.ID, VolumeType: v.VolumeTypeID})
		}
	} else {
		var err error
		if src, err = a.GetGroup(ctx, c, sourceGroupID); err != nil {
			return nil, err
		}
		if src.Status != model.StatusAvailable {
			return nil, model.Errorf(model.ErrInvalid, "Invalid group: Source group %s status must be available, but current status is: %s.", src.ID, src.Status)
		}
		vols, err := s.ListVolumes(ctx, db.VolumeQuery{GroupID: src.ID})
		if err != nil {
			return nil, err
		}
		for _, v := range vols {
			reqs = append(reqs, CreateVolumeRequest{Name: v.Name, Description: v.Description, SourceVolID: v.ID, VolumeType: v.VolumeTypeID})
		}
	}
	for i := range reqs { // check every source up front, so a bad one writes nothing
		if _, err := a.resolveSource(ctx, c, reqs[i]); err != nil {
			return nil, err
		}
	}
	g := &model.Group{ID: uuid.NewString(), ProjectID: c.ProjectID, UserID: c.UserID, Name: name, Description: description,
		Status: model.StatusCreating, AvailabilityZone: src.AvailabilityZone, GroupTypeID: src.GroupTypeID,
		VolumeTypeIDs: src.VolumeTypeIDs, GroupSnapshotID: groupSnapshotID, SourceGroupID: sourceGroupID}
	if err := a.insertGroup(ctx, c, g); err != nil {
		return nil, err
	}
	for i := range reqs {
		reqs[i].GroupID, reqs[i].groupCreating = g.ID, true
		if _, err := a.CreateVolume(ctx, c, reqs[i]); err != nil {
			// The volumes made so far stay in the group; the group shows the failure.
			if serr := s.SetGroupStatus(ctx, g.ID, nil, model.StatusError); serr != nil {
				return nil, errors.Join(err, serr)
			}
			return nil, err
		}
	}
	if err := s.CompleteGroupCreate(ctx, g.ID); err != nil { // no members, or all done already
		return nil, err
	}
	a.log.Info("group create from source started", "group_id", g.ID, "group_snapshot_id", groupSnapshotID,
		"source_group_id", sourceGroupID, "volumes", len(reqs))
	return g, nil
}
