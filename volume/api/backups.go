package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"path"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume/backup"
	"github.com/dlvm-project/dlvm/volume/rpc"
)

// backupResetStatuses are the values a backup's os-reset_status accepts (as Cinder).
var backupResetStatuses = []string{model.BackupAvailable, model.BackupError}

// CreateBackupRequest is a validated POST /backups body.
type CreateBackupRequest struct {
	VolumeID    string
	SnapshotID  string
	Name        string
	Description string
	Container   string // "" = Options.BackupContainer
	Incremental bool
	Force       bool
	Metadata    map[string]string
	// AvailabilityZone (3.51) is the zone of the backup; "" = the volume's.
	AvailabilityZone string
}

// Restore is what POST /backups/{id}/restore answers.
type Restore struct {
	BackupID   string
	VolumeID   string
	VolumeName string
}

// BackupRecord is an exported backup: the driver name and the base64 JSON of the record.
type BackupRecord struct {
	Service string
	URL     string
}

// CreateBackup backs up a volume (available, or in-use with force) or one of its snapshots
// (available): reserves backups + backup_gigabytes, inserts the backup (creating), moves the
// volume (or snapshot) to backing-up and writes a create_backup workflow, in one transaction.
// Incremental backups are refused: the posix driver here makes full backups only.
func (a *API) CreateBackup(ctx context.Context, c Caller, req CreateBackupRequest) (*model.Backup, error) {
	if req.Incremental {
		return nil, model.Errorf(model.ErrInvalid, "Incremental backups are not supported by this service; create a full backup.")
	}
	if len(req.Name) > 255 || len(req.Description) > 255 {
		return nil, model.Errorf(model.ErrInvalid, "Name and description must be at most 255 characters.")
	}
	if err := checkMetadata(req.Metadata); err != nil {
		return nil, err
	}
	if req.Container == "" {
		req.Container = a.opts.BackupContainer
	}
	if !backup.ValidContainer(req.Container) {
		return nil, model.Errorf(model.ErrInvalid, "Invalid container %q: it must be one directory name (no '/', not starting with '.').", req.Container)
	}
	if req.Metadata == nil {
		req.Metadata = map[string]string{}
	}
	if req.AvailabilityZone != "" {
		zones, err := a.AvailabilityZones(ctx)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(zones, req.AvailabilityZone) {
			return nil, model.Errorf(model.ErrInvalid, "Availability zone '%s' is invalid.", req.AvailabilityZone)
		}
	}
	var b *model.Backup
	var wf *model.Workflow
	err := a.db.InTx(ctx, func(s *db.Store) error {
		v, err := getVolume(ctx, s, c, req.VolumeID)
		if err != nil {
			return err
		}
		dataTS := a.opts.Now().UTC()
		prev := v.Status
		if req.SnapshotID != "" {
			sn, err := getSnapshot(ctx, s, c, req.SnapshotID)
			if err != nil {
				return err
			}
			if sn.VolumeID != v.ID {
				return model.Errorf(model.ErrInvalid, "Invalid snapshot: Snapshot %s is not a snapshot of volume %s.", sn.ID, v.ID)
			}
			if sn.Status != model.StatusAvailable {
				return model.Errorf(model.ErrInvalid, "Invalid snapshot: Snapshot to be backed up must be available, but the current status is \"%s\".", sn.Status)
			}
			if err := stateErr(s.SetSnapshotStatus(ctx, sn.ID, []string{model.StatusAvailable}, model.StatusBackingUp)); err != nil {
				return err
			}
			dataTS = sn.CreatedAt
		} else {
			switch {
			case v.Status == model.StatusInUse && !req.Force:
				return model.Errorf(model.ErrInvalid, "Invalid volume: Backing up an in-use volume must use the force flag.")
			case v.Status != model.StatusAvailable && v.Status != model.StatusInUse:
				return model.Errorf(model.ErrInvalid, "Invalid volume: Volume to be backed up must be available or in-use, but the current status is \"%s\".", v.Status)
			}
			if err := stateErr(s.SetVolumeStatus(ctx, v.ID, []string{v.Status}, model.StatusBackingUp)); err != nil {
				return err
			}
		}
		limits, err := a.effectiveLimits(ctx, s, v.ProjectID)
		if err != nil {
			return err
		}
		b = &model.Backup{
			ID: uuid.NewString(), ProjectID: v.ProjectID, UserID: c.UserID, VolumeID: v.ID, SnapshotID: req.SnapshotID,
			Name: req.Name, Description: req.Description, Container: req.Container, Size: v.Size,
			Status: model.BackupCreating, AvailabilityZone: v.AvailabilityZone, Service: backup.ServiceName,
			DataTimestamp: dataTS, Metadata: req.Metadata,
		}
		if req.AvailabilityZone != "" {
			b.AvailabilityZone = req.AvailabilityZone
		}
		b.ServiceMetadata = backup.Location(b.Container, b.ID)
		if err := s.Reserve(ctx, v.ProjectID, backupQuota(b), limits); err != nil {
			return err
		}
		if err := s.CreateBackup(ctx, b); err != nil {
			return err
		}
		params, _ := json.Marshal(map[string]string{"backup_id": b.ID, "prev_status": prev})
		wf = newWorkflow(model.WfCreateBackup, v.ID, "", params)
		return s.CreateWorkflow(ctx, wf)
	})
	if err != nil {
		return nil, err
	}
	a.log.Info("backup create started", "backup_id", b.ID, "volume_id", b.VolumeID, "snapshot_id", b.SnapshotID, "workflow_id", wf.ID)
	a.cast(ctx, rpc.TopicVolume, rpc.MethodRunWorkflow, wf.ID)
	return b, nil
}

func backupQuota(b *model.Backup) map[string]int64 {
	return map[string]int64{model.ResBackups: 1, model.ResBackupGigabytes: int64(b.Size)}
}

// GetBackup returns a backup the caller may see (ErrNotFound for another project's).
func (a *API) GetBackup(ctx context.Context, c Caller, id string) (*model.Backup, error) {
	return getBackup(ctx, a.db.Store(), c, id)
}

func getBackup(ctx context.Context, s *db.Store, c Caller, id string) (*model.Backup, error) {
	b, err := s.GetBackup(ctx, id)
	if err != nil {
		return nil, notFound(err, "Backup %s could not be found.", id)
	}
	if !visible(c, b.ProjectID) {
		return nil, model.Errorf(model.ErrNotFound, "Backup %s could not be found.", id)
	}
	return b, nil
}

// ListBackups lists backups with the same project rules as ListVolumes.
func (a *API) ListBackups(ctx context.Context, c Caller, q db.BackupQuery, allTenants bool) ([]*model.Backup, error) {
	if !c.IsAdmin || !allTenants {
		q.ProjectID = c.ProjectID
	}
	return a.db.Store().ListBackups(ctx, q)
}

// CountBackups counts what ListBackups would return without paging (with_count, 3.45+).
func (a *API) CountBackups(ctx context.Context, c Caller, q db.BackupQuery, allTenants bool) (int, error) {
	if !c.IsAdmin || !allTenants {
		q.ProjectID = c.ProjectID
	}
	return a.db.Store().CountBackups(ctx, q)
}

// UpdateBackup changes name, description (nil = unchanged) and replaces metadata (nil =
// unchanged), and returns the backup.
func (a *API) UpdateBackup(ctx context.Context, c Caller, id string, name, description *string, md map[string]string) (*model.Backup, error) {
	if (name != nil && len(*name) > 255) || (description != nil && len(*description) > 255) {
		return nil, model.Errorf(model.ErrInvalid, "Name and description must be at most 255 characters.")
	}
	if err := checkMetadata(md); err != nil {
		return nil, err
	}
	var out *model.Backup
	err := a.db.InTx(ctx, func(s *db.Store) error {
		b, err := getBackup(ctx, s, c, id)
		if err != nil {
			return err
		}
		if name != nil {
			b.Name = *name
		}
		if description != nil {
			b.Description = *description
		}
		if err := s.UpdateBackup(ctx, b); err != nil {
			return err
		}
		if md != nil {
			if err := s.SetBackupMetadata(ctx, id, md, true); err != nil {
				return err
			}
		}
		out, err = s.GetBackup(ctx, id)
		return err
	})
	return out, err
}

// DeleteBackup starts deletion of an available or error backup (force: any status): the backup
// goes to deleting and a delete_backup workflow removes its data and releases its quota.
// A backup already deleting is not an error.
func (a *API) DeleteBackup(ctx context.Context, c Caller, id string, force bool) error {
	var wf *model.Workflow
	err := a.db.InTx(ctx, func(s *db.Store) error {
		wf = nil
		b, err := getBackup(ctx, s, c, id)
		if err != nil {
			return err
		}
		if b.Status == model.BackupDeleting {
			return nil
		}
		from := []string{model.BackupAvailable, model.BackupError}
		if force {
			from = []string{b.Status}
		} else if !slices.Contains(from, b.Status) {
			return model.Errorf(model.ErrInvalid, "Invalid backup: Backup status must be available or error, but current status is: %s.", b.Status)
		}
		if err := stateErr(s.SetBackupStatus(ctx, id, from, model.BackupDeleting)); err != nil {
			return err
		}
		params, _ := json.Marshal(map[string]string{"backup_id": id})
		wf = newWorkflow(model.WfDeleteBackup, b.VolumeID, "", params)
		return s.CreateWorkflow(ctx, wf)
	})
	if err != nil || wf == nil {
		return err
	}
	a.log.Info("backup delete started", "backup_id", id, "force", force, "workflow_id", wf.ID)
	a.cast(ctx, rpc.TopicVolume, rpc.MethodRunWorkflow, wf.ID)
	return nil
}

// RestoreBackup restores an available backup into volumeID (available, at least the backup's
// size; it goes to restoring-backup) or, when volumeID is "", into a new volume of the backup's
// size created for it (named name, or "restore_backup_<id>"). The backup goes to restoring.
func (a *API) RestoreBackup(ctx context.Context, c Caller, id, volumeID, name string) (*Restore, error) {
	b, err := a.GetBackup(ctx, c, id)
	if err != nil {
		return nil, err
	}
	if b.Status != model.BackupAvailable {
		return nil, model.Errorf(model.ErrInvalid, "Invalid backup: Backup status must be available, but current status is: %s.", b.Status)
	}
	var wf *model.Workflow
	takeBackup := func(s *db.Store, v *model.Volume, newVolume bool) error {
		if err := stateErr(s.SetBackupStatus(ctx, id, []string{model.BackupAvailable}, model.BackupRestoring)); err != nil {
			return err
		}
		params, _ := json.Marshal(map[string]any{"backup_id": id, "new_volume": newVolume})
		wf = newWorkflow(model.WfRestoreBackup, v.ID, "", params)
		return s.CreateWorkflow(ctx, wf)
	}
	var v *model.Volume
	if volumeID == "" {
		if name == "" {
			name = "restore_backup_" + id
		}
		v, _, err = a.createVolume(ctx, c, CreateVolumeRequest{Size: b.Size, Name: name,
			Description: "auto-created_from_restore_from_backup"}, func(s *db.Store, v *model.Volume) error {
			return takeBackup(s, v, true)
		})
		if err != nil {
			return nil, err
		}
	} else {
		err = a.db.InTx(ctx, func(s *db.Store) error {
			v, err = getVolume(ctx, s, c, volumeID)
			if err != nil {
				return err
			}
			if v.Status != model.StatusAvailable {
				return model.Errorf(model.ErrInvalid, "Invalid volume: Volume to be restored to must be available, but the current status is \"%s\".", v.Status)
			}
			if v.Size < b.Size {
				return model.Errorf(model.ErrInvalid, "Invalid volume: volume size %d is too small to restore backup of size %d.", v.Size, b.Size)
			}
			if err := stateErr(s.SetVolumeStatus(ctx, v.ID, []string{model.StatusAvailable}, model.StatusRestoring)); err != nil {
				return err
			}
			return takeBackup(s, v, false)
		})
		if err != nil {
			return nil, err
		}
	}
	a.log.Info("backup restore started", "backup_id", id, "volume_id", v.ID, "workflow_id", wf.ID)
	a.cast(ctx, rpc.TopicVolume, rpc.MethodRunWorkflow, wf.ID)
	return &Restore{BackupID: id, VolumeID: v.ID, VolumeName: v.Name}, nil
}

// ResetBackupStatus (admin) sets a backup's status to available or error.
func (a *API) ResetBackupStatus(ctx context.Context, c Caller, id, status string) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	if !slices.Contains(backupResetStatuses, status) {
		return model.Errorf(model.ErrInvalid, "Invalid backup status: %s; it must be available or error.", status)
	}
	return a.db.InTx(ctx, func(s *db.Store) error {
		if _, err := getBackup(ctx, s, c, id); err != nil {
			return err
		}
		return s.SetBackupStatus(ctx, id, nil, status)
	})
}

// exportedBackup is the record export_record encodes, with Cinder's field names.
type exportedBackup struct {
	ID                 string            `json:"id"`
	UserID             string            `json:"user_id"`
	ProjectID          string            `json:"project_id"`
	VolumeID           string            `json:"volume_id"`
	SnapshotID         *string           `json:"snapshot_id"`
	AvailabilityZone   string            `json:"availability_zone"`
	Container          string            `json:"container"`
	Status             string            `json:"status"`
	Size               int               `json:"size"`
	DisplayName        string            `json:"display_name"`
	DisplayDescription string            `json:"display_description"`
	ServiceMetadata    string            `json:"service_metadata"`
	Service            string            `json:"service"`
	ObjectCount        int               `json:"object_count"`
	DataTimestamp      *time.Time        `json:"data_timestamp"`
	CreatedAt          time.Time         `json:"created_at"`
	Metadata           map[string]string `json:"metadata"`
}

// ExportBackup (admin) returns an available backup's record as Cinder's export_record does:
// backup_service and backup_url, the base64 of the record's JSON.
func (a *API) ExportBackup(ctx context.Context, c Caller, id string) (*BackupRecord, error) {
	if err := requireAdmin(c); err != nil {
		return nil, err
	}
	b, err := a.GetBackup(ctx, c, id)
	if err != nil {
		return nil, err
	}
	if b.Status != model.BackupAvailable {
		return nil, model.Errorf(model.ErrInvalid, "Invalid backup: Backup status must be available and not %s.", b.Status)
	}
	rec := exportedBackup{ID: b.ID, UserID: b.UserID, ProjectID: b.ProjectID, VolumeID: b.VolumeID,
		AvailabilityZone: b.AvailabilityZone, Container: b.Container, Status: b.Status, Size: b.Size,
		DisplayName: b.Name, DisplayDescription: b.Description, ServiceMetadata: b.ServiceMetadata,
		Service: b.Service, ObjectCount: b.ObjectCount, CreatedAt: b.CreatedAt, Metadata: b.Metadata}
	if b.SnapshotID != "" {
		rec.SnapshotID = &b.SnapshotID
	}
	if !b.DataTimestamp.IsZero() {
		rec.DataTimestamp = &b.DataTimestamp
	}
	js, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	return &BackupRecord{Service: b.Service, URL: base64.StdEncoding.EncodeToString(js)}, nil
}

// ImportBackup (admin) creates a backup from an exported record into the caller's project with
// the record's id; it is creating until the volume manager has found its data (then available).
// The id must be new (Cinder's "Backup already exists in database" otherwise).
func (a *API) ImportBackup(ctx context.Context, c Caller, service, url string) (*model.Backup, error) {
	if err := requireAdmin(c); err != nil {
		return nil, err
	}
	if service != backup.ServiceName {
		return nil, model.Errorf(model.ErrInvalid, "Invalid backup: Unsupported backup service %q; this service imports %s records.", service, backup.ServiceName)
	}
	raw, err := base64.StdEncoding.DecodeString(url)
	if err != nil {
		return nil, model.Errorf(model.ErrInvalid, "Invalid backup: backup_url is not base64.")
	}
	var rec exportedBackup
	if err := json.Unmarshal(raw, &rec); err != nil {
		return nil, model.Errorf(model.ErrInvalid, "Invalid backup: backup_url does not hold a backup record.")
	}
	if _, err := uuid.Parse(rec.ID); err != nil {
		return nil, model.Errorf(model.ErrInvalid, "Invalid backup: the record's id %q is not a UUID.", rec.ID)
	}
	if rec.ServiceMetadata == "" || rec.Size <= 0 || !backup.ValidContainer(rec.Container) ||
		rec.ServiceMetadata != backup.Location(rec.Container, path.Base(rec.ServiceMetadata)) {
		return nil, model.Errorf(model.ErrInvalid, "Invalid backup: the record does not say where its data is.")
	}
	if err := checkMetadata(rec.Metadata); err != nil {
		return nil, err
	}
	b := &model.Backup{ID: rec.ID, ProjectID: c.ProjectID, UserID: c.UserID, VolumeID: rec.VolumeID,
		Name: rec.DisplayName, Description: rec.DisplayDescription, Container: rec.Container, Size: rec.Size,
		Status: model.BackupCreating, AvailabilityZone: rec.AvailabilityZone, ObjectCount: rec.ObjectCount,
		ServiceMetadata: rec.ServiceMetadata, Service: service, Metadata: rec.Metadata}
	if rec.SnapshotID != nil {
		b.SnapshotID = *rec.SnapshotID
	}
	if rec.DataTimestamp != nil {
		b.DataTimestamp = rec.DataTimestamp.UTC()
	}
	if b.Metadata == nil {
		b.Metadata = map[string]string{}
	}
	var wf *model.Workflow
	err = a.db.InTx(ctx, func(s *db.Store) error {
		taken, err := s.BackupIDTaken(ctx, b.ID)
		if err != nil {
			return err
		}
		if taken {
			return model.Errorf(model.ErrInvalid, "Invalid backup: Backup already exists in database.")
		}
		limits, err := a.effectiveLimits(ctx, s, c.ProjectID)
		if err != nil {
			return err
		}
		if err := s.Reserve(ctx, c.ProjectID, backupQuota(b), limits); err != nil {
			return err
		}
		if err := s.CreateBackup(ctx, b); err != nil {
			return err
		}
		params, _ := json.Marshal(map[string]string{"backup_id": b.ID})
		wf = newWorkflow(model.WfImportBackup, b.VolumeID, "", params)
		return s.CreateWorkflow(ctx, wf)
	})
	if err != nil {
		return nil, err
	}
	a.log.Info("backup import started", "backup_id", b.ID, "workflow_id", wf.ID)
	a.cast(ctx, rpc.TopicVolume, rpc.MethodRunWorkflow, wf.ID)
	return b, nil
}
