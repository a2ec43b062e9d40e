package apiv3

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func sorted(s ...string) []string { slices.Sort(s); return s }

// Tempest 33's volumes.py required keys (create and show, additionalProperties false).
var tempestVolumeRequired = []string{"attachments", "links", "encrypted", "updated_at", "replication_status",
	"id", "size", "user_id", "availability_zone", "metadata", "status", "description", "multiattach",
	"consistencygroup_id", "name", "bootable", "created_at", "volume_type", "snapshot_id", "source_volid"}

func TestVolumeViewKeysPerMicroversion(t *testing.T) {
	e := newEnv(t)
	created := e.do("POST", "/v3/"+projA+"/volumes", member, "", map[string]any{"volume": map[string]any{
		"size": "2", "display_name": "  vol1 ", "metadata": map[string]string{"a": "b"}}})
	require.Equal(t, http.StatusAccepted, created.code, "%s", created.body)
	v := created.json(t)["volume"].(map[string]any)
	require.Equal(t, sorted(tempestVolumeRequired...), keys(v), "create at 3.0 carries exactly Tempest's keys")
	require.Equal(t, "vol1", v["name"])
	require.EqualValues(t, 2, v["size"])
	require.Equal(t, "false", v["bootable"])
	require.Equal(t, "__DEFAULT__", v["volume_type"])
	_, err := time.Parse("2006-01-02T15:04:05.000000", v["created_at"].(string))
	require.NoError(t, err)
	id := v["id"].(string)

	tests := []struct {
		name string
		as   who
		ver  string
		want []string
	}{
		{"member 3.0", member, "", append(slices.Clone(tempestVolumeRequired), "os-vol-tenant-attr:tenant_id")},
		{"admin 3.0", admin, "", append(slices.Clone(tempestVolumeRequired), "os-vol-tenant-attr:tenant_id",
			"migration_status", "os-vol-host-attr:host", "os-vol-mig-status-attr:migstat", "os-vol-mig-status-attr:name_id")},
		{"member 3.48", member, "3.48", append(slices.Clone(tempestVolumeRequired), "os-vol-tenant-attr:tenant_id",
			"group_id", "shared_targets", "service_uuid")},
		{"member 3.70", member, "3.70", append(slices.Clone(tempestVolumeRequired), "os-vol-tenant-attr:tenant_id",
			"group_id", "shared_targets", "service_uuid", "volume_type_id", "consumes_quota")},
		{"admin 3.70", admin, "3.70", append(slices.Clone(tempestVolumeRequired), "os-vol-tenant-attr:tenant_id",
			"migration_status", "os-vol-host-attr:host", "os-vol-mig-status-attr:migstat", "os-vol-mig-status-attr:name_id",
			"group_id", "provider_id", "shared_targets", "service_uuid", "cluster_name", "volume_type_id", "consumes_quota")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("GET", "/v3/"+projA+"/volumes/"+id, tc.as, tc.ver, nil)
			require.Equal(t, http.StatusOK, r.code, "%s", r.body)
			got := r.json(t)["volume"].(map[string]any)
			require.Equal(t, sorted(tc.want...), keys(got))
			r = e.do("GET", "/v3/"+projA+"/volumes/detail", tc.as, tc.ver, nil)
			require.Equal(t, sorted(tc.want...), keys(r.json(t)["volumes"].([]any)[0].(map[string]any)))
		})
	}
	r := e.do("GET", "/v3/"+projA+"/volumes", member, "", nil)
	require.Equal(t, []string{"id", "links", "name"}, keys(r.json(t)["volumes"].([]any)[0].(map[string]any)))
	r = e.do("GET", "/v3/"+projB+"/volumes/"+id, other, "", nil)
	requireFault(t, r, 404, "itemNotFound", "")
}

func TestCreateVolumeValidation(t *testing.T) {
	e := newEnv(t)
	long := strings.Repeat("x", 256)
	tests := []struct {
		name string
		body string
		ver  string
		code int
		msg  string
	}{
		{"ok int", `{"volume":{"size":1}}`, "", 202, ""},
		{"ok string size", `{"volume":{"size":"3"}}`, "", 202, ""},
		{"unknown top-level", `{"volume":{"size":1},"foo":1}`, "", 400, "'foo' was unexpected"},
		{"scheduler hints ok", `{"volume":{"size":1},"OS-SCH-HNT:scheduler_hints":{}}`, "", 202, ""},
		{"unknown volume key before 3.53", `{"volume":{"size":1,"foo":1}}`, "3.52", 202, ""},
		{"unknown volume key at 3.53", `{"volume":{"size":1,"foo":1}}`, "3.53", 400, "'foo' was unexpected"},
		{"size abc", `{"volume":{"size":"abc"}}`, "", 400, "Invalid input for field/attribute size"},
		{"size negative", `{"volume":{"size":-1}}`, "", 400, "less than the minimum of 1"},
		{"size zero", `{"volume":{"size":0}}`, "", 400, "less than the minimum of 1"},
		{"size float", `{"volume":{"size":1.5}}`, "", 400, "not of type 'integer'"},
		{"size huge", `{"volume":{"size":2147483648}}`, "", 400, "greater than the maximum"},
		{"size bool", `{"volume":{"size":true}}`, "", 400, "size"},
		{"name too long", `{"volume":{"size":1,"name":"` + long + `"}}`, "", 400, "is too long"},
		{"description too long", `{"volume":{"size":1,"description":"` + long + `"}}`, "", 400, "is too long"},
		{"name not string", `{"volume":{"size":1,"name":5}}`, "", 400, "not of type 'string'"},
		{"metadata value int", `{"volume":{"size":1,"metadata":{"a":1}}}`, "", 400, "metadata"},
		{"metadata bad key", `{"volume":{"size":1,"metadata":{"":"x"}}}`, "", 400, "metadata"},
		{"snapshot not uuid", `{"volume":{"size":1,"snapshot_id":"abc"}}`, "", 400, "snapshot_id"},
		{"image", `{"volume":{"size":1,"imageRef":"c8bdcc1b-6bb7-4ee8-a47f-7ce8c9a8ae2b"}}`, "", 400, "image"},
		{"multiattach true", `{"volume":{"size":1,"multiattach":true}}`, "", 400, "multiattach"},
		{"missing volume", `{"foo":{}}`, "", 400, ""},
		{"volume not object", `{"volume":[]}`, "", 400, "not of type 'object'"},
		{"not json", `{"volume":`, "", 400, "Malformed request body"},
		{"trailing garbage", `{"volume":{"size":1}} x`, "", 400, "Malformed request body"},
		{"array body", `[1]`, "", 400, "Malformed request body"},
		{"unknown type", `{"volume":{"size":1,"volume_type":"gold"}}`, "", 404, "gold"},
		{"quota", `{"volume":{"size":5000}}`, "", 413, "exceeds allowed gigabytes quota"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("POST", "/v3/"+projA+"/volumes", member, tc.ver, tc.body)
			if tc.code == 202 {
				require.Equal(t, 202, r.code, "%s", r.body)
				return
			}
			name := map[int]string{400: "badRequest", 404: "itemNotFound", 413: "overLimit"}[tc.code]
			requireFault(t, r, tc.code, name, tc.msg)
		})
	}
}

func TestBodyTransport(t *testing.T) {
	e := newEnv(t)
	req := func(ct, body string) resp {
		r := httptestRequest("POST", "/v3/"+projA+"/volumes", body)
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		r.Header.Set("X-Project-Id", projA)
		r.Header.Set("X-Roles", "member")
		rec := newRecorder()
		e.h.ServeHTTP(rec, r)
		return resp{rec.Code, rec.Header(), rec.Body.Bytes()}
	}
	requireFault(t, req("text/plain", `{"volume":{"size":1}}`), 415, "badMediaType", "Unsupported Content-Type")
	require.Equal(t, 202, req("application/json; charset=UTF-8", `{"volume":{"size":1}}`).code)
	// Without Content-Type Cinder ignores the body.
	requireFault(t, req("", `{"volume":{"size":1}}`), 400, "badRequest", "Missing required element 'volume'")
	big := `{"volume":{"size":1,"description":"` + strings.Repeat("x", MaxBodyBytes) + `"}}`
	requireFault(t, req("application/json", big), 413, "overLimit", "too large")
}

func TestPolicy(t *testing.T) {
	e := newEnv(t)
	v := e.createVolume(member, map[string]any{"size": 1})
	id := v["id"].(string)
	base := "/v3/" + projA
	tests := []struct {
		name, method, path string
		as                 who
		body               any
		code               int
	}{
		{"reader reads", "GET", base + "/volumes/" + id, reader, nil, 200},
		{"reader cannot create", "POST", base + "/volumes", reader, map[string]any{"volume": map[string]any{"size": 1}}, 403},
		{"reader cannot delete", "DELETE", base + "/volumes/" + id, reader, nil, 403},
		{"member cannot reset", "POST", base + "/volumes/" + id + "/action", member, map[string]any{"os-reset_status": map[string]any{"status": "error"}}, 403},
		{"member cannot force delete", "POST", base + "/volumes/" + id + "/action", member, map[string]any{"os-force_delete": nil}, 403},
		{"member cannot create type", "POST", base + "/types", member, map[string]any{"volume_type": map[string]any{"name": "x"}}, 403},
		{"member cannot set quotas", "PUT", base + "/os-quota-sets/" + projA, member, map[string]any{"quota_set": map[string]any{"volumes": 5}}, 403},
		{"member cannot get pools", "GET", base + "/scheduler-stats/get_pools", member, nil, 403},
		{"member cannot read other quotas", "GET", base + "/os-quota-sets/" + projB, member, nil, 403},
		{"admin resets", "POST", base + "/volumes/" + id + "/action", admin, map[string]any{"os-reset_status": map[string]any{"status": "error"}}, 202},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(tc.method, tc.path, tc.as, "", tc.body)
			if tc.code == 403 {
				requireFault(t, r, 403, "forbidden", "Policy doesn't allow")
				return
			}
			require.Equal(t, tc.code, r.code, "%s", r.body)
		})
	}
	r := e.do("POST", base+"/volumes", reader, "", map[string]any{"volume": map[string]any{"size": 1}})
	requireFault(t, r, 403, "forbidden", "Policy doesn't allow volume:create to be performed.")
}

func TestVolumeActionsAndMetadata(t *testing.T) {
	e := newEnv(t)
	id := e.createVolume(member, map[string]any{"size": 1})["id"].(string)
	act := "/v3/" + projA + "/volumes/" + id + "/action"
	md := "/v3/" + projA + "/volumes/" + id + "/metadata"
	tests := []struct {
		name, method, path string
		body               any
		code               int
		msg                string
	}{
		{"extend", "POST", act, map[string]any{"os-extend": map[string]any{"new_size": 2}}, 202, ""},
		{"extend string", "POST", act, map[string]any{"os-extend": map[string]any{"new_size": "3"}}, 202, ""},
		{"extend smaller", "POST", act, map[string]any{"os-extend": map[string]any{"new_size": 1}}, 400, "greater than current size"},
		{"extend bad", "POST", act, map[string]any{"os-extend": map[string]any{"new_size": "x"}}, 400, "new_size"},
		{"extend missing", "POST", act, map[string]any{"os-extend": map[string]any{}}, 400, "new_size"},
		{"bootable", "POST", act, map[string]any{"os-set_bootable": map[string]any{"bootable": "true"}}, 200, ""},
		{"bootable bad", "POST", act, map[string]any{"os-set_bootable": map[string]any{"bootable": "maybe"}}, 400, "bootable"},
		{"readonly", "POST", act, map[string]any{"os-update_readonly_flag": map[string]any{"readonly": true}}, 202, ""},
		{"unknown action", "POST", act, map[string]any{"os-frobnicate": nil}, 400, "There is no such action: os-frobnicate"},
		{"upload to image", "POST", act, map[string]any{"os-volume_upload_image": map[string]any{"image_name": "i"}}, 400, "needs an image service"},
		{"image of a missing volume", "POST", "/v3/" + projA + "/volumes/c8bdcc1b-6bb7-4ee8-a47f-7ce8c9a8ae2b/action", map[string]any{"os-show_image_metadata": nil}, 404, "could not be found"},
		{"two actions", "POST", act, map[string]any{"os-extend": nil, "os-set_bootable": nil}, 400, "There is no such action"},
		{"set metadata", "POST", md, map[string]any{"metadata": map[string]any{"k1": "v1", "k2": "v2"}}, 200, ""},
		{"item ok", "PUT", md + "/k1", map[string]any{"meta": map[string]any{"k1": "v9"}}, 200, ""},
		{"item mismatch", "PUT", md + "/k1", map[string]any{"meta": map[string]any{"k2": "v9"}}, 400, "Request body and URI mismatch"},
		{"item too many", "PUT", md + "/k1", map[string]any{"meta": map[string]any{"k1": "a", "k2": "b"}}, 400, "too many items"},
		{"item get", "GET", md + "/k1", nil, 200, ""},
		{"item missing", "GET", md + "/nope", nil, 404, "Metadata item was not found"},
		{"item delete", "DELETE", md + "/k2", nil, 200, ""},
		{"metadata of bad id", "GET", "/v3/" + projA + "/volumes/xyz/metadata", nil, 404, "Volume xyz could not be found."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(tc.method, tc.path, member, "", tc.body)
			if tc.code < 300 {
				require.Equal(t, tc.code, r.code, "%s", r.body)
				return
			}
			name := map[int]string{400: "badRequest", 404: "itemNotFound", 501: "notImplemented"}[tc.code]
			requireFault(t, r, tc.code, name, tc.msg)
		})
	}
	r := e.do("GET", md, member, "", nil)
	require.Equal(t, map[string]any{"metadata": map[string]any{"k1": "v9"}}, r.json(t))
	r = e.do("GET", "/v3/"+projA+"/volumes/"+id, member, "", nil)
	v := r.json(t)["volume"].(map[string]any)
	require.EqualValues(t, 3, v["size"])
	require.Equal(t, "true", v["bootable"])
	require.Equal(t, map[string]any{"k1": "v9", "readonly": "True"}, v["metadata"], "the set readonly flag shows in the view's metadata")
}

func TestListPaginationAndSummary(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < 3; i++ {
		e.createVolume(member, map[string]any{"size": i + 1, "metadata": map[string]string{"k": "v"}})
	}
	r := e.do("GET", "/v3/"+projA+"/volumes/detail?limit=2&sort=created_at:desc", member, "3.45", nil)
	require.Equal(t, 200, r.code, "%s", r.body)
	m := r.json(t)
	require.Len(t, m["volumes"], 2)
	next := m["volumes_links"].([]any)[0].(map[string]any)
	require.Equal(t, "next", next["rel"])
	require.Contains(t, next["href"], "http://dlvm.test:8776/v3/"+projA+"/volumes/detail?")
	require.Contains(t, next["href"], "marker=")
	require.NotContains(t, m, "count")

	r = e.do("GET", "/v3/"+projA+"/volumes?with_count=true", member, "3.45", nil)
	require.EqualValues(t, 3, r.json(t)["count"])
	r = e.do("GET", "/v3/"+projA+"/volumes?with_count=true", member, "3.44", nil)
	require.NotContains(t, r.json(t), "count")

	r = e.do("GET", "/v3/"+projA+"/volumes/detail?limit=0", member, "", nil)
	require.Equal(t, map[string]any{"volumes": []any{}}, r.json(t), "limit=0 is an empty page")

	for _, bad := range []string{"limit=x", "limit=-1", "sort=bogus:asc", "sort=name:sideways", "offset=z", "sort=name&sort_key=size"} {
		requireFault(t, e.do("GET", "/v3/"+projA+"/volumes?"+bad, member, "", nil), 400, "badRequest", "")
	}

	r = e.do("GET", "/v3/"+projA+"/volumes/summary", member, "3.36", nil)
	require.Equal(t, 200, r.code, "%s", r.body)
	require.Equal(t, map[string]any{"volume-summary": map[string]any{"total_size": 6.0, "total_count": 3.0,
		"metadata": map[string]any{"k": []any{"v"}}}}, r.json(t))
	r = e.do("GET", "/v3/"+projA+"/volumes/summary", member, "3.12", nil)
	require.Equal(t, []string{"total_count", "total_size"}, keys(r.json(t)["volume-summary"].(map[string]any)))
}

func TestParseMetadataFilter(t *testing.T) {
	for _, s := range []string{`{"k":"v"}`, `{'k': 'v'}`, `{u'k': u'v'}`} {
		m, err := parseMetadataFilter(s)
		require.NoError(t, err, s)
		require.Equal(t, map[string]string{"k": "v"}, m)
	}
	_, err := parseMetadataFilter("k=v")
	require.Error(t, err)
}
