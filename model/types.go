package model

import "time"

// GiB is one gibibyte; volume and snapshot sizes are whole GiB as in Cinder.
const GiB = int64(1) << 30

// Volume statuses (Cinder's names).
const (
	StatusCreating       = "creating"
	StatusAvailable      = "available"
	StatusInUse          = "in-use"
	StatusReserved       = "reserved"
	StatusAttaching      = "attaching"
	StatusDetaching      = "detaching"
	StatusDeleting       = "deleting"
	StatusError          = "error"
	StatusErrorDeleting  = "error_deleting"
	StatusExtending      = "extending"
	StatusErrorExtending = "error_extending"
	StatusMaintenance    = "maintenance"
	StatusDeleted        = "deleted"
)

// Attach statuses.
const (
	AttachDetached = "detached"
	AttachAttached = "attached"
)

// Layout is a dlv's geometry: Stripes groups striped together, each a mirror set of Mirrors legs.
type Layout struct {
	Mirrors  int `json:"mirrors"`
	Stripes  int `json:"stripes"`
	ChunkKiB int `json:"chunk_kib"`
}

// Legs is the number of legs the layout needs.
func (l Layout) Legs() int { return l.Mirrors * l.Stripes }

// MirrorMetadataBytes is reserved at the end of every leg of a mirrored volume: the kernel
// engine keeps dm-raid's superblock and write-intent bitmap there (the userspace engine keeps
// its bitmap on the host and leaves the area unused). Data always starts at offset 0.
const MirrorMetadataBytes = int64(1) << 20

// LegSize is the size in bytes of each leg of a volume of sizeGiB: the volume divided over the
// stripes, rounded up to a whole chunk, plus MirrorMetadataBytes when the volume is mirrored.
func (l Layout) LegSize(sizeGiB int) int64 {
	chunk := int64(l.ChunkKiB) * 1024
	per := (int64(sizeGiB)*GiB + int64(l.Stripes) - 1) / int64(l.Stripes)
	n := (per + chunk - 1) / chunk * chunk
	if l.Mirrors > 1 {
		n += MirrorMetadataBytes
	}
	return n
}

// Volume is a dlv: Cinder's volume, same UUID.
type Volume struct {
	ID               string
	ProjectID        string
	UserID           string
	Name             string
	Description      string
	Size             int // GiB
	Status           string
	AttachStatus     string
	MigrationStatus  string
	AvailabilityZone string
	VolumeTypeID     string
	SnapshotID       string // source snapshot, "" if none
	SourceVolID      string // source volume, "" if none
	GroupID          string // generic volume group, "" if none
	Bootable         bool
	ReadOnly         bool
	ReadOnlySet      bool // os-update_readonly_flag was called: views show metadata "readonly"
	Multiattach      bool
	Host             string // "host@backend#pool", set once scheduled
	DVGID            string // dvg the legs live in, set once scheduled
	Layout           Layout
	Epoch            int64 // fencing epoch, bumped on every ownership change
	Rev              int64 // revision of what the API views show: moved by every write that changes them
	Metadata         map[string]string
	ErrorReason      string // last failure, user-safe (feeds user messages)
	CreatedAt        time.Time
	UpdatedAt        time.Time
	LaunchedAt       *time.Time
	TerminatedAt     *time.Time
}

// DPV states an operator sets: up takes new legs; draining takes none and has its mirrored
// legs moved to other dpvs by the volume managers.
const (
	DPVUp       = "up"
	DPVDraining = "draining"
)

// Snapshot is a point-in-time copy of every leg of a volume.
type Snapshot struct {
	ID          string
	ProjectID   string
	UserID      string
	VolumeID    string
	Name        string
	Description string
	Size        int // GiB, the volume's size when taken
	// GroupSnapshotID is the group snapshot this snapshot belongs to, "" if none.
	GroupSnapshotID string
	Status          string
	Progress        string
	Metadata        map[string]string
	ErrorReason     string
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// VolumeType is a Cinder volume type with its extra specs (dlvm:mirrors, dlvm:stripes, ...).
type VolumeType struct {
	ID          string
	Name        string
	Description string
	IsPublic    bool
	ExtraSpecs  map[string]string
	QosSpecsID  string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	// Encrypted: the type has an encryption spec. Read by the single-type reads (db GetType,
	// GetTypeByName) only; lists leave it false.
	Encrypted bool
}

// Extra spec keys dlvm reads.
const (
	SpecMirrors     = "dlvm:mirrors"
	SpecStripes     = "dlvm:stripes"
	SpecChunkKiB    = "dlvm:stripe_chunk_kib"
	SpecBackendName = "volume_backend_name"
)

// Capability values every dlvm pool reports (get_pools) and the scheduler matches extra specs
// against.
const (
	VendorName              = "dlvm"
	StorageProtocol         = "iSCSI"
	DriverVersion           = "1.0"
	DefaultOverSubscription = 20.0 // Cinder's max_over_subscription_ratio default
)

// Quota resource names.
const (
	ResVolumes           = "volumes"
	ResGigabytes         = "gigabytes"
	ResSnapshots         = "snapshots"
	ResPerVolumeGB       = "per_volume_gigabytes"
	ResBackups           = "backups"
	ResBackupGigabytes   = "backup_gigabytes"
	ResGroups            = "groups"
	ResSnapshotGigabytes = "snapshot_gigabytes" // not a Cinder quota; unused
)

// Usage is one quota resource's usage for a project.
type Usage struct {
	InUse    int64
	Reserved int64
}

// DVG is a named group of dpvs: a Cinder backend/pool.
type DVG struct {
	ID                 string
	Name               string // pool name; Cinder host "dlvm@<backend>#<name>"
	BackendName        string // volume_backend_name
	AvailabilityZone   string
	OverSubscription   float64 // max_over_subscription_ratio for thin pools
	ReservedPercentage int
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

// DPV is a storage server running the dpv agent.
type DPV struct {
	ID               string
	Name             string
	DVGID            string
	URL              string // agent base URL, e.g. http://127.0.0.1:8801
	Location         string // failure domain (rack, room); "" if unknown
	PoolType         string // "file" or "lvm"
	TargetPortal     string // iSCSI portal "ip:port"
	TotalBytes       int64
	FreeBytes        int64
	ProvisionedBytes int64
	State            string // DPVUp, "down", DPVDraining
	HeartbeatAt      time.Time
	CreatedAt        time.Time
}

// Leg owner kinds.
const (
	OwnerVolume   = "volume"
	OwnerSnapshot = "snapshot"
)

// Leg statuses.
const (
	LegCreating  = "creating"
	LegAvailable = "available"
	LegDeleting  = "deleting"
	LegError     = "error"
	LegDeleted   = "deleted"
)

// Leg is one piece of a dlv (or of a snapshot) on one dpv.
type Leg struct {
	ID          string
	OwnerKind   string // OwnerVolume or OwnerSnapshot
	OwnerID     string // volume or snapshot id
	Group       int    // stripe index
	Mirror      int    // mirror index inside the group
	DPVID       string
	SizeBytes   int64
	SourceLegID string // leg this one was cloned or snapshotted from, "" if none
	Status      string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Workflow kinds.
const (
	WfCreateVolume   = "create_volume"
	WfDeleteVolume   = "delete_volume"
	WfExtendVolume   = "extend_volume"
	WfCreateSnapshot = "create_snapshot"
	WfDeleteSnapshot = "delete_snapshot"
)

// Workflow states.
const (
	WfPending   = "pending"   // written; a create waits for the scheduler, other kinds for a manager
	WfScheduled = "scheduled" // legs placed, waiting for a manager
	WfRunning   = "running"   // a manager works on it
	WfDone      = "done"      // finished
	WfFailed    = "failed"    // rolled back; resource left in an error state
)

// Workflow is a durable operation on one volume or snapshot. Its steps are idempotent; a
// manager that finds an unfinished workflow resumes it from Step.
type Workflow struct {
	ID         string
	Kind       string
	VolumeID   string
	SnapshotID string
	State      string
	Step       int
	Params     []byte // kind-specific JSON
	Owner      string // manager that claimed it, "" if none
	Attempts   int
	Error      string
	CreatedAt  time.Time
	UpdatedAt  time.Time
}
