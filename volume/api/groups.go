package api

import (
	"context"
	"errors"
	"slices"

	"github.com/google/uuid"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
)

// groupStatuses are the values a group's reset_status accepts.
var groupStatuses = []string{model.StatusCreating, model.StatusAvailable, model.StatusDeleting,
	model.StatusError, "updating", "in-use", "error_deleting"}

// CreateGroupRequest is a validated group create request.
type CreateGroupRequest struct {
	Name             string
	Description      string
	GroupType        string   // id or name, required
	VolumeTypes      []string // ids or names, at least one
	AvailabilityZone string   // "" = default AZ
}

// GroupUpdate is what PUT /groups/{id} may change; nil/empty = unchanged.
type GroupUpdate struct {
	Name          *string
	Description   *string
	AddVolumes    []string
	RemoveVolumes []string
}

// CreateGroup creates an empty group (available at once: a group owns no storage of its own),
// reserving groups quota. ErrNotFound for an unknown group or volume type, ErrInvalid for a bad
// AZ; on error nothing is written.
func (a *API) CreateGroup(ctx context.Context, c Caller, req CreateGroupRequest) (*model.Group, error) {
	g, err := a.newGroup(ctx, c, req)
	if err != nil {
		return nil, err
	}
	g.Status = model.StatusAvailable
	if err := a.insertGroup(ctx, c, g); err != nil {
		return nil, err
	}
	a.log.Info("group created", "group_id", g.ID, "project_id", g.ProjectID)
	return g, nil
}

// newGroup validates req into an unsaved group.
func (a *API) newGroup(ctx context.Context, c Caller, req CreateGroupRequest) (*model.Group, error) {
	if len(req.Name) > 255 || len(req.Description) > 255 {
		return nil, model.Errorf(model.ErrInvalid, "Name and description must be at most 255 characters.")
	}
	gt, err := a.GetGroupType(ctx, c, req.GroupType)
	if err != nil {
		return nil, err
	}
	if len(req.VolumeTypes) == 0 {
		return nil, model.Errorf(model.ErrInvalid, "volume_types must be provided to create group %s.", req.Name)
	}
	var typeIDs []string
	for _, t := range req.VolumeTypes {
		vt, err := a.lookupType(ctx, c, t)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(typeIDs, vt.ID) {
			typeIDs = append(typeIDs, vt.ID)
		}
	}
	az := req.AvailabilityZone
	if az == "" {
		az = a.opts.DefaultAZ
	}
	zones, err := a.AvailabilityZones(ctx)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(zones, az) {
		return nil, model.Errorf(model.ErrInvalid, "Availability zone '%s' is invalid.", az)
	}
	return &model.Group{ID: uuid.NewString(), ProjectID: c.ProjectID, UserID: c.UserID, Name: req.Name,
		Description: req.Description, AvailabilityZone: az, GroupTypeID: gt.ID, VolumeTypeIDs: typeIDs}, nil
}

// insertGroup reserves the groups quota and writes g in one transaction.
func (a *API) insertGroup(ctx context.Context, c Caller, g *model.Group) error {
	return a.db.InTx(ctx, func(s *db.Store) error {
		limits, err := a.effectiveLimits(ctx, s, g.ProjectID)
		if err != nil {
			return err
		}
		if err := s.Reserve(ctx, g.ProjectID, map[string]int64{model.ResGroups: 1}, limits); err != nil {
			return err
		}
		return s.CreateGroup(ctx, g)
	})
}

// GetGroup returns a group the caller may see (ErrNotFound for another project's).
func (a *API) GetGroup(ctx context.Context, c Caller, id string) (*model.Group, error) {
	return getGroup(ctx, a.db.Store(), c, id)
}

func getGroup(ctx context.Context, s *db.Store, c Caller, id string) (*model.Group, error) {
	g, err := s.GetGroup(ctx, id)
	if err != nil {
		return nil, notFound(err, "Group %s could not be found.", id)
	}
	if !visible(c, g.ProjectID) {
		return nil, model.Errorf(model.ErrNotFound, "Group %s could not be found.", id)
	}
	return g, nil
}

// ListGroups lists groups with the project rules of ListVolumes.
func (a *API) ListGroups(ctx context.Context, c Caller, q db.GroupQuery, allTenants bool) ([]*model.Group, error) {
	if !c.IsAdmin || !allTenants {
		q.ProjectID = c.ProjectID
	}
	return a.db.Store().ListGroups(ctx, q)
}

// GroupVolumeIDs returns the ids of a group's live volumes.
func (a *API) GroupVolumeIDs(ctx context.Context, groupID string) ([]string, error) {
	vs, err := a.db.Store().ListVolumes(ctx, db.VolumeQuery{GroupID: groupID})
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(vs))
	for _, v := range vs {
		ids = append(ids, v.ID)
	}
	return ids, nil
}

// checkJoinGroup checks that a new volume of type typeID may join group groupID: visible,
// available (or creating when the group is being built from a source), and the type is one of
// the group's volume types.
func (a *API) checkJoinGroup(ctx context.Context, c Caller, groupID, typeID string, creating bool) error {
	g, err := a.GetGroup(ctx, c, groupID)
	if err != nil {
		return err
	}
	return joinable(g, typeID, creating)
}

func joinable(g *model.Group, typeID string, creating bool) error {
	if g.Status != model.StatusAvailable && !(creating && g.Status == model.StatusCreating) {
		return model.Errorf(model.ErrInvalid, "Invalid group: Group %s status must be available, but current status is: %s.", g.ID, g.Status)
	}
	if !slices.Contains(g.VolumeTypeIDs, typeID) {
		return model.Errorf(model.ErrInvalid, "Invalid volume type: Volume type %s is not supported by group %s.", typeID, g.ID)
	}
	return nil
}

// UpdateGroup renames a group and adds or removes volumes (the group must be available; added
// volumes must be the group's project's, available or in-use, of one of its types and in no
// other group; removed ones must be in it). All or nothing.
func (a *API) UpdateGroup(ctx context.Context, c Caller, id string, u GroupUpdate) (*model.Group, error) {
	if (u.Name != nil && len(*u.Name) > 255) || (u.Description != nil && len(*u.Description) > 255) {
		return nil, model.Errorf(model.ErrInvalid, "Name and description must be at most 255 characters.")
	}
	var out *model.Group
	err := a.db.InTx(ctx, func(s *db.Store) error {
		g, err := getGroup(ctx, s, c, id)
		if err != nil {
			return err
		}
		if len(u.AddVolumes)+len(u.RemoveVolumes) > 0 && g.Status != model.StatusAvailable {
			return model.Errorf(model.ErrInvalid, "Invalid group: Group %s status must be available, but current status is: %s.", id, g.Status)
		}
		for _, vid := range u.AddVolumes {
			if slices.Contains(u.RemoveVolumes, vid) {
				return model.Errorf(model.ErrInvalid, "Invalid volume: Volume %s cannot be both added to and removed from group %s.", vid, id)
			}
			v, err := s.GetVolume(ctx, vid)
			if err != nil || v.ProjectID != g.ProjectID {
				return model.Errorf(model.ErrInvalid, "Invalid volume: Cannot add volume %s to group %s because volume cannot be found.", vid, id)
			}
			if v.GroupID == id {
				continue
			}
			if v.GroupID != "" {
				return model.Errorf(model.ErrInvalid, "Invalid volume: Volume %s is already in group %s.", vid, v.GroupID)
			}
			if v.Status != model.StatusAvailable && v.Status != model.StatusInUse {
				return model.Errorf(model.ErrInvalid, "Invalid volume: Cannot add volume %s to group %s because volume is in an invalid state: %s.", vid, id, v.Status)
			}
			if !slices.Contains(g.VolumeTypeIDs, v.VolumeTypeID) {
				return model.Errorf(model.ErrInvalid, "Invalid volume: Cannot add volume %s to group %s because volume type %s is not supported by the group.", vid, id, v.VolumeTypeID)
			}
			if err := s.SetVolumeGroup(ctx, vid, id); err != nil {
				return err
			}
		}
		for _, vid := range u.RemoveVolumes {
			v, err := s.GetVolume(ctx, vid)
			if err != nil || v.GroupID != id {
				return model.Errorf(model.ErrInvalid, "Invalid volume: Cannot remove volume %s from group %s because it is not in the group.", vid, id)
			}
			if err := s.SetVolumeGroup(ctx, vid, ""); err != nil {
				return err
			}
		}
		if u.Name != nil {
			g.Name = *u.Name
		}
		if u.Description != nil {
			g.Description = *u.Description
		}
		if err := s.UpdateGroup(ctx, g); err != nil {
			return err
		}
		out = g
		return nil
	})
	return out, err
}

// DeleteGroup deletes a group (available or error; a group already deleting is deleted again,
// so an interrupted delete can be finished). A group with volumes needs deleteVolumes, and then
// each volume is deleted with its snapshots; the group row goes once the last volume has. A
// group with group snapshots cannot be deleted. The groups quota is released at once.
func (a *API) DeleteGroup(ctx context.Context, c Caller, id string, deleteVolumes bool) error {
	var vols []*model.Volume
	err := a.db.InTx(ctx, func(s *db.Store) error {
		g, err := getGroup(ctx, s, c, id)
		if err != nil {
			return err
		}
		if !slices.Contains([]string{model.StatusAvailable, model.StatusError, model.StatusDeleting}, g.Status) {
			return model.Errorf(model.ErrInvalid, "Invalid group: Group status must be available or error, but current status is: %s.", g.Status)
		}
		gs, err := s.ListGroupSnapshots(ctx, db.GroupSnapshotQuery{GroupID: id})
		if err != nil {
			return err
		}
		if len(gs) > 0 {
			return model.Errorf(model.ErrInvalid, "Invalid group: Group %s still has group snapshots.", id)
		}
		if vols, err = s.ListVolumes(ctx, db.VolumeQuery{GroupID: id}); err != nil {
			return err
		}
		if len(vols) > 0 && !deleteVolumes {
			return model.Errorf(model.ErrInvalid, "Invalid group: Group %s still contains volumes. The delete-volumes flag is required to delete it.", id)
		}
		for _, v := range vols {
			if v.Status != model.StatusDeleting && (v.AttachStatus == model.AttachAttached || !slices.Contains(deletable, v.Status)) {
				return model.Errorf(model.ErrInvalid, "Invalid volume: Volume %s in group %s is in an invalid state: %s.", v.ID, id, v.Status)
			}
		}
		if g.Status != model.StatusDeleting {
			if err := s.Reserve(ctx, g.ProjectID, map[string]int64{model.ResGroups: -1}, nil); err != nil {
				return err
			}
			if err := s.SetGroupStatus(ctx, id, nil, model.StatusDeleting); err != nil {
				return err
			}
		}
		return s.CompleteGroupDelete(ctx, id)
	})
	if err != nil {
		return err
	}
	for _, v := range vols {
		if err := a.DeleteVolume(ctx, c, v.ID, true, false); err != nil && !errors.Is(err, model.ErrNotFound) {
			return err
		}
	}
	a.log.Info("group delete started", "group_id", id, "volumes", len(vols))
	return nil
}

// ResetGroupStatus (admin) sets a group's status.
func (a *API) ResetGroupStatus(ctx context.Context, c Caller, id, status string) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	if !slices.Contains(groupStatuses, status) {
		return model.Errorf(model.ErrInvalid, "Group status %s not allowed.", status)
	}
	return a.db.InTx(ctx, func(s *db.Store) error {
		if _, err := getGroup(ctx, s, c, id); err != nil {
			return err
		}
		return s.SetGroupStatus(ctx, id, nil, status)
	})
}
