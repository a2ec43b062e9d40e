// Package api is the volume service layer behind the REST API (Cinder's volume/api.py): it checks
// ownership and state, reserves quota, writes the database and starts workflows by casting to the
// scheduler or the volume manager. It knows nothing of HTTP; apiv3 turns its errors into faults.
//
// Files: volumes.go (create, read, update), volume_lifecycle.go (delete, extend), snapshots.go,
// backups.go (backups, restore, export/import), manage.go (manage/unmanage), retype.go,
// messages.go, types.go (volume types and extra specs), quotas.go, pools.go (get_pools and
// availability zones), qos.go (QoS specs), type_access.go (private type access, type
// encryption), services.go (os-services, os-hosts, capabilities), quota_classes.go,
// group_types.go, groups.go, group_snapshots.go (generic volume groups: their volumes and
// snapshots are made by the ordinary per-volume workflows), transfers.go (volume transfers).
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume/rpc"
)

// Defaults applied by New to zero Options fields.
const (
	DefaultVolumeTypeName   = "__DEFAULT__"
	DefaultAvailabilityZone = "nova"
	DefaultBackend          = "dlvm"
	DefaultHeartbeatTimeout = 60 * time.Second
)

// Options configures the service layer; cmd fills it from etc.
type Options struct {
	DefaultVolumeType string           // name of the type used when a request names none
	DefaultAZ         string           // storage_availability_zone, e.g. "nova"
	QuotaDefaults     map[string]int64 // resource -> default limit (quota_volumes, ...), -1 unlimited
	DefaultLayout     model.Layout     // used when a type's extra specs say nothing
	Backend           string           // backend name used in hosts ("dlvm@<backend>#<dvg>")
	BackupContainer   string           // container of backups whose request names none (default "backups")

	// HeartbeatTimeout is how old a dpv heartbeat may be for the dpv to count in Pools
	// (0: DefaultHeartbeatTimeout).
	HeartbeatTimeout time.Duration
	// ServiceDownTime is how old a service heartbeat may be for the service to be up
	// (0: DefaultServiceDownTime seconds).
	ServiceDownTime time.Duration
	// Now is the clock (nil: time.Now). Tests inject one.
	Now func() time.Time
}

// Caller is who makes a request, as the auth middleware established it.
type Caller struct {
	UserID    string
	ProjectID string
	Roles     []string
	IsAdmin   bool
}

// caster is the part of the bus the service layer uses.
type caster interface {
	Cast(ctx context.Context, topic, method string, args any) error
}

// API is the service layer. Safe for concurrent use.
type API struct {
	db   *db.DB
	bus  caster
	opts Options
	log  *slog.Logger
}

// New validates opts and returns the service layer. It fills zero options with defaults
// (type "__DEFAULT__", AZ "nova", layout 2 mirrors x 1 stripe, 512 KiB chunks, backend "dlvm")
// and creates the default volume type (public, no extra specs) when it does not exist, as Cinder
// does on start. Two processes starting together may both try: the loser finds the winner's row.
func New(d *db.DB, bus rpc.Bus, opts Options, log *slog.Logger) (*API, error) {
	if d == nil {
		return nil, errors.New("volume/api: nil database")
	}
	if bus == nil {
		return nil, errors.New("volume/api: nil bus")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.DefaultVolumeType == "" {
		opts.DefaultVolumeType = DefaultVolumeTypeName
	}
	if opts.DefaultAZ == "" {
		opts.DefaultAZ = DefaultAvailabilityZone
	}
	if opts.Backend == "" {
		opts.Backend = DefaultBackend
	}
	if opts.BackupContainer == "" {
		opts.BackupContainer = "backups"
	}
	if opts.HeartbeatTimeout <= 0 {
		opts.HeartbeatTimeout = DefaultHeartbeatTimeout
	}
	if opts.ServiceDownTime <= 0 {
		opts.ServiceDownTime = DefaultServiceDownTime * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.DefaultLayout.Mirrors == 0 {
		opts.DefaultLayout.Mirrors = 2
	}
	if opts.DefaultLayout.Stripes == 0 {
		opts.DefaultLayout.Stripes = 1
	}
	if opts.DefaultLayout.ChunkKiB == 0 {
		opts.DefaultLayout.ChunkKiB = 512
	}
	if err := checkLayout(opts.DefaultLayout); err != nil {
		return nil, fmt.Errorf("volume/api: default layout: %w", err)
	}
	for res, v := range opts.QuotaDefaults {
		if !isGlobalResource(res) {
			return nil, fmt.Errorf("volume/api: unknown quota resource %q in defaults", res)
		}
		if v < -1 {
			return nil, fmt.Errorf("volume/api: quota default %s=%d below -1", res, v)
		}
	}
	a := &API{db: d, bus: bus, opts: opts, log: log}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.ensureDefaultType(ctx); err != nil {
		return nil, fmt.Errorf("volume/api: default volume type %q: %w", opts.DefaultVolumeType, err)
	}
	return a, nil
}

// ensureDefaultType creates the default volume type if missing.
func (a *API) ensureDefaultType(ctx context.Context) error {
	s := a.db.Store()
	_, err := s.GetTypeByName(ctx, a.opts.DefaultVolumeType)
	if err == nil || !errors.Is(err, model.ErrNotFound) {
		return err
	}
	t := &model.VolumeType{
		ID:          uuid.NewString(),
		Name:        a.opts.DefaultVolumeType,
		Description: "Default Volume Type",
		IsPublic:    true,
		ExtraSpecs:  map[string]string{},
	}
	err = s.CreateType(ctx, t)
	if errors.Is(err, model.ErrConflict) {
		_, err = s.GetTypeByName(ctx, a.opts.DefaultVolumeType)
	}
	if err == nil {
		a.log.Info("created default volume type", "volume_type", t.Name, "volume_type_id", t.ID)
	}
	return err
}

// stateErr turns a lost state race reported by the database (ErrConflict) into Cinder's
// "Invalid volume" class of error, which the API answers with 400 like every other state check.
func stateErr(err error) error {
	if errors.Is(err, model.ErrConflict) {
		return model.Wrap(model.ErrInvalid, err, model.UserMessage(err))
	}
	return err
}

// Options returns the effective options (defaults filled in).
func (a *API) Options() Options { return a.opts }

// cast wakes the scheduler or a volume manager up for a workflow. A failure is logged, not
// returned: the workflow row is committed and the sweeper re-drives pending workflows.
func (a *API) cast(ctx context.Context, topic, method, workflowID string) {
	if err := a.bus.Cast(ctx, topic, method, rpc.WorkflowRef{WorkflowID: workflowID}); err != nil {
		a.log.Warn("cast failed; the sweeper will pick the workflow up",
			"topic", topic, "method", method, "workflow_id", workflowID, "err", err)
	}
}

// requireAdmin returns ErrForbidden unless c is an admin.
func requireAdmin(c Caller) error {
	if !c.IsAdmin {
		return model.Errorf(model.ErrForbidden, "Policy doesn't allow this operation to be performed.")
	}
	return nil
}

// visible reports whether c may see an object of project p.
func visible(c Caller, p string) bool { return c.IsAdmin || c.ProjectID == p }

// newWorkflow returns a pending workflow row.
func newWorkflow(kind, volumeID, snapshotID string, params []byte) *model.Workflow {
	return &model.Workflow{
		ID:         uuid.NewString(),
		Kind:       kind,
		VolumeID:   volumeID,
		SnapshotID: snapshotID,
		State:      model.WfPending,
		Params:     params,
	}
}

// checkMetadata applies Cinder's metadata limits (key 1..255 chars, value <= 255).
func checkMetadata(md map[string]string) error {
	for k, v := range md {
		switch {
		case k == "":
			return model.Errorf(model.ErrInvalid, "Metadata property key blank.")
		case len(k) > 255:
			return model.Errorf(model.ErrInvalid, "Metadata property key greater than 255 characters.")
		case len(v) > 255:
			return model.Errorf(model.ErrInvalid, "Metadata property value greater than 255 characters.")
		}
	}
	return nil
}
