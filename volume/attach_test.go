package volume

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/connector"
	"github.com/dlvm-project/dlvm/db/dbtest"
	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume/rpc"
	"github.com/dlvm-project/dlvm/volume/target"
)

// fakeHost is a connector daemon.
type fakeHost struct {
	mu       sync.Mutex
	attached map[string]connector.Plan
	fail     error
	paused   []string // Quiesce calls, by volume id
	resumed  []string
	extended []connector.Plan                 // Extend calls
	replaced []string                         // ReplaceLeg calls: "old->new"
	health   map[string][]connector.LegHealth // by volume id
}

func (h *fakeHost) Attach(ctx context.Context, p connector.Plan) (*connector.Attached, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fail != nil {
		return nil, h.fail
	}
	h.attached[p.VolumeID] = p
	return &connector.Attached{VolumeID: p.VolumeID, DevicePath: "/dev/loop3"}, nil
}

func (h *fakeHost) Detach(ctx context.Context, id string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.attached, id)
	return nil
}

func (h *fakeHost) Quiesce(ctx context.Context, id string, timeout time.Duration) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.paused = append(h.paused, id)
	return nil
}

func (h *fakeHost) Resume(ctx context.Context, id string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.resumed = append(h.resumed, id)
	return nil
}

func (h *fakeHost) Extend(ctx context.Context, p connector.Plan) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.attached[p.VolumeID]; !ok {
		return &notFoundErr{}
	}
	h.extended = append(h.extended, p)
	h.attached[p.VolumeID] = p
	return nil
}

func (h *fakeHost) ReplaceLeg(ctx context.Context, id, old string, leg connector.PlanLeg) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fail != nil {
		return h.fail
	}
	h.replaced = append(h.replaced, old+"->"+leg.LegID)
	// The resync ends at once: the new leg is reported in sync in the old one's place.
	if h.health == nil {
		h.health = map[string][]connector.LegHealth{}
	}
	var hs []connector.LegHealth
	for _, l := range h.attached[id].Legs {
		if l.LegID == old {
			l.LegID = leg.LegID
		}
		hs = append(hs, connector.LegHealth{LegID: l.LegID, State: "ok"})
	}
	h.health[id] = hs
	return nil
}

func (h *fakeHost) Health(ctx context.Context, id string) ([]connector.LegHealth, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.health[id], nil
}

// notFoundErr is a daemon's 404 (the volume is not attached there).
type notFoundErr struct{}

func (*notFoundErr) Error() string  { return "volume not attached on this host" }
func (*notFoundErr) NotFound() bool { return true }

// fakeNova records volume-extended events as "volume server".
type fakeNova struct{ events []string }

func (n *fakeNova) VolumeExtended(ctx context.Context, volumeID string, servers []string) error {
	for _, s := range servers {
		n.events = append(n.events, volumeID+" "+s)
	}
	return nil
}

type attachRig struct {
	*rig
	host *fakeHost
}

func newAttachRig(t *testing.T, dialect string) *attachRig {
	r := &attachRig{rig: newRig(t, dialect), host: &fakeHost{attached: map[string]connector.Plan{}}}
	r.m.opts.Connectors = func(url string) HostConnector {
		require.Equal(t, "http://compute-1:8810", url)
		return r.host
	}
	return r
}

// available creates a volume of layout through its create workflow.
func (r *attachRig) available(lay model.Layout) string {
	id := uuid.NewString()
	require.Equal(r.t, model.WfDone, r.run(r.volume(id, 1, lay, "", "")).State)
	return id
}

// attachment inserts a reserved attachment with a connector and the volume reserved.
func (r *attachRig) attachment(volID string, conn map[string]any) *model.Attachment {
	ctx := context.Background()
	raw, _ := json.Marshal(conn)
	a := &model.Attachment{ID: uuid.NewString(), VolumeID: volID, InstanceUUID: "inst-1", ProjectID: testProject,
		Status: model.AttachReserved, AttachMode: model.AttachModeRW, Connector: raw}
	require.NoError(r.t, r.db.Store().CreateAttachment(ctx, a))
	require.NoError(r.t, r.db.Store().SyncVolumeAttachState(ctx, volID))
	return a
}

func (r *attachRig) att(id string) *model.Attachment {
	a, err := r.db.Store().GetAttachment(context.Background(), id)
	require.NoError(r.t, err)
	return a
}

func (r *attachRig) exportedLegs() int {
	n := 0
	for _, e := range r.dpvs {
		n += e.exported()
	}
	return n
}

var osBrick = map[string]any{"host": "compute-1", "ip": "10.0.0.5", "initiator": "iqn.1993-08.org.debian:01:c1", "multipath": false}

func TestAttachWorkflows(t *testing.T) {
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Run("single leg answers iscsi with the host's CHAP", func(t *testing.T) { testAttachISCSI(t, dialect) })
			t.Run("multi leg is assembled on the host", func(t *testing.T) { testAttachLocal(t, dialect) })
			t.Run("dlvm clients get the plan", func(t *testing.T) { testAttachDLVM(t, dialect) })
			t.Run("failures roll back", func(t *testing.T) { testAttachFailures(t, dialect) })
			t.Run("a host still using the volume keeps it", func(t *testing.T) { testDetachShared(t, dialect) })
		})
	}
}

func testAttachISCSI(t *testing.T, dialect string) {
	r := newAttachRig(t, dialect)
	vol := r.available(model.Layout{Mirrors: 1, Stripes: 1, ChunkKiB: 512})
	a := r.attachment(vol, osBrick)
	require.Equal(t, model.StatusReserved, r.vol(vol).Status)
	require.Equal(t, model.WfDone, r.run(r.workflow(model.WfAttachVolume, vol, "", model.AttachParams{AttachmentID: a.ID})).State)

	got := r.att(a.ID)
	require.Equal(t, model.AttachAttaching, got.Status)
	require.Equal(t, "compute-1", got.Host)
	require.Equal(t, model.StatusAttaching, r.vol(vol).Status)
	ih, err := r.db.Store().GetIHost(context.Background(), "compute-1")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(ih.CHAPSecret), 16)
	leg := r.legs(vol)[0]
	var info map[string]any
	require.NoError(t, json.Unmarshal(got.ConnectionInfo, &info))
	require.Equal(t, map[string]any{
		"driver_volume_type": "iscsi", "attachment_id": a.ID, "volume_id": vol, "access_mode": "rw",
		"encrypted": false, "qos_specs": nil, "discard": true, "target_discovered": false,
		"target_portal": leg.DPVID + ":3260", "target_iqn": "iqn.2024-01.org.dlvm:" + leg.ID, "target_lun": float64(1),
		"auth_method": "CHAP", "auth_username": ih.CHAPUser, "auth_password": ih.CHAPSecret,
	}, info)
	require.Equal(t, target.Access{InitiatorIQN: "iqn.1993-08.org.debian:01:c1", CHAPUser: ih.CHAPUser, CHAPSecret: ih.CHAPSecret},
		r.dpvs[leg.DPVID].exports[leg.ID]["iqn.1993-08.org.debian:01:c1"])

	// A second attach of the same host reuses the host's credentials.
	again := r.run(r.workflow(model.WfAttachVolume, vol, "", model.AttachParams{AttachmentID: a.ID}))
	require.Equal(t, model.WfDone, again.State)
	require.JSONEq(t, string(got.ConnectionInfo), string(r.att(a.ID).ConnectionInfo))

	require.Equal(t, model.WfDone, r.run(r.workflow(model.WfDetachVolume, vol, "", model.AttachParams{AttachmentID: a.ID, Delete: true})).State)
	require.Zero(t, r.exportedLegs())
	_, err = r.db.Store().GetAttachment(context.Background(), a.ID)
	require.ErrorIs(t, err, model.ErrNotFound)
	v := r.vol(vol)
	require.Equal(t, model.StatusAvailable, v.Status)
	require.Equal(t, model.AttachDetached, v.AttachStatus)
	// Detaching a deleted attachment is done, not failed.
	require.Equal(t, model.WfDone, r.run(r.workflow(model.WfDetachVolume, vol, "", model.AttachParams{AttachmentID: a.ID, Delete: true})).State)
}

func testAttachLocal(t *testing.T, dialect string) {
	r := newAttachRig(t, dialect)
	require.NoError(t, r.m.handle(context.Background(), rpc.MethodIHostHeartbeat,
		json.RawMessage(`{"host":"compute-1","url":"http://compute-1:8810","initiator":"iqn.1993-08.org.debian:01:c1"}`)))
	vol := r.available(model.Layout{Mirrors: 2, Stripes: 2, ChunkKiB: 512})
	conn := map[string]any{"host": "compute-1", "mountpoint": "/dev/vdb"} // the daemon told the initiator
	a := r.attachment(vol, conn)
	require.Equal(t, model.WfDone, r.run(r.workflow(model.WfAttachVolume, vol, "", model.AttachParams{AttachmentID: a.ID})).State)

	var info map[string]any
	require.NoError(t, json.Unmarshal(r.att(a.ID).ConnectionInfo, &info))
	require.Equal(t, "local", info["driver_volume_type"])
	require.Equal(t, "/dev/loop3", info["device_path"])
	require.Equal(t, a.ID, info["attachment_id"])
	p := r.host.attached[vol]
	require.Len(t, p.Legs, 4)
	require.Equal(t, 2, p.Mirrors)
	require.EqualValues(t, model.GiB, p.SizeBytes)
	for _, l := range p.Legs {
		require.Equal(t, "CHAP", l.AuthMethod)
		require.NotEmpty(t, l.IQN)
	}
	require.Equal(t, 4, r.exportedLegs())

	// A snapshot of the assembled volume pauses its I/O on the host around the leg snapshots.
	now := time.Now().UTC()
	require.NoError(t, r.db.Store().CreateSnapshot(context.Background(), &model.Snapshot{ID: "s1", ProjectID: testProject,
		VolumeID: vol, Size: 1, Status: model.StatusCreating, CreatedAt: now, UpdatedAt: now}))
	require.Equal(t, model.WfDone, r.run(r.workflow(model.WfCreateSnapshot, vol, "s1", nil)).State)
	require.Equal(t, []string{vol}, r.host.paused, "paused once for the snapshot")
	require.Equal(t, []string{vol}, r.host.resumed, "and resumed")
	require.Len(t, r.legs("s1"), 4)

	// Extend in use: the legs grow while the host is paused, the host grows its device, the
	// volume is in-use again at its new size, and Nova hears of it.
	ctx := context.Background()
	got := r.att(a.ID)
	got.Status = model.AttachAttached
	require.NoError(t, r.db.Store().UpdateAttachment(ctx, got))
	require.NoError(t, r.db.Store().SyncVolumeAttachState(ctx, vol))
	require.NoError(t, r.db.Store().SetVolumeStatus(ctx, vol, []string{model.StatusInUse}, model.StatusExtending))
	nova := &fakeNova{}
	r.m.opts.Nova = nova
	require.Equal(t, model.WfDone, r.run(r.workflow(model.WfExtendVolume, vol, "", ExtendParams{NewSize: 3, OldSize: 1, InUse: true})).State)
	require.Equal(t, []string{vol, vol}, r.host.paused, "paused again while the LUNs were re-created")
	require.Equal(t, []string{vol, vol}, r.host.resumed)
	require.Len(t, r.host.extended, 1)
	require.EqualValues(t, 3*model.GiB, r.host.extended[0].SizeBytes)
	for _, l := range r.host.extended[0].Legs {
		require.EqualValues(t, model.Layout{Mirrors: 2, Stripes: 2, ChunkKiB: 512}.LegSize(3), l.SizeBytes)
	}
	v := r.vol(vol)
	require.Equal(t, model.StatusInUse, v.Status)
	require.Equal(t, 3, v.Size)
	require.Equal(t, []string{vol + " inst-1"}, nova.events)

	// Without [nova] the extend still completes (Nova is not told); a host that lost the
	// volume meanwhile is skipped.
	r.m.opts.Nova = nil
	delete(r.host.attached, vol)
	require.NoError(t, r.db.Store().SetVolumeStatus(ctx, vol, []string{model.StatusInUse}, model.StatusExtending))
	require.Equal(t, model.WfDone, r.run(r.workflow(model.WfExtendVolume, vol, "", ExtendParams{NewSize: 4, OldSize: 3, InUse: true})).State)
	require.Equal(t, 4, r.vol(vol).Size)
	require.Len(t, r.host.extended, 1)
	r.host.attached[vol] = r.host.extended[0]

	require.Equal(t, model.WfDone, r.run(r.workflow(model.WfDetachVolume, vol, "", model.AttachParams{AttachmentID: a.ID, Delete: true})).State)
	require.Empty(t, r.host.attached, "the daemon tore the device down")
	require.Zero(t, r.exportedLegs())
}

func testAttachDLVM(t *testing.T, dialect string) {
	r := newAttachRig(t, dialect)
	vol := r.available(small)
	a := r.attachment(vol, map[string]any{"host": "compute-9", "initiator": "iqn.x", "dlvm": true})
	require.Equal(t, model.WfDone, r.run(r.workflow(model.WfAttachVolume, vol, "", model.AttachParams{AttachmentID: a.ID})).State)
	var info struct {
		Type string         `json:"driver_volume_type"`
		Plan connector.Plan `json:"plan"`
	}
	require.NoError(t, json.Unmarshal(r.att(a.ID).ConnectionInfo, &info))
	require.Equal(t, "dlvm", info.Type)
	require.Len(t, info.Plan.Legs, 2)
	require.Empty(t, r.host.attached, "the client assembles it itself")
}

func testAttachFailures(t *testing.T, dialect string) {
	r := newAttachRig(t, dialect)
	vol := r.available(small)

	// No connector daemon on the host: permanent, rolled back.
	a := r.attachment(vol, osBrick)
	w := r.run(r.workflow(model.WfAttachVolume, vol, "", model.AttachParams{AttachmentID: a.ID}))
	require.Equal(t, model.WfFailed, w.State)
	require.Contains(t, w.Error, "runs no dlvm connector")
	got := r.att(a.ID)
	require.Equal(t, model.AttachErrorAttaching, got.Status)
	require.Nil(t, got.ConnectionInfo)
	require.Zero(t, r.exportedLegs(), "exports undone")
	require.Equal(t, model.StatusReserved, r.vol(vol).Status)

	// The daemon refuses: permanent too.
	require.NoError(t, r.m.RecordIHostHeartbeat(context.Background(), rpc.IHostHeartbeat{Host: "compute-1", URL: "http://compute-1:8810"}))
	r.host.fail = errors.New("login refused")
	w = r.run(r.workflow(model.WfAttachVolume, vol, "", model.AttachParams{AttachmentID: a.ID}))
	require.Equal(t, model.WfFailed, w.State)
	require.Equal(t, "The connector on host compute-1 could not assemble the volume.", w.Error)
	require.Zero(t, r.exportedLegs())

	// A dpv down: retried, then rolled back after MaxAttempts (2).
	r.host.fail = nil
	leg := r.legs(vol)[0]
	r.dpvs[leg.DPVID].setDown(true)
	id := r.workflow(model.WfAttachVolume, vol, "", model.AttachParams{AttachmentID: a.ID})
	require.Equal(t, model.WfRunning, r.run(id).State)
	require.Equal(t, model.WfFailed, r.run(id).State)
	require.Equal(t, model.AttachErrorAttaching, r.att(a.ID).Status)
	r.dpvs[leg.DPVID].setDown(false)
	require.Equal(t, model.WfDone, r.run(r.workflow(model.WfAttachVolume, vol, "", model.AttachParams{AttachmentID: a.ID})).State)
	require.Equal(t, model.AttachAttaching, r.att(a.ID).Status, "a retry after the failure works")
}

func testDetachShared(t *testing.T, dialect string) {
	r := newAttachRig(t, dialect)
	vol := r.available(model.Layout{Mirrors: 1, Stripes: 1, ChunkKiB: 512})
	a1 := r.attachment(vol, osBrick)
	a2 := r.attachment(vol, osBrick)
	for _, a := range []*model.Attachment{a1, a2} {
		require.Equal(t, model.WfDone, r.run(r.workflow(model.WfAttachVolume, vol, "", model.AttachParams{AttachmentID: a.ID})).State)
	}
	got := r.att(a1.ID)
	got.Status = model.AttachAttached
	require.NoError(t, r.db.Store().UpdateAttachment(context.Background(), got))

	// Terminate (no delete) of an attached attachment keeps the record without a connection;
	// the other attachment on the host keeps the export.
	require.Equal(t, model.WfDone, r.run(r.workflow(model.WfDetachVolume, vol, "", model.AttachParams{AttachmentID: a1.ID})).State)
	require.Nil(t, r.att(a1.ID).ConnectionInfo)
	require.Equal(t, 1, r.exportedLegs())
	require.Equal(t, model.StatusInUse, r.vol(vol).Status)

	require.Equal(t, model.WfDone, r.run(r.workflow(model.WfDetachVolume, vol, "", model.AttachParams{AttachmentID: a2.ID, Delete: true})).State)
	require.Zero(t, r.exportedLegs(), "the last user unexported")
	require.Equal(t, model.StatusInUse, r.vol(vol).Status, "a1 is still attached")
	require.Equal(t, model.WfDone, r.run(r.workflow(model.WfDetachVolume, vol, "", model.AttachParams{AttachmentID: a1.ID, Delete: true})).State)
	require.Equal(t, model.StatusAvailable, r.vol(vol).Status)
}
