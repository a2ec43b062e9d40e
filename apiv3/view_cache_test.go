package apiv3

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume/api"
)

// TestVolumeViewCache drives the real service layer (SQLite) through two handlers, one with the
// view cache and one without, and after every kind of write that changes a volume's views checks
// that both answer show and detail lists byte for byte alike, for several callers and
// microversions: the cache never serves a view the database has moved past.
func TestVolumeViewCache(t *testing.T) {
	s := newStack(t)
	opts := Options{Identity: HeaderIdentity, PublicURL: "http://dlvm.test:8776"}
	cached := &tenv{t: t, h: New(s.svc, opts)}
	opts.ViewCacheBytes = -1
	plain := &tenv{t: t, h: New(s.svc, opts)}
	ids := []string{s.volume(t, 1, false), s.volume(t, 2, true), s.volume(t, 1, false)}
	vol := "/v3/" + projA + "/volumes/"

	check := func(step string) {
		t.Helper()
		paths := []string{vol + "detail", vol + "detail?limit=2", vol + "detail?sort=name:asc"}
		for _, id := range ids {
			paths = append(paths, vol+id)
		}
		for _, as := range []who{member, reader, admin} {
			for _, ver := range []string{"", "3.44", "3.70"} {
				// a show reads the volume with its type in one query (GetVolumeShown), a list
				// reads the type on its own (GetType): both show a volume alike
				list := map[string]any{}
				for _, e := range plain.do("GET", vol+"detail", as, ver, nil).json(t)["volumes"].([]any) {
					list[e.(map[string]any)["id"].(string)] = e
				}
				for _, id := range ids {
					require.Equal(t, list[id], plain.do("GET", vol+id, as, ver, nil).json(t)["volume"], "%s: show vs list of %s as %v at %q", step, id, as, ver)
				}
				for _, p := range paths {
					want := plain.do("GET", p, as, ver, nil)
					require.Equal(t, http.StatusOK, want.code, "%s: %s %s", step, p, want.body)
					for range 2 { // the first may fill the cache, the second is served from it
						got := cached.do("GET", p, as, ver, nil)
						require.Equal(t, want.code, got.code, "%s: %s", step, p)
						require.Equal(t, string(want.body), string(got.body), "%s: %s as %v at %q", step, p, as, ver)
						require.Equal(t, want.hdr.Get("Content-Length"), got.hdr.Get("Content-Length"))
					}
				}
			}
		}
	}
	act := func(as who, ver, method, path string, body any, code int) resp {
		t.Helper()
		r := plain.do(method, path, as, ver, body)
		require.Equal(t, code, r.code, "%s %s: %s", method, path, r.body)
		return r
	}

	check("fresh")
	require.NotZero(t, cached.h.views.size, "the cached handler holds no views")

	act(member, "", "PUT", vol+ids[0], map[string]any{"volume": map[string]any{"name": "renamed", "description": "d"}}, http.StatusOK)
	check("update")
	act(member, "", "POST", vol+ids[1]+"/metadata", map[string]any{"metadata": map[string]any{"a": "b", "c": "d"}}, http.StatusOK)
	check("metadata set")
	act(member, "", "DELETE", vol+ids[1]+"/metadata/a", nil, http.StatusOK)
	check("metadata delete")
	act(member, "", "PUT", vol+ids[1]+"/metadata", map[string]any{"metadata": map[string]any{"x": "y"}}, http.StatusOK)
	check("metadata replace")
	act(admin, "", "POST", vol+ids[2]+"/action", map[string]any{"os-update_readonly_flag": map[string]any{"readonly": true}}, http.StatusAccepted)
	check("readonly")
	act(member, "", "POST", vol+ids[2]+"/action", map[string]any{"os-set_bootable": map[string]any{"bootable": true}}, http.StatusOK)
	check("bootable")
	act(admin, "", "POST", vol+ids[0]+"/action", map[string]any{"os-reset_status": map[string]any{"status": "error"}}, http.StatusAccepted)
	check("reset status")

	// attachments: reserve, connect and complete (in-use, listed in the views), then delete
	r := act(member, "3.44", "POST", "/v3/"+projA+"/attachments", map[string]any{"attachment": map[string]any{
		"volume_uuid": ids[1], "instance_uuid": "3f0e0c3e-0f6b-4a41-9c3c-8a3f2a5f0001"}}, http.StatusOK)
	attID := r.json(t)["attachment"].(map[string]any)["id"].(string)
	check("attachment reserved")
	act(member, "3.44", "PUT", "/v3/"+projA+"/attachments/"+attID, map[string]any{"attachment": map[string]any{"connector": novaConn}}, http.StatusOK)
	check("attachment connected")
	act(member, "3.44", "POST", "/v3/"+projA+"/attachments/"+attID+"/action", map[string]any{"os-complete": nil}, http.StatusNoContent)
	require.Equal(t, model.StatusInUse, s.volumeStatus(t, ids[1]))
	check("attachment complete")
	act(member, "3.44", "DELETE", "/v3/"+projA+"/attachments/"+attID, nil, http.StatusOK)
	check("attachment deleted")

	// the type's name shows in the views: a rename, and a private type's access, move them
	r = act(admin, "", "POST", "/v3/"+projA+"/types", map[string]any{"volume_type": map[string]any{"name": "gold"}}, http.StatusOK)
	typeID := r.json(t)["volume_type"].(map[string]any)["id"].(string)
	v, err := s.d.Store().GetVolume(context.Background(), ids[2])
	require.NoError(t, err)
	v.VolumeTypeID = typeID
	require.NoError(t, s.d.Store().UpdateVolume(context.Background(), v))
	check("typed")
	act(admin, "", "PUT", "/v3/"+projA+"/types/"+typeID, map[string]any{"volume_type": map[string]any{"name": "platinum", "is_public": false}}, http.StatusOK)
	check("type renamed and made private")
	act(admin, "", "POST", "/v3/"+projA+"/types/"+typeID+"/action", map[string]any{"addProjectAccess": map[string]any{"project": projA}}, http.StatusAccepted)
	check("type access added")
	act(admin, "", "POST", "/v3/"+projA+"/types/"+typeID+"/action", map[string]any{"removeProjectAccess": map[string]any{"project": projA}}, http.StatusAccepted)
	check("type access removed")

	act(admin, "", "POST", vol+ids[0]+"/action", map[string]any{"os-reset_status": map[string]any{"status": "available"}}, http.StatusAccepted)
	act(member, "", "DELETE", vol+ids[0], nil, http.StatusAccepted)
	require.Eventually(t, func() bool { // the volume manager deletes it
		_, err := s.d.Store().GetVolume(context.Background(), ids[0])
		return errors.Is(err, model.ErrNotFound)
	}, 10*time.Second, 10*time.Millisecond)
	ids = ids[1:]
	check("deleted")
}

func TestViewCacheBound(t *testing.T) {
	c := newViewCache(10_000)
	view := make([]byte, 1000, 2048) // an encoder's buffer, larger than what it holds
	for i := range 100 {
		id := fmt.Sprintf("v%02d", i)
		c.put(id, "x", 1, true, view)
		require.LessOrEqual(t, c.size, 10_000)
		per := len(id) + len("x") + 1000 + entryOverhead // key, view and the entry itself count
		require.Equal(t, len(c.m)*per, c.size)
		require.LessOrEqual(t, cap(c.m[viewKey{id, "x"}].b), 1024, "kept cut to its length (its size class)")
	}
	c.put("v100", "x", 7, true, view)
	require.NotNil(t, c.get("v100", "x", 7))
	require.Nil(t, c.get("v100", "x", 8), "another revision")
	require.Nil(t, c.get("v100", "y", 7), "another variant")
	require.True(t, c.hasSettled("v100", "x"), "kept, at any revision")
	require.False(t, c.hasSettled("v100", "y"))
	c.put("v101", "x", 3, false, view)
	require.NotNil(t, c.get("v101", "x", 3), "a view of a volume not at rest is served at its revision")
	require.False(t, c.hasSettled("v101", "x"), "but a GET reads the volume at once")
	off := newViewCache(-1)
	off.put("v", "x", 1, true, view)
	require.Nil(t, off.get("v", "x", 1))
	require.False(t, off.hasSettled("v", "x"))
}

// TestCreateResponseType: the create response names the volume's type as a GET of the volume
// does, whether the handler takes the type the create read (a public type, or an admin) or
// reads it again (a private type a member was given).
func TestCreateResponseType(t *testing.T) {
	s := newStack(t)
	e := &tenv{t: t, h: New(s.svc, Options{Identity: HeaderIdentity})}
	r := e.do("POST", "/v3/"+projA+"/types", admin, "", map[string]any{"volume_type": map[string]any{"name": "priv", "os-volume-type-access:is_public": false}})
	require.Equal(t, http.StatusOK, r.code, "%s", r.body)
	typeID := r.json(t)["volume_type"].(map[string]any)["id"].(string)
	r = e.do("POST", "/v3/"+projA+"/types/"+typeID+"/action", admin, "", map[string]any{"addProjectAccess": map[string]any{"project": projA}})
	require.Equal(t, http.StatusAccepted, r.code, "%s", r.body)

	for _, tc := range []struct {
		as       who
		typ      string
		wantName string
	}{{member, "", "__DEFAULT__"}, {admin, "", "__DEFAULT__"}, {member, "priv", "priv"}, {admin, typeID, "priv"}} {
		vol := map[string]any{"size": 1}
		if tc.typ != "" {
			vol["volume_type"] = tc.typ
		}
		r := e.do("POST", "/v3/"+projA+"/volumes", tc.as, "", map[string]any{"volume": vol})
		require.Equal(t, http.StatusAccepted, r.code, "%s", r.body)
		created := r.json(t)["volume"].(map[string]any)
		require.Equal(t, tc.wantName, created["volume_type"], "as %v, type %q", tc.as, tc.typ)
		got := e.do("GET", "/v3/"+projA+"/volumes/"+created["id"].(string), tc.as, "", nil).json(t)["volume"].(map[string]any)
		require.Equal(t, got["volume_type"], created["volume_type"])
	}
}

// countingSvc counts the revision reads and the volume reads of GET /volumes/{id}.
type countingSvc struct {
	Service
	revs, shown int
}

func (c *countingSvc) GetVolumeRev(ctx context.Context, caller api.Caller, id string) (int64, error) {
	c.revs++
	return c.Service.GetVolumeRev(ctx, caller, id)
}

func (c *countingSvc) GetVolumeShown(ctx context.Context, caller api.Caller, id string) (*model.Volume, *model.VolumeType, error) {
	c.shown++
	return c.Service.GetVolumeShown(ctx, caller, id)
}

// TestVolumeViewNotAtRest: a GET of a volume whose kept view shows it creating reads the volume
// at once (one query), not its revision and then the volume; once the volume is at rest, a GET
// reads only the revision and is served the kept view.
func TestVolumeViewNotAtRest(t *testing.T) {
	s := newStack(t)
	c := &countingSvc{Service: s.svc}
	e := &tenv{t: t, h: New(c, Options{Identity: HeaderIdentity})}
	ctx := context.Background()
	id := s.volume(t, 1, false)
	v, err := s.d.Store().GetVolume(ctx, id)
	require.NoError(t, err)
	v.Status = model.StatusCreating
	require.NoError(t, s.d.Store().UpdateVolume(ctx, v))
	get := func(want string) {
		t.Helper()
		r := e.do("GET", "/v3/"+projA+"/volumes/"+id, member, "", nil)
		require.Equal(t, http.StatusOK, r.code, "%s", r.body)
		require.Equal(t, want, r.json(t)["volume"].(map[string]any)["status"])
	}
	get("creating")
	get("creating")
	require.Equal(t, [2]int{0, 2}, [2]int{c.revs, c.shown}, "creating: (revision reads, volume reads)")
	v.Status = model.StatusAvailable
	require.NoError(t, s.d.Store().UpdateVolume(ctx, v))
	get("available")
	require.Equal(t, [2]int{0, 3}, [2]int{c.revs, c.shown}, "the kept view showed it creating")
	get("available")
	get("available")
	require.Equal(t, [2]int{2, 3}, [2]int{c.revs, c.shown}, "at rest: the revision, then the kept view")
}
