package service

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/db/dbtest"
	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume/rpc"
)

// env is a migrated database with one dvg "gold" (AZ nova, backend dlvm), an in-process bus
// whose volume topic is recorded, and the service under test.
type env struct {
	t   *testing.T
	ctx context.Context
	db  *db.DB
	bus *rpc.Inproc
	svc *Service
	typ string // id of a type with volume_backend_name=dlvm

	mu   sync.Mutex
	runs []string // workflow ids cast as run_workflow to the volume topic
}

func newEnv(t *testing.T, dialect string) *env {
	t.Helper()
	ctx := t.Context()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e := &env{t: t, ctx: ctx, db: dbtest.Open(t, dialect), bus: rpc.NewInproc(log)}
	t.Cleanup(func() { _ = e.bus.Close() })
	require.NoError(t, e.bus.Subscribe(ctx, rpc.TopicVolume, func(_ context.Context, method string, args json.RawMessage) error {
		var ref rpc.WorkflowRef
		require.NoError(t, json.Unmarshal(args, &ref))
		require.Equal(t, rpc.MethodRunWorkflow, method)
		e.mu.Lock()
		e.runs = append(e.runs, ref.WorkflowID)
		e.mu.Unlock()
		return nil
	}))
	e.svc = New(e.db, e.bus, Options{HeartbeatTimeout: time.Minute, Backend: "be1"}, log)

	st := e.db.Store()
	require.NoError(t, st.UpsertDVG(ctx, &model.DVG{ID: "dvg-gold", Name: "gold", BackendName: "dlvm",
		AvailabilityZone: "nova", OverSubscription: 1}))
	typ := &model.VolumeType{ID: uuid.NewString(), Name: "mirrored", IsPublic: true,
		ExtraSpecs: map[string]string{model.SpecBackendName: "dlvm", model.SpecMirrors: "2"}}
	require.NoError(t, st.CreateType(ctx, typ))
	e.typ = typ.ID
	return e
}

// dpv adds an up dpv of 100 GiB to gold with a fresh heartbeat.
func (e *env) dpv(id string) {
	e.t.Helper()
	require.NoError(e.t, e.db.Store().UpsertDPV(e.ctx, &model.DPV{ID: id, Name: id, DVGID: "dvg-gold", State: "up",
		PoolType: "file", TotalBytes: 100 * model.GiB, FreeBytes: 100 * model.GiB, HeartbeatAt: time.Now(),
		CreatedAt: time.Now()}))
}

// volume inserts a creating 1 GiB 1x2 volume and its pending create_volume workflow.
func (e *env) volume(mod func(v *model.Volume)) (*model.Volume, *model.Workflow) {
	e.t.Helper()
	now := time.Now()
	v := &model.Volume{ID: uuid.NewString(), ProjectID: "p1", UserID: "u1", Size: 1, Status: model.StatusCreating,
		AttachStatus: model.AttachDetached, AvailabilityZone: "nova", VolumeTypeID: e.typ,
		Layout: model.Layout{Mirrors: 2, Stripes: 1, ChunkKiB: 512}, CreatedAt: now, UpdatedAt: now}
	if mod != nil {
		mod(v)
	}
	w := &model.Workflow{ID: uuid.NewString(), Kind: model.WfCreateVolume, VolumeID: v.ID, State: model.WfPending}
	require.NoError(e.t, e.db.InTx(e.ctx, func(s *db.Store) error {
		if err := s.CreateVolume(e.ctx, v); err != nil {
			return err
		}
		return s.CreateWorkflow(e.ctx, w)
	}))
	return v, w
}

func (e *env) runCasts(wfID string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, id := range e.runs {
		if id == wfID {
			n++
		}
	}
	return n
}

func (e *env) legs(owner string) []*model.Leg {
	e.t.Helper()
	legs, err := e.db.Store().ListLegs(e.ctx, owner)
	require.NoError(e.t, err)
	return legs
}

func (e *env) workflow(id string) *model.Workflow {
	e.t.Helper()
	w, err := e.db.Store().GetWorkflow(e.ctx, id)
	require.NoError(e.t, err)
	return w
}

func (e *env) getVolume(id string) *model.Volume {
	e.t.Helper()
	v, err := e.db.Store().GetVolume(e.ctx, id)
	require.NoError(e.t, err)
	return v
}

func TestService(t *testing.T) {
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Run("schedule message places legs and wakes the manager", func(t *testing.T) { testPlaced(t, dialect) })
			t.Run("no placement fails the volume with the reason", func(t *testing.T) { testNoPlacement(t, dialect) })
			t.Run("duplicate messages place once", func(t *testing.T) { testDuplicate(t, dialect) })
			t.Run("finished workflows are ignored", func(t *testing.T) { testFinished(t, dialect) })
			t.Run("clone stays on the source dpvs", func(t *testing.T) { testClone(t, dialect) })
		})
	}
}

func testPlaced(t *testing.T, dialect string) {
	e := newEnv(t, dialect)
	e.dpv("dpv-a")
	e.dpv("dpv-b")
	e.dpv("dpv-c")
	v, w := e.volume(nil)

	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	go func() { done <- e.svc.Run(ctx) }()
	require.Eventually(t, func() bool {
		// Run subscribes asynchronously: cast until a consumer took the message.
		_ = e.bus.Cast(e.ctx, rpc.TopicScheduler, rpc.MethodSchedule, rpc.WorkflowRef{WorkflowID: w.ID})
		return e.runCasts(w.ID) > 0
	}, 10*time.Second, 50*time.Millisecond)
	cancel()
	require.NoError(t, <-done)

	legs := e.legs(v.ID)
	require.Len(t, legs, 2)
	seen := map[string]bool{}
	for i, l := range legs {
		require.NotEmpty(t, l.ID)
		require.Equal(t, model.OwnerVolume, l.OwnerKind)
		require.Equal(t, v.ID, l.OwnerID)
		require.Equal(t, model.LegCreating, l.Status)
		require.Equal(t, 0, l.Group)
		require.Equal(t, i, l.Mirror)
		require.Equal(t, model.GiB+model.MirrorMetadataBytes, l.SizeBytes, "a mirrored leg: data share + metadata area")
		require.False(t, seen[l.DPVID], "mirrors share dpv %s", l.DPVID)
		seen[l.DPVID] = true
	}
	got := e.getVolume(v.ID)
	require.Equal(t, "dvg-gold", got.DVGID)
	require.Equal(t, "dlvm@dlvm#gold", got.Host) // the dvg's backend name wins over Options.Backend
	require.Equal(t, model.StatusCreating, got.Status)
	require.Equal(t, model.WfScheduled, e.workflow(w.ID).State)
}

func testNoPlacement(t *testing.T, dialect string) {
	e := newEnv(t, dialect)
	e.dpv("dpv-a")
	v, w := e.volume(nil)

	require.NoError(t, e.svc.Schedule(e.ctx, w.ID))

	const reason = "No valid backend was found. 2 mirrors need 2 distinct dpvs with 1 GiB free in availability zone nova; dvg gold has 1."
	got := e.getVolume(v.ID)
	require.Equal(t, model.StatusError, got.Status)
	require.Equal(t, reason, got.ErrorReason)
	require.Empty(t, got.DVGID)
	wf := e.workflow(w.ID)
	require.Equal(t, model.WfFailed, wf.State)
	require.Equal(t, reason, wf.Error)
	require.Empty(t, e.legs(v.ID))
	msgs, err := e.db.Store().ListMessages(e.ctx, db.MessageQuery{ResourceUUID: v.ID})
	require.NoError(t, err)
	require.Len(t, msgs, 1, "a user message for the volume")
	require.Equal(t, "VOLUME_VOLUME_001_003", msgs[0].EventID)
	require.Equal(t, v.ProjectID, msgs[0].ProjectID)
	require.Equal(t, "schedule allocate volume: Could not find any available weighted backend.", msgs[0].UserMessage)
	require.WithinDuration(t, msgs[0].CreatedAt.Add(model.DefaultMessageTTL), msgs[0].ExpiresAt, time.Second)

	// A late duplicate of the message changes nothing and wakes nobody.
	require.NoError(t, e.svc.Schedule(e.ctx, w.ID))
	require.NoError(t, e.bus.Close())
	require.Zero(t, e.runCasts(w.ID))
	require.Equal(t, model.WfFailed, e.workflow(w.ID).State)
	msgs, err = e.db.Store().ListMessages(e.ctx, db.MessageQuery{ResourceUUID: v.ID})
	require.NoError(t, err)
	require.Len(t, msgs, 1, "the duplicate leaves no second message")
}

func testDuplicate(t *testing.T, dialect string) {
	e := newEnv(t, dialect)
	e.dpv("dpv-a")
	e.dpv("dpv-b")
	v, w := e.volume(nil)

	// Copies of the message racing in several schedulers...
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() { errs <- e.svc.Schedule(e.ctx, w.ID) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	// ...and one arriving after the workflow was scheduled.
	require.NoError(t, e.svc.Schedule(e.ctx, w.ID))

	require.Len(t, e.legs(v.ID), 2)
	require.Equal(t, model.WfScheduled, e.workflow(w.ID).State)
	require.NoError(t, e.bus.Close()) // waits for deliveries in flight
	require.Equal(t, 9, e.runCasts(w.ID), "every copy re-wakes the manager, so a lost cast heals")
}

func testFinished(t *testing.T, dialect string) {
	e := newEnv(t, dialect)
	e.dpv("dpv-a")
	e.dpv("dpv-b")
	for _, state := range []string{model.WfDone, model.WfFailed} {
		v, w := e.volume(nil)
		w.State = state
		require.NoError(t, e.db.Store().UpdateWorkflow(e.ctx, w))
		require.NoError(t, e.svc.Schedule(e.ctx, w.ID))
		require.Empty(t, e.legs(v.ID), state)
		require.Equal(t, state, e.workflow(w.ID).State)
	}
	require.NoError(t, e.bus.Close())
	e.mu.Lock()
	defer e.mu.Unlock()
	require.Empty(t, e.runs)
}

func testClone(t *testing.T, dialect string) {
	e := newEnv(t, dialect)
	for _, id := range []string{"dpv-a", "dpv-b", "dpv-c", "dpv-d"} {
		e.dpv(id)
	}
	src, _ := e.volume(func(v *model.Volume) { v.Status = model.StatusAvailable; v.DVGID = "dvg-gold" })
	require.NoError(t, e.db.Store().CreateLegs(e.ctx, []*model.Leg{
		{ID: uuid.NewString(), OwnerKind: model.OwnerVolume, OwnerID: src.ID, Group: 0, Mirror: 0, DPVID: "dpv-d", SizeBytes: model.GiB, Status: model.LegAvailable},
		{ID: uuid.NewString(), OwnerKind: model.OwnerVolume, OwnerID: src.ID, Group: 0, Mirror: 1, DPVID: "dpv-c", SizeBytes: model.GiB, Status: model.LegAvailable},
	}))
	v, w := e.volume(func(v *model.Volume) { v.SourceVolID = src.ID })

	require.NoError(t, e.svc.Schedule(e.ctx, w.ID))

	var dpvs []string
	for _, l := range e.legs(v.ID) {
		dpvs = append(dpvs, l.DPVID)
	}
	// dpv-a and dpv-b are emptier; the clone still lands next to its source legs.
	require.Equal(t, []string{"dpv-d", "dpv-c"}, dpvs)
}
