package apiv3

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/transfers"
	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/db/dbtest"
	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume/api"
	"github.com/dlvm-project/dlvm/volume/rpc"
)

// groupsUnfaked are the group, group type and transfer methods; fakeService does not fake them
// (calling one panics): their routes are tested here against the real service layer over SQLite.
type groupsUnfaked interface {
	GroupTypeService
	GroupService
	TransferService
}

// realEnv is the handler over the real service layer on SQLite (no volume manager: workflows
// stay pending, which is all these routes need).
func realEnv(t *testing.T) (*tenv, *db.DB) {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	d := dbtest.Open(t, db.DialectSQLite)
	bus := rpc.NewInproc(log)
	t.Cleanup(func() { _ = bus.Close() })
	svc, err := api.New(d, bus, api.Options{}, log)
	require.NoError(t, err)
	return &tenv{t: t, h: New(svc, Options{Identity: HeaderIdentity, PublicURL: "http://dlvm.test:8776"})}, d
}

// keysOf is keys for a decoded JSON object held as any.
func keysOf(m any) []string { return keys(m.(map[string]any)) }

const gbase = "/v3/" + projA

func TestGroupTypesRoutes(t *testing.T) {
	e, _ := realEnv(t)
	body := map[string]any{"group_type": map[string]any{"name": "gt1", "description": "d", "is_public": true,
		"group_specs": map[string]any{"consistent_group_snapshot_enabled": "<is> False"}}}

	// Absent below 3.11; admin only; bad input refused and nothing created.
	requireFault(t, e.do("POST", gbase+"/group_types", admin, "3.10", body), 404, "itemNotFound", "")
	requireFault(t, e.do("POST", gbase+"/group_types", member, "3.11", body), 403, "forbidden", "")
	requireFault(t, e.do("POST", gbase+"/group_types", admin, "3.11", map[string]any{"group_type": map[string]any{"name": ""}}), 400, "badRequest", "name")
	requireFault(t, e.do("POST", gbase+"/group_types", admin, "3.11", map[string]any{"group_type": map[string]any{"name": "x", "is_public": "maybe"}}), 400, "badRequest", "is_public")
	requireFault(t, e.do("POST", gbase+"/group_types", admin, "3.11", map[string]any{"group_type": map[string]any{"name": "x", "bogus": 1}}), 400, "badRequest", "bogus")
	r := e.do("GET", gbase+"/group_types?is_public=None", admin, "3.11", nil)
	require.Equal(t, `{"group_types":[]}`, string(r.body))

	r = e.do("POST", gbase+"/group_types", admin, "3.11", body)
	require.Equal(t, http.StatusAccepted, r.code, "%s", r.body)
	gt := r.json(t)["group_type"].(map[string]any)
	require.Equal(t, sorted("id", "name", "description", "is_public", "group_specs"), keysOf(gt))
	id := gt["id"].(string)
	requireFault(t, e.do("POST", gbase+"/group_types", admin, "3.11", body), 409, "conflictingRequest", "")

	// Members see no group specs.
	r = e.do("GET", gbase+"/group_types/"+id, member, "3.11", nil)
	require.Equal(t, 200, r.code)
	require.Equal(t, sorted("id", "name", "description", "is_public"), keysOf(r.json(t)["group_type"]))

	r = e.do("PUT", gbase+"/group_types/"+id, admin, "3.11", map[string]any{"group_type": map[string]any{"name": "gt1b", "is_public": false}})
	require.Equal(t, 200, r.code, "%s", r.body)
	require.Equal(t, false, r.json(t)["group_type"].(map[string]any)["is_public"])
	requireFault(t, e.do("PUT", gbase+"/group_types/"+id, admin, "3.11", map[string]any{"group_type": map[string]any{}}), 400, "badRequest", "")
	requireFault(t, e.do("GET", gbase+"/group_types/"+id, member, "3.11", nil), 404, "itemNotFound", "")
	r = e.do("GET", gbase+"/group_types?is_public=false", admin, "3.11", nil)
	require.Len(t, r.json(t)["group_types"], 1)
	r = e.do("GET", gbase+"/group_types", admin, "3.11", nil)
	require.Len(t, r.json(t)["group_types"], 0)
	requireFault(t, e.do("GET", gbase+"/group_types/default", admin, "3.11", nil), 404, "itemNotFound", "")

	// Group specs.
	r = e.do("POST", gbase+"/group_types/"+id+"/group_specs", admin, "3.11", map[string]any{"group_specs": map[string]any{"k": "v"}})
	require.Equal(t, http.StatusAccepted, r.code, "%s", r.body)
	require.JSONEq(t, `{"group_specs":{"k":"v"}}`, string(r.body))
	r = e.do("GET", gbase+"/group_types/"+id+"/group_specs", admin, "3.11", nil)
	require.JSONEq(t, `{"group_specs":{"k":"v","consistent_group_snapshot_enabled":"<is> False"}}`, string(r.body))
	r = e.do("PUT", gbase+"/group_types/"+id+"/group_specs/k", admin, "3.11", map[string]any{"k": "v2"})
	require.Equal(t, 200, r.code)
	require.JSONEq(t, `{"k":"v2"}`, string(r.body))
	requireFault(t, e.do("PUT", gbase+"/group_types/"+id+"/group_specs/k", admin, "3.11", map[string]any{"other": "v2"}), 400, "badRequest", "mismatch")
	r = e.do("GET", gbase+"/group_types/"+id+"/group_specs/k", admin, "3.11", nil)
	require.JSONEq(t, `{"k":"v2"}`, string(r.body))
	require.Equal(t, http.StatusAccepted, e.do("DELETE", gbase+"/group_types/"+id+"/group_specs/k", admin, "3.11", nil).code)
	requireFault(t, e.do("GET", gbase+"/group_types/"+id+"/group_specs/k", admin, "3.11", nil), 404, "itemNotFound", "")
	requireFault(t, e.do("POST", gbase+"/group_types/"+id+"/group_specs", member, "3.11", map[string]any{"group_specs": map[string]any{"k": "v"}}), 403, "forbidden", "")

	require.Equal(t, http.StatusAccepted, e.do("DELETE", gbase+"/group_types/"+id, admin, "3.11", nil).code)
	requireFault(t, e.do("DELETE", gbase+"/group_types/"+id, admin, "3.11", nil), 404, "itemNotFound", "")
}

func TestGroupsRoutes(t *testing.T) {
	e, _ := realEnv(t)
	r := e.do("POST", gbase+"/group_types", admin, "3.11", map[string]any{"group_type": map[string]any{"name": "gt"}})
	gtID := r.json(t)["group_type"].(map[string]any)["id"].(string)
	r = e.do("GET", gbase+"/types/default", member, "3.62", nil)
	vtID := r.json(t)["volume_type"].(map[string]any)["id"].(string)

	create := map[string]any{"group": map[string]any{"name": "g1", "group_type": gtID, "volume_types": []any{vtID}}}
	requireFault(t, e.do("POST", gbase+"/groups", member, "3.12", create), 404, "itemNotFound", "")
	requireFault(t, e.do("POST", gbase+"/groups", member, "3.13", map[string]any{"group": map[string]any{"group_type": gtID}}), 400, "badRequest", "volume_types")
	requireFault(t, e.do("POST", gbase+"/groups", member, "3.13", map[string]any{"group": map[string]any{"group_type": "nope", "volume_types": []any{vtID}}}), 404, "itemNotFound", "")
	requireFault(t, e.do("POST", gbase+"/groups", member, "3.13", map[string]any{"group": map[string]any{"volume_types": []any{vtID}}}), 400, "badRequest", "group_type")
	require.Equal(t, `{"groups":[]}`, string(e.do("GET", gbase+"/groups", member, "3.13", nil).body))

	r = e.do("POST", gbase+"/groups", member, "3.13", create)
	require.Equal(t, http.StatusAccepted, r.code, "%s", r.body)
	g := r.json(t)["group"].(map[string]any)
	require.Equal(t, sorted("id", "name"), keysOf(g))
	gid := g["id"].(string)

	base313 := sorted("id", "name", "description", "status", "availability_zone", "created_at", "group_type", "volume_types")
	r = e.do("GET", gbase+"/groups/"+gid, member, "3.13", nil)
	require.Equal(t, base313, keysOf(r.json(t)["group"]))
	r = e.do("GET", gbase+"/groups/"+gid, member, "3.14", nil)
	require.Equal(t, sorted(append(base313, "group_snapshot_id", "source_group_id")...), keysOf(r.json(t)["group"]))
	require.Equal(t, "available", r.json(t)["group"].(map[string]any)["status"])
	requireFault(t, e.do("GET", "/v3/"+projB+"/groups/"+gid, other, "3.13", nil), 404, "itemNotFound", "")

	// A volume in the group carries group_id from 3.13; list_volume shows it at 3.25.
	r = e.do("POST", gbase+"/volumes", member, "3.13", map[string]any{"volume": map[string]any{"size": 1, "group_id": gid}})
	require.Equal(t, http.StatusAccepted, r.code, "%s", r.body)
	vid := r.json(t)["volume"].(map[string]any)["id"].(string)
	require.Equal(t, gid, r.json(t)["volume"].(map[string]any)["group_id"])
	r = e.do("GET", gbase+"/volumes/detail?group_id="+gid, member, "3.13", nil)
	require.Len(t, r.json(t)["volumes"], 1)
	r = e.do("GET", gbase+"/groups/"+gid+"?list_volume=True", member, "3.25", nil)
	require.Equal(t, []any{vid}, r.json(t)["group"].(map[string]any)["volumes"])
	r = e.do("GET", gbase+"/groups/detail", member, "3.13", nil)
	require.Len(t, r.json(t)["groups"], 1)
	require.Equal(t, base313, keysOf(r.json(t)["groups"].([]any)[0]))
	r = e.do("GET", gbase+"/groups", member, "3.13", nil)
	require.Equal(t, sorted("id", "name"), keysOf(r.json(t)["groups"].([]any)[0]))

	// Update: 202 with no body; nothing at all is a 400.
	r = e.do("PUT", gbase+"/groups/"+gid, member, "3.13", map[string]any{"group": map[string]any{"name": "g2", "remove_volumes": vid}})
	require.Equal(t, http.StatusAccepted, r.code, "%s", r.body)
	r = e.do("GET", gbase+"/groups/"+gid+"?list_volume=True", member, "3.25", nil)
	require.Equal(t, "g2", r.json(t)["group"].(map[string]any)["name"])
	require.Equal(t, []any{}, r.json(t)["group"].(map[string]any)["volumes"])
	requireFault(t, e.do("PUT", gbase+"/groups/"+gid, member, "3.13", map[string]any{"group": map[string]any{}}), 400, "badRequest", "")

	// Actions.
	requireFault(t, e.do("POST", gbase+"/groups/"+gid+"/action", member, "3.20", map[string]any{"reset_status": map[string]any{"status": "error"}}), 403, "forbidden", "")
	requireFault(t, e.do("POST", gbase+"/groups/"+gid+"/action", admin, "3.20", map[string]any{"reset_status": map[string]any{"status": "bogus"}}), 400, "badRequest", "")
	require.Equal(t, http.StatusAccepted, e.do("POST", gbase+"/groups/"+gid+"/action", admin, "3.20", map[string]any{"reset_status": map[string]any{"status": "error"}}).code)
	requireFault(t, e.do("POST", gbase+"/groups/"+gid+"/action", member, "3.20", map[string]any{"enable_replication": map[string]any{}}), 400, "badRequest", "")
	requireFault(t, e.do("POST", gbase+"/groups/action", member, "3.14", map[string]any{"create-from-src": map[string]any{"name": "x"}}), 400, "badRequest", "")
	require.Equal(t, http.StatusAccepted, e.do("POST", gbase+"/groups/"+gid+"/action", member, "3.13", map[string]any{"delete": map[string]any{"delete-volumes": true}}).code)
	requireFault(t, e.do("GET", gbase+"/groups/"+gid, member, "3.13", nil), 404, "itemNotFound", "")
}

func TestGroupSnapshotsRoutes(t *testing.T) {
	e, d := realEnv(t)
	r := e.do("POST", gbase+"/group_types", admin, "3.11", map[string]any{"group_type": map[string]any{"name": "gt"}})
	gtID := r.json(t)["group_type"].(map[string]any)["id"].(string)
	r = e.do("POST", gbase+"/groups", member, "3.13", map[string]any{"group": map[string]any{"group_type": gtID, "volume_types": []any{"__DEFAULT__"}}})
	gid := r.json(t)["group"].(map[string]any)["id"].(string)
	r = e.do("POST", gbase+"/volumes", member, "3.13", map[string]any{"volume": map[string]any{"size": 1, "group_id": gid}})
	vid := r.json(t)["volume"].(map[string]any)["id"].(string)
	require.NoError(t, d.Store().SetVolumeStatus(context.Background(), vid, nil, model.StatusAvailable))

	requireFault(t, e.do("POST", gbase+"/group_snapshots", member, "3.14", map[string]any{"group_snapshot": map[string]any{"name": "x"}}), 400, "badRequest", "group_id")
	requireFault(t, e.do("POST", "/v3/"+projB+"/group_snapshots", other, "3.14", map[string]any{"group_snapshot": map[string]any{"group_id": gid}}), 404, "itemNotFound", "")
	r = e.do("POST", gbase+"/group_snapshots", member, "3.14", map[string]any{"group_snapshot": map[string]any{"group_id": gid, "name": "gs"}})
	require.Equal(t, http.StatusAccepted, r.code, "%s", r.body)
	gs := r.json(t)["group_snapshot"].(map[string]any)
	require.Equal(t, sorted("id", "name", "group_type_id"), keysOf(gs))
	gsID := gs["id"].(string)

	detail := sorted("id", "group_id", "group_type_id", "status", "created_at", "name", "description")
	r = e.do("GET", gbase+"/group_snapshots/"+gsID, member, "3.14", nil)
	require.Equal(t, detail, keysOf(r.json(t)["group_snapshot"]))
	require.Equal(t, "creating", r.json(t)["group_snapshot"].(map[string]any)["status"])
	r = e.do("GET", gbase+"/group_snapshots/detail", member, "3.14", nil)
	require.Equal(t, detail, keysOf(r.json(t)["group_snapshots"].([]any)[0]))
	r = e.do("GET", gbase+"/group_snapshots", member, "3.14", nil)
	require.Equal(t, sorted("id", "name"), keysOf(r.json(t)["group_snapshots"].([]any)[0]))
	r = e.do("GET", gbase+"/snapshots/detail", member, "3.14", nil)
	require.Equal(t, gsID, r.json(t)["snapshots"].([]any)[0].(map[string]any)["group_snapshot_id"])

	requireFault(t, e.do("POST", gbase+"/group_snapshots/"+gsID+"/action", admin, "3.18", map[string]any{"reset_status": map[string]any{"status": "available"}}), 404, "itemNotFound", "")
	requireFault(t, e.do("POST", gbase+"/group_snapshots/"+gsID+"/action", member, "3.19", map[string]any{"reset_status": map[string]any{"status": "available"}}), 403, "forbidden", "")
	require.Equal(t, http.StatusAccepted, e.do("POST", gbase+"/group_snapshots/"+gsID+"/action", admin, "3.19", map[string]any{"reset_status": map[string]any{"status": "available"}}).code)
	require.Equal(t, http.StatusAccepted, e.do("DELETE", gbase+"/group_snapshots/"+gsID, member, "3.14", nil).code)
	r = e.do("GET", gbase+"/group_snapshots/"+gsID, member, "3.14", nil)
	require.Equal(t, "deleting", r.json(t)["group_snapshot"].(map[string]any)["status"])
}

func TestTransfersRoutes(t *testing.T) {
	e, d := realEnv(t)
	ctx := context.Background()
	newVol := func() string {
		v := e.createVolume(member, map[string]any{"size": 1})
		require.NoError(t, d.Store().SetVolumeStatus(ctx, v["id"].(string), nil, model.StatusAvailable))
		return v["id"].(string)
	}
	vid := newVol()
	common := []string{"id", "name", "volume_id", "links", "created_at"}

	requireFault(t, e.do("POST", gbase+"/os-volume-transfer", member, "", map[string]any{"transfer": map[string]any{}}), 400, "badRequest", "volume_id")
	requireFault(t, e.do("POST", gbase+"/os-volume-transfer", member, "", map[string]any{"transfer": map[string]any{"volume_id": "nope"}}), 400, "badRequest", "")
	requireFault(t, e.do("POST", "/v3/"+projB+"/os-volume-transfer", other, "", map[string]any{"transfer": map[string]any{"volume_id": vid}}), 404, "itemNotFound", "")
	requireFault(t, e.do("POST", gbase+"/volume-transfers", member, "3.54", map[string]any{"transfer": map[string]any{"volume_id": vid}}), 404, "itemNotFound", "")

	r := e.do("POST", gbase+"/os-volume-transfer", member, "", map[string]any{"transfer": map[string]any{"volume_id": vid, "name": "t"}})
	require.Equal(t, http.StatusAccepted, r.code, "%s", r.body)
	tr := r.json(t)["transfer"].(map[string]any)
	require.Equal(t, sorted(append(common, "auth_key")...), keysOf(tr))
	tid, key := tr["id"].(string), tr["auth_key"].(string)
	r = e.do("GET", gbase+"/volumes/"+vid, member, "", nil)
	require.Equal(t, "awaiting-transfer", r.json(t)["volume"].(map[string]any)["status"])

	r = e.do("GET", gbase+"/os-volume-transfer/"+tid, member, "", nil)
	require.Equal(t, sorted(common...), keysOf(r.json(t)["transfer"]))
	r = e.do("GET", gbase+"/os-volume-transfer", member, "", nil)
	require.Equal(t, sorted("id", "name", "volume_id", "links"), keysOf(r.json(t)["transfers"].([]any)[0]))
	r = e.do("GET", gbase+"/volume-transfers/detail", member, "3.55", nil)
	require.Equal(t, sorted(append(common, "no_snapshots")...), keysOf(r.json(t)["transfers"].([]any)[0]))
	r = e.do("GET", gbase+"/volume-transfers/"+tid, member, "3.57", nil)
	require.Equal(t, sorted(append(common, "no_snapshots", "source_project_id", "destination_project_id", "accepted")...), keysOf(r.json(t)["transfer"]))
	require.Equal(t, `{"transfers":[]}`, string(e.do("GET", "/v3/"+projB+"/os-volume-transfer/detail", other, "", nil).body))

	// Accept: a bad key or body changes nothing.
	accURL := "/v3/" + projB + "/os-volume-transfer/" + tid + "/accept"
	requireFault(t, e.do("POST", accURL, other, "", map[string]any{"accept": map[string]any{}}), 400, "badRequest", "auth_key")
	requireFault(t, e.do("POST", accURL, other, "", map[string]any{"accept": map[string]any{"auth_key": "wrong"}}), 400, "badRequest", "auth key")
	r = e.do("GET", gbase+"/volumes/"+vid, member, "", nil)
	require.Equal(t, 200, r.code)
	r = e.do("POST", accURL, other, "", map[string]any{"accept": map[string]any{"auth_key": key}})
	require.Equal(t, http.StatusAccepted, r.code, "%s", r.body)
	require.Equal(t, sorted("id", "name", "volume_id", "links"), keysOf(r.json(t)["transfer"]))
	requireFault(t, e.do("GET", gbase+"/volumes/"+vid, member, "", nil), 404, "itemNotFound", "")
	r = e.do("GET", "/v3/"+projB+"/volumes/"+vid, other, "", nil)
	require.Equal(t, "available", r.json(t)["volume"].(map[string]any)["status"])

	// Delete through the 3.55 resource; the volume is available again.
	vid2 := newVol()
	r = e.do("POST", gbase+"/volume-transfers", member, "3.57", map[string]any{"transfer": map[string]any{"volume_id": vid2, "no_snapshots": true}})
	require.Equal(t, http.StatusAccepted, r.code, "%s", r.body)
	tr = r.json(t)["transfer"].(map[string]any)
	require.Equal(t, sorted(append(common, "auth_key", "no_snapshots", "source_project_id", "destination_project_id", "accepted")...), keysOf(tr))
	require.Equal(t, true, tr["no_snapshots"])
	require.Nil(t, tr["destination_project_id"])
	requireFault(t, e.do("DELETE", "/v3/"+projB+"/volume-transfers/"+tr["id"].(string), other, "3.55", nil), 404, "itemNotFound", "")
	require.Equal(t, http.StatusAccepted, e.do("DELETE", gbase+"/volume-transfers/"+tr["id"].(string), member, "3.55", nil).code)
	r = e.do("GET", gbase+"/volumes/"+vid2, member, "", nil)
	require.Equal(t, "available", r.json(t)["volume"].(map[string]any)["status"])
}

// TestGophercloudTransfers proves gophercloud v2's transfers package decodes our responses.
func TestGophercloudTransfers(t *testing.T) {
	e, d := realEnv(t)
	srv := httptest.NewServer(e.h)
	defer srv.Close()
	ctx := context.Background()
	v := e.createVolume(member, map[string]any{"size": 1})
	require.NoError(t, d.Store().SetVolumeStatus(ctx, v["id"].(string), nil, model.StatusAvailable))
	c := gopherClient(t, srv.URL, "member,reader", "3.57")
	tr, err := transfers.Create(ctx, c, transfers.CreateOpts{VolumeID: v["id"].(string), Name: "gc"}).Extract()
	require.NoError(t, err)
	require.NotEmpty(t, tr.AuthKey)
	require.Equal(t, "gc", tr.Name)
	require.False(t, tr.CreatedAt.IsZero())
	got, err := transfers.Get(ctx, c, tr.ID).Extract()
	require.NoError(t, err)
	require.Equal(t, tr.VolumeID, got.VolumeID)
	page, err := transfers.List(c, nil).AllPages(ctx)
	require.NoError(t, err)
	all, err := transfers.ExtractTransfers(page)
	require.NoError(t, err)
	require.Len(t, all, 1)
	require.NoError(t, transfers.Delete(ctx, c, tr.ID).ExtractErr())
}
