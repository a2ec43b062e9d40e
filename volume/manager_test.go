package volume

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/db/dbtest"
	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume/pool"
	"github.com/dlvm-project/dlvm/volume/rpc"
	"github.com/dlvm-project/dlvm/volume/target"
)

// fakeDPV is an in-memory dpv agent: legs are byte slices. down makes every call fail as an
// unreachable agent would; failCreate makes CreateLeg fail permanently.
type fakeDPV struct {
	name       string
	mu         sync.Mutex
	exports    map[string]map[string]target.Access // leg id -> initiator -> access
	legs       map[string]*fakeLeg
	down       bool
	failCreate bool
	calls      []string
	resyncs    int // ResyncExports calls
}

// fakeLeg is sparse: data holds the bytes up to the highest write, the rest reads as zeros.
type fakeLeg struct {
	size int64
	data []byte
}

func (l *fakeLeg) read(p []byte, off int64) int {
	if off >= l.size {
		return 0
	}
	n := int(min(int64(len(p)), l.size-off))
	clear(p[:n])
	if off < int64(len(l.data)) {
		copy(p[:n], l.data[off:])
	}
	return n
}

func (l *fakeLeg) write(p []byte, off int64) int {
	if end := off + int64(len(p)); end > int64(len(l.data)) {
		l.data = append(l.data, make([]byte, end-int64(len(l.data)))...)
	}
	return copy(l.data[off:], p)
}

func newFakeDPV(name string) *fakeDPV {
	return &fakeDPV{name: name, legs: map[string]*fakeLeg{}, exports: map[string]map[string]target.Access{}}
}

func (f *fakeDPV) op(name string) error {
	f.calls = append(f.calls, name)
	if f.down {
		return model.Errorf(model.ErrUnavailable, "dpv unreachable")
	}
	return nil
}

func (f *fakeDPV) info(id string) pool.LegInfo {
	return pool.LegInfo{ID: id, SizeBytes: f.legs[id].size}
}

func (f *fakeDPV) CreateLeg(ctx context.Context, id string, size int64) (pool.LegInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.op("create " + id); err != nil {
		return pool.LegInfo{}, err
	}
	if f.failCreate {
		return pool.LegInfo{}, model.Errorf(model.ErrInvalid, "pool full")
	}
	if _, ok := f.legs[id]; !ok {
		f.legs[id] = &fakeLeg{size: size}
	}
	return f.info(id), nil
}

func (f *fakeDPV) CloneLeg(ctx context.Context, id, src string, size int64) (pool.LegInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.op("clone " + id + " " + src); err != nil {
		return pool.LegInfo{}, err
	}
	s, ok := f.legs[src]
	if !ok {
		return pool.LegInfo{}, model.Errorf(model.ErrNotFound, "no leg %s", src)
	}
	if _, ok := f.legs[id]; !ok {
		f.legs[id] = &fakeLeg{size: max(size, s.size), data: append([]byte(nil), s.data...)}
	}
	return f.info(id), nil
}

func (f *fakeDPV) SnapshotLeg(ctx context.Context, id, src string) (pool.LegInfo, error) {
	return f.CloneLeg(ctx, id, src, 0)
}

func (f *fakeDPV) ExtendLeg(ctx context.Context, id string, size int64) (pool.LegInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.op("extend " + id); err != nil {
		return pool.LegInfo{}, err
	}
	l, ok := f.legs[id]
	if !ok {
		return pool.LegInfo{}, model.Errorf(model.ErrNotFound, "no leg %s", id)
	}
	l.size = max(l.size, size)
	return f.info(id), nil
}

func (f *fakeDPV) DeleteLeg(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.op("delete " + id); err != nil {
		return err
	}
	delete(f.legs, id)
	return nil
}

func (f *fakeDPV) ReadAt(ctx context.Context, id string, p []byte, off int64) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.op("read " + id); err != nil {
		return 0, err
	}
	l, ok := f.legs[id]
	if !ok {
		return 0, model.Errorf(model.ErrNotFound, "no leg %s", id)
	}
	return l.read(p, off), nil
}

func (f *fakeDPV) WriteAt(ctx context.Context, id string, p []byte, off int64) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.op("write " + id); err != nil {
		return 0, err
	}
	l, ok := f.legs[id]
	if !ok {
		return 0, model.Errorf(model.ErrNotFound, "no leg %s", id)
	}
	return l.write(p, off), nil
}

func (f *fakeDPV) ExportLeg(ctx context.Context, legID string, a target.Access) (target.Export, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.op("export " + legID); err != nil {
		return target.Export{}, err
	}
	if f.exports[legID] == nil {
		f.exports[legID] = map[string]target.Access{}
	}
	f.exports[legID][a.InitiatorIQN] = a
	return target.Export{IQN: "iqn.2024-01.org.dlvm:" + legID, LUN: 1, Portal: f.name + ":3260"}, nil
}

func (f *fakeDPV) UnexportInitiator(ctx context.Context, legID, initiator string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.exports[legID], initiator)
	if len(f.exports[legID]) == 0 {
		delete(f.exports, legID)
	}
	return nil
}

func (f *fakeDPV) ResyncExports(ctx context.Context, legs []target.LegExports) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.op("resync"); err != nil {
		return err
	}
	f.resyncs++
	for _, l := range legs {
		f.exports[l.LegID] = map[string]target.Access{}
		for _, a := range l.Access {
			f.exports[l.LegID][a.InitiatorIQN] = a
		}
	}
	return nil
}

// exported counts the legs exported to some initiator.
func (f *fakeDPV) exported() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.exports)
}

func (f *fakeDPV) setDown(v bool) { f.mu.Lock(); f.down = v; f.mu.Unlock() }

// rig is a manager over a test database with three fake dpvs.
type rig struct {
	t    *testing.T
	db   *db.DB
	m    *Manager
	dpvs map[string]*fakeDPV
}

const testProject = "p1"

func newRig(t *testing.T, dialect string) *rig {
	t.Helper()
	ctx := context.Background()
	d := dbtest.Open(t, dialect)
	r := &rig{t: t, db: d, dpvs: map[string]*fakeDPV{}}
	st := d.Store()
	require.NoError(t, st.UpsertDVG(ctx, &model.DVG{ID: "dvg1", Name: "dvg1", BackendName: "dlvm-1", AvailabilityZone: "nova", OverSubscription: 20}))
	for _, n := range []string{"dpv-a", "dpv-b", "dpv-c"} {
		r.dpvs[n] = newFakeDPV(n)
		require.NoError(t, st.UpsertDPV(ctx, &model.DPV{ID: n, Name: n, DVGID: "dvg1", URL: "http://" + n, PoolType: "file",
			TotalBytes: 100 * model.GiB, FreeBytes: 100 * model.GiB, State: "up", HeartbeatAt: time.Now().UTC(), CreatedAt: time.Now().UTC()}))
	}
	bus := rpc.NewInproc(slog.New(slog.DiscardHandler))
	t.Cleanup(func() { _ = bus.Close() })
	m, err := New(d, bus, func(p *model.DPV) Agent { return r.dpvs[p.ID] },
		Options{Host: "mgr-1", SweepInterval: time.Second, StaleAfter: time.Minute, MaxAttempts: 2}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	r.m = m
	return r
}

// volume inserts a volume with its legs placed round-robin on the dpvs (as the scheduler would)
// and a scheduled create workflow; it returns the workflow id.
func (r *rig) volume(id string, size int, lay model.Layout, snapID, srcVol string) string {
	r.t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	v := &model.Volume{ID: id, ProjectID: testProject, UserID: "u1", Name: id, Size: size, Status: model.StatusCreating,
		AttachStatus: model.AttachDetached, AvailabilityZone: "nova", DVGID: "dvg1", Layout: lay,
		SnapshotID: snapID, SourceVolID: srcVol, CreatedAt: now, UpdatedAt: now}
	names := []string{"dpv-a", "dpv-b", "dpv-c"}
	var legs []*model.Leg
	for g := 0; g < lay.Stripes; g++ {
		for mi := 0; mi < lay.Mirrors; mi++ {
			legs = append(legs, &model.Leg{ID: uuid.NewString(), OwnerKind: model.OwnerVolume, OwnerID: id, Group: g, Mirror: mi,
				DPVID: names[(g+mi)%len(names)], SizeBytes: lay.LegSize(size), Status: model.LegCreating, CreatedAt: now, UpdatedAt: now})
		}
	}
	wf := &model.Workflow{ID: uuid.NewString(), Kind: model.WfCreateVolume, VolumeID: id, State: model.WfScheduled, CreatedAt: now, UpdatedAt: now}
	require.NoError(r.t, r.db.InTx(ctx, func(s *db.Store) error {
		if err := s.Reserve(ctx, testProject, VolumeQuota(v, 1), nil); err != nil {
			return err
		}
		if err := s.CreateVolume(ctx, v); err != nil {
			return err
		}
		if err := s.CreateLegs(ctx, legs); err != nil {
			return err
		}
		return s.CreateWorkflow(ctx, wf)
	}))
	return wf.ID
}

// workflow inserts a workflow of kind as the service layer does (pending) and returns its id.
func (r *rig) workflow(kind, volID, snapID string, params any) string {
	r.t.Helper()
	raw, _ := json.Marshal(params)
	now := time.Now().UTC()
	wf := &model.Workflow{ID: uuid.NewString(), Kind: kind, VolumeID: volID, SnapshotID: snapID, State: model.WfPending,
		Params: raw, CreatedAt: now, UpdatedAt: now}
	require.NoError(r.t, r.db.Store().CreateWorkflow(context.Background(), wf))
	return wf.ID
}

func (r *rig) run(id string) *model.Workflow {
	r.t.Helper()
	require.NoError(r.t, r.m.RunWorkflow(context.Background(), id))
	w, err := r.db.Store().GetWorkflow(context.Background(), id)
	require.NoError(r.t, err)
	return w
}

func (r *rig) legs(owner string) []*model.Leg {
	r.t.Helper()
	ls, err := r.db.Store().ListLegs(context.Background(), owner)
	require.NoError(r.t, err)
	return ls
}

func (r *rig) vol(id string) *model.Volume {
	r.t.Helper()
	v, err := r.db.Store().GetVolume(context.Background(), id)
	require.NoError(r.t, err)
	return v
}

// readLogical reads a volume's bytes through its layout from the first mirror of each group.
func (r *rig) readLogical(volID string, off, n int64) []byte {
	r.t.Helper()
	v := r.vol(volID)
	legs := r.legs(volID)
	out := make([]byte, 0, n)
	for done := int64(0); done < n; {
		g, loff, run := stripeMap(v.Layout, off+done)
		k := min(run, n-done)
		for _, l := range legs {
			if l.Group == g && l.Mirror == 0 {
				buf := make([]byte, k)
				r.dpvs[l.DPVID].legs[l.ID].read(buf, loff)
				out = append(out, buf...)
			}
		}
		done += k
	}
	return out
}

func (r *rig) writeLogical(volID string, off int64, p []byte) {
	r.t.Helper()
	v := r.vol(volID)
	legs := r.legs(volID)
	for done := int64(0); done < int64(len(p)); {
		g, loff, run := stripeMap(v.Layout, off+done)
		k := min(run, int64(len(p))-done)
		for _, l := range legs {
			if l.Group == g {
				r.dpvs[l.DPVID].legs[l.ID].write(p[done:done+k], loff)
			}
		}
		done += k
	}
}

var small = model.Layout{Mirrors: 2, Stripes: 1, ChunkKiB: 512}

func TestManager(t *testing.T) {
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Run("create puts every leg on its dpv", func(t *testing.T) { testCreate(t, dialect) })
			t.Run("snapshot and clones keep point-in-time bytes", func(t *testing.T) { testSnapshotClone(t, dialect) })
			t.Run("clone into another geometry copies logically", func(t *testing.T) { testCrossGeometry(t, dialect) })
			t.Run("transient failure retries, then succeeds", func(t *testing.T) { testTransient(t, dialect) })
			t.Run("permanent failure rolls back", func(t *testing.T) { testRollback(t, dialect) })
			t.Run("extend and delete release quota", func(t *testing.T) { testExtendDelete(t, dialect) })
			t.Run("stale workflow of a dead manager is taken over", func(t *testing.T) { testTakeover(t, dialect) })
		})
	}
}

func testCreate(t *testing.T, dialect string) {
	r := newRig(t, dialect)
	lay := model.Layout{Mirrors: 2, Stripes: 2, ChunkKiB: 4}
	w := r.run(r.volume("v1", 1, lay, "", ""))
	require.Equal(t, model.WfDone, w.State)
	require.Equal(t, model.StatusAvailable, r.vol("v1").Status)
	legs := r.legs("v1")
	require.Len(t, legs, 4)
	for _, l := range legs {
		require.Equal(t, model.LegAvailable, l.Status)
		require.Equal(t, lay.LegSize(1), r.dpvs[l.DPVID].legs[l.ID].size, "leg %s on %s", l.ID, l.DPVID)
	}
	// Running a finished workflow again does nothing.
	before := len(r.dpvs["dpv-a"].calls)
	r.run(w.ID)
	require.Equal(t, before, len(r.dpvs["dpv-a"].calls))
}

func testSnapshotClone(t *testing.T, dialect string) {
	r := newRig(t, dialect)
	lay := model.Layout{Mirrors: 2, Stripes: 2, ChunkKiB: 4}
	r.run(r.volume("src", 1, lay, "", ""))
	old := bytes.Repeat([]byte("old!"), 8192) // 32 KiB across chunks and groups
	r.writeLogical("src", 4096, old)

	ctx := context.Background()
	now := time.Now().UTC()
	require.NoError(t, r.db.Store().CreateSnapshot(ctx, &model.Snapshot{ID: "s1", ProjectID: testProject, VolumeID: "src", Size: 1,
		Status: model.StatusCreating, CreatedAt: now, UpdatedAt: now}))
	require.Equal(t, model.WfDone, r.run(r.workflow(model.WfCreateSnapshot, "src", "s1", nil)).State)
	sn, err := r.db.Store().GetSnapshot(ctx, "s1")
	require.NoError(t, err)
	require.Equal(t, model.StatusAvailable, sn.Status)
	require.Len(t, r.legs("s1"), 4)

	r.writeLogical("src", 4096, bytes.Repeat([]byte("new!"), 8192))
	r.run(r.volume("fromsnap", 2, lay, "s1", ""))
	require.Equal(t, old, r.readLogical("fromsnap", 4096, int64(len(old))), "clone of the snapshot has the snapshot-time bytes")
	require.Equal(t, model.StatusAvailable, r.vol("fromsnap").Status)
	for _, l := range r.legs("fromsnap") {
		require.Equal(t, lay.LegSize(2), r.dpvs[l.DPVID].legs[l.ID].size, "clone legs grow to the new size")
	}
	r.run(r.volume("fromvol", 1, lay, "", "src"))
	require.Equal(t, bytes.Repeat([]byte("new!"), 8192), r.readLogical("fromvol", 4096, 32768))

	// Writes to the clone do not reach the source.
	r.writeLogical("fromsnap", 4096, bytes.Repeat([]byte("cln!"), 8192))
	require.Equal(t, bytes.Repeat([]byte("new!"), 8192), r.readLogical("src", 4096, 32768))
}

func testCrossGeometry(t *testing.T, dialect string) {
	r := newRig(t, dialect)
	r.run(r.volume("src", 1, model.Layout{Mirrors: 1, Stripes: 1, ChunkKiB: 512}, "", ""))
	pattern := make([]byte, 3<<20)
	for i := range pattern {
		pattern[i] = byte(i*7 + i/4096)
	}
	r.writeLogical("src", 1<<20, pattern)
	w := r.run(r.volume("wide", 1, model.Layout{Mirrors: 2, Stripes: 3, ChunkKiB: 64}, "", "src"))
	require.Equal(t, model.WfDone, w.State, w.Error)
	require.Equal(t, pattern, r.readLogical("wide", 1<<20, int64(len(pattern))))
}

func testTransient(t *testing.T, dialect string) {
	r := newRig(t, dialect)
	r.dpvs["dpv-b"].setDown(true)
	id := r.volume("v1", 1, small, "", "")
	w := r.run(id)
	require.Equal(t, model.WfRunning, w.State, "an unreachable dpv leaves the workflow to be retried")
	require.Equal(t, 1, w.Attempts)
	require.Equal(t, model.StatusCreating, r.vol("v1").Status)
	r.dpvs["dpv-b"].setDown(false)
	w = r.run(id)
	require.Equal(t, model.WfDone, w.State)
	require.Equal(t, model.StatusAvailable, r.vol("v1").Status)
}

func testRollback(t *testing.T, dialect string) {
	r := newRig(t, dialect)
	r.dpvs["dpv-b"].failCreate = true
	w := r.run(r.volume("v1", 1, small, "", ""))
	require.Equal(t, model.WfFailed, w.State)
	v := r.vol("v1")
	require.Equal(t, model.StatusError, v.Status)
	require.Contains(t, v.ErrorReason, "pool full")
	require.Empty(t, r.dpvs["dpv-a"].legs, "the leg created before the failure was removed")
	require.Empty(t, r.legs("v1"))
	msgs, err := r.db.Store().ListMessages(context.Background(), db.MessageQuery{ResourceUUID: "v1"})
	require.NoError(t, err)
	require.Len(t, msgs, 1, "the failed create leaves a user message")
	require.Equal(t, "VOLUME_VOLUME_008_012", msgs[0].EventID)
	require.Equal(t, "create volume from backend storage: Driver failed to create the volume.", msgs[0].UserMessage)
	require.Equal(t, testProject, msgs[0].ProjectID)

	// The sweep reaps expired messages and keeps the others.
	old := model.NewMessage(testProject, model.MsgResourceVolume, "v-old", model.ActionExtendVolume,
		model.DetailDriverFailedExtend, time.Now().Add(-2*time.Hour), time.Hour)
	old.ID = "m-old"
	require.NoError(t, r.db.Store().CreateMessage(context.Background(), old))
	r.m.Sweep(context.Background(), false)
	_, err = r.db.Store().GetMessage(context.Background(), "m-old")
	require.ErrorIs(t, err, model.ErrNotFound, "expired: reaped")
	_, err = r.db.Store().GetMessage(context.Background(), msgs[0].ID)
	require.NoError(t, err, "not expired: kept")
}

func testExtendDelete(t *testing.T, dialect string) {
	r := newRig(t, dialect)
	ctx := context.Background()
	r.run(r.volume("v1", 1, small, "", ""))
	r.writeLogical("v1", 0, []byte("keep me"))
	// The API reserved the extra GiB and set extending.
	require.NoError(t, r.db.Store().Reserve(ctx, testProject, map[string]int64{model.ResGigabytes: 2}, nil))
	require.NoError(t, r.db.Store().SetVolumeStatus(ctx, "v1", nil, model.StatusExtending))
	require.Equal(t, model.WfDone, r.run(r.workflow(model.WfExtendVolume, "v1", "", ExtendParams{NewSize: 3, OldSize: 1})).State)
	v := r.vol("v1")
	require.Equal(t, 3, v.Size)
	require.Equal(t, model.StatusAvailable, v.Status)
	require.Equal(t, []byte("keep me"), r.readLogical("v1", 0, 7))
	for _, l := range r.legs("v1") {
		require.EqualValues(t, 3*model.GiB+model.MirrorMetadataBytes, l.SizeBytes, "data share + mirror metadata")
	}

	require.NoError(t, r.db.Store().SetVolumeStatus(ctx, "v1", nil, model.StatusDeleting))
	require.Equal(t, model.WfDone, r.run(r.workflow(model.WfDeleteVolume, "v1", "", nil)).State)
	_, err := r.db.Store().GetVolume(ctx, "v1")
	require.ErrorIs(t, err, model.ErrNotFound)
	for n, d := range r.dpvs {
		require.Empty(t, d.legs, "legs left on %s", n)
	}
	u, err := r.db.Store().QuotaUsages(ctx, testProject)
	require.NoError(t, err)
	require.Zero(t, u[model.ResVolumes].InUse)
	require.Zero(t, u[model.ResGigabytes].InUse)
}

func testTakeover(t *testing.T, dialect string) {
	r := newRig(t, dialect)
	ctx := context.Background()
	id := r.volume("v1", 1, small, "", "")
	// Another manager claimed it and died long ago.
	ok, err := r.db.Store().ClaimWorkflow(ctx, id, "mgr-dead", time.Now())
	require.NoError(t, err)
	require.True(t, ok)
	w := r.run(id)
	require.Equal(t, model.WfScheduled, w.State, "a fresh claim of another manager is respected")
	require.Equal(t, "mgr-dead", w.Owner)

	r.m.opts.StaleAfter = time.Nanosecond
	w = r.run(id)
	require.Equal(t, model.WfDone, w.State, fmt.Sprint(w.Error))
	require.Equal(t, model.StatusAvailable, r.vol("v1").Status)
}

func (f *fakeDPV) resyncCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.resyncs
}
