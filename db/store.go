// Package db owns dlvm's persistent state: the schema and its embedded migrations (MySQL/MariaDB
// and SQLite), and the repositories over database/sql that every server process uses.
//
// Files: open.go (URL parsing, pools), migrate.go (golang-migrate, embedded SQL), tx.go (InTx,
// retries, time encoding), query.go (filters, sorting, marker paging, metadata helpers),
// volumes.go, snapshots.go, types.go, quotas.go (limits, usages, Reserve), placement.go (dvgs,
// dpvs, legs), workflows.go, qos.go (QoS specs and their type associations), type_access.go
// (private type access, type encryption), services.go (os-services heartbeats, host usage),
// group_types.go, groups.go (groups and group snapshots), transfers.go, backups.go, messages.go,
// manage.go, legswap.go, leghealth.go. Package dbtest gives tests a migrated database of either
// dialect.
//
// Conventions: times are stored in UTC with microsecond precision (DATETIME(6) on MySQL, fixed-
// width TEXT on SQLite) and returned as UTC time.Time; volumes, snapshots and types are soft-
// deleted; every user-visible error wraps a model kind.
package db

// Options tunes the connection pool.
type Options struct {
	MaxOpenConns int // 0: a default sized for the machine
	MaxIdleConns int
}

// SortKey is one sort column; Key is an API name (created_at, updated_at, name, size, status, id).
type SortKey struct {
	Key  string
	Desc bool
}

// VolumeQuery selects volumes. Zero fields do not filter.
type VolumeQuery struct {
	ProjectID        string // "" = all projects
	Name             string // exact match
	NameLike         string // substring match (Cinder's inexact filter "name~")
	Status           string
	Bootable         *bool
	AvailabilityZone string
	VolumeTypeID     string
	GroupID          string
	Metadata         map[string]string // every pair must match
	IDs              []string
	Sort             []SortKey // default created_at desc, id desc
	Limit            int       // 0 = no limit
	Marker           string    // id of the last row of the previous page; ErrNotFound if unknown
	Offset           int
}

// SnapshotQuery selects snapshots. Zero fields do not filter.
type SnapshotQuery struct {
	ProjectID       string
	VolumeID        string
	GroupSnapshotID string
	Name            string
	Status          string
	Metadata        map[string]string
	Sort            []SortKey
	Limit           int
	Marker          string
	Offset          int
}
