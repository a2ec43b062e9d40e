package apiv3

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/db/dbtest"
	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume/api"
	"github.com/dlvm-project/dlvm/volume/rpc"
)

// adminEnv drives the handler over the real service layer on SQLite, with a fixed clock.
type adminEnv struct {
	*tenv
	d   *db.DB
	now time.Time
}

func newAdminEnv(t *testing.T) *adminEnv {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	d := dbtest.Open(t, db.DialectSQLite)
	bus := rpc.NewInproc(log)
	t.Cleanup(func() { _ = bus.Close() })
	e := &adminEnv{d: d, now: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
	svc, err := api.New(d, bus, api.Options{Backend: "dlvm-1", Now: func() time.Time { return e.now }}, log)
	require.NoError(t, err)
	e.tenv = &tenv{t: t, h: New(svc, Options{Identity: HeaderIdentity, PublicURL: "http://dlvm.test:8776"})}
	return e
}

func (e *adminEnv) createType(name string, public bool) string {
	e.t.Helper()
	r := e.do("POST", "/v3/"+projA+"/types", admin, "", map[string]any{"volume_type": map[string]any{
		"name": name, "os-volume-type-access:is_public": public}})
	require.Equal(e.t, 200, r.code, "%s", r.body)
	return r.json(e.t)["volume_type"].(map[string]any)["id"].(string)
}

func TestQosSpecsAPI(t *testing.T) {
	e := newAdminEnv(t)
	base := "/v3/" + projA + "/qos-specs"
	r := e.do("POST", base, admin, "", map[string]any{"qos_specs": map[string]any{
		"name": "gold", "consumer": "front-end", "read_iops_sec": "2000"}})
	require.Equal(t, 200, r.code, "%s", r.body)
	created := r.json(t)
	q := created["qos_specs"].(map[string]any)
	id := q["id"].(string)
	require.True(t, isUUID(id))
	require.Equal(t, map[string]any{"id": id, "name": "gold", "consumer": "front-end",
		"specs": map[string]any{"read_iops_sec": "2000"}}, q)
	require.Equal(t, []any{
		map[string]any{"rel": "self", "href": "http://dlvm.test:8776/v3/" + projA + "/qos-specs/" + id},
		map[string]any{"rel": "bookmark", "href": "http://dlvm.test:8776/" + projA + "/qos-specs/" + id},
	}, created["links"])

	t.Run("bad input changes nothing", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			as   who
			body any
			code int
			msg  string
		}{
			{"member", member, map[string]any{"qos_specs": map[string]any{"name": "x"}}, 403, "Policy"},
			{"no name", admin, map[string]any{"qos_specs": map[string]any{"consumer": "both"}}, 400, "name"},
			{"empty name", admin, map[string]any{"qos_specs": map[string]any{"name": " "}}, 400, "name"},
			{"bad consumer", admin, map[string]any{"qos_specs": map[string]any{"name": "x", "consumer": "middle"}}, 400, "Consumer"},
			{"number value", admin, map[string]any{"qos_specs": map[string]any{"name": "x", "iops": 5}}, 400, "string"},
			{"no body key", admin, map[string]any{"qos": map[string]any{"name": "x"}}, 400, ""},
			{"duplicate", admin, map[string]any{"qos_specs": map[string]any{"name": "gold"}}, 409, "already exists"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				requireFault(t, e.do("POST", base, tc.as, "", tc.body), tc.code, faultName(tc.code), tc.msg)
			})
		}
		r := e.do("GET", base, admin, "", nil)
		require.Len(t, r.json(t)["qos_specs"], 1)
	})

	r = e.do("POST", base, admin, "", map[string]any{"qos_specs": map[string]any{"name": "silver"}})
	require.Equal(t, 200, r.code)
	silver := r.json(t)["qos_specs"].(map[string]any)
	require.Equal(t, "back-end", silver["consumer"], "default consumer")

	r = e.do("GET", base, admin, "", nil)
	require.Equal(t, 200, r.code)
	require.Contains(t, r.json(t)["qos_specs"], q, "list entries equal the created view")
	requireFault(t, e.do("GET", base, member, "", nil), 403, "forbidden", "")
	r = e.do("GET", base+"/"+id, admin, "", nil)
	require.Equal(t, q, r.json(t)["qos_specs"])
	requireFault(t, e.do("GET", base+"/nope", admin, "", nil), 404, "itemNotFound", "nope")

	// set keys answers the keys given; unset is all or nothing.
	r = e.do("PUT", base+"/"+id, admin, "", map[string]any{"qos_specs": map[string]any{"iops_bytes": "500"}})
	require.Equal(t, 200, r.code, "%s", r.body)
	require.Equal(t, map[string]any{"qos_specs": map[string]any{"iops_bytes": "500"}}, r.json(t))
	requireFault(t, e.do("PUT", base+"/"+id, admin, "", map[string]any{"qos_specs": map[string]any{"consumer": "x"}}), 400, "badRequest", "Consumer")
	requireFault(t, e.do("PUT", base+"/nope", admin, "", map[string]any{"qos_specs": map[string]any{"a": "b"}}), 404, "itemNotFound", "")
	requireFault(t, e.do("PUT", base+"/"+id+"/delete_keys", admin, "", map[string]any{"keys": []any{"iops_bytes", "nope"}}), 400, "badRequest", "nope")
	requireFault(t, e.do("PUT", base+"/"+id+"/delete_keys", admin, "", map[string]any{"keys": "iops_bytes"}), 400, "badRequest", "array")
	requireFault(t, e.do("PUT", base+"/nope/delete_keys", admin, "", map[string]any{"keys": []any{"a"}}), 404, "itemNotFound", "")
	r = e.do("GET", base+"/"+id, admin, "", nil)
	require.Equal(t, map[string]any{"read_iops_sec": "2000", "iops_bytes": "500"}, r.json(t)["qos_specs"].(map[string]any)["specs"])
	require.Equal(t, 202, e.do("PUT", base+"/"+id+"/delete_keys", admin, "", map[string]any{"keys": []any{"iops_bytes"}}).code)
	r = e.do("GET", base+"/"+id, admin, "", nil)
	require.Equal(t, map[string]any{"read_iops_sec": "2000"}, r.json(t)["qos_specs"].(map[string]any)["specs"])

	// associations
	t1, t2 := e.createType("t1", true), e.createType("t2", true)
	for _, tid := range []string{t1, t2} {
		r = e.do("GET", base+"/"+id+"/associate?vol_type_id="+tid, admin, "", nil)
		require.Equal(t, 202, r.code, "%s", r.body)
	}
	requireFault(t, e.do("GET", base+"/"+id+"/associate", admin, "", nil), 400, "badRequest", "Volume Type id")
	requireFault(t, e.do("GET", base+"/"+id+"/associate?vol_type_id=nope", admin, "", nil), 404, "itemNotFound", "")
	requireFault(t, e.do("GET", base+"/"+silver["id"].(string)+"/associate?vol_type_id="+t1, admin, "", nil), 400, "badRequest", "already associated")
	r = e.do("GET", base+"/"+id+"/associations", admin, "", nil)
	require.Equal(t, map[string]any{"qos_associations": []any{
		map[string]any{"association_type": "volume_type", "name": "t1", "id": t1},
		map[string]any{"association_type": "volume_type", "name": "t2", "id": t2},
	}}, r.json(t))
	r = e.do("GET", "/v3/"+projA+"/types/"+t1, admin, "", nil)
	require.Equal(t, id, r.json(t)["volume_type"].(map[string]any)["qos_specs_id"])

	require.Equal(t, 202, e.do("GET", base+"/"+id+"/disassociate?vol_type_id="+t1, admin, "", nil).code)
	r = e.do("GET", base+"/"+id+"/associations", admin, "", nil)
	require.Len(t, r.json(t)["qos_associations"], 1)
	requireFault(t, e.do("DELETE", base+"/"+id, admin, "", nil), 400, "badRequest", "associated")
	requireFault(t, e.do("DELETE", base+"/"+id+"?force=maybe", admin, "", nil), 400, "badRequest", "")
	require.Equal(t, 202, e.do("GET", base+"/"+id+"/disassociate_all", admin, "", nil).code)
	r = e.do("GET", base+"/"+id+"/associations", admin, "", nil)
	require.Empty(t, r.json(t)["qos_associations"])

	require.Equal(t, 202, e.do("GET", base+"/"+id+"/associate?vol_type_id="+t2, admin, "", nil).code)
	require.Equal(t, 202, e.do("DELETE", base+"/"+id+"?force=True", admin, "", nil).code)
	requireFault(t, e.do("GET", base+"/"+id, admin, "", nil), 404, "itemNotFound", "")
	r = e.do("GET", "/v3/"+projA+"/types/"+t2, admin, "", nil)
	require.Nil(t, r.json(t)["volume_type"].(map[string]any)["qos_specs_id"])
	require.Equal(t, 202, e.do("DELETE", base+"/"+silver["id"].(string), admin, "", nil).code)
}

func TestTypeAccessAPI(t *testing.T) {
	e := newAdminEnv(t)
	priv, pub := e.createType("private", false), e.createType("public", true)
	types := "/v3/" + projB + "/types"
	requireFault(t, e.do("GET", types+"/"+priv, other, "", nil), 404, "itemNotFound", "")
	action := func(as who, id string, body any) resp {
		return e.do("POST", "/v3/"+projA+"/types/"+id+"/action", as, "", body)
	}
	require.Equal(t, 202, action(admin, priv, map[string]any{"addProjectAccess": map[string]any{"project": projB}}).code)
	require.Equal(t, 202, action(admin, priv, map[string]any{"addProjectAccess": map[string]any{"project": "p3"}}).code)
	r := e.do("GET", types+"/"+priv, other, "", nil)
	require.Equal(t, 200, r.code, "a granted project sees the type")
	r = e.do("GET", types, other, "", nil)
	names := []string{}
	for _, vt := range r.json(t)["volume_types"].([]any) {
		names = append(names, vt.(map[string]any)["name"].(string))
	}
	require.ElementsMatch(t, []string{"__DEFAULT__", "private", "public"}, names)

	r = e.do("GET", "/v3/"+projA+"/types/"+priv+"/os-volume-type-access", admin, "", nil)
	require.Equal(t, map[string]any{"volume_type_access": []any{
		map[string]any{"volume_type_id": priv, "project_id": projB},
		map[string]any{"volume_type_id": priv, "project_id": "p3"},
	}}, r.json(t))

	for _, tc := range []struct {
		name string
		as   who
		id   string
		body any
		code int
		msg  string
	}{
		{"member", member, priv, map[string]any{"addProjectAccess": map[string]any{"project": "p4"}}, 403, "Policy"},
		{"duplicate", admin, priv, map[string]any{"addProjectAccess": map[string]any{"project": projB}}, 409, "already exists"},
		{"public type", admin, pub, map[string]any{"addProjectAccess": map[string]any{"project": "p4"}}, 400, "public"},
		{"missing type", admin, "nope", map[string]any{"addProjectAccess": map[string]any{"project": "p4"}}, 404, ""},
		{"no project", admin, priv, map[string]any{"addProjectAccess": map[string]any{}}, 400, "project"},
		{"extra key", admin, priv, map[string]any{"addProjectAccess": map[string]any{"project": "p4", "x": 1}}, 400, "'x'"},
		{"unknown action", admin, priv, map[string]any{"addEverything": map[string]any{"project": "p4"}}, 400, "addEverything"},
		{"two actions", admin, priv, map[string]any{"addProjectAccess": map[string]any{"project": "p4"}, "removeProjectAccess": map[string]any{"project": "p4"}}, 400, ""},
		{"remove missing", admin, priv, map[string]any{"removeProjectAccess": map[string]any{"project": "p4"}}, 404, "not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requireFault(t, action(tc.as, tc.id, tc.body), tc.code, faultName(tc.code), tc.msg)
		})
	}
	requireFault(t, e.do("GET", "/v3/"+projA+"/types/"+pub+"/os-volume-type-access", admin, "", nil), 404, "itemNotFound", "public")
	requireFault(t, e.do("GET", "/v3/"+projA+"/types/"+priv+"/os-volume-type-access", member, "", nil), 403, "forbidden", "")

	require.Equal(t, 202, action(admin, priv, map[string]any{"removeProjectAccess": map[string]any{"project": projB}}).code)
	requireFault(t, e.do("GET", types+"/"+priv, other, "", nil), 404, "itemNotFound", "")
	r = e.do("GET", "/v3/"+projA+"/types/"+priv+"/os-volume-type-access", admin, "", nil)
	require.Len(t, r.json(t)["volume_type_access"], 1)
}

func TestTypeEncryptionAPI(t *testing.T) {
	e := newAdminEnv(t)
	id := e.createType("enc", true)
	base := "/v3/" + projA + "/types/" + id + "/encryption"
	r := e.do("GET", base, member, "", nil)
	require.Equal(t, 200, r.code)
	require.Equal(t, "{}", string(r.body))

	for _, tc := range []struct {
		name string
		as   who
		path string
		body any
		code int
		msg  string
	}{
		{"member", member, base, map[string]any{"encryption": map[string]any{"provider": "luks"}}, 403, "Policy"},
		{"no provider", admin, base, map[string]any{"encryption": map[string]any{"cipher": "aes"}}, 400, "provider"},
		{"bad location", admin, base, map[string]any{"encryption": map[string]any{"provider": "luks", "control_location": "middle"}}, 400, "control location"},
		{"negative key", admin, base, map[string]any{"encryption": map[string]any{"provider": "luks", "key_size": -1}}, 400, "key_size"},
		{"string key", admin, base, map[string]any{"encryption": map[string]any{"provider": "luks", "key_size": "x"}}, 400, "key_size"},
		{"extra key", admin, base, map[string]any{"encryption": map[string]any{"provider": "luks", "x": "y"}}, 400, "'x'"},
		{"missing type", admin, "/v3/" + projA + "/types/nope/encryption", map[string]any{"encryption": map[string]any{"provider": "luks"}}, 404, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requireFault(t, e.do("POST", tc.path, tc.as, "", tc.body), tc.code, faultName(tc.code), tc.msg)
		})
	}
	require.Equal(t, "{}", string(e.do("GET", base, admin, "", nil).body), "refused creates wrote nothing")

	r = e.do("POST", base, admin, "", map[string]any{"encryption": map[string]any{
		"provider": "LuksEncryptor", "key_size": 256, "cipher": "aes-xts-plain64", "control_location": "front-end"}})
	require.Equal(t, 200, r.code, "%s", r.body)
	enc := r.json(t)["encryption"].(map[string]any)
	require.True(t, isUUID(enc["encryption_id"].(string)))
	require.Equal(t, map[string]any{"volume_type_id": id, "encryption_id": enc["encryption_id"], "provider": "LuksEncryptor",
		"key_size": float64(256), "cipher": "aes-xts-plain64", "control_location": "front-end"}, enc)
	requireFault(t, e.do("POST", base, admin, "", map[string]any{"encryption": map[string]any{"provider": "x"}}), 400, "badRequest", "already exists")

	r = e.do("GET", base, admin, "", nil)
	got := r.json(t)
	require.Equal(t, map[string]any{"volume_type_id": id, "encryption_id": enc["encryption_id"], "provider": "LuksEncryptor",
		"key_size": float64(256), "cipher": "aes-xts-plain64", "control_location": "front-end", "deleted": false,
		"created_at": got["created_at"], "updated_at": got["updated_at"], "deleted_at": nil}, got)
	require.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$`, got["created_at"])

	r = e.do("PUT", base+"/provider", admin, "", map[string]any{"encryption": map[string]any{
		"key_size": 128, "provider": "SomeProvider", "control_location": "back-end"}})
	require.Equal(t, 200, r.code, "%s", r.body)
	require.Equal(t, map[string]any{"encryption": map[string]any{"key_size": float64(128), "provider": "SomeProvider",
		"control_location": "back-end"}}, r.json(t))
	requireFault(t, e.do("PUT", base+"/provider", admin, "", map[string]any{"encryption": map[string]any{"control_location": "x"}}), 400, "badRequest", "")
	r = e.do("GET", base+"/cipher", admin, "", nil)
	require.Equal(t, map[string]any{"cipher": "aes-xts-plain64"}, r.json(t))
	r = e.do("GET", base+"/control_location", admin, "", nil)
	require.Equal(t, map[string]any{"control_location": "back-end"}, r.json(t))
	requireFault(t, e.do("GET", base+"/nope", admin, "", nil), 404, "itemNotFound", "")

	// A volume of an encrypted type is refused: there is no key manager to hold its key.
	r = e.do("POST", "/v3/"+projA+"/volumes", member, "", map[string]any{"volume": map[string]any{"size": 1, "volume_type": id}})
	requireFault(t, r, 400, "badRequest", "encrypted")

	require.Equal(t, 202, e.do("DELETE", base+"/provider", admin, "", nil).code)
	require.Equal(t, "{}", string(e.do("GET", base, admin, "", nil).body))
	requireFault(t, e.do("DELETE", base+"/provider", admin, "", nil), 404, "itemNotFound", "")
	requireFault(t, e.do("PUT", base+"/provider", admin, "", map[string]any{"encryption": map[string]any{"provider": "x"}}), 404, "itemNotFound", "")
}

func TestQuotaClassesAPI(t *testing.T) {
	e := newAdminEnv(t)
	e.createType("gold", true)
	base := "/v3/" + projA + "/os-quota-class-sets/default"
	r := e.do("GET", base, admin, "", nil)
	require.Equal(t, 200, r.code)
	require.Equal(t, map[string]any{"id": "default", "volumes": float64(10), "snapshots": float64(10), "gigabytes": float64(1000),
		"backups": float64(10), "backup_gigabytes": float64(1000), "groups": float64(10), "per_volume_gigabytes": float64(-1),
		"volumes_gold": float64(-1), "snapshots_gold": float64(-1), "gigabytes_gold": float64(-1),
		"volumes___DEFAULT__": float64(-1), "snapshots___DEFAULT__": float64(-1), "gigabytes___DEFAULT__": float64(-1),
	}, r.json(t)["quota_class_set"])
	requireFault(t, e.do("GET", base, member, "", nil), 403, "forbidden", "")

	for _, tc := range []struct {
		name string
		body any
		msg  string
	}{
		{"unknown key", map[string]any{"quota_class_set": map[string]any{"volumes": 5, "bogus": 1}}, "bogus"},
		{"unknown type", map[string]any{"quota_class_set": map[string]any{"volumes": 5, "volumes_silver": 1}}, "volumes_silver"},
		{"below -1", map[string]any{"quota_class_set": map[string]any{"volumes": -2}}, "volumes"},
		{"not a number", map[string]any{"quota_class_set": map[string]any{"volumes": "many"}}, "volumes"},
		{"no body key", map[string]any{"quota_set": map[string]any{"volumes": 5}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requireFault(t, e.do("PUT", base, admin, "", tc.body), 400, "badRequest", tc.msg)
		})
	}
	r = e.do("GET", "/v3/"+projA+"/os-quota-sets/"+projB+"/defaults", admin, "", nil)
	require.Equal(t, float64(10), r.json(t)["quota_set"].(map[string]any)["volumes"], "refused updates wrote nothing")

	r = e.do("PUT", base, admin, "", map[string]any{"quota_class_set": map[string]any{"volumes": 11, "gigabytes_gold": 7}})
	require.Equal(t, 200, r.code, "%s", r.body)
	set := r.json(t)["quota_class_set"].(map[string]any)
	require.NotContains(t, set, "id")
	require.Equal(t, float64(11), set["volumes"])
	require.Equal(t, float64(7), set["gigabytes_gold"])
	r = e.do("GET", "/v3/"+projA+"/os-quota-sets/"+projB+"/defaults", admin, "", nil)
	def := r.json(t)["quota_set"].(map[string]any)
	require.Equal(t, float64(11), def["volumes"], "the default class is every project's defaults")
	require.Equal(t, float64(7), def["gigabytes_gold"])

	// Another class starts from the defaults and keeps its own values.
	r = e.do("PUT", "/v3/"+projA+"/os-quota-class-sets/big", admin, "", map[string]any{"quota_class_set": map[string]any{"volumes": 100}})
	require.Equal(t, 200, r.code, "%s", r.body)
	r = e.do("GET", "/v3/"+projA+"/os-quota-class-sets/big", admin, "", nil)
	big := r.json(t)["quota_class_set"].(map[string]any)
	require.Equal(t, "big", big["id"])
	require.Equal(t, float64(100), big["volumes"])
	require.Equal(t, float64(1000), big["gigabytes"])
	r = e.do("GET", base, admin, "", nil)
	require.Equal(t, float64(11), r.json(t)["quota_class_set"].(map[string]any)["volumes"])
}

func TestServicesHostsCapabilitiesAPI(t *testing.T) {
	e := newAdminEnv(t)
	ctx := context.Background()
	s := e.d.Store()
	require.NoError(t, s.HeartbeatService(ctx, "node1", model.BinaryScheduler, "nova", e.now.Add(-5*time.Second)))
	require.NoError(t, s.HeartbeatService(ctx, "dlvm@dlvm-1", model.BinaryVolume, "nova", e.now.Add(-10*time.Second)))
	require.NoError(t, s.HeartbeatService(ctx, "old", model.BinaryScheduler, "az2", e.now.Add(-2*time.Minute)))

	svcs := "/v3/" + projA + "/os-services"
	r := e.do("GET", svcs, admin, "", nil)
	require.Equal(t, 200, r.code)
	require.Equal(t, []any{
		map[string]any{"binary": "cinder-scheduler", "host": "node1", "zone": "nova", "status": "enabled", "state": "up",
			"updated_at": "2026-03-04T05:06:02.000000", "disabled_reason": nil},
		map[string]any{"binary": "cinder-scheduler", "host": "old", "zone": "az2", "status": "enabled", "state": "down",
			"updated_at": "2026-03-04T05:04:07.000000", "disabled_reason": nil},
		map[string]any{"binary": "cinder-volume", "host": "dlvm@dlvm-1", "zone": "nova", "status": "enabled", "state": "up",
			"updated_at": "2026-03-04T05:05:57.000000", "disabled_reason": nil, "replication_status": "disabled",
			"active_backend_id": nil, "frozen": false},
	}, r.json(t)["services"])
	r = e.do("GET", svcs, admin, "3.49", nil)
	vol := r.json(t)["services"].([]any)[2].(map[string]any)
	require.Equal(t, "up", vol["backend_state"])
	require.Contains(t, vol, "cluster")
	r = e.do("GET", svcs+"?host=dlvm&binary=cinder-volume", admin, "", nil)
	require.Len(t, r.json(t)["services"], 1)
	r = e.do("GET", svcs+"?binary=cinder-scheduler", admin, "", nil)
	require.Len(t, r.json(t)["services"], 2)
	requireFault(t, e.do("GET", svcs, member, "", nil), 403, "forbidden", "")

	put := func(action string, body any) resp { return e.do("PUT", svcs+"/"+action, admin, "", body) }
	r = put("disable-log-reason", map[string]any{"host": "dlvm@dlvm-1", "binary": "cinder-volume", "disabled_reason": "maintenance"})
	require.Equal(t, 200, r.code, "%s", r.body)
	require.Equal(t, map[string]any{"disabled": true, "status": "disabled", "host": "dlvm@dlvm-1", "service": "",
		"binary": "cinder-volume", "disabled_reason": "maintenance"}, r.json(t))
	r = e.do("GET", svcs+"?binary=cinder-volume", admin, "", nil)
	v := r.json(t)["services"].([]any)[0].(map[string]any)
	require.Equal(t, "disabled", v["status"])
	require.Equal(t, "maintenance", v["disabled_reason"])

	for _, tc := range []struct {
		name, action string
		body         any
		code         int
		msg          string
	}{
		{"invalid host", "enable", map[string]any{"host": "invalid_host", "binary": "cinder-volume"}, 404, ""},
		{"invalid binary", "disable", map[string]any{"host": "dlvm@dlvm-1", "binary": "invalid_binary"}, 404, ""},
		{"no reason", "disable-log-reason", map[string]any{"host": "dlvm@dlvm-1", "binary": "cinder-volume", "disabled_reason": nil}, 400, "reason"},
		{"blank reason", "disable-log-reason", map[string]any{"host": "dlvm@dlvm-1", "binary": "cinder-volume", "disabled_reason": "  "}, 400, "reason"},
		{"no host", "enable", map[string]any{"binary": "cinder-volume"}, 400, "host"},
		{"no binary", "enable", map[string]any{"host": "dlvm@dlvm-1"}, 400, "binary"},
		{"freeze invalid host", "freeze", map[string]any{"host": "invalid_host"}, 400, "invalid_host"},
		{"thaw invalid host", "thaw", map[string]any{"host": "invalid_host"}, 400, "invalid_host"},
		{"unknown action", "explode", map[string]any{"host": "dlvm@dlvm-1"}, 404, "Unknown action"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requireFault(t, put(tc.action, tc.body), tc.code, faultName(tc.code), tc.msg)
		})
	}
	r = e.do("GET", svcs+"?binary=cinder-volume", admin, "", nil)
	require.Equal(t, "maintenance", r.json(t)["services"].([]any)[0].(map[string]any)["disabled_reason"], "refused updates changed nothing")

	r = put("enable", map[string]any{"host": "dlvm@dlvm-1", "binary": "cinder-volume"})
	require.Equal(t, map[string]any{"disabled": false, "status": "enabled", "host": "dlvm@dlvm-1", "service": "",
		"binary": "cinder-volume", "disabled_reason": nil}, r.json(t))
	r = put("disable", map[string]any{"host": "node1", "service": "cinder-scheduler"})
	require.Equal(t, map[string]any{"disabled": true, "status": "disabled", "host": "node1", "service": "cinder-scheduler",
		"binary": ""}, r.json(t))
	require.Equal(t, 200, put("freeze", map[string]any{"host": "dlvm"}).code)
	r = e.do("GET", svcs+"?binary=cinder-volume", admin, "", nil)
	require.Equal(t, true, r.json(t)["services"].([]any)[0].(map[string]any)["frozen"])
	require.Equal(t, 200, put("thaw", map[string]any{"host": "dlvm@dlvm-1"}).code)
	r = e.do("GET", svcs+"?binary=cinder-volume", admin, "", nil)
	require.Equal(t, false, r.json(t)["services"].([]any)[0].(map[string]any)["frozen"])

	t.Run("os-hosts", func(t *testing.T) {
		v := &model.Volume{ID: "v1", ProjectID: projB, Size: 3, Status: model.StatusAvailable, Host: "dlvm@dlvm-1#dlvm-1",
			CreatedAt: e.now, UpdatedAt: e.now}
		require.NoError(t, s.CreateVolume(ctx, v))
		require.NoError(t, s.CreateSnapshot(ctx, &model.Snapshot{ID: "s1", ProjectID: projB, VolumeID: "v1", Size: 3,
			Status: model.StatusAvailable, CreatedAt: e.now, UpdatedAt: e.now}))
		hosts := "/v3/" + projA + "/os-hosts"
		r := e.do("GET", hosts, admin, "", nil)
		require.Equal(t, 200, r.code)
		list := r.json(t)["hosts"].([]any)
		require.Len(t, list, 3)
		require.Equal(t, map[string]any{"host_name": "old", "service": "cinder-scheduler", "zone": "az2",
			"service-status": "unavailable", "service-state": "enabled", "last-update": "2026-03-04T05:04:07.000000"}, list[1])
		require.Equal(t, "disabled", list[0].(map[string]any)["service-state"])
		require.Equal(t, "available", list[2].(map[string]any)["service-status"])
		r = e.do("GET", hosts+"?zone=az2", admin, "", nil)
		require.Len(t, r.json(t)["hosts"], 1)

		r = e.do("GET", hosts+"/dlvm@dlvm-1", admin, "", nil)
		require.Equal(t, 200, r.code, "%s", r.body)
		row := func(project, vols, gb, snaps, sgb string) any {
			return map[string]any{"resource": map[string]any{"host": "dlvm@dlvm-1", "project": project, "volume_count": vols,
				"total_volume_gb": gb, "snapshot_count": snaps, "total_snapshot_gb": sgb}}
		}
		require.Equal(t, map[string]any{"host": []any{row("(total)", "1", "3", "1", "3"), row(projB, "1", "3", "1", "3")}}, r.json(t))
		requireFault(t, e.do("GET", hosts+"/node1", admin, "", nil), 404, "itemNotFound", "")
		requireFault(t, e.do("GET", hosts+"/dlvm@dlvm-1", member, "", nil), 403, "forbidden", "")
		require.Equal(t, 200, put("disable", map[string]any{"host": "dlvm@dlvm-1", "binary": "cinder-volume"}).code)
		requireFault(t, e.do("GET", hosts+"/dlvm@dlvm-1", admin, "", nil), 404, "itemNotFound", "")
	})

	t.Run("capabilities", func(t *testing.T) {
		require.NoError(t, s.UpsertDVG(ctx, &model.DVG{ID: "dlvm-1", Name: "dlvm-1", BackendName: "dlvm-1", CreatedAt: e.now, UpdatedAt: e.now}))
		caps := "/v3/" + projA + "/capabilities/"
		for _, host := range []string{"dlvm@dlvm-1", "dlvm@dlvm-1#dlvm-1"} {
			r := e.do("GET", caps+host, admin, "", nil)
			require.Equal(t, 200, r.code, "%s", r.body)
			m := r.json(t)
			props := m["properties"].(map[string]any)
			require.Contains(t, props, "dlvm:mirrors")
			for _, p := range props {
				require.ElementsMatch(t, []string{"title", "description", "type"}, keysOf(p.(map[string]any)))
			}
			delete(m, "properties")
			require.Equal(t, map[string]any{"namespace": "OS::Storage::Capabilities::" + host, "vendor_name": "dlvm",
				"volume_backend_name": "dlvm-1", "pool_name": "dlvm-1", "driver_version": "1.0", "storage_protocol": "iSCSI",
				"display_name": nil, "description": nil, "visibility": "pool", "replication_targets": []any{}}, m)
		}
		requireFault(t, e.do("GET", caps+"dlvm@nope", admin, "", nil), 404, "itemNotFound", "dlvm@nope")
		requireFault(t, e.do("GET", caps+"dlvm@dlvm-1", member, "", nil), 403, "forbidden", "")
	})
}
