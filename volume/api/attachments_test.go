package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume"
	"github.com/dlvm-project/dlvm/volume/pool"
	"github.com/dlvm-project/dlvm/volume/target"
)

// exportAgent is a dpv agent that only exports: leg -> initiators allowed.
type exportAgent struct {
	mu      sync.Mutex
	exports map[string]map[string]bool
}

func (f *exportAgent) CreateLeg(context.Context, string, int64) (pool.LegInfo, error) {
	return pool.LegInfo{}, nil
}
func (f *exportAgent) CloneLeg(context.Context, string, string, int64) (pool.LegInfo, error) {
	return pool.LegInfo{}, nil
}
func (f *exportAgent) SnapshotLeg(context.Context, string, string) (pool.LegInfo, error) {
	return pool.LegInfo{}, nil
}
func (f *exportAgent) ExtendLeg(context.Context, string, int64) (pool.LegInfo, error) {
	return pool.LegInfo{}, nil
}
func (f *exportAgent) DeleteLeg(context.Context, string) error { return nil }
func (f *exportAgent) ReadAt(context.Context, string, []byte, int64) (int, error) {
	return 0, nil
}
func (f *exportAgent) WriteAt(context.Context, string, []byte, int64) (int, error) {
	return 0, nil
}

func (f *exportAgent) ExportLeg(ctx context.Context, legID string, a target.Access) (target.Export, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.exports[legID] == nil {
		f.exports[legID] = map[string]bool{}
	}
	f.exports[legID][a.InitiatorIQN] = true
	return target.Export{IQN: "iqn.2024-01.org.dlvm:" + legID, LUN: 1, Portal: "10.0.0.1:3260"}, nil
}

func (f *exportAgent) UnexportInitiator(ctx context.Context, legID, initiator string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.exports[legID], initiator)
	if len(f.exports[legID]) == 0 {
		delete(f.exports, legID)
	}
	return nil
}

func (f *exportAgent) ResyncExports(ctx context.Context, legs []target.LegExports) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, l := range legs {
		f.exports[l.LegID] = map[string]bool{}
		for _, a := range l.Access {
			f.exports[l.LegID][a.InitiatorIQN] = true
		}
	}
	return nil
}

func (f *exportAgent) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.exports)
}

// withManager runs a volume manager over e's database that runs every attach and detach
// workflow as soon as it is written (the env's bus only records casts).
func (e *env) withManager() *exportAgent {
	e.t.Helper()
	ag := &exportAgent{exports: map[string]map[string]bool{}}
	m, err := volume.New(e.db, e.bus, func(*model.DPV) volume.Agent { return ag },
		volume.Options{Host: "mgr", MaxAttempts: 1}, slog.New(slog.DiscardHandler))
	require.NoError(e.t, err)
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan struct{})
	e.t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			wfs, _ := e.db.Store().ListUnfinishedWorkflows(ctx)
			for _, w := range wfs {
				if w.Kind == model.WfAttachVolume || w.Kind == model.WfDetachVolume {
					_ = m.RunWorkflow(ctx, w.ID)
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	require.NoError(e.t, e.db.Store().UpsertDPV(e.ctx, &model.DPV{ID: "dpv-1", Name: "dpv-1", URL: "http://dpv-1", CreatedAt: time.Now()}))
	return ag
}

// placedVolume creates an available single-leg volume with its leg placed on dpv-1.
func (e *env) placedVolume(c Caller, multiattach bool) *model.Volume {
	e.t.Helper()
	v := e.volume(c, 1, model.StatusAvailable)
	v.Layout = model.Layout{Mirrors: 1, Stripes: 1, ChunkKiB: 512}
	v.Multiattach = multiattach
	require.NoError(e.t, e.db.Store().UpdateVolume(e.ctx, v))
	require.NoError(e.t, e.db.Store().CreateLegs(e.ctx, []*model.Leg{{ID: uuid.NewString(), OwnerKind: model.OwnerVolume,
		OwnerID: v.ID, DPVID: "dpv-1", SizeBytes: model.GiB, Status: model.LegAvailable}}))
	return v
}

func (e *env) status(volumeID string) (string, string) {
	e.t.Helper()
	v, err := e.db.Store().GetVolume(e.ctx, volumeID)
	require.NoError(e.t, err)
	return v.Status, v.AttachStatus
}

var novaConnector = json.RawMessage(`{"platform":"x86_64","os_type":"linux","ip":"10.0.0.5","host":"compute-1",
	"multipath":false,"initiator":"iqn.1993-08.org.debian:01:c1","uuid":"u","nqn":"n","mountpoint":"/dev/vdb"}`)

func TestAttachmentsNovaSequence(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, Options{})
		ag := e.withManager()
		v := e.placedVolume(alice, false)
		inst := uuid.NewString()

		att, err := e.api.AttachmentCreate(e.ctx, alice, v.ID, inst, nil, "")
		require.NoError(t, err)
		require.Equal(t, model.AttachReserved, att.Status)
		st, as := e.status(v.ID)
		require.Equal(t, [2]string{model.StatusReserved, model.AttachReserved}, [2]string{st, as})

		att, err = e.api.AttachmentUpdate(e.ctx, alice, att.ID, novaConnector)
		require.NoError(t, err)
		var info map[string]any
		require.NoError(t, json.Unmarshal(att.ConnectionInfo, &info))
		require.Equal(t, "iscsi", info["driver_volume_type"])
		require.Equal(t, att.ID, info["attachment_id"])
		require.Equal(t, 1, ag.count())

		require.NoError(t, e.api.AttachmentComplete(e.ctx, alice, att.ID))
		st, as = e.status(v.ID)
		require.Equal(t, [2]string{model.StatusInUse, model.AttachAttached}, [2]string{st, as})

		// Live migration: a second attachment of the same instance is allowed...
		mig, err := e.api.AttachmentCreate(e.ctx, alice, v.ID, inst, nil, "")
		require.NoError(t, err)
		// ...another instance is not, on a non-multiattach volume.
		_, err = e.api.AttachmentCreate(e.ctx, alice, v.ID, uuid.NewString(), nil, "")
		requireKind(t, err, model.ErrInvalid)
		// Nobody else sees the attachment.
		_, err = e.api.GetAttachment(e.ctx, bob, att.ID)
		requireKind(t, err, model.ErrNotFound)

		left, err := e.api.AttachmentDelete(e.ctx, alice, mig.ID)
		require.NoError(t, err)
		require.Len(t, left, 1)
		st, _ = e.status(v.ID)
		require.Equal(t, model.StatusInUse, st)
		left, err = e.api.AttachmentDelete(e.ctx, alice, att.ID)
		require.NoError(t, err)
		require.Empty(t, left)
		st, as = e.status(v.ID)
		require.Equal(t, [2]string{model.StatusAvailable, model.AttachDetached}, [2]string{st, as})
		require.Zero(t, ag.count(), "unexported")
		_, err = e.api.AttachmentDelete(e.ctx, alice, att.ID)
		requireKind(t, err, model.ErrNotFound)
	})
}

func TestAttachmentsMultiattachAndErrors(t *testing.T) {
	e := sqlite(t)
	e.withManager()
	ma := e.placedVolume(alice, true)
	for i := 0; i < 2; i++ {
		att, err := e.api.AttachmentCreate(e.ctx, alice, ma.ID, uuid.NewString(), novaConnector, "ro")
		require.NoError(t, err, "multiattach volumes take several instances")
		require.Equal(t, model.AttachModeRO, att.AttachMode)
		require.NotNil(t, att.ConnectionInfo, "a connector at create connects at once")
		require.NoError(t, e.api.AttachmentComplete(e.ctx, alice, att.ID))
	}
	atts, err := e.api.ListAttachments(e.ctx, alice, db.AttachmentQuery{VolumeID: ma.ID}, false)
	require.NoError(t, err)
	require.Len(t, atts, 2)

	_, err = e.api.AttachmentCreate(e.ctx, alice, ma.ID, "", nil, "rx")
	requireKind(t, err, model.ErrInvalid)
	_, err = e.api.AttachmentCreate(e.ctx, bob, ma.ID, "", nil, "")
	requireKind(t, err, model.ErrNotFound)
	_, err = e.api.AttachmentUpdate(e.ctx, alice, atts[0].ID, json.RawMessage(`{"initiator":"x"}`))
	requireKind(t, err, model.ErrInvalid)

	// Multi-leg volume on a host without a connector daemon: the update fails with the reason.
	v := e.placedVolume(alice, false)
	v.Layout = model.Layout{Mirrors: 2, Stripes: 1, ChunkKiB: 512}
	require.NoError(t, e.db.Store().UpdateVolume(e.ctx, v))
	require.NoError(t, e.db.Store().CreateLegs(e.ctx, []*model.Leg{{ID: uuid.NewString(), OwnerKind: model.OwnerVolume,
		OwnerID: v.ID, Mirror: 1, DPVID: "dpv-1", SizeBytes: model.GiB, Status: model.LegAvailable}}))
	att, err := e.api.AttachmentCreate(e.ctx, alice, v.ID, uuid.NewString(), nil, "")
	require.NoError(t, err)
	_, err = e.api.AttachmentUpdate(e.ctx, alice, att.ID, novaConnector)
	require.Error(t, err)
	require.Contains(t, model.UserMessage(err), "runs no dlvm connector")
}

func TestLegacyAttachFlow(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, Options{})
		ag := e.withManager()
		v := e.placedVolume(alice, false)
		inst := uuid.NewString()

		require.NoError(t, e.api.ReserveVolume(e.ctx, alice, v.ID))
		st, _ := e.status(v.ID)
		require.Equal(t, model.StatusAttaching, st)
		require.NoError(t, e.api.UnreserveVolume(e.ctx, alice, v.ID))
		st, _ = e.status(v.ID)
		require.Equal(t, model.StatusAvailable, st)

		require.NoError(t, e.api.ReserveVolume(e.ctx, alice, v.ID))
		info, err := e.api.InitializeConnection(e.ctx, alice, v.ID, novaConnector)
		require.NoError(t, err)
		require.Contains(t, string(info), `"driver_volume_type":"iscsi"`)
		require.NoError(t, e.api.AttachVolume(e.ctx, alice, v.ID, inst, "compute-1", "/dev/vdb", "rw"))
		st, as := e.status(v.ID)
		require.Equal(t, [2]string{model.StatusInUse, model.AttachAttached}, [2]string{st, as})
		atts, err := e.api.VolumeAttachments(e.ctx, alice, v.ID)
		require.NoError(t, err)
		require.Len(t, atts, 1)
		require.Equal(t, inst, atts[0].InstanceUUID)
		require.Equal(t, "/dev/vdb", atts[0].Mountpoint)

		require.NoError(t, e.api.BeginDetaching(e.ctx, alice, v.ID))
		require.NoError(t, e.api.RollDetaching(e.ctx, alice, v.ID))
		st, _ = e.status(v.ID)
		require.Equal(t, model.StatusInUse, st)
		require.NoError(t, e.api.BeginDetaching(e.ctx, alice, v.ID))
		require.NoError(t, e.api.TerminateConnection(e.ctx, alice, v.ID, novaConnector))
		require.Zero(t, ag.count())
		require.NoError(t, e.api.DetachVolume(e.ctx, alice, v.ID, atts[0].ID))
		st, as = e.status(v.ID)
		require.Equal(t, [2]string{model.StatusAvailable, model.AttachDetached}, [2]string{st, as})

		requireKind(t, e.api.ForceDetach(e.ctx, alice, v.ID, ""), model.ErrForbidden)
		require.NoError(t, e.api.AttachVolume(e.ctx, alice, v.ID, inst, "compute-1", "/dev/vdb", ""))
		require.NoError(t, e.api.ForceDetach(e.ctx, admin, v.ID, ""))
		st, _ = e.status(v.ID)
		require.Equal(t, model.StatusAvailable, st)
	})
}
