package apiv3

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// Tempest 33's snapshots.py common_snapshot_schema keys.
var tempestSnapshotKeys = []string{"status", "description", "created_at", "name", "volume_id", "metadata", "id", "size", "updated_at"}

func TestSnapshots(t *testing.T) {
	e := newEnv(t)
	vid := e.createVolume(member, map[string]any{"size": 1})["id"].(string)
	base := "/v3/" + projA + "/snapshots"
	r := e.do("POST", base, member, "", map[string]any{"snapshot": map[string]any{"volume_id": vid, "display_name": "s1", "force": "True"}})
	require.Equal(t, 202, r.code, "%s", r.body)
	s := r.json(t)["snapshot"].(map[string]any)
	require.Equal(t, sorted(tempestSnapshotKeys...), keys(s))
	require.Equal(t, "s1", s["name"])
	id := s["id"].(string)

	ext := append(sorted(tempestSnapshotKeys...), "os-extended-snapshot-attributes:progress", "os-extended-snapshot-attributes:project_id")
	r = e.do("GET", base+"/"+id, member, "", nil)
	require.Equal(t, sorted(ext...), keys(r.json(t)["snapshot"].(map[string]any)))
	r = e.do("GET", base+"/detail", member, "", nil)
	require.Equal(t, sorted(ext...), keys(r.json(t)["snapshots"].([]any)[0].(map[string]any)))
	r = e.do("GET", base, member, "", nil)
	require.Equal(t, sorted(tempestSnapshotKeys...), keys(r.json(t)["snapshots"].([]any)[0].(map[string]any)))
	r = e.do("GET", base+"?limit=0", member, "", nil)
	require.Equal(t, map[string]any{"snapshots": []any{}}, r.json(t), "limit=0 is an empty page")
	r = e.do("GET", base+"/"+id, member, "3.65", nil)
	require.Equal(t, sorted(append(ext, "group_snapshot_id", "user_id", "consumes_quota")...), keys(r.json(t)["snapshot"].(map[string]any)))

	for _, tc := range []struct {
		name string
		body any
		code int
	}{
		{"missing volume_id", map[string]any{"snapshot": map[string]any{"name": "x"}}, 400},
		{"null volume_id", map[string]any{"snapshot": map[string]any{"volume_id": nil}}, 404},
		{"bad volume_id", map[string]any{"snapshot": map[string]any{"volume_id": "nope"}}, 400},
		{"bad force", map[string]any{"snapshot": map[string]any{"volume_id": vid, "force": "perhaps"}}, 400},
		{"unknown key", map[string]any{"snapshot": map[string]any{"volume_id": vid, "x": 1}}, 400},
		{"missing volume", map[string]any{"snapshot": map[string]any{"volume_id": "c8bdcc1b-6bb7-4ee8-a47f-7ce8c9a8ae2b"}}, 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("POST", base, member, "", tc.body)
			require.Equal(t, tc.code, r.code, "%s", r.body)
		})
	}
	r = e.do("PUT", base+"/"+id, member, "", map[string]any{"snapshot": map[string]any{"name": "s2"}})
	require.Equal(t, 200, r.code, "%s", r.body)
	require.Equal(t, "s2", r.json(t)["snapshot"].(map[string]any)["name"])
	r = e.do("PUT", base+"/"+id+"/metadata/k", member, "", map[string]any{"meta": map[string]any{"k": "v"}})
	require.Equal(t, 200, r.code, "%s", r.body)
	requireFault(t, e.do("POST", base+"/"+id+"/action", member, "", map[string]any{"os-reset_status": map[string]any{"status": "error"}}), 403, "forbidden", "")
	require.Equal(t, 202, e.do("POST", base+"/"+id+"/action", admin, "", map[string]any{"os-reset_status": map[string]any{"status": "error"}}).code)
	require.Equal(t, 202, e.do("DELETE", base+"/"+id, member, "", nil).code)
	requireFault(t, e.do("GET", base+"/"+id, member, "", nil), 404, "itemNotFound", "")
}

func TestTypes(t *testing.T) {
	e := newEnv(t)
	base := "/v3/" + projA + "/types"
	r := e.do("POST", base, admin, "", map[string]any{"volume_type": map[string]any{"name": "gold",
		"extra_specs": map[string]any{"dlvm:mirrors": "3", "multiattach": "<is> True"}}})
	require.Equal(t, 200, r.code, "%s", r.body)
	vt := r.json(t)["volume_type"].(map[string]any)
	require.Equal(t, []string{"description", "extra_specs", "id", "is_public", "name", "os-volume-type-access:is_public"}, keys(vt))
	id := vt["id"].(string)

	r = e.do("GET", base+"/"+id, member, "", nil)
	got := r.json(t)["volume_type"].(map[string]any)
	require.Equal(t, map[string]any{"multiattach": "<is> True"}, got["extra_specs"], "non-admins see user-visible specs only")
	require.NotContains(t, got, "qos_specs_id")
	r = e.do("GET", base+"/"+id, admin, "", nil)
	require.Len(t, r.json(t)["volume_type"].(map[string]any)["extra_specs"], 2)

	require.Equal(t, 200, e.do("GET", base+"?is_public=None", admin, "", nil).code)
	requireFault(t, e.do("GET", base+"?is_public=maybe", admin, "", nil), 400, "badRequest", "Invalid is_public filter")
	r = e.do("PUT", base+"/"+id, admin, "", map[string]any{"volume_type": map[string]any{"description": "d"}})
	require.Equal(t, 200, r.code, "%s", r.body)
	require.Equal(t, []string{"description", "extra_specs", "id", "is_public", "name"}, keys(r.json(t)["volume_type"].(map[string]any)))
	requireFault(t, e.do("PUT", base+"/"+id, admin, "", map[string]any{"volume_type": map[string]any{}}), 400, "badRequest", "")
	requireFault(t, e.do("POST", base, admin, "", map[string]any{"volume_type": map[string]any{"name": "gold"}}), 409, "conflictingRequest", "")
	requireFault(t, e.do("POST", base, admin, "", map[string]any{"volume_type": map[string]any{"name": ""}}), 400, "badRequest", "")

	r = e.do("PUT", base+"/"+id+"/extra_specs/dlvm:stripes", admin, "", map[string]any{"dlvm:stripes": "2"})
	require.Equal(t, 200, r.code, "%s", r.body)
	require.Equal(t, map[string]any{"dlvm:stripes": "2"}, r.json(t))
	requireFault(t, e.do("PUT", base+"/"+id+"/extra_specs/a", admin, "", map[string]any{"b": "2"}), 400, "badRequest", "mismatch")
	r = e.do("GET", base+"/"+id+"/extra_specs/dlvm:stripes", admin, "", nil)
	require.Equal(t, map[string]any{"dlvm:stripes": "2"}, r.json(t))
	requireFault(t, e.do("GET", base+"/"+id+"/extra_specs/none", admin, "", nil), 404, "itemNotFound", "")
	r = e.do("GET", base+"/"+id+"/encryption", member, "", nil)
	require.Equal(t, "{}", string(r.body))
	r = e.do("GET", base+"/default", member, "3.62", nil)
	require.Equal(t, "__DEFAULT__", r.json(t)["volume_type"].(map[string]any)["name"])
	require.Equal(t, 202, e.do("DELETE", base+"/"+id, admin, "", nil).code)
}

func TestQuotasLimitsMisc(t *testing.T) {
	e := newEnv(t)
	e.createVolume(member, map[string]any{"size": 4})
	base := "/v3/" + projA
	r := e.do("GET", base+"/os-quota-sets/"+projA, member, "", nil)
	require.Equal(t, 200, r.code, "%s", r.body)
	qs := r.json(t)["quota_set"].(map[string]any)
	require.Equal(t, []string{"backup_gigabytes", "backups", "gigabytes", "groups", "id", "per_volume_gigabytes", "snapshots", "volumes"}, keys(qs))
	r = e.do("GET", base+"/os-quota-sets/"+projA+"?usage=True", member, "", nil)
	g := r.json(t)["quota_set"].(map[string]any)["gigabytes"].(map[string]any)
	require.Equal(t, map[string]any{"limit": 1000.0, "in_use": 4.0, "reserved": 0.0, "allocated": 0.0}, g)
	r = e.do("PUT", base+"/os-quota-sets/"+projB, admin, "", map[string]any{"quota_set": map[string]any{"volumes": 5}})
	require.Equal(t, 200, r.code, "%s", r.body)
	require.NotContains(t, r.json(t)["quota_set"], "id")
	require.EqualValues(t, 5, r.json(t)["quota_set"].(map[string]any)["volumes"])
	requireFault(t, e.do("PUT", base+"/os-quota-sets/"+projB, admin, "", map[string]any{"quota_set": map[string]any{"bogus": 5}}), 400, "badRequest", "Bad key")
	requireFault(t, e.do("PUT", base+"/os-quota-sets/"+projB, admin, "", map[string]any{"quota_set": map[string]any{"volumes": -2}}), 400, "badRequest", "minimum")
	require.Equal(t, 200, e.do("DELETE", base+"/os-quota-sets/"+projB, admin, "", nil).code)
	r = e.do("GET", base+"/os-quota-sets/"+projA+"/defaults", member, "", nil)
	require.Equal(t, projA, r.json(t)["quota_set"].(map[string]any)["id"])

	r = e.do("GET", base+"/limits", member, "", nil)
	abs := r.json(t)["limits"].(map[string]any)["absolute"].(map[string]any)
	require.Len(t, abs, 10)
	require.EqualValues(t, 4, abs["totalGigabytesUsed"])
	require.EqualValues(t, 1, abs["totalVolumesUsed"])

	r = e.do("GET", base+"/os-availability-zone", member, "", nil)
	require.JSONEq(t, `{"availabilityZoneInfo":[{"zoneName":"nova","zoneState":{"available":true}}]}`, string(r.body))
	r = e.do("GET", base+"/extensions", member, "", nil)
	require.Contains(t, string(r.body), `"name":"AvailabilityZones"`)
	r = e.do("GET", base+"/scheduler-stats/get_pools?detail=True", admin, "", nil)
	require.Equal(t, "dlvm", r.json(t)["pools"].([]any)[0].(map[string]any)["capabilities"].(map[string]any)["vendor_name"])
	r = e.do("GET", base+"/scheduler-stats/get_pools", admin, "", nil)
	require.Equal(t, []string{"name"}, keys(r.json(t)["pools"].([]any)[0].(map[string]any)))
}

// FuzzDecodeCreateVolume: no body makes POST /volumes answer 5xx or panic.
func FuzzDecodeCreateVolume(f *testing.F) {
	for _, s := range []string{`{"volume":{"size":1}}`, `{"volume":{"size":"1"}}`, `{"volume":{"size":1e400}}`,
		`{"volume":{"size":-0}}`, `{"volume":{"size":1,"metadata":{"a":"b"}}}`, `{"volume":null}`, `null`, `[]`,
		`{"volume":{"name":"\u0000"}}`, `{"volume":{"size":99999999999999999999999}}`, `{"volume":{"snapshot_id":null}}`,
		`{"volume":{"multiattach":"yes","size":1}}`, `{"volume":{"size":1,"volume_type":""}}`, `{`, ``} {
		f.Add(s, "3.0")
	}
	f.Add(`{"volume":{"size":1,"x":1}}`, "3.53")
	e := newEnv(&testing.T{})
	f.Fuzz(func(t *testing.T, body, ver string) {
		req := httptestRequest("POST", "/v3/"+projA+"/volumes", body)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Project-Id", projA)
		req.Header.Set("X-Roles", "member")
		req.Header["Openstack-Api-Version"] = []string{"volume " + ver}
		e.svc.mu.Lock()
		if len(e.svc.vols) > 100 { // keep the fake small over long fuzz runs
			clear(e.svc.vols)
		}
		e.svc.mu.Unlock()
		rec := newRecorder()
		e.h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
		o, err := parseObject([]byte(body))
		if err == nil {
			v, verr := RequestVersion(http.Header{"Openstack-Api-Version": {"volume " + ver}})
			if verr == nil {
				_, _ = decodeCreateVolume(o, v)
			}
		}
	})
}
