// Package db owns dlvm's persistent state: the schema and its embedded migrations (MySQL/MariaDB
// and SQLite), and the repositories over database/sql that every server process uses.
package db

import (
	"context"
	"time"

	"github.com/dlvm-project/dlvm/model"
)

// DB is an open database with its dialect. Safe for concurrent use.
type DB struct {
	// filled by the implementation
}

// Options tunes the connection pool.
type Options struct {
	MaxOpenConns int // 0: a default sized for the machine
	MaxIdleConns int
}

// Open connects to a Cinder-style URL: "mysql+pymysql://user:pass@host[:port]/db[?...]",
// "mysql://...", "sqlite:///abs/path.db", "sqlite://" (in memory). It does not migrate.
func Open(ctx context.Context, url string, opts Options) (*DB, error) { panic("TODO") }

// Migrate brings the schema to the newest version (dlvm db sync). Idempotent.
func (d *DB) Migrate(ctx context.Context) error { panic("TODO") }

// Close closes the pool.
func (d *DB) Close() error { panic("TODO") }

// Dialect is "mysql" or "sqlite".
func (d *DB) Dialect() string { panic("TODO") }

// Store returns the repositories, each call its own statement (no transaction).
func (d *DB) Store() *Store { panic("TODO") }

// InTx runs fn in one transaction; fn's error (or a panic) rolls it back. On MySQL a deadlock or
// lock-wait timeout is retried a few times, so fn must be safe to re-run.
func (d *DB) InTx(ctx context.Context, fn func(s *Store) error) error { panic("TODO") }

// Store offers every repository method, over the pool or inside a transaction.
// Missing rows give an error wrapping model.ErrNotFound; soft-deleted rows count as missing.
type Store struct {
	// filled by the implementation
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
	Metadata         map[string]string // every pair must match
	IDs              []string
	Sort             []SortKey // default created_at desc, id desc
	Limit            int       // 0 = no limit
	Marker           string    // id of the last row of the previous page; ErrNotFound if unknown
	Offset           int
}

// SnapshotQuery selects snapshots. Zero fields do not filter.
type SnapshotQuery struct {
	ProjectID string
	VolumeID  string
	Name      string
	Status    string
	Metadata  map[string]string
	Sort      []SortKey
	Limit     int
	Marker    string
	Offset    int
}

// ---- volumes ----

// CreateVolume inserts v with its metadata. CreatedAt/UpdatedAt are set if zero.
// ErrConflict if the id exists.
func (s *Store) CreateVolume(ctx context.Context, v *model.Volume) error { panic("TODO") }

// GetVolume returns the volume with its metadata; ErrNotFound if missing or deleted.
func (s *Store) GetVolume(ctx context.Context, id string) (*model.Volume, error) { panic("TODO") }

// ListVolumes returns the matching volumes with their metadata (no N+1 queries).
func (s *Store) ListVolumes(ctx context.Context, q VolumeQuery) ([]*model.Volume, error) {
	panic("TODO")
}

// CountVolumes counts the matching volumes, ignoring Sort/Limit/Marker/Offset.
func (s *Store) CountVolumes(ctx context.Context, q VolumeQuery) (int, error) { panic("TODO") }

// UpdateVolume writes every column of v except ID, ProjectID, CreatedAt and Metadata, and sets
// UpdatedAt. ErrNotFound if missing or deleted.
func (s *Store) UpdateVolume(ctx context.Context, v *model.Volume) error { panic("TODO") }

// SetVolumeStatus moves the volume to status `to` only if its status is one of `from` (any
// status when from is empty). It returns ErrConflict (naming the current status in the message)
// when the status is not in from, ErrNotFound if missing. Atomic: two racing callers cannot both
// succeed from the same state.
func (s *Store) SetVolumeStatus(ctx context.Context, id string, from []string, to string) error {
	panic("TODO")
}

// SetVolumeMetadata merges md into the volume's metadata, or replaces it when replace is true.
func (s *Store) SetVolumeMetadata(ctx context.Context, id string, md map[string]string, replace bool) error {
	panic("TODO")
}

// DeleteVolumeMetadata removes one key; ErrNotFound if the key is absent.
func (s *Store) DeleteVolumeMetadata(ctx context.Context, id, key string) error { panic("TODO") }

// DeleteVolume soft-deletes the volume (status deleted, deleted_at set). Idempotent.
func (s *Store) DeleteVolume(ctx context.Context, id string) error { panic("TODO") }

// ---- snapshots ----

// CreateSnapshot inserts sn with its metadata.
func (s *Store) CreateSnapshot(ctx context.Context, sn *model.Snapshot) error { panic("TODO") }

// GetSnapshot returns the snapshot; ErrNotFound if missing or deleted.
func (s *Store) GetSnapshot(ctx context.Context, id string) (*model.Snapshot, error) {
	panic("TODO")
}

// ListSnapshots returns the matching snapshots with metadata.
func (s *Store) ListSnapshots(ctx context.Context, q SnapshotQuery) ([]*model.Snapshot, error) {
	panic("TODO")
}

// UpdateSnapshot writes every column except ID, ProjectID, VolumeID, CreatedAt and Metadata.
func (s *Store) UpdateSnapshot(ctx context.Context, sn *model.Snapshot) error { panic("TODO") }

// SetSnapshotStatus is SetVolumeStatus for snapshots.
func (s *Store) SetSnapshotStatus(ctx context.Context, id string, from []string, to string) error {
	panic("TODO")
}

// SetSnapshotMetadata merges (or replaces) metadata.
func (s *Store) SetSnapshotMetadata(ctx context.Context, id string, md map[string]string, replace bool) error {
	panic("TODO")
}

// DeleteSnapshotMetadata removes one key; ErrNotFound if absent.
func (s *Store) DeleteSnapshotMetadata(ctx context.Context, id, key string) error { panic("TODO") }

// DeleteSnapshot soft-deletes. Idempotent.
func (s *Store) DeleteSnapshot(ctx context.Context, id string) error { panic("TODO") }

// ---- volume types ----

// CreateType inserts t with its extra specs; ErrConflict if the name (or id) exists.
func (s *Store) CreateType(ctx context.Context, t *model.VolumeType) error { panic("TODO") }

// GetType returns a type by id with extra specs; ErrNotFound if missing or deleted.
func (s *Store) GetType(ctx context.Context, id string) (*model.VolumeType, error) { panic("TODO") }

// GetTypeByName returns a type by exact name.
func (s *Store) GetTypeByName(ctx context.Context, name string) (*model.VolumeType, error) {
	panic("TODO")
}

// ListTypes returns types, with extra specs, ordered by name. isPublic nil = all.
func (s *Store) ListTypes(ctx context.Context, isPublic *bool) ([]*model.VolumeType, error) {
	panic("TODO")
}

// UpdateType writes name, description, is_public; ErrConflict on a duplicate name.
func (s *Store) UpdateType(ctx context.Context, t *model.VolumeType) error { panic("TODO") }

// DeleteType soft-deletes a type. ErrConflict if a non-deleted volume uses it.
func (s *Store) DeleteType(ctx context.Context, id string) error { panic("TODO") }

// SetExtraSpecs merges specs into the type's extra specs.
func (s *Store) SetExtraSpecs(ctx context.Context, typeID string, specs map[string]string) error {
	panic("TODO")
}

// DeleteExtraSpec removes one key; ErrNotFound if absent.
func (s *Store) DeleteExtraSpec(ctx context.Context, typeID, key string) error { panic("TODO") }

// ---- quotas ----

// QuotaLimits returns the project's explicit limits (resource -> limit, -1 unlimited). Resources
// with no row are absent: the caller merges defaults (the "default" quota class, then config).
func (s *Store) QuotaLimits(ctx context.Context, projectID string) (map[string]int64, error) {
	panic("TODO")
}

// SetQuotaLimits upserts limits for a project. Use projectID "class:default" for the default class.
func (s *Store) SetQuotaLimits(ctx context.Context, projectID string, limits map[string]int64) error {
	panic("TODO")
}

// DeleteQuotaLimits removes all explicit limits of a project (back to defaults).
func (s *Store) DeleteQuotaLimits(ctx context.Context, projectID string) error { panic("TODO") }

// QuotaUsages returns resource -> usage for a project (absent = zero).
func (s *Store) QuotaUsages(ctx context.Context, projectID string) (map[string]model.Usage, error) {
	panic("TODO")
}

// Reserve atomically adds deltas to the project's in-use counts. A positive delta fails with a
// *model.QuotaError (nothing changed) when in_use+delta would exceed limits[resource] (a resource
// absent from limits, or with limit -1, is unlimited). A negative delta releases and never takes a
// count below zero. Safe under concurrency on both dialects: two racing reservations can never
// together exceed a limit.
func (s *Store) Reserve(ctx context.Context, projectID string, deltas map[string]int64, limits map[string]int64) error {
	panic("TODO")
}

// ---- dvgs and dpvs ----

// UpsertDVG inserts or updates a dvg by ID.
func (s *Store) UpsertDVG(ctx context.Context, g *model.DVG) error { panic("TODO") }

// ListDVGs returns all dvgs ordered by name.
func (s *Store) ListDVGs(ctx context.Context) ([]*model.DVG, error) { panic("TODO") }

// UpsertDPV inserts or updates a dpv by ID (heartbeats call this).
func (s *Store) UpsertDPV(ctx context.Context, p *model.DPV) error { panic("TODO") }

// GetDPV returns one dpv.
func (s *Store) GetDPV(ctx context.Context, id string) (*model.DPV, error) { panic("TODO") }

// ListDPVs returns dpvs of a dvg ("" = all) ordered by name.
func (s *Store) ListDPVs(ctx context.Context, dvgID string) ([]*model.DPV, error) { panic("TODO") }

// ---- legs ----

// CreateLegs inserts legs (all or none when called inside InTx).
func (s *Store) CreateLegs(ctx context.Context, legs []*model.Leg) error { panic("TODO") }

// ListLegs returns the non-deleted legs of a volume or snapshot, ordered by group, mirror.
func (s *Store) ListLegs(ctx context.Context, ownerID string) ([]*model.Leg, error) {
	panic("TODO")
}

// ListLegsOnDPV returns the non-deleted legs on one dpv.
func (s *Store) ListLegsOnDPV(ctx context.Context, dpvID string) ([]*model.Leg, error) {
	panic("TODO")
}

// UpdateLeg writes status, size, dpv of a leg and sets UpdatedAt.
func (s *Store) UpdateLeg(ctx context.Context, l *model.Leg) error { panic("TODO") }

// ProvisionedBytesByDPV returns dpv id -> sum of SizeBytes of its non-deleted legs.
func (s *Store) ProvisionedBytesByDPV(ctx context.Context) (map[string]int64, error) {
	panic("TODO")
}

// ---- workflows ----

// CreateWorkflow inserts w (State pending if empty).
func (s *Store) CreateWorkflow(ctx context.Context, w *model.Workflow) error { panic("TODO") }

// GetWorkflow returns one workflow.
func (s *Store) GetWorkflow(ctx context.Context, id string) (*model.Workflow, error) {
	panic("TODO")
}

// UpdateWorkflow writes State, Step, Params, Owner, Attempts, Error and sets UpdatedAt.
func (s *Store) UpdateWorkflow(ctx context.Context, w *model.Workflow) error { panic("TODO") }

// ListUnfinishedWorkflows returns workflows not done/failed, oldest first.
func (s *Store) ListUnfinishedWorkflows(ctx context.Context) ([]*model.Workflow, error) {
	panic("TODO")
}

// ClaimWorkflow sets Owner to owner if the workflow is unowned, already owned by owner, or its
// UpdatedAt is older than staleBefore; it reports whether the claim succeeded. Atomic.
func (s *Store) ClaimWorkflow(ctx context.Context, id, owner string, staleBefore time.Time) (bool, error) {
	panic("TODO")
}
