package apiv3

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/db/dbtest"
	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume/api"
	"github.com/dlvm-project/dlvm/volume/rpc"
)

// fuzzPaths are the route shapes FuzzAPI aims at; {vol}, {snap} and {type} become ids that exist.
// The fuzzer appends to them and varies method, query, body and microversion.
var fuzzPaths = []string{
	"/volumes", "/volumes/detail", "/volumes/summary", "/volumes/{vol}", "/volumes/{vol}/action",
	"/volumes/{vol}/metadata", "/volumes/{vol}/metadata/k", "/snapshots", "/snapshots/detail",
	"/snapshots/{snap}", "/snapshots/{snap}/action", "/snapshots/{snap}/metadata", "/types",
	"/types/{type}", "/types/{type}/extra_specs", "/types/{type}/extra_specs/k", "/types/{type}/action",
	"/types/{type}/encryption", "/types/{type}/os-volume-type-access", "/types/default",
	"/os-quota-sets/" + projA, "/os-quota-sets/" + projA + "/defaults", "/os-quota-class-sets/default",
	"/limits", "/extensions", "/os-availability-zone", "/scheduler-stats/get_pools", "/attachments",
	"/attachments/detail", "/attachments/{vol}", "/attachments/{vol}/action", "/messages", "/os-services",
	"/os-hosts", "/qos-specs", "/backups", "/backups/detail", "/groups", "/group_types", "/group_snapshots",
	"/os-volume-transfer", "/volume-transfers", "/capabilities/dlvm@dlvm", "/os-volume-manage",
	"/manageable_volumes",
}

var fuzzMethods = []string{"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"}

// FuzzAPI: no request — any method, route, query, body and microversion, as admin, member or
// reader — makes the API answer 5xx or panic. It runs over the real service layer on SQLite.
func FuzzAPI(f *testing.F) {
	bodies := []string{``, `{}`, `null`, `[]`, `{"volume":{"size":1}}`, `{"snapshot":{"volume_id":"{vol}","force":true}}`,
		`{"os-extend":{"new_size":2}}`, `{"os-reset_status":{"status":"error"}}`, `{"os-set_bootable":{"bootable":"x"}}`,
		`{"metadata":{"a":"b"}}`, `{"volume_type":{"name":"t","extra_specs":{"k":"v"}}}`, `{"extra_specs":{"k":"v"}}`,
		`{"quota_set":{"volumes":-1}}`, `{"attachment":{"volume_uuid":"{vol}","instance_uuid":"{vol}"}}`,
		`{"addProjectAccess":{"project":"p"}}`, `{"os-force_delete":{}}`, `{"os-update_snapshot_status":{"status":"error","progress":"9%"}}`,
		`{"os-update_readonly_flag":{"readonly":true}}`, `{"volume":{"size":1e400}}`, `{"a":` + strings.Repeat("[", 50)}
	for i := range fuzzPaths {
		for j, m := range fuzzMethods[:4] {
			f.Add(uint8(i), m, "", "", bodies[(i+j)%len(bodies)], "3.70", uint8(j%3))
		}
	}
	f.Add(uint8(0), "GET", "", "limit=0&offset=-1&sort=name:desc", "", "3.0", uint8(1))
	f.Add(uint8(1), "GET", "", "all_tenants=1&metadata={'a':'b'}&with_count=true", "", "3.45", uint8(0))
	f.Add(uint8(3), "GET", "/%00", "", "", "latest", uint8(2))

	d := dbtest.Open(f, db.DialectSQLite)
	log := slog.New(slog.DiscardHandler)
	bus := rpc.NewInproc(log)
	f.Cleanup(func() { _ = bus.Close() })
	svc, err := api.New(d, bus, api.Options{}, log)
	require.NoError(f, err)
	h := New(svc, Options{Identity: HeaderIdentity})
	ctx := context.Background()
	vol := &model.Volume{ID: uuid.NewString(), ProjectID: projA, Size: 1, Status: model.StatusAvailable,
		AttachStatus: model.AttachDetached, AvailabilityZone: "nova", Layout: model.Layout{Mirrors: 1, Stripes: 1, ChunkKiB: 512}}
	require.NoError(f, d.Store().CreateVolume(ctx, vol))
	snap := &model.Snapshot{ID: uuid.NewString(), ProjectID: projA, VolumeID: vol.ID, Size: 1, Status: model.StatusAvailable}
	require.NoError(f, d.Store().CreateSnapshot(ctx, snap))
	vt, err := svc.CreateType(ctx, api.Caller{ProjectID: projA, IsAdmin: true, Roles: []string{"admin"}}, "fuzz", "", true, nil)
	require.NoError(f, err)
	ids := strings.NewReplacer("{vol}", vol.ID, "{snap}", snap.ID, "{type}", vt.ID)
	roles := []string{"admin", "member", "reader"}

	f.Fuzz(func(t *testing.T, route uint8, method, suffix, query, body, ver string, role uint8) {
		path := "/v3/" + projA + ids.Replace(fuzzPaths[int(route)%len(fuzzPaths)]+suffix)
		req := httptest.NewRequest(http.MethodGet, "/", strings.NewReader(ids.Replace(body)))
		req.Method = method
		req.URL.Path, req.URL.RawQuery = path, query
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Project-Id", projA)
		req.Header.Set("X-User-Id", "fuzzer")
		req.Header.Set("X-Roles", roles[int(role)%len(roles)])
		req.Header.Set("OpenStack-API-Version", "volume "+ver)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("%s %s?%s (%q, %s) -> %d: %s", method, path, query, body, ver, rec.Code, rec.Body)
		}
	})
}
