package model

import "time"

// GroupType is a Cinder group type with its group specs.
type GroupType struct {
	ID          string
	Name        string
	Description string
	IsPublic    bool
	GroupSpecs  map[string]string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Group is a generic volume group: volumes of the listed volume types that are snapshotted
// together.
type Group struct {
	ID               string
	ProjectID        string
	UserID           string
	Name             string
	Description      string
	Status           string
	AvailabilityZone string
	GroupTypeID      string
	GroupSnapshotID  string // source group snapshot, "" if none
	SourceGroupID    string // source group, "" if none
	VolumeTypeIDs    []string
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// GroupSnapshot is one snapshot of every volume of a group, taken together.
type GroupSnapshot struct {
	ID          string
	ProjectID   string
	UserID      string
	GroupID     string
	GroupTypeID string
	Name        string
	Description string
	Status      string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Transfer is an offer to move a volume to another project. Only a salted hash of its
// authorization key is kept.
type Transfer struct {
	ID                   string
	VolumeID             string
	Name                 string
	Salt                 string
	CryptHash            string
	NoSnapshots          bool
	SourceProjectID      string
	DestinationProjectID string
	Accepted             bool
	CreatedAt            time.Time
	UpdatedAt            time.Time
}

// StatusAwaitingTransfer is a volume's status while a transfer of it exists.
const StatusAwaitingTransfer = "awaiting-transfer"
