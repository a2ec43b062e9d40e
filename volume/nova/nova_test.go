package nova

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeCloud is Keystone (POST /v3/auth/tokens) and Nova (POST /compute/os-server-external-events).
type fakeCloud struct {
	srv      *httptest.Server
	mu       sync.Mutex
	auths    int
	events   [][]Event
	headers  []http.Header
	reject   int // answer 401 to this many event posts first
	novaCode int // status of event posts (0: 200)
}

func newFakeCloud(t *testing.T) *fakeCloud {
	f := &fakeCloud{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v3/auth/tokens", func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		require.NoError(t, json.NewDecoder(r.Body).Decode(&body))
		ident := body["auth"].(map[string]any)["identity"].(map[string]any)
		user := ident["password"].(map[string]any)["user"].(map[string]any)
		if user["name"] != "nova-svc" || user["password"] != "s3cret" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		f.mu.Lock()
		f.auths++
		f.mu.Unlock()
		w.Header().Set("X-Subject-Token", "tok")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]any{"token": map[string]any{
			"expires_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
			"catalog": []any{
				map[string]any{"type": "identity", "endpoints": []any{map[string]any{"interface": "public", "region_id": "RegionOne", "url": f.srv.URL + "/v3"}}},
				map[string]any{"type": "compute", "endpoints": []any{
					map[string]any{"interface": "internal", "region_id": "RegionOne", "url": "http://wrong.invalid"},
					map[string]any{"interface": "public", "region_id": "RegionTwo", "url": "http://wrong.invalid"},
					map[string]any{"interface": "public", "region_id": "RegionOne", "url": f.srv.URL + "/compute/v2.1/"},
				}},
			}}})
	})
	mux.HandleFunc("POST /compute/v2.1/os-server-external-events", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.reject > 0 || r.Header.Get("X-Auth-Token") != "tok" {
			f.reject--
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var body struct{ Events []Event }
		require.NoError(t, json.NewDecoder(r.Body).Decode(&body))
		f.events = append(f.events, append([]Event(nil), body.Events...))
		f.headers = append(f.headers, r.Header.Clone())
		if f.novaCode != 0 {
			w.WriteHeader(f.novaCode)
			return
		}
		for i := range body.Events {
			body.Events[i].Status, body.Events[i].Code = "completed", 200
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"events": body.Events})
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func TestVolumeExtended(t *testing.T) {
	ctx := context.Background()
	f := newFakeCloud(t)
	c, err := New(Options{AuthURL: f.srv.URL, Username: "nova-svc", Password: "s3cret", ProjectName: "service", RegionName: "RegionOne"})
	require.NoError(t, err)

	require.NoError(t, c.VolumeExtended(ctx, "vol-1", []string{"srv-a", "srv-b"}))
	require.Equal(t, [][]Event{{{Name: "volume-extended", ServerUUID: "srv-a", Tag: "vol-1"},
		{Name: "volume-extended", ServerUUID: "srv-b", Tag: "vol-1"}}}, f.events)
	require.Equal(t, "2.51", f.headers[0].Get("X-OpenStack-Nova-API-Version"))

	require.NoError(t, c.VolumeExtended(ctx, "vol-1", nil), "no server: nothing sent")
	require.NoError(t, c.VolumeExtended(ctx, "vol-2", []string{"srv-a"}))
	require.Equal(t, 1, f.auths, "the token is cached")
	require.Len(t, f.events, 2)

	f.reject = 1 // the token was revoked: one new authentication, then the event goes through
	require.NoError(t, c.VolumeExtended(ctx, "vol-3", []string{"srv-a"}))
	require.Equal(t, 2, f.auths)
	require.Len(t, f.events, 3)

	f.novaCode = http.StatusNotFound // Nova knows none of the servers: logged, not an error
	require.NoError(t, c.VolumeExtended(ctx, "vol-4", []string{"gone"}))
	f.novaCode = http.StatusInternalServerError
	require.ErrorIs(t, c.VolumeExtended(ctx, "vol-5", []string{"srv-a"}), ErrRejected)

	bad, err := New(Options{AuthURL: f.srv.URL + "/v3", Username: "nova-svc", Password: "wrong"})
	require.NoError(t, err)
	require.ErrorIs(t, bad.VolumeExtended(ctx, "vol-1", []string{"srv-a"}), ErrRejected)

	noCompute, err := New(Options{AuthURL: f.srv.URL, Username: "nova-svc", Password: "s3cret", RegionName: "Elsewhere"})
	require.NoError(t, err)
	require.ErrorContains(t, noCompute.VolumeExtended(ctx, "vol-1", []string{"srv-a"}), "no public compute endpoint")

	_, err = New(Options{Username: "x", Password: "y"})
	require.Error(t, err, "auth_url is required")
}
