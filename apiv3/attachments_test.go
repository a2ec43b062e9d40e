package apiv3

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/attachments"
	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/connector"
	"github.com/dlvm-project/dlvm/connector/daemon"
	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/db/dbtest"
	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume"
	"github.com/dlvm-project/dlvm/volume/api"
	"github.com/dlvm-project/dlvm/volume/pool"
	"github.com/dlvm-project/dlvm/volume/rpc"
	"github.com/dlvm-project/dlvm/volume/target"
)

// stackAgent is a dpv agent that only exports legs.
type stackAgent struct {
	mu      sync.Mutex
	exports map[string]string // leg -> initiator
}

func (f *stackAgent) CreateLeg(context.Context, string, int64) (pool.LegInfo, error) {
	return pool.LegInfo{}, nil
}
func (f *stackAgent) CloneLeg(context.Context, string, string, int64) (pool.LegInfo, error) {
	return pool.LegInfo{}, nil
}
func (f *stackAgent) SnapshotLeg(context.Context, string, string) (pool.LegInfo, error) {
	return pool.LegInfo{}, nil
}
func (f *stackAgent) ExtendLeg(context.Context, string, int64) (pool.LegInfo, error) {
	return pool.LegInfo{}, nil
}
func (f *stackAgent) DeleteLeg(context.Context, string) error                     { return nil }
func (f *stackAgent) ReadAt(context.Context, string, []byte, int64) (int, error)  { return 0, nil }
func (f *stackAgent) WriteAt(context.Context, string, []byte, int64) (int, error) { return 0, nil }
func (f *stackAgent) UnexportInitiator(_ context.Context, leg, _ string) error {
	f.del(leg)
	return nil
}
func (f *stackAgent) del(leg string) { f.mu.Lock(); delete(f.exports, leg); f.mu.Unlock() }
func (f *stackAgent) ExportLeg(_ context.Context, leg string, a target.Access) (target.Export, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.exports[leg] = a.InitiatorIQN
	return target.Export{IQN: "iqn.2024-01.org.dlvm:" + leg, LUN: 1, Portal: "127.0.0.1:3260"}, nil
}

// stackEngine is a connector engine that "assembles" into /dev/loop5.
type stackEngine struct {
	mu       sync.Mutex
	attached map[string]connector.Plan
}

func (e *stackEngine) Attach(_ context.Context, p connector.Plan) (*connector.Attached, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.attached[p.VolumeID] = p
	return &connector.Attached{VolumeID: p.VolumeID, DevicePath: "/dev/loop5"}, nil
}
func (e *stackEngine) Detach(_ context.Context, id string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.attached, id)
	return nil
}
func (e *stackEngine) Extend(context.Context, connector.Plan) error { return nil }
func (e *stackEngine) ReplaceLeg(context.Context, string, string, connector.PlanLeg) error {
	return nil
}
func (e *stackEngine) Health(context.Context, string) ([]connector.LegHealth, error) { return nil, nil }
func (e *stackEngine) Quiesce(context.Context, string) (func(), error)               { return func() {}, nil }

// stack is the real service layer and volume manager on SQLite, a fake dpv and a connector
// daemon (fake engine) registered as host "compute-1".
type stack struct {
	d     *db.DB
	svc   *api.API
	srv   *httptest.Server
	agent *stackAgent
	eng   *stackEngine
}

func newStack(t *testing.T) *stack {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.DiscardHandler)
	d := dbtest.Open(t, db.DialectSQLite)
	bus := rpc.NewInproc(log)
	s := &stack{d: d, agent: &stackAgent{exports: map[string]string{}}, eng: &stackEngine{attached: map[string]connector.Plan{}}}
	host := httptest.NewServer(daemon.NewServer(s.eng, daemon.ServerOptions{}, log).Handler())
	m, err := volume.New(d, bus, func(*model.DPV) volume.Agent { return s.agent }, volume.Options{Host: "mgr",
		Connectors: func(url string) volume.HostConnector { return daemon.NewClient(url, nil, "") }}, log)
	require.NoError(t, err)
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Run(ctx) }()
	svc, err := api.New(d, bus, api.Options{}, log)
	require.NoError(t, err)
	s.svc = svc
	s.srv = httptest.NewServer(New(svc, Options{Identity: HeaderIdentity}))
	t.Cleanup(func() { s.srv.Close(); cancel(); <-done; _ = bus.Close(); host.Close() })
	require.NoError(t, d.Store().UpsertDPV(ctx, &model.DPV{ID: "dpv-1", Name: "dpv-1", URL: "http://dpv-1", CreatedAt: time.Now()}))
	require.NoError(t, m.RecordIHostHeartbeat(ctx, rpc.IHostHeartbeat{Host: "compute-1", URL: host.URL, Initiator: "iqn.1993-08.org.debian:01:c1"}))
	return s
}

// volume inserts an available volume of projA with mirrors x 1 legs on dpv-1.
func (s *stack) volume(t *testing.T, mirrors int, multiattach bool) string {
	t.Helper()
	ctx := context.Background()
	v := &model.Volume{ID: uuid.NewString(), ProjectID: projA, Size: 1, Status: model.StatusAvailable,
		AttachStatus: model.AttachDetached, AvailabilityZone: "nova", Multiattach: multiattach,
		Layout: model.Layout{Mirrors: mirrors, Stripes: 1, ChunkKiB: 512}}
	require.NoError(t, s.d.Store().CreateVolume(ctx, v))
	for i := 0; i < mirrors; i++ {
		require.NoError(t, s.d.Store().CreateLegs(ctx, []*model.Leg{{ID: uuid.NewString(), OwnerKind: model.OwnerVolume,
			OwnerID: v.ID, Mirror: i, DPVID: "dpv-1", SizeBytes: model.GiB, Status: model.LegAvailable}}))
	}
	return v.ID
}

func (s *stack) volumeStatus(t *testing.T, id string) string {
	t.Helper()
	v, err := s.d.Store().GetVolume(context.Background(), id)
	require.NoError(t, err)
	return v.Status
}

var novaConn = map[string]any{"platform": "x86_64", "os_type": "linux", "ip": "10.0.0.5", "host": "compute-1",
	"multipath": false, "initiator": "iqn.1993-08.org.debian:01:c1", "uuid": "u", "nqn": "n", "mountpoint": "/dev/vdb"}

func TestGophercloudAttachments(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	c := gopherClient(t, s.srv.URL, "member,reader", "3.44")
	for _, tc := range []struct {
		name    string
		mirrors int
		kind    string
	}{{"single leg is iscsi", 1, "iscsi"}, {"mirrored is assembled locally", 2, "local"}} {
		t.Run(tc.name, func(t *testing.T) {
			vol := s.volume(t, tc.mirrors, false)
			inst := uuid.NewString()
			a, err := attachments.Create(ctx, c, attachments.CreateOpts{VolumeUUID: vol, InstanceUUID: inst}).Extract()
			require.NoError(t, err)
			require.Equal(t, "reserved", a.Status)
			require.Equal(t, inst, a.Instance)
			require.Equal(t, model.StatusReserved, s.volumeStatus(t, vol))

			a, err = attachments.Update(ctx, c, a.ID, attachments.UpdateOpts{Connector: novaConn}).Extract()
			require.NoError(t, err)
			require.Equal(t, tc.kind, a.ConnectionInfo["driver_volume_type"])
			require.Equal(t, a.ID, a.ConnectionInfo["attachment_id"], "flat connection_info, as Nova reads it")
			require.Equal(t, vol, a.ConnectionInfo["volume_id"])
			if tc.kind == "local" {
				require.Equal(t, "/dev/loop5", a.ConnectionInfo["device_path"])
				require.Contains(t, s.eng.attached, vol)
			} else {
				require.Equal(t, "CHAP", a.ConnectionInfo["auth_method"])
				require.EqualValues(t, 1, a.ConnectionInfo["target_lun"])
			}

			require.NoError(t, attachments.Complete(ctx, c, a.ID).ExtractErr())
			require.Equal(t, model.StatusInUse, s.volumeStatus(t, vol))
			got, err := attachments.Get(ctx, c, a.ID).Extract()
			require.NoError(t, err)
			require.Equal(t, "attached", got.Status)
			require.False(t, got.AttachedAt.IsZero())

			r := doVer(t, s.srv.URL, "GET", "/v3/"+projA+"/volumes/"+vol, "3.48", nil)
			require.Equal(t, http.StatusOK, r.code)

			require.NoError(t, attachments.Delete(ctx, c, a.ID).ExtractErr())
			require.Equal(t, model.StatusAvailable, s.volumeStatus(t, vol))
			require.NotContains(t, s.eng.attached, vol)
			_, err = attachments.Get(ctx, c, a.ID).Extract()
			require.True(t, gophercloud.ResponseCodeIs(err, http.StatusNotFound), "err %v", err)
		})
	}
	t.Run("below 3.27 there are no attachments", func(t *testing.T) {
		old := gopherClient(t, s.srv.URL, "member", "3.26")
		_, err := attachments.Create(ctx, old, attachments.CreateOpts{VolumeUUID: s.volume(t, 1, false)}).Extract()
		require.True(t, gophercloud.ResponseCodeIs(err, http.StatusNotFound), "err %v", err)
	})
}

func TestAttachmentsRaw(t *testing.T) {
	s := newStack(t)
	base := "/v3/" + projA
	t.Run("multiattach refusal and the same instance twice", func(t *testing.T) {
		vol, inst := s.volume(t, 1, false), uuid.NewString()
		for _, want := range []int{http.StatusOK, http.StatusOK} {
			r := doVer(t, s.srv.URL, "POST", base+"/attachments", "3.44",
				map[string]any{"attachment": map[string]any{"volume_uuid": vol, "instance_uuid": inst, "connector": nil}})
			require.Equal(t, want, r.code, "%s", r.body)
		}
		r := doVer(t, s.srv.URL, "POST", base+"/attachments", "3.44",
			map[string]any{"attachment": map[string]any{"volume_uuid": vol, "instance_uuid": uuid.NewString()}})
		require.Equal(t, http.StatusBadRequest, r.code)
		require.Contains(t, string(r.body), "status must be available or downloading to reserve")
		r = doVer(t, s.srv.URL, "GET", base+"/attachments?volume_id="+vol, "3.44", nil)
		require.Equal(t, http.StatusOK, r.code)
		require.Len(t, r.json(t)["attachments"], 2)
	})
	t.Run("legacy initialize_connection is nested", func(t *testing.T) {
		vol := s.volume(t, 1, false)
		r := doVer(t, s.srv.URL, "POST", base+"/volumes/"+vol+"/action", "", map[string]any{"os-reserve": nil})
		require.Equal(t, http.StatusAccepted, r.code, "%s", r.body)
		r = doVer(t, s.srv.URL, "POST", base+"/volumes/"+vol+"/action", "", map[string]any{"os-initialize_connection": map[string]any{"connector": novaConn}})
		require.Equal(t, http.StatusOK, r.code, "%s", r.body)
		ci := r.json(t)["connection_info"].(map[string]any)
		require.Equal(t, "iscsi", ci["driver_volume_type"])
		data := ci["data"].(map[string]any)
		require.Equal(t, "CHAP", data["auth_method"])
		require.NotContains(t, data, "driver_volume_type")
		inst := uuid.NewString()
		r = doVer(t, s.srv.URL, "POST", base+"/volumes/"+vol+"/action", "", map[string]any{"os-attach": map[string]any{"instance_uuid": inst, "mountpoint": "/dev/vdc"}})
		require.Equal(t, http.StatusAccepted, r.code, "%s", r.body)
		r = doVer(t, s.srv.URL, "GET", base+"/volumes/"+vol, "3.48", nil)
		require.Equal(t, "in-use", r.json(t)["volume"].(map[string]any)["status"])
		for _, act := range []map[string]any{{"os-begin_detaching": nil}, {"os-terminate_connection": map[string]any{"connector": novaConn}}, {"os-detach": map[string]any{}}} {
			r = doVer(t, s.srv.URL, "POST", base+"/volumes/"+vol+"/action", "", act)
			require.Equal(t, http.StatusAccepted, r.code, "%v: %s", act, r.body)
		}
		require.Equal(t, model.StatusAvailable, s.volumeStatus(t, vol))
		r = doVer(t, s.srv.URL, "POST", base+"/volumes/"+vol+"/action", "", map[string]any{"os-force_detach": map[string]any{}})
		require.Equal(t, http.StatusForbidden, r.code)
	})
}

// doVer sends a request as a member of projA to a running server; ver "" sends no microversion.
func doVer(t *testing.T, srvURL, method, path, ver string, body any) resp {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, srvURL+path, rd)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Project-Id", projA)
	req.Header.Set("X-User-Id", userA)
	req.Header.Set("X-Roles", "member,reader")
	if ver != "" {
		req.Header.Set("OpenStack-API-Version", "volume "+ver)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return resp{code: res.StatusCode, hdr: res.Header, body: b}
}
