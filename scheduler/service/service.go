// Package service is the body of the `dlvm scheduler` process: it consumes schedule messages,
// reads a snapshot of dvgs, dpvs and provisioned bytes from the database, asks the pure
// scheduler package for a Plan, records the legs and the volume's host in one transaction and
// wakes the volume manager. Several copies may run; the transaction makes placing a workflow
// idempotent.
package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/scheduler"
	"github.com/dlvm-project/dlvm/volume/rpc"
)

// Options configures the scheduler service.
type Options struct {
	// HeartbeatTimeout: a dpv whose last heartbeat is older is not given new legs (default 60 s).
	HeartbeatTimeout time.Duration
	// Backend is the backend part of the Cinder host written on a volume placed in a dvg with
	// no backend name: "dlvm@<Backend>#<dvg name>" (default "dlvm"). A dvg's own backend
	// name wins.
	Backend string
	// ServiceDownTime: when the backend's cinder-volume service row (os-services) exists and its
	// last heartbeat is older, or it is disabled or frozen, no volume is placed (default 60 s).
	ServiceDownTime time.Duration
	// MessageTTL is how long the user message of a failed placement is kept (message_ttl;
	// default model.DefaultMessageTTL).
	MessageTTL time.Duration
}

// Service schedules create_volume workflows. Safe for concurrent use; create it with New.
type Service struct {
	db   *db.DB
	bus  rpc.Bus
	opts Options
	log  *slog.Logger
	now  func() time.Time
	prov provisioned // bytes per dpv, see provisionedTTL
}

// New returns a service with defaults filled in; it does nothing until Run.
func New(d *db.DB, bus rpc.Bus, opts Options, log *slog.Logger) *Service {
	if opts.HeartbeatTimeout <= 0 {
		opts.HeartbeatTimeout = 60 * time.Second
	}
	if opts.Backend == "" {
		opts.Backend = "dlvm"
	}
	if opts.ServiceDownTime <= 0 {
		opts.ServiceDownTime = 60 * time.Second
	}
	return &Service{db: d, bus: bus, opts: opts, log: log, now: time.Now}
}

// Run consumes rpc.TopicScheduler until ctx ends, then returns nil. Pending workflows whose
// message was lost are re-cast by the volume manager's sweeper, so the scheduler keeps no state.
func (s *Service) Run(ctx context.Context) error {
	if err := s.bus.Subscribe(ctx, rpc.TopicScheduler, s.handle); err != nil {
		return fmt.Errorf("scheduler: subscribe: %w", err)
	}
	s.log.Info("scheduler: consuming", "topic", rpc.TopicScheduler)
	<-ctx.Done()
	return nil
}

func (s *Service) handle(ctx context.Context, method string, args json.RawMessage) error {
	if method != rpc.MethodSchedule {
		return model.Errorf(model.ErrInvalid, "scheduler: unknown method %q", method)
	}
	var ref rpc.WorkflowRef
	if err := json.Unmarshal(args, &ref); err != nil || ref.WorkflowID == "" {
		return model.Wrap(model.ErrInvalid, err, "scheduler: bad schedule message")
	}
	return s.Schedule(ctx, ref.WorkflowID)
}

// errPlaced and errSettled end a scheduling transaction that found the work already done.
var (
	errPlaced  = errors.New("already placed")            // legs exist: re-cast to the manager
	errSettled = errors.New("volume no longer creating") // failed or deleted meanwhile: nothing to do
)

// Schedule places the legs of create_volume workflow id (a retype_volume workflow goes to
// scheduleRetype, see retype.go). Contract:
//   - pending: place, then in one transaction create the legs (status creating), set the
//     volume's DVGID and Host and move the workflow to scheduled; then cast
//     rpc.MethodRunWorkflow to rpc.TopicVolume.
//   - scheduled or running (placed before; the manager's message may have been lost): only
//     re-cast rpc.MethodRunWorkflow. done or failed: nothing.
//   - no placement (or a layout the scheduler refuses): in one transaction the volume goes to
//     status error with ErrorReason = the user-safe reason and the workflow to failed with the
//     same Error; returns nil. Quota stays reserved until the volume is deleted, as in Cinder.
//
// Idempotent, also when copies of the message reach several schedulers at once: a workflow is
// placed at most once and its legs are never duplicated. Other errors (database, bus) are
// returned and leave nothing behind; the sweeper's next schedule message retries.
func (s *Service) Schedule(ctx context.Context, id string) error {
	log := s.log.With("workflow_id", id)
	// the workflow, its volume and the volume type's extra specs: one query
	w, v, specs, err := s.db.Store().GetWorkflowForSchedule(ctx, id)
	if err != nil {
		return fmt.Errorf("scheduler: load workflow %s: %w", id, err)
	}
	log = log.With("volume_id", w.VolumeID)
	if w.Kind == model.WfRetypeVolume {
		return s.scheduleRetype(ctx, w, log)
	}
	if w.Kind != model.WfCreateVolume {
		return model.Errorf(model.ErrInvalid, "scheduler: workflow %s is a %s, not a %s", id, w.Kind, model.WfCreateVolume)
	}
	switch w.State {
	case model.WfPending:
	case model.WfDone, model.WfFailed:
		log.Debug("scheduler: workflow finished, ignoring", "state", w.State)
		return nil
	default:
		log.Info("scheduler: workflow already placed, waking the manager", "state", w.State)
		return s.castRun(ctx, id)
	}

	if v == nil {
		return fmt.Errorf("scheduler: load volume %s: %w", w.VolumeID, model.Errorf(model.ErrNotFound, "Volume %s could not be found.", w.VolumeID))
	}
	req, err := s.request(ctx, v, specs)
	if err != nil {
		return err
	}
	st, svc, err := s.snapshot(ctx)
	if err != nil {
		return err
	}
	if why := s.volumeServiceRefusal(svc, st.Now); why != "" {
		reason := "No valid backend was found. " + why
		log.Warn("scheduler: no placement", "reason", reason)
		return s.fail(ctx, w, v.ID, reason)
	}
	plan, err := scheduler.Place(req, st)
	if errors.Is(err, model.ErrNoPlacement) || errors.Is(err, model.ErrInvalid) {
		reason := model.UserMessage(err)
		log.Warn("scheduler: no placement", "reason", reason)
		return s.fail(ctx, w, v.ID, reason)
	} else if err != nil {
		return fmt.Errorf("scheduler: place volume %s: %w", v.ID, err)
	}

	err = s.record(ctx, w, v.ID, plan)
	switch {
	case errors.Is(err, errSettled):
		log.Info("scheduler: volume left creating meanwhile, nothing to place")
		return nil
	case errors.Is(err, errPlaced):
		log.Info("scheduler: another scheduler placed the volume, waking the manager")
	case err != nil:
		return fmt.Errorf("scheduler: record plan of volume %s: %w", v.ID, err)
	default:
		log.Info("scheduler: placed", "dvg", plan.DVG.Name, "legs", len(plan.Legs))
	}
	return s.castRun(ctx, id)
}

func (s *Service) castRun(ctx context.Context, id string) error {
	if err := s.bus.Cast(ctx, rpc.TopicVolume, rpc.MethodRunWorkflow, rpc.WorkflowRef{WorkflowID: id}); err != nil {
		return fmt.Errorf("scheduler: cast %s for workflow %s: %w", rpc.MethodRunWorkflow, id, err)
	}
	return nil
}
