package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/db/dbtest"
	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume/rpc"
)

var (
	admin = Caller{UserID: "u-admin", ProjectID: "p-admin", Roles: []string{"admin"}, IsAdmin: true}
	alice = Caller{UserID: "u-alice", ProjectID: "p-alice", Roles: []string{"member"}}
	bob   = Caller{UserID: "u-bob", ProjectID: "p-bob", Roles: []string{"member"}}
)

// castRec is one message seen on the bus.
type castRec struct {
	Topic, Method, WorkflowID string
}

// env is a service layer over a fresh migrated database and an in-process bus whose scheduler
// and volume topics are recorded.
type env struct {
	t   *testing.T
	ctx context.Context
	api *API
	db  *db.DB
	bus *rpc.Inproc

	mu    sync.Mutex
	casts []castRec
}

func newEnv(t *testing.T, dialect string, opts Options) *env {
	t.Helper()
	ctx := t.Context()
	d := dbtest.Open(t, dialect)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	bus := rpc.NewInproc(log)
	t.Cleanup(func() { _ = bus.Close() })
	e := &env{t: t, ctx: ctx, db: d, bus: bus}
	for _, topic := range []string{rpc.TopicScheduler, rpc.TopicVolume} {
		require.NoError(t, bus.Subscribe(ctx, topic, func(_ context.Context, method string, args json.RawMessage) error {
			var ref rpc.WorkflowRef
			if err := json.Unmarshal(args, &ref); err != nil {
				return err
			}
			e.mu.Lock()
			e.casts = append(e.casts, castRec{topic, method, ref.WorkflowID})
			e.mu.Unlock()
			return nil
		}))
	}
	a, err := New(d, bus, opts, log)
	require.NoError(t, err)
	e.api = a
	return e
}

// sqlite returns an env on SQLite with default options.
func sqlite(t *testing.T) *env {
	t.Helper()
	return newEnv(t, "sqlite", Options{})
}

// eachDialect runs fn once per available dialect.
func eachDialect(t *testing.T, fn func(t *testing.T, dialect string)) {
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) { fn(t, d) })
	}
}

// waitCast waits until the workflow was cast to topic with method.
func (e *env) waitCast(topic, method, wfID string) {
	e.t.Helper()
	require.Eventually(e.t, func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		for _, c := range e.casts {
			if c == (castRec{topic, method, wfID}) {
				return true
			}
		}
		return false
	}, 5*time.Second, 5*time.Millisecond, "no %s/%s cast for workflow %s", topic, method, wfID)
}

// workflows returns the unfinished workflows of a volume, oldest first.
func (e *env) workflows(volumeID string) []*model.Workflow {
	e.t.Helper()
	all, err := e.db.Store().ListUnfinishedWorkflows(e.ctx)
	require.NoError(e.t, err)
	var out []*model.Workflow
	for _, w := range all {
		if w.VolumeID == volumeID {
			out = append(out, w)
		}
	}
	return out
}

// onlyWorkflow returns the single unfinished workflow of kind for a volume.
func (e *env) onlyWorkflow(volumeID, kind string) *model.Workflow {
	e.t.Helper()
	var out []*model.Workflow
	for _, w := range e.workflows(volumeID) {
		if w.Kind == kind {
			out = append(out, w)
		}
	}
	require.Len(e.t, out, 1, "want one %s workflow for %s", kind, volumeID)
	return out[0]
}

// volume creates a volume for c and forces it into status.
func (e *env) volume(c Caller, size int, status string) *model.Volume {
	e.t.Helper()
	v, err := e.api.CreateVolume(e.ctx, c, CreateVolumeRequest{Size: size, Name: "v"})
	require.NoError(e.t, err)
	e.setStatus(v.ID, status)
	v.Status = status
	return v
}

func (e *env) setStatus(volumeID, status string) {
	e.t.Helper()
	require.NoError(e.t, e.db.Store().SetVolumeStatus(e.ctx, volumeID, nil, status))
}

// snapshot creates a snapshot of an available volume and forces it into status.
func (e *env) snapshot(c Caller, volumeID, status string) *model.Snapshot {
	e.t.Helper()
	sn, err := e.api.CreateSnapshot(e.ctx, c, volumeID, "s", "", false, nil)
	require.NoError(e.t, err)
	require.NoError(e.t, e.db.Store().SetSnapshotStatus(e.ctx, sn.ID, nil, status))
	sn.Status = status
	return sn
}

func (e *env) usage(project string) map[string]model.Usage {
	e.t.Helper()
	u, err := e.db.Store().QuotaUsages(e.ctx, project)
	require.NoError(e.t, err)
	return u
}

func (e *env) countVolumes(project string) int {
	e.t.Helper()
	n, err := e.db.Store().CountVolumes(e.ctx, db.VolumeQuery{ProjectID: project})
	require.NoError(e.t, err)
	return n
}

func (e *env) setLimits(project string, limits map[string]int64) {
	e.t.Helper()
	require.NoError(e.t, e.db.Store().SetQuotaLimits(e.ctx, project, limits))
}

// requireKind asserts err wraps kind.
func requireKind(t *testing.T, err error, kind error) {
	t.Helper()
	require.Error(t, err)
	require.ErrorIs(t, err, kind, "err: %v", err)
}
