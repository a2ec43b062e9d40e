package api

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/google/uuid"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume/rpc"
)

// Statuses Cinder knows that model does not name.
const (
	statusErrorRestoring = "error_restoring"
	statusErrorManaging  = "error_managing"
)

// deletable are the statuses a volume may be deleted from without force.
var deletable = []string{model.StatusAvailable, model.StatusError, statusErrorRestoring,
	model.StatusErrorExtending, statusErrorManaging}

// volumeStatuses are the values os-reset_status accepts.
var volumeStatuses = []string{model.StatusCreating, model.StatusAvailable, model.StatusInUse,
	model.StatusReserved, model.StatusAttaching, model.StatusDetaching, model.StatusDeleting,
	model.StatusError, model.StatusErrorDeleting, model.StatusExtending, model.StatusErrorExtending,
	model.StatusMaintenance, statusErrorRestoring, statusErrorManaging, "downloading", "uploading",
	"retyping", "backing-up", "restoring-backup"}

var migrationStatuses = []string{"migrating", "error", "success", "completing", "none", "starting"}

// CreateVolumeRequest is a validated create request (apiv3 checked JSON shape and types).
type CreateVolumeRequest struct {
	Size             int // GiB; 0 means "the source's size" when a source is given
	Name             string
	Description      string
	VolumeType       string // name or id; "" = default type (or the source's type)
	AvailabilityZone string // "" = default AZ (or the source's AZ)
	Metadata         map[string]string
	SnapshotID       string
	SourceVolID      string
	Multiattach      bool
	GroupID          string // generic volume group to join, "" = none (3.13)

	groupCreating bool // set by group create-from-source: the group is still creating
}

// source is what a clone inherits from its snapshot or volume.
type source struct {
	size     int
	typeID   string
	az       string
	bootable bool
	what     string // "snapshot" or "source volume", for messages
}

// CreateVolume checks the request (size > 0 and >= any source, type exists, AZ exists, source
// visible and available), reserves volumes+gigabytes quota, inserts the volume (creating) and a
// create_volume workflow in one transaction, and casts it to the scheduler. Errors: ErrInvalid,
// ErrNotFound (source or type), ErrQuotaExceeded (*model.QuotaError), ErrInvalid (source state).
// On any error nothing is written. A failed cast is logged only: the sweeper re-drives the
// pending workflow.
func (a *API) CreateVolume(ctx context.Context, c Caller, req CreateVolumeRequest) (*model.Volume, error) {
	v, _, err := a.createVolume(ctx, c, req, nil)
	return v, err
}

// CreateVolumeShown is CreateVolume that also returns the volume's type when the caller may see
// it for sure (a public type, or an admin caller), as GetType would: the create response shows
// its name without reading it again. Nil otherwise.
func (a *API) CreateVolumeShown(ctx context.Context, c Caller, req CreateVolumeRequest) (*model.Volume, *model.VolumeType, error) {
	v, vt, err := a.createVolume(ctx, c, req, nil)
	if err != nil || !(vt.IsPublic || c.IsAdmin) {
		return v, nil, err
	}
	return v, vt, nil
}

// createVolume is CreateVolume that also returns the volume's type; also, when set, runs
// inside the same transaction once the volume and its workflow are written (a restore takes its
// backup there).
func (a *API) createVolume(ctx context.Context, c Caller, req CreateVolumeRequest, also func(s *db.Store, v *model.Volume) error) (*model.Volume, *model.VolumeType, error) {
	if len(req.Name) > 255 || len(req.Description) > 255 {
		return nil, nil, model.Errorf(model.ErrInvalid, "Name and description must be at most 255 characters.")
	}
	if err := checkMetadata(req.Metadata); err != nil {
		return nil, nil, err
	}
	if req.SnapshotID != "" && req.SourceVolID != "" {
		return nil, nil, model.Errorf(model.ErrInvalid, "Only one of snapshot_id and source_volid may be given.")
	}
	src, err := a.resolveSource(ctx, c, req)
	if err != nil {
		return nil, nil, err
	}

	size := req.Size
	if size == 0 && src != nil {
		size = src.size
	}
	if size <= 0 {
		return nil, nil, model.Errorf(model.ErrInvalid, "Volume size '%d' must be an integer and greater than 0.", req.Size)
	}
	if src != nil && size < src.size {
		if req.SnapshotID != "" {
			return nil, nil, model.Errorf(model.ErrInvalid, "Volume size '%dGB' cannot be smaller than the snapshot size %dGB. They must be >= original snapshot size.", size, src.size)
		}
		return nil, nil, model.Errorf(model.ErrInvalid, "Volume size '%dGB' cannot be smaller than original volume size %dGB. They must be >= original volume size.", size, src.size)
	}

	var vt *model.VolumeType
	switch {
	case req.VolumeType != "":
		vt, err = a.lookupType(ctx, c, req.VolumeType)
	case src != nil && src.typeID != "":
		vt, err = a.db.Store().GetType(ctx, src.typeID)
		if errors.Is(err, model.ErrNotFound) {
			vt, err = a.defaultType(ctx)
		}
	default:
		vt, err = a.defaultType(ctx)
	}
	if err != nil {
		return nil, nil, err
	}
	if err := a.refuseEncrypted(vt); err != nil {
		return nil, nil, err
	}
	layout, err := a.layoutOf(vt.ExtraSpecs)
	if err != nil {
		return nil, nil, err
	}
	if req.GroupID != "" {
		if err := a.checkJoinGroup(ctx, c, req.GroupID, vt.ID, req.groupCreating); err != nil {
			return nil, nil, err
		}
	}

	az := req.AvailabilityZone
	if src != nil {
		if az == "" {
			az = src.az
		} else if src.az != "" && az != src.az {
			return nil, nil, model.Errorf(model.ErrInvalid, "Volume must be in the same availability zone as the %s.", src.what)
		}
	}
	if az == "" {
		az = a.opts.DefaultAZ
	}
	if err := a.checkZone(ctx, az); err != nil {
		return nil, nil, err
	}

	v := &model.Volume{
		ID:               uuid.NewString(),
		ProjectID:        c.ProjectID,
		UserID:           c.UserID,
		Name:             req.Name,
		Description:      req.Description,
		Size:             size,
		Status:           model.StatusCreating,
		AttachStatus:     model.AttachDetached,
		AvailabilityZone: az,
		VolumeTypeID:     vt.ID,
		SnapshotID:       req.SnapshotID,
		SourceVolID:      req.SourceVolID,
		Multiattach:      req.Multiattach || isTrueSpec(vt.ExtraSpecs["multiattach"]),
		GroupID:          req.GroupID,
		Layout:           layout,
		Metadata:         req.Metadata,
	}
	if src != nil {
		v.Bootable = src.bootable
	}
	if v.Metadata == nil {
		v.Metadata = map[string]string{}
	}
	wf := newWorkflow(model.WfCreateVolume, v.ID, "", nil)
	err = a.db.InTx(ctx, func(s *db.Store) error {
		limits, err := a.effectiveLimits(ctx, s, c.ProjectID)
		if err != nil {
			return err
		}
		if err := checkPerVolume(limits, size); err != nil {
			return err
		}
		if err := a.checkTypeQuota(ctx, s, c.ProjectID, vt, limits, 1, int64(size), 0); err != nil {
			return err
		}
		if err := s.CreateVolume(ctx, v); err != nil {
			return err
		}
		if err := s.CreateWorkflow(ctx, wf); err != nil {
			return err
		}
		if also != nil {
			if err := also(s, v); err != nil {
				return err
			}
		}
		// Last, just before the commit: the project's usage rows are the one thing every create
		// of the project writes, and their row locks are held from here to the commit.
		return s.Reserve(ctx, c.ProjectID, map[string]int64{model.ResVolumes: 1, model.ResGigabytes: int64(size)}, limits)
	})
	if err != nil {
		return nil, nil, err
	}
	a.log.Info("volume create started", "volume_id", v.ID, "project_id", v.ProjectID, "size", size,
		"volume_type", vt.Name, "workflow_id", wf.ID)
	a.cast(ctx, rpc.TopicScheduler, rpc.MethodSchedule, wf.ID)
	return v, vt, nil
}

// resolveSource loads the request's source snapshot or volume, checking visibility and state.
func (a *API) resolveSource(ctx context.Context, c Caller, req CreateVolumeRequest) (*source, error) {
	switch {
	case req.SnapshotID != "":
		sn, err := a.GetSnapshot(ctx, c, req.SnapshotID)
		if err != nil {
			return nil, err
		}
		if sn.Status != model.StatusAvailable {
			return nil, model.Errorf(model.ErrInvalid, "Invalid snapshot: Originating snapshot status must be one of 'available' values, but current status is: %s.", sn.Status)
		}
		vol, err := a.db.Store().GetVolume(ctx, sn.VolumeID)
		if err != nil {
			return nil, notFound(err, "Volume %s could not be found.", sn.VolumeID)
		}
		return &source{size: sn.Size, typeID: vol.VolumeTypeID, az: vol.AvailabilityZone, bootable: vol.Bootable, what: "snapshot"}, nil
	case req.SourceVolID != "":
		vol, err := a.GetVolume(ctx, c, req.SourceVolID)
		if err != nil {
			return nil, err
		}
		if vol.Status != model.StatusAvailable && vol.Status != model.StatusInUse {
			return nil, model.Errorf(model.ErrInvalid, "Invalid volume: Unable to create a volume from an originating source volume when its status is not 'available' or 'in-use', but current status is: %s.", vol.Status)
		}
		return &source{size: vol.Size, typeID: vol.VolumeTypeID, az: vol.AvailabilityZone, bootable: vol.Bootable, what: "source volume"}, nil
	}
	return nil, nil
}

// GetVolume returns a volume the caller may see (its project, or any if admin). A volume of
// another project is ErrNotFound for a non-admin.
func (a *API) GetVolume(ctx context.Context, c Caller, id string) (*model.Volume, error) {
	return getVolume(ctx, a.db.Store(), c, id)
}

func getVolume(ctx context.Context, s *db.Store, c Caller, id string) (*model.Volume, error) {
	v, err := s.GetVolume(ctx, id)
	if err != nil {
		return nil, notFound(err, "Volume %s could not be found.", id)
	}
	if !visible(c, v.ProjectID) {
		return nil, model.Errorf(model.ErrNotFound, "Volume %s could not be found.", id)
	}
	return v, nil
}

// GetVolumeShown is GetVolume plus the volume's type as the caller may see it, read in one
// query: what a volume view shows. The type is nil when the volume has none, it is deleted, or
// it is private and the caller (not an admin) has no access; the same as GetType by the type's
// id answers (not found) then, but without the search by name GetType falls back to.
func (a *API) GetVolumeShown(ctx context.Context, c Caller, id string) (*model.Volume, *model.VolumeType, error) {
	v, vt, access, err := a.db.Store().GetVolumeWithType(ctx, id, c.ProjectID)
	if err != nil {
		return nil, nil, notFound(err, "Volume %s could not be found.", id)
	}
	if !visible(c, v.ProjectID) {
		return nil, nil, model.Errorf(model.ErrNotFound, "Volume %s could not be found.", id)
	}
	if vt != nil && !vt.IsPublic && !c.IsAdmin && !access {
		vt = nil
	}
	return v, vt, nil
}

// ListVolumes lists volumes; q.ProjectID is forced to the caller's project unless the caller is
// admin and allTenants is set (then q.ProjectID may name a project or be "").
func (a *API) ListVolumes(ctx context.Context, c Caller, q db.VolumeQuery, allTenants bool) ([]*model.Volume, error) {
	if !c.IsAdmin || !allTenants {
		q.ProjectID = c.ProjectID
	}
	return a.db.Store().ListVolumes(ctx, q)
}

// ListVolumeRevs returns the id and revision of each volume ListVolumes would return, in its
// order (the API serves cached views of the ones whose revision it has seen).
func (a *API) ListVolumeRevs(ctx context.Context, c Caller, q db.VolumeQuery, allTenants bool) ([]db.VolumeRev, error) {
	if !c.IsAdmin || !allTenants {
		q.ProjectID = c.ProjectID
	}
	return a.db.Store().ListVolumeRevs(ctx, q)
}

// GetVolumeRev returns the revision of a volume the caller may see; the errors of GetVolume.
func (a *API) GetVolumeRev(ctx context.Context, c Caller, id string) (int64, error) {
	r, err := a.db.Store().GetVolumeRev(ctx, id)
	if err != nil {
		return 0, notFound(err, "Volume %s could not be found.", id)
	}
	if !visible(c, r.ProjectID) {
		return 0, model.Errorf(model.ErrNotFound, "Volume %s could not be found.", id)
	}
	return r.Rev, nil
}

// CountVolumes counts what ListVolumes would return without paging (with_count, 3.45+) in one
// COUNT query.
func (a *API) CountVolumes(ctx context.Context, c Caller, q db.VolumeQuery, allTenants bool) (int, error) {
	if !c.IsAdmin || !allTenants {
		q.ProjectID = c.ProjectID
	}
	return a.db.Store().CountVolumes(ctx, q)
}

// VolumeUpdate holds the fields a PUT /volumes/{id} may change; nil = unchanged.
type VolumeUpdate struct {
	Name        *string
	Description *string
	Metadata    map[string]string // nil = unchanged; replaces all metadata when non-nil
}

// UpdateVolume changes name/description/metadata and returns the updated volume.
func (a *API) UpdateVolume(ctx context.Context, c Caller, id string, u VolumeUpdate) (*model.Volume, error) {
	if (u.Name != nil && len(*u.Name) > 255) || (u.Description != nil && len(*u.Description) > 255) {
		return nil, model.Errorf(model.ErrInvalid, "Name and description must be at most 255 characters.")
	}
	if err := checkMetadata(u.Metadata); err != nil {
		return nil, err
	}
	var out *model.Volume
	err := a.db.InTx(ctx, func(s *db.Store) error {
		v, err := getVolume(ctx, s, c, id)
		if err != nil {
			return err
		}
		if u.Name != nil || u.Description != nil {
			if u.Name != nil {
				v.Name = *u.Name
			}
			if u.Description != nil {
				v.Description = *u.Description
			}
			if err := s.UpdateVolume(ctx, v); err != nil {
				return err
			}
		}
		if u.Metadata != nil {
			if err := s.SetVolumeMetadata(ctx, id, u.Metadata, true); err != nil {
				return err
			}
		}
		out, err = s.GetVolume(ctx, id)
		return err
	})
	return out, err
}

// ResetVolumeStatus (admin) sets status and optionally attach/migration status without checks
// beyond the values being known ones. "" leaves a field unchanged.
func (a *API) ResetVolumeStatus(ctx context.Context, c Caller, id, status, attachStatus, migrationStatus string) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	if status != "" && !slices.Contains(volumeStatuses, status) {
		return model.Errorf(model.ErrInvalid, "Must specify a valid status")
	}
	if attachStatus != "" && attachStatus != model.AttachAttached && attachStatus != model.AttachDetached {
		return model.Errorf(model.ErrInvalid, "Must specify a valid attach status")
	}
	if migrationStatus != "" && !slices.Contains(migrationStatuses, migrationStatus) {
		return model.Errorf(model.ErrInvalid, "Must specify a valid migration status")
	}
	return a.updateVolume(ctx, c, id, func(v *model.Volume) error {
		if status != "" {
			v.Status = status
		}
		if attachStatus != "" {
			v.AttachStatus = attachStatus
		}
		if migrationStatus != "" {
			v.MigrationStatus = migrationStatus
		}
		return nil
	})
}

// SetBootable sets the bootable flag.
func (a *API) SetBootable(ctx context.Context, c Caller, id string, bootable bool) error {
	return a.updateVolume(ctx, c, id, func(v *model.Volume) error {
		v.Bootable = bootable
		return nil
	})
}

// SetReadOnly sets the read-only flag (os-update_readonly_flag); the volume must be available.
func (a *API) SetReadOnly(ctx context.Context, c Caller, id string, readOnly bool) error {
	return a.updateVolume(ctx, c, id, func(v *model.Volume) error {
		if v.Status != model.StatusAvailable {
			return model.Errorf(model.ErrInvalid, "Invalid volume: Volume %s status must be available to update readonly flag, but current status is: %s.", id, v.Status)
		}
		v.ReadOnly, v.ReadOnlySet = readOnly, true
		return nil
	})
}

// updateVolume reads a visible volume, lets fn change it and writes it back, in one transaction.
func (a *API) updateVolume(ctx context.Context, c Caller, id string, fn func(v *model.Volume) error) error {
	return a.db.InTx(ctx, func(s *db.Store) error {
		v, err := getVolume(ctx, s, c, id)
		if err != nil {
			return err
		}
		if err := fn(v); err != nil {
			return err
		}
		return s.UpdateVolume(ctx, v)
	})
}

// SetVolumeMetadata merges (or replaces) metadata and returns the result.
func (a *API) SetVolumeMetadata(ctx context.Context, c Caller, id string, md map[string]string, replace bool) (map[string]string, error) {
	if err := checkMetadata(md); err != nil {
		return nil, err
	}
	var out map[string]string
	err := a.db.InTx(ctx, func(s *db.Store) error {
		if _, err := getVolume(ctx, s, c, id); err != nil {
			return err
		}
		if err := s.SetVolumeMetadata(ctx, id, md, replace); err != nil {
			return err
		}
		v, err := s.GetVolume(ctx, id)
		if err != nil {
			return err
		}
		out = v.Metadata
		return nil
	})
	return out, err
}

// DeleteVolumeMetadata removes one key; ErrNotFound if absent.
func (a *API) DeleteVolumeMetadata(ctx context.Context, c Caller, id, key string) error {
	if _, err := a.GetVolume(ctx, c, id); err != nil {
		return err
	}
	err := a.db.Store().DeleteVolumeMetadata(ctx, id, key)
	return notFound(err, "Metadata item was not found")
}

// notFound replaces an ErrNotFound cause by a user message; other errors pass through.
func notFound(err error, format string, args ...any) error {
	if err != nil && errors.Is(err, model.ErrNotFound) {
		return model.Wrap(model.ErrNotFound, err, fmt.Sprintf(format, args...))
	}
	return err
}
