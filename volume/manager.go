// Package volume is dlvm's volume manager: it runs every operation on a volume (create, clone,
// delete, extend, snapshot, backup, restore) as a durable workflow recorded in the database,
// drives the dpv agents that own the legs, and records dpv heartbeats. Subpackages hold the pieces it builds on: api
// (the service layer behind the REST API), rpc (the bus), pool (leg storage on a dpv), agent (the
// dpv agent's HTTP API and client), backup (the posix backup driver).
//
// Every workflow step is idempotent, so a manager that restarts, or another manager that finds a
// workflow whose owner stopped heartbeating, simply runs it again from the start of its current
// step. See README.md for the flows.
package volume

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/internal/agentauth"
	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume/backup"
	"github.com/dlvm-project/dlvm/volume/pool"
	"github.com/dlvm-project/dlvm/volume/rpc"
	"github.com/dlvm-project/dlvm/volume/target"
)

// Agent is what the manager needs from a dpv agent (agent.Client). Every method is idempotent
// by leg id; the leg-making ones return the leg as the dpv now has it.
type Agent interface {
	// CreateLeg creates a zeroed leg; an existing leg of the same size is success.
	CreateLeg(ctx context.Context, id string, size int64) (pool.LegInfo, error)
	// CloneLeg makes id a copy of src (leg or snapshot) grown to size; existing id is success.
	CloneLeg(ctx context.Context, id, src string, size int64) (pool.LegInfo, error)
	// SnapshotLeg makes id a point-in-time copy of src; existing id is success.
	SnapshotLeg(ctx context.Context, id, src string) (pool.LegInfo, error)
	// ExtendLeg grows a leg; already large enough is success.
	ExtendLeg(ctx context.Context, id string, size int64) (pool.LegInfo, error)
	// DeleteLeg removes a leg; a missing leg is success.
	DeleteLeg(ctx context.Context, id string) error
	// ReadAt reads leg bytes at off.
	ReadAt(ctx context.Context, id string, p []byte, off int64) (int, error)
	// WriteAt writes leg bytes at off.
	WriteAt(ctx context.Context, id string, p []byte, off int64) (int, error)
	// ExportLeg creates (or finds) the leg's iSCSI target and allows the initiator with its
	// CHAP credentials; repeating it is success (a changed secret is updated). A missing leg is
	// ErrNotFound.
	ExportLeg(ctx context.Context, legID string, a target.Access) (target.Export, error)
	// UnexportInitiator removes the initiator from the leg's target and closes its sessions;
	// an initiator, target or leg that is not there is success.
	UnexportInitiator(ctx context.Context, legID, initiator string) error
	// ResyncExports makes the dpv's target export the named legs to exactly their initiators
	// (rebuilding targets lost with a reboot); legs not named are left alone.
	ResyncExports(ctx context.Context, legs []target.LegExports) error
}

// Dialer returns the agent client for a dpv.
type Dialer func(dpv *model.DPV) Agent

// Options configures a manager.
type Options struct {
	Host          string        // this manager's name; owner of the workflows it claims
	SweepInterval time.Duration // how often unfinished workflows are looked at (default 10 s)
	StaleAfter    time.Duration // a workflow untouched this long may be taken over (default 60 s)
	MaxAttempts   int           // transient failures before a workflow rolls back (default 5)
	// Connectors dials compute hosts' connector daemons (attach of multi-leg volumes); nil
	// makes such attaches fail with a clear error.
	Connectors ConnectorDialer
	// MessageTTL is how long a user message of a failed workflow is kept (message_ttl; default
	// model.DefaultMessageTTL). Expired messages are deleted by the sweep.
	MessageTTL time.Duration
	// Backup is the backup driver; nil fails backup workflows with a clear reason.
	Backup *backup.Posix
	// HeartbeatTimeout: a dpv silent this long is down (default 60 s); replacement legs go only
	// to dpvs heard from within it.
	HeartbeatTimeout time.Duration
	// LegReplaceAfter: the legs of a dpv silent this long are replaced by legs on other dpvs
	// (0 disables replacement).
	LegReplaceAfter time.Duration
	// ResyncTimeout bounds one wait for hosts to resync a replacement leg (default 2 h; the
	// workflow is retried after it); ResyncPoll is how often they are asked (default 1 s).
	ResyncTimeout, ResyncPoll time.Duration
	// Nova is told when an in-use volume grew (volume-extended events); nil skips that, and
	// the manager logs that Nova was not told.
	Nova NovaNotifier
}

// NovaNotifier sends Nova's server external events (nova.Client).
type NovaNotifier interface {
	// VolumeExtended sends one volume-extended event (tag: the volume id) per server. Servers
	// Nova does not know are not an error.
	VolumeExtended(ctx context.Context, volumeID string, serverUUIDs []string) error
}

// Manager runs workflows. Create one per process with New, then Run.
type Manager struct {
	db   *db.DB
	bus  rpc.Bus
	dial Dialer
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	running map[string]bool      // workflow ids being run by this process
	started map[string]time.Time // dpv id -> agent start time last heard (restart detection)

	stopOnce sync.Once
	stop     chan struct{} // closed when Run ends: long waits inside workflows give up
}

// New returns a manager; it does nothing until Run.
func New(d *db.DB, bus rpc.Bus, dial Dialer, opts Options, log *slog.Logger) (*Manager, error) {
	if opts.Host == "" {
		return nil, errors.New("volume: Options.Host is required")
	}
	if opts.SweepInterval <= 0 {
		opts.SweepInterval = 10 * time.Second
	}
	if opts.StaleAfter <= 0 {
		opts.StaleAfter = 60 * time.Second
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 5
	}
	if opts.HeartbeatTimeout <= 0 {
		opts.HeartbeatTimeout = 60 * time.Second
	}
	if opts.ResyncTimeout <= 0 {
		opts.ResyncTimeout = 2 * time.Hour
	}
	if opts.ResyncPoll <= 0 {
		opts.ResyncPoll = time.Second
	}
	return &Manager{db: d, bus: bus, dial: dial, opts: opts, log: log, running: map[string]bool{}, started: map[string]time.Time{}, stop: make(chan struct{})}, nil
}

// Run subscribes to the volume topic, resumes this host's unfinished workflows, and sweeps
// periodically until ctx ends.
func (m *Manager) Run(ctx context.Context) error {
	if err := m.bus.Subscribe(ctx, rpc.TopicVolume, m.handle); err != nil {
		return fmt.Errorf("volume: subscribe: %w", err)
	}
	m.Sweep(ctx, true)
	t := time.NewTicker(m.opts.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			m.stopOnce.Do(func() { close(m.stop) })
			m.waitIdle()
			return nil
		case <-t.C:
			m.Sweep(ctx, false)
		}
	}
}

func (m *Manager) waitIdle() {
	for i := 0; i < 300; i++ {
		m.mu.Lock()
		n := len(m.running)
		m.mu.Unlock()
		if n == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (m *Manager) handle(ctx context.Context, method string, args json.RawMessage) error {
	switch method {
	case rpc.MethodRunWorkflow:
		var ref rpc.WorkflowRef
		if err := json.Unmarshal(args, &ref); err != nil {
			return fmt.Errorf("volume: bad run_workflow args: %w", err)
		}
		return m.RunWorkflow(ctx, ref.WorkflowID)
	case rpc.MethodDPVHeartbeat:
		var hb rpc.DPVHeartbeat
		if err := json.Unmarshal(args, &hb); err != nil {
			return fmt.Errorf("volume: bad heartbeat: %w", err)
		}
		return m.RecordHeartbeat(ctx, hb)
	case rpc.MethodIHostHeartbeat:
		var hb rpc.IHostHeartbeat
		if err := json.Unmarshal(args, &hb); err != nil {
			return fmt.Errorf("volume: bad ihost heartbeat: %w", err)
		}
		return m.RecordIHostHeartbeat(ctx, hb)
	case rpc.MethodLegHealth:
		var r rpc.LegHealthReport
		if err := json.Unmarshal(args, &r); err != nil {
			return fmt.Errorf("volume: bad leg health report: %w", err)
		}
		return m.RecordLegHealth(ctx, r)
	}
	return fmt.Errorf("volume: unknown method %q", method)
}

// RecordHeartbeat stores a dpv's report (state up, capacity, heartbeat time).
func (m *Manager) RecordHeartbeat(ctx context.Context, hb rpc.DPVHeartbeat) error {
	id := hb.ID
	if id == "" {
		id = hb.Name
	}
	old, err := m.db.Store().GetDPV(ctx, id)
	state := "up"
	created := time.Now().UTC()
	if err == nil {
		created = old.CreatedAt
		if old.State == model.DPVDraining {
			state = old.State
		}
	} else if !errors.Is(err, model.ErrNotFound) {
		return err
	}
	p := &model.DPV{
		ID: id, Name: hb.Name, DVGID: hb.DVG, URL: hb.URL, Location: hb.Location,
		PoolType: hb.PoolType, TargetPortal: hb.TargetPortal, TotalBytes: hb.TotalBytes,
		FreeBytes: hb.FreeBytes, State: state, HeartbeatAt: time.Now().UTC(), CreatedAt: created,
	}
	if err := m.db.Store().UpsertDPV(ctx, p); err != nil {
		return err
	}
	// An agent that restarted (a new start time) or comes back after being silent longer than
	// the heartbeat timeout may have lost its targets (a reboot): rebuild them from the database.
	m.mu.Lock()
	last, known := m.started[id]
	m.started[id] = hb.StartedAt
	m.mu.Unlock()
	back := old != nil && p.HeartbeatAt.Sub(old.HeartbeatAt) > m.opts.HeartbeatTimeout
	if (known && !hb.StartedAt.Equal(last)) || back {
		go func() {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
			defer cancel()
			if err := m.resyncExports(rctx, p, m.log); err != nil {
				m.log.Warn("dpv exports not rebuilt; retried at its next restart", "dpv_id", id, "err", err)
			}
		}()
	}
	return nil
}

// Sweep looks at every unfinished workflow: pending ones older than a sweep interval are cast to
// the scheduler again (a lost message heals); scheduled or running ones that are unowned, owned
// by this host (resume after restart, when startup is true) or stale are run.
func (m *Manager) Sweep(ctx context.Context, startup bool) {
	if n, err := m.db.Store().DeleteExpiredMessages(ctx, time.Now()); err != nil {
		m.log.Error("sweep: delete expired messages", "err", err)
	} else if n > 0 {
		m.log.Info("sweep: deleted expired user messages", "count", n)
	}
	wfs, err := m.db.Store().ListUnfinishedWorkflows(ctx)
	if err != nil {
		m.log.Error("sweep: list workflows", "err", err)
		return
	}
	m.WatchLegs(ctx)
	now := time.Now()
	for _, w := range wfs {
		age := now.Sub(w.UpdatedAt)
		switch {
		case needsScheduler(w):
			if age >= m.opts.SweepInterval || startup {
				_ = m.bus.Cast(ctx, rpc.TopicScheduler, rpc.MethodSchedule, rpc.WorkflowRef{WorkflowID: w.ID})
			}
		case w.Owner == "" || (w.Owner == m.opts.Host && (startup || age >= m.opts.SweepInterval)) || age >= m.opts.StaleAfter:
			go func(id string) {
				if err := m.RunWorkflow(context.WithoutCancel(ctx), id); err != nil {
					m.log.Warn("sweep: workflow", "workflow_id", id, "err", err)
				}
			}(w.ID)
		}
	}
}

// RunWorkflow claims and runs one workflow to its end. Safe to call again for the same id, from
// this or another manager: a workflow already being run here, owned elsewhere and fresh, or
// finished, is left alone.
func (m *Manager) RunWorkflow(ctx context.Context, id string) error {
	m.mu.Lock()
	if m.running[id] {
		m.mu.Unlock()
		return nil
	}
	m.running[id] = true
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.running, id)
		m.mu.Unlock()
	}()

	st := m.db.Store()
	// claim and mark running (attempts + 1) in one statement, then read what we own; a
	// workflow that is finished, owned elsewhere or not placed yet is not claimed
	ok, err := st.StartWorkflow(ctx, id, m.opts.Host, time.Now().Add(-m.opts.StaleAfter))
	if err != nil {
		return err
	}
	w, err := st.GetWorkflow(ctx, id)
	if err != nil {
		return err
	}
	if !ok {
		if needsScheduler(w) {
			// Not placed yet: that is the scheduler's step.
			return m.bus.Cast(ctx, rpc.TopicScheduler, rpc.MethodSchedule, rpc.WorkflowRef{WorkflowID: id})
		}
		return nil
	}
	if w.Owner != m.opts.Host {
		return nil // taken over between our claim and now
	}
	log := m.log.With("workflow_id", w.ID, "kind", w.Kind, "volume_id", w.VolumeID, "snapshot_id", w.SnapshotID)
	ctx, epoch, err := m.fence(ctx, w)
	if errors.Is(err, db.ErrLostClaim) {
		log.Warn("workflow taken over by another manager before it started here")
		return nil
	}
	if err != nil {
		return err
	}
	log.Info("workflow start", "attempt", w.Attempts, "step", w.Step, "epoch", epoch)

	run := m.steps(w)
	if run == nil {
		return m.finish(ctx, w, model.WfFailed, "unknown workflow kind "+w.Kind)
	}
	err = run(ctx, w, log)
	switch {
	case err == nil:
		log.Info("workflow done")
		return nil
	case errors.Is(err, agentauth.ErrStaleEpoch), errors.Is(err, db.ErrLostClaim):
		// Another claim on the volume came after ours: we write nothing more. If the workflow
		// is still ours (a concurrent workflow on the same volume bumped the epoch), the
		// sweeper runs it again with a new epoch; if another manager took it over, it is theirs.
		log.Warn("workflow fenced off: another manager claimed the volume after us", "err", err)
		return nil
	case isTransient(err) && w.Attempts < m.opts.MaxAttempts:
		// Leave it running and owned; the sweeper retries after SweepInterval.
		log.Warn("workflow step failed, will retry", "err", err)
		w.Error = model.UserMessage(err)
		if err := st.UpdateOwnedWorkflow(ctx, w); !errors.Is(err, db.ErrLostClaim) {
			return err
		}
		return nil
	default:
		log.Error("workflow failed, rolling back", "err", err)
		if rerr := m.rollback(ctx, w, err, log); rerr != nil {
			log.Error("rollback failed; the sweeper will retry", "err", rerr)
			return rerr
		}
		return nil
	}
}

// fence bumps the epoch of the workflow's volume if we still hold the claim (else
// db.ErrLostClaim) and returns ctx carrying it, so every agent and connector call of this run is fenced: once another manager
// claims work on the volume, the calls we still make are refused.
func (m *Manager) fence(ctx context.Context, w *model.Workflow) (context.Context, int64, error) {
	if w.VolumeID == "" {
		return ctx, 0, nil
	}
	epoch, err := m.db.Store().BumpVolumeEpoch(ctx, w.VolumeID, w.ID, w.Owner)
	if errors.Is(err, model.ErrNotFound) {
		return ctx, 0, nil // the steps report the missing volume
	}
	if err != nil {
		return ctx, 0, err
	}
	return agentauth.WithEpoch(ctx, w.VolumeID, epoch), epoch, nil
}

// needsScheduler says whether a workflow waits for leg placement: only a pending create does;
// every other kind acts on legs that exist and is ready for a manager as soon as it is written.
func needsScheduler(w *model.Workflow) bool {
	return w.State == model.WfPending && (w.Kind == model.WfCreateVolume || w.Kind == model.WfRetypeVolume)
}

// isTransient says whether a failure may heal by itself (a dpv or the bus unreachable).
func isTransient(err error) bool {
	return errors.Is(err, model.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)
}

type stepFunc func(ctx context.Context, w *model.Workflow, log *slog.Logger) error

func (m *Manager) steps(w *model.Workflow) stepFunc {
	switch w.Kind {
	case model.WfCreateVolume:
		return m.createVolume
	case model.WfDeleteVolume:
		return m.deleteVolume
	case model.WfExtendVolume:
		return m.extendVolume
	case model.WfCreateSnapshot:
		return m.createSnapshot
	case model.WfDeleteSnapshot:
		return m.deleteSnapshot
	case model.WfRetypeVolume:
		return m.retypeVolume
	case model.WfAttachVolume:
		return m.attachVolume
	case model.WfDetachVolume:
		return m.detachVolume
	case model.WfCreateBackup:
		return m.createBackup
	case model.WfRestoreBackup:
		return m.restoreBackup
	case model.WfDeleteBackup:
		return m.deleteBackup
	case model.WfImportBackup:
		return m.importBackup
	case model.WfManageVolume, model.WfManageSnapshot:
		return m.manageOwner
	case model.WfReplaceLeg:
		return m.replaceLeg
	}
	return nil
}

// finish marks a workflow ended; it runs inside the caller's transaction when s is one.
func finishIn(ctx context.Context, s *db.Store, w *model.Workflow, state, msg string) error {
	w.State = state
	w.Error = msg
	return s.UpdateOwnedWorkflow(ctx, w)
}

func (m *Manager) finish(ctx context.Context, w *model.Workflow, state, msg string) error {
	return finishIn(ctx, m.db.Store(), w, state, msg)
}

// advance records that a step finished, so a resumed run skips it.
func (m *Manager) advance(ctx context.Context, w *model.Workflow, step int) error {
	w.Step = step
	return m.db.Store().UpdateOwnedWorkflow(ctx, w)
}

// agentFor returns the agent of the dpv holding a leg.
func (m *Manager) agentFor(ctx context.Context, dpvs map[string]*model.DPV, dpvID string) (Agent, error) {
	p, ok := dpvs[dpvID]
	if !ok {
		var err error
		if p, err = m.db.Store().GetDPV(ctx, dpvID); err != nil {
			return nil, fmt.Errorf("dpv %s: %w", dpvID, err)
		}
		dpvs[dpvID] = p
	}
	return m.dial(p), nil
}
