package model

import "time"

// Backup statuses (Cinder's names).
const (
	BackupCreating  = "creating"
	BackupAvailable = "available"
	BackupRestoring = "restoring"
	BackupDeleting  = "deleting"
	BackupError     = "error"
	BackupDeleted   = "deleted"
)

// Volume and snapshot statuses while a backup reads or a restore writes them.
const (
	StatusBackingUp      = "backing-up"
	StatusRestoring      = "restoring-backup"
	StatusErrorRestoring = "error_restoring"
)

// Workflow kinds of backups; the backup's id is in the workflow's params.
const (
	WfCreateBackup  = "create_backup"
	WfRestoreBackup = "restore_backup"
	WfDeleteBackup  = "delete_backup"
	WfImportBackup  = "import_backup"

	WfManageVolume   = "manage_volume"   // adopt unmanaged legs: check each is on its dpv
	WfManageSnapshot = "manage_snapshot" // likewise for a snapshot's legs
)

// Backup is a copy of a volume's (or a snapshot's) bytes kept by the backup driver outside the
// dpvs.
type Backup struct {
	ID               string
	ProjectID        string
	UserID           string
	VolumeID         string // volume backed up
	SnapshotID       string // snapshot backed up, "" when the volume itself was read
	Name             string
	Description      string
	Container        string
	Size             int // GiB, the volume's size
	Status           string
	FailReason       string
	AvailabilityZone string
	ObjectCount      int    // chunk files written
	ServiceMetadata  string // where the driver keeps it (a path relative to its root)
	Service          string // backup_service (driver name)
	DataTimestamp    time.Time
	Metadata         map[string]string
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// LegUnmanaged marks a leg left on its dpv by os-unmanage: no volume or snapshot owns it any
// more, and os-volume-manage / os-snapshot-manage may adopt it again.
const LegUnmanaged = "unmanaged"
