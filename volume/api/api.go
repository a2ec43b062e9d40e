// Package api is the volume service layer behind the REST API (Cinder's volume/api.py): it checks
// ownership and state, reserves quota, writes the database and starts workflows by casting to the
// scheduler or the volume manager. It knows nothing of HTTP; apiv3 turns its errors into faults.
package api

import (
	"context"
	"log/slog"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume/rpc"
)

// Options configures the service layer; cmd fills it from etc.
type Options struct {
	DefaultVolumeType string           // name of the type used when a request names none
	DefaultAZ         string           // storage_availability_zone, e.g. "nova"
	QuotaDefaults     map[string]int64 // resource -> default limit (quota_volumes, ...), -1 unlimited
	DefaultLayout     model.Layout     // used when a type's extra specs say nothing
	Backend           string           // backend name used in hosts ("dlvm@<backend>#<dvg>")
}

// Caller is who makes a request, as the auth middleware established it.
type Caller struct {
	UserID    string
	ProjectID string
	Roles     []string
	IsAdmin   bool
}

// API is the service layer. Safe for concurrent use.
type API struct {
	// filled by the implementation
}

// New validates opts and returns the service layer.
func New(d *db.DB, bus rpc.Bus, opts Options, log *slog.Logger) (*API, error) { panic("TODO") }

// ---- volumes ----

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
}

// CreateVolume checks the request (size > 0 and >= any source, type exists, AZ exists, source
// visible and available), reserves volumes+gigabytes quota, inserts the volume (creating) and a
// create_volume workflow in one transaction, and casts it to the scheduler. Errors: ErrInvalid,
// ErrNotFound (source or type), ErrQuotaExceeded (*model.QuotaError), ErrConflict (source state).
func (a *API) CreateVolume(ctx context.Context, c Caller, req CreateVolumeRequest) (*model.Volume, error) {
	panic("TODO")
}

// GetVolume returns a volume the caller may see (its project, or any if admin). A volume of
// another project is ErrNotFound for a non-admin.
func (a *API) GetVolume(ctx context.Context, c Caller, id string) (*model.Volume, error) {
	panic("TODO")
}

// ListVolumes lists volumes; q.ProjectID is forced to the caller's project unless the caller is
// admin and allTenants is set (then q.ProjectID may name a project or be "").
func (a *API) ListVolumes(ctx context.Context, c Caller, q db.VolumeQuery, allTenants bool) ([]*model.Volume, error) {
	panic("TODO")
}

// VolumeUpdate holds the fields a PUT /volumes/{id} may change; nil = unchanged.
type VolumeUpdate struct {
	Name        *string
	Description *string
	Metadata    map[string]string // nil = unchanged; replaces all metadata when non-nil
}

// UpdateVolume changes name/description/metadata.
func (a *API) UpdateVolume(ctx context.Context, c Caller, id string, u VolumeUpdate) (*model.Volume, error) {
	panic("TODO")
}

// DeleteVolume starts deletion. Without force the volume must be available, error,
// error_restoring, error_extending or error_managing, not attached, and have no snapshots unless
// cascade (then its snapshots are deleted first). force (admin, os-force_delete) accepts any
// state but attached. Deleting a volume already deleting is not an error.
func (a *API) DeleteVolume(ctx context.Context, c Caller, id string, cascade, force bool) error {
	panic("TODO")
}

// ExtendVolume grows an available volume to newSize GiB (> current), reserving the extra
// gigabytes; the volume goes to extending and a workflow does the rest.
func (a *API) ExtendVolume(ctx context.Context, c Caller, id string, newSize int) error {
	panic("TODO")
}

// ResetVolumeStatus (admin) sets status and optionally attach/migration status without checks
// beyond the values being known ones.
func (a *API) ResetVolumeStatus(ctx context.Context, c Caller, id, status, attachStatus, migrationStatus string) error {
	panic("TODO")
}

// SetBootable sets the bootable flag.
func (a *API) SetBootable(ctx context.Context, c Caller, id string, bootable bool) error {
	panic("TODO")
}

// SetReadOnly sets the read-only flag (os-update_readonly_flag).
func (a *API) SetReadOnly(ctx context.Context, c Caller, id string, readOnly bool) error {
	panic("TODO")
}

// SetVolumeMetadata merges (or replaces) metadata and returns the result.
func (a *API) SetVolumeMetadata(ctx context.Context, c Caller, id string, md map[string]string, replace bool) (map[string]string, error) {
	panic("TODO")
}

// DeleteVolumeMetadata removes one key; ErrNotFound if absent.
func (a *API) DeleteVolumeMetadata(ctx context.Context, c Caller, id, key string) error {
	panic("TODO")
}

// ---- snapshots ----

// CreateSnapshot snapshots a volume: available (or in-use with force), reserves snapshots +
// gigabytes quota, inserts the snapshot (creating) and a create_snapshot workflow, casts it to
// the volume manager.
func (a *API) CreateSnapshot(ctx context.Context, c Caller, volumeID, name, description string, force bool, md map[string]string) (*model.Snapshot, error) {
	panic("TODO")
}

// GetSnapshot returns a snapshot the caller may see.
func (a *API) GetSnapshot(ctx context.Context, c Caller, id string) (*model.Snapshot, error) {
	panic("TODO")
}

// ListSnapshots lists snapshots with the same project rules as ListVolumes.
func (a *API) ListSnapshots(ctx context.Context, c Caller, q db.SnapshotQuery, allTenants bool) ([]*model.Snapshot, error) {
	panic("TODO")
}

// UpdateSnapshot changes name/description.
func (a *API) UpdateSnapshot(ctx context.Context, c Caller, id string, name, description *string) (*model.Snapshot, error) {
	panic("TODO")
}

// DeleteSnapshot starts deletion (available or error; force accepts any state).
func (a *API) DeleteSnapshot(ctx context.Context, c Caller, id string, force bool) error {
	panic("TODO")
}

// ResetSnapshotStatus (admin) sets a snapshot's status.
func (a *API) ResetSnapshotStatus(ctx context.Context, c Caller, id, status string) error {
	panic("TODO")
}

// SetSnapshotMetadata merges (or replaces) metadata and returns the result.
func (a *API) SetSnapshotMetadata(ctx context.Context, c Caller, id string, md map[string]string, replace bool) (map[string]string, error) {
	panic("TODO")
}

// DeleteSnapshotMetadata removes one key.
func (a *API) DeleteSnapshotMetadata(ctx context.Context, c Caller, id, key string) error {
	panic("TODO")
}

// ---- volume types ----

// CreateType (admin) creates a type; ErrConflict on a duplicate name; extra specs are checked
// (dlvm:mirrors 1..3, dlvm:stripes 1..16, dlvm:stripe_chunk_kib a power of two 4..4096).
func (a *API) CreateType(ctx context.Context, c Caller, name, description string, isPublic bool, specs map[string]string) (*model.VolumeType, error) {
	panic("TODO")
}

// GetType returns a type by id (or by name when no id matches); "default" gives the default type.
func (a *API) GetType(ctx context.Context, c Caller, idOrName string) (*model.VolumeType, error) {
	panic("TODO")
}

// DefaultType returns the configured default type (ErrNotFound if it does not exist).
func (a *API) DefaultType(ctx context.Context, c Caller) (*model.VolumeType, error) {
	panic("TODO")
}

// ListTypes lists types; non-admins see public types only. isPublic nil = all (admin).
func (a *API) ListTypes(ctx context.Context, c Caller, isPublic *bool) ([]*model.VolumeType, error) {
	panic("TODO")
}

// UpdateType (admin) changes name/description/is_public.
func (a *API) UpdateType(ctx context.Context, c Caller, id string, name, description *string, isPublic *bool) (*model.VolumeType, error) {
	panic("TODO")
}

// DeleteType (admin); ErrConflict while volumes use it or when it is the default type.
func (a *API) DeleteType(ctx context.Context, c Caller, id string) error { panic("TODO") }

// SetExtraSpecs (admin) merges and validates specs; returns all specs.
func (a *API) SetExtraSpecs(ctx context.Context, c Caller, typeID string, specs map[string]string) (map[string]string, error) {
	panic("TODO")
}

// DeleteExtraSpec (admin) removes one key.
func (a *API) DeleteExtraSpec(ctx context.Context, c Caller, typeID, key string) error {
	panic("TODO")
}

// ---- quotas and limits ----

// QuotaSet is a project's limits and (optionally) usages.
type QuotaSet struct {
	ProjectID string
	Limits    map[string]int64       // every resource, defaults merged in
	Usages    map[string]model.Usage // every resource
}

// GetQuotas returns the effective limits and usage of a project. A non-admin may only read
// their own project (ErrForbidden otherwise).
func (a *API) GetQuotas(ctx context.Context, c Caller, projectID string) (*QuotaSet, error) {
	panic("TODO")
}

// DefaultQuotas returns the default limits (config, overridden by the default quota class).
func (a *API) DefaultQuotas(ctx context.Context) (map[string]int64, error) { panic("TODO") }

// UpdateQuotas (admin) sets limits for a project; a limit below current usage is ErrInvalid;
// unknown resources are ErrInvalid.
func (a *API) UpdateQuotas(ctx context.Context, c Caller, projectID string, limits map[string]int64) (*QuotaSet, error) {
	panic("TODO")
}

// DeleteQuotas (admin) returns a project to the defaults.
func (a *API) DeleteQuotas(ctx context.Context, c Caller, projectID string) error {
	panic("TODO")
}

// ---- pools and zones ----

// Pool is one dvg as get_pools reports it.
type Pool struct {
	Name         string         // "dlvm@<backend>#<dvg>"
	Capabilities map[string]any // Cinder's capability keys: pool_name, total_capacity_gb,
	// free_capacity_gb, provisioned_capacity_gb, allocated_capacity_gb,
	// max_over_subscription_ratio, reserved_percentage, thin_provisioning_support,
	// thick_provisioning_support, volume_backend_name, vendor_name ("dlvm"), driver_version,
	// storage_protocol ("iSCSI"), multiattach, timestamp, dpvs (count of up dpvs)
}

// Pools reports every dvg with capacity summed over its live dpvs.
func (a *API) Pools(ctx context.Context) ([]Pool, error) { panic("TODO") }

// AvailabilityZones lists the zones that have at least one dvg (always at least DefaultAZ).
func (a *API) AvailabilityZones(ctx context.Context) ([]string, error) { panic("TODO") }
