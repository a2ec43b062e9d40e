package model

import "time"

// QoS consumers (Cinder's names): where a QoS spec is enforced.
const (
	QosFrontEnd = "front-end" // by the hypervisor (returned in connection_info)
	QosBackEnd  = "back-end"  // by the storage backend
	QosBoth     = "both"
)

// QosSpecs is a named set of QoS keys that volume types reference (Cinder's qos_specs).
type QosSpecs struct {
	ID        string
	Name      string
	Consumer  string
	Specs     map[string]string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// TypeEncryption is a volume type's encryption spec (Cinder's encryption table).
type TypeEncryption struct {
	VolumeTypeID    string
	EncryptionID    string
	Provider        string
	Cipher          string // "" = none
	KeySize         *int   // nil = none
	ControlLocation string // front-end or back-end
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// TypeAccess is one project allowed to use a private volume type.
type TypeAccess struct {
	VolumeTypeID string
	ProjectID    string
}

// Cinder service binaries dlvm processes stand for.
const (
	BinaryScheduler = "cinder-scheduler"
	BinaryVolume    = "cinder-volume"
)

// Service is one row of Cinder's service list: a process (or, for cinder-volume, every volume
// manager serving a backend) that heartbeats; UpdatedAt is its last heartbeat.
type Service struct {
	Host              string
	Binary            string
	Zone              string
	Disabled          bool
	DisabledReason    string
	Frozen            bool
	ReplicationStatus string // "disabled" (dlvm does not replicate backends)
	ActiveBackendID   string
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

// HostUsage is the volume and snapshot usage of one project on one volume host (os-hosts).
type HostUsage struct {
	ProjectID  string
	Volumes    int64
	VolumeGB   int64
	Snapshots  int64
	SnapshotGB int64
}

// VolumeServiceHost is the Cinder host of the cinder-volume service of a backend,
// "dlvm@<backend>": the part before "#" of the hosts written on its volumes
// ("dlvm@<backend>#<dvg>"). Every `dlvm volume` process serves every volume of the backend, so
// they share this one service row.
func VolumeServiceHost(backend string) string { return "dlvm@" + backend }
