package keystone

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"
)

// demoHash is a cheap bcrypt hash of "demopass" (HashPassword's default cost is slow under -race).
var demoHash = sync.OnceValue(func() string {
	h, err := bcrypt.GenerateFromPassword([]byte("demopass"), bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	return string(h)
})

// testBuiltin starts a built-in identity with an admin and a demo user.
func testBuiltin(t *testing.T, opts BuiltinOptions) (*Builtin, *httptest.Server) {
	t.Helper()
	if opts.Users == nil {
		opts.Users = []User{
			{Name: "admin", Password: "adminpass", Project: "admin", Roles: []string{"admin", "member"}},
			{Name: "demo", PasswordHash: demoHash(), Project: "demo", Roles: []string{"member", "reader"}},
		}
	}
	srv := httptest.NewUnstartedServer(nil)
	if opts.PublicURL == "" {
		opts.PublicURL = "http://" + srv.Listener.Addr().String()
	}
	b, err := NewBuiltin(opts, nil)
	require.NoError(t, err)
	srv.Config.Handler = b.Handler()
	srv.Start()
	t.Cleanup(srv.Close)
	return b, srv
}

// passwordAuth is a POST /v3/auth/tokens body; scope nil means no scope.
func passwordAuth(user, pw string, scope any) map[string]any {
	auth := map[string]any{"identity": map[string]any{"methods": []string{"password"},
		"password": map[string]any{"user": map[string]any{"name": user, "password": pw,
			"domain": map[string]string{"name": "Default"}}}}}
	if scope != nil {
		auth["scope"] = scope
	}
	return map[string]any{"auth": auth}
}

func projectScope(name string) map[string]any {
	return map[string]any{"project": map[string]any{"name": name, "domain": map[string]string{"id": "default"}}}
}

// do sends a JSON request; headers are name, value pairs.
func do(t *testing.T, method, url string, body any, headers ...string) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	require.NoError(t, err)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	rb, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, rb
}

func issue(t *testing.T, srv *httptest.Server, user, pw, project string) (string, wireToken) {
	t.Helper()
	resp, body := do(t, http.MethodPost, srv.URL+"/v3/auth/tokens", passwordAuth(user, pw, projectScope(project)))
	require.Equal(t, http.StatusCreated, resp.StatusCode, string(body))
	var tb wireTokenBody
	require.NoError(t, json.Unmarshal(body, &tb))
	tok := resp.Header.Get("X-Subject-Token")
	require.NotEmpty(t, tok)
	return tok, tb.Token
}

func TestBuiltinDiscovery(t *testing.T) {
	_, srv := testBuiltin(t, BuiltinOptions{})
	self := srv.URL + "/v3/"
	for _, path := range []string{"/v3", "/v3/"} {
		t.Run(path, func(t *testing.T) {
			resp, body := do(t, http.MethodGet, srv.URL+path, nil)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			require.JSONEq(t, fmt.Sprintf(`{"version":{"id":"v3.14","status":"stable","updated":"2020-04-07T00:00:00Z",
				"links":[{"rel":"self","href":%q}],
				"media-types":[{"base":"application/json","type":"application/vnd.openstack.identity-v3+json"}]}}`, self),
				string(body))
		})
	}
	t.Run("/", func(t *testing.T) {
		resp, body := do(t, http.MethodGet, srv.URL+"/", nil)
		require.Equal(t, http.StatusMultipleChoices, resp.StatusCode)
		var doc struct {
			Versions struct {
				Values []struct {
					ID    string
					Links []struct{ Rel, Href string }
				}
			}
		}
		require.NoError(t, json.Unmarshal(body, &doc))
		require.Len(t, doc.Versions.Values, 1)
		require.Equal(t, "v3.14", doc.Versions.Values[0].ID)
		require.Equal(t, self, doc.Versions.Values[0].Links[0].Href)
	})
}

func TestBuiltinIssue(t *testing.T) {
	b, srv := testBuiltin(t, BuiltinOptions{Region: "RegionOne"})
	demoID, _ := b.ProjectID("demo")
	tests := []struct {
		name        string
		body        map[string]any
		wantCode    int
		wantProject string
	}{
		{"project by name", passwordAuth("demo", "demopass", projectScope("demo")), http.StatusCreated, "demo"},
		{"project by id", passwordAuth("demo", "demopass", map[string]any{"project": map[string]string{"id": demoID}}),
			http.StatusCreated, "demo"},
		{"no scope: default project", passwordAuth("demo", "demopass", nil), http.StatusCreated, "demo"},
		{"explicitly unscoped", passwordAuth("demo", "demopass", "unscoped"), http.StatusCreated, ""},
		{"bad password", passwordAuth("demo", "nope", projectScope("demo")), http.StatusUnauthorized, ""},
		{"unknown user", passwordAuth("eve", "demopass", projectScope("demo")), http.StatusUnauthorized, ""},
		{"foreign project", passwordAuth("demo", "demopass", projectScope("admin")), http.StatusUnauthorized, ""},
		{"unknown project", passwordAuth("demo", "demopass", projectScope("nope")), http.StatusUnauthorized, ""},
		{"malformed", map[string]any{"auth": "x"}, http.StatusBadRequest, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, http.MethodPost, srv.URL+"/v3/auth/tokens", tc.body)
			require.Equal(t, tc.wantCode, resp.StatusCode, string(body))
			if tc.wantCode == http.StatusUnauthorized {
				require.Equal(t, fmt.Sprintf(`Keystone uri=%q`, srv.URL), resp.Header.Get("WWW-Authenticate"))
				require.Empty(t, resp.Header.Get("X-Subject-Token"))
			}
			if tc.wantCode != http.StatusCreated {
				return
			}
			var tb wireTokenBody
			require.NoError(t, json.Unmarshal(body, &tb))
			tok := tb.Token
			require.Equal(t, []string{"password"}, tok.Methods)
			require.Equal(t, "demo", tok.User.Name)
			require.Equal(t, "default", tok.User.Domain.ID)
			require.Len(t, tok.AuditIDs, 1)
			exp, err := parseTime(tok.ExpiresAt)
			require.NoError(t, err)
			require.WithinDuration(t, time.Now().Add(DefaultTokenTTL), exp, time.Minute)
			if tc.wantProject == "" {
				require.Nil(t, tok.Project)
				require.Empty(t, tok.Roles)
				for _, s := range tok.Catalog {
					require.NotContains(t, []string{"volumev3", "block-storage"}, s.Type, "needs a project id")
				}
				return
			}
			require.Equal(t, tc.wantProject, tok.Project.Name)
			require.Equal(t, demoID, tok.Project.ID)
			require.Equal(t, []idName{{ID: stableID("role", "member"), Name: "member"},
				{ID: stableID("role", "reader"), Name: "reader"}}, tok.Roles)
		})
	}
}

func TestBuiltinCatalog(t *testing.T) {
	b, srv := testBuiltin(t, BuiltinOptions{})
	demoID, _ := b.ProjectID("demo")
	tok, body := issue(t, srv, "demo", "demopass", "demo")
	resp, raw := do(t, http.MethodGet, srv.URL+"/v3/auth/catalog", nil, "X-Auth-Token", tok)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var cat struct{ Catalog []wireService }
	require.NoError(t, json.Unmarshal(raw, &cat))
	require.Equal(t, body.Catalog, cat.Catalog, "token body and /v3/auth/catalog agree")

	want := map[string]string{
		"volumev3":      "http://127.0.0.1:8776/v3/" + demoID,
		"block-storage": "http://127.0.0.1:8776/v3/" + demoID,
		"identity":      srv.URL + "/v3",
		"image":         "http://127.0.0.1:9292/v2",
		"compute":       srv.URL + ComputePath,
	}
	got := map[string]string{}
	for _, s := range cat.Catalog {
		ifaces := map[string]bool{}
		for _, e := range s.Endpoints {
			require.Equal(t, "RegionOne", e.RegionID)
			require.Equal(t, want[s.Type], e.URL, s.Type)
			ifaces[e.Interface] = true
		}
		require.Equal(t, map[string]bool{"public": true, "internal": true, "admin": true}, ifaces, s.Type)
		got[s.Type] = s.Endpoints[0].URL
	}
	require.Equal(t, want, got)

	// The compute entry answers the CLI's quota and limits calls with empty sets (no compute
	// service exists), and only for authenticated callers.
	resp, raw = do(t, http.MethodGet, got["compute"]+"/os-quota-sets/"+demoID, nil, "X-Auth-Token", tok)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.JSONEq(t, `{"quota_set":{"id":"`+demoID+`"}}`, string(raw))
	resp, raw = do(t, http.MethodGet, got["compute"]+"/limits", nil, "X-Auth-Token", tok)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.JSONEq(t, `{"limits":{"rate":[],"absolute":{}}}`, string(raw))
	resp, _ = do(t, http.MethodGet, got["compute"]+"/limits", nil)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}

func TestBuiltinValidateAndRevoke(t *testing.T) {
	_, srv := testBuiltin(t, BuiltinOptions{})
	admin, _ := issue(t, srv, "admin", "adminpass", "admin")
	demo, _ := issue(t, srv, "demo", "demopass", "demo")
	demo2, _ := issue(t, srv, "demo", "demopass", "demo")
	url := srv.URL + "/v3/auth/tokens"

	tests := []struct {
		name, method, auth, subject string
		want                        int
	}{
		{"admin validates demo", http.MethodGet, admin, demo, http.StatusOK},
		{"HEAD", http.MethodHead, admin, demo, http.StatusOK},
		{"own token", http.MethodGet, demo, demo2, http.StatusOK},
		{"member may not see admin's", http.MethodGet, demo, admin, http.StatusForbidden},
		{"bad subject", http.MethodGet, admin, "garbage", http.StatusNotFound},
		{"bad caller", http.MethodGet, "garbage", demo, http.StatusUnauthorized},
		{"no caller", http.MethodGet, "", demo, http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, tc.method, url, nil, "X-Auth-Token", tc.auth, "X-Subject-Token", tc.subject)
			require.Equal(t, tc.want, resp.StatusCode, string(body))
			if tc.want == http.StatusOK {
				require.Equal(t, tc.subject, resp.Header.Get("X-Subject-Token"))
			}
		})
	}
	t.Run("revoke", func(t *testing.T) {
		resp, _ := do(t, http.MethodDelete, url, nil, "X-Auth-Token", demo, "X-Subject-Token", demo2)
		require.Equal(t, http.StatusNoContent, resp.StatusCode)
		resp, _ = do(t, http.MethodGet, url, nil, "X-Auth-Token", admin, "X-Subject-Token", demo2)
		require.Equal(t, http.StatusNotFound, resp.StatusCode)
		resp, _ = do(t, http.MethodGet, srv.URL+"/v3/auth/catalog", nil, "X-Auth-Token", demo2)
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		resp, _ = do(t, http.MethodGet, url, nil, "X-Auth-Token", admin, "X-Subject-Token", demo)
		require.Equal(t, http.StatusOK, resp.StatusCode, "other tokens of the user stay valid")
	})
	t.Run("token method rescopes", func(t *testing.T) {
		body := map[string]any{"auth": map[string]any{"identity": map[string]any{"methods": []string{"token"},
			"token": map[string]string{"id": demo}}, "scope": projectScope("demo")}}
		resp, raw := do(t, http.MethodPost, url, body)
		require.Equal(t, http.StatusCreated, resp.StatusCode, string(raw))
		body["auth"].(map[string]any)["identity"].(map[string]any)["token"] = map[string]string{"id": demo2}
		resp, _ = do(t, http.MethodPost, url, body)
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "revoked token cannot rescope")
	})
}

func TestBuiltinResources(t *testing.T) {
	b, srv := testBuiltin(t, BuiltinOptions{})
	admin, _ := issue(t, srv, "admin", "adminpass", "admin")
	demo, _ := issue(t, srv, "demo", "demopass", "demo")
	demoProj, _ := b.ProjectID("demo")
	demoUser, _ := b.UserID("demo")
	count := func(t *testing.T, tok, path, key string) int {
		t.Helper()
		resp, body := do(t, http.MethodGet, srv.URL+path, nil, "X-Auth-Token", tok)
		require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
		var m map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(body, &m))
		var list []any
		require.NoError(t, json.Unmarshal(m[key], &list))
		return len(list)
	}
	require.Equal(t, 3, count(t, admin, "/v3/projects", "projects"), "admin, demo, service")
	require.Equal(t, 1, count(t, admin, "/v3/projects?name=demo", "projects"))
	require.Equal(t, 1, count(t, demo, "/v3/projects", "projects"), "members see their own")
	require.Equal(t, 1, count(t, demo, "/v3/auth/projects", "projects"))
	require.Equal(t, 4, count(t, demo, "/v3/roles", "roles"))
	require.Equal(t, 1, count(t, admin, "/v3/users?name=demo", "users"))

	codes := []struct {
		tok, path string
		want      int
	}{
		{demo, "/v3/projects/" + demoProj, http.StatusOK},
		{demo, "/v3/projects/nope", http.StatusNotFound},
		{demo, "/v3/users/" + demoUser, http.StatusOK},
		{admin, "/v3/users/" + demoUser, http.StatusOK},
		{demo, "/v3/domains/default", http.StatusOK},
		{demo, "/v3/domains/other", http.StatusNotFound},
		{"", "/v3/projects", http.StatusUnauthorized},
	}
	for _, c := range codes {
		t.Run(c.path, func(t *testing.T) {
			resp, body := do(t, http.MethodGet, srv.URL+c.path, nil, "X-Auth-Token", c.tok)
			require.Equal(t, c.want, resp.StatusCode, string(body))
		})
	}

	t.Run("domains by name", func(t *testing.T) {
		require.Equal(t, 1, count(t, admin, "/v3/domains?name=Default", "domains"))
		require.Equal(t, 0, count(t, admin, "/v3/domains?name=Other", "domains"))
	})
	t.Run("create and delete a project", func(t *testing.T) {
		body := map[string]any{"project": map[string]any{"name": "quota-test", "description": "d", "domain_id": "default"}}
		resp, _ := do(t, http.MethodPost, srv.URL+"/v3/projects", body, "X-Auth-Token", demo)
		require.Equal(t, http.StatusForbidden, resp.StatusCode, "members may not create projects")
		for _, bad := range []any{map[string]any{"project": map[string]any{"name": ""}}, map[string]any{"x": 1},
			map[string]any{"project": map[string]any{"name": "p", "domain_id": "nope"}}} {
			resp, b := do(t, http.MethodPost, srv.URL+"/v3/projects", bad, "X-Auth-Token", admin)
			require.Equal(t, http.StatusBadRequest, resp.StatusCode, string(b))
		}
		require.Equal(t, 3, count(t, admin, "/v3/projects", "projects"), "bad requests created nothing")
		resp, b := do(t, http.MethodPost, srv.URL+"/v3/projects", body, "X-Auth-Token", admin)
		require.Equal(t, http.StatusCreated, resp.StatusCode, string(b))
		var got struct {
			Project struct{ ID, Name, Description string }
		}
		require.NoError(t, json.Unmarshal(b, &got))
		require.Equal(t, "quota-test", got.Project.Name)
		require.Equal(t, "d", got.Project.Description)
		resp, _ = do(t, http.MethodPost, srv.URL+"/v3/projects", body, "X-Auth-Token", admin)
		require.Equal(t, http.StatusConflict, resp.StatusCode, "names are unique")
		require.Equal(t, 1, count(t, admin, "/v3/projects?name=quota-test", "projects"))
		resp, _ = do(t, http.MethodGet, srv.URL+"/v3/projects/"+got.Project.ID, nil, "X-Auth-Token", admin)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		resp, _ = do(t, http.MethodDelete, srv.URL+"/v3/projects/"+demoProj, nil, "X-Auth-Token", admin)
		require.Equal(t, http.StatusForbidden, resp.StatusCode, "configured projects stay")
		resp, _ = do(t, http.MethodDelete, srv.URL+"/v3/projects/"+got.Project.ID, nil, "X-Auth-Token", demo)
		require.Equal(t, http.StatusForbidden, resp.StatusCode)
		resp, _ = do(t, http.MethodDelete, srv.URL+"/v3/projects/"+got.Project.ID, nil, "X-Auth-Token", admin)
		require.Equal(t, http.StatusNoContent, resp.StatusCode)
		resp, _ = do(t, http.MethodGet, srv.URL+"/v3/projects/"+got.Project.ID, nil, "X-Auth-Token", admin)
		require.Equal(t, http.StatusNotFound, resp.StatusCode)
	})
}

func TestBuiltinKeyFileAndStableIDs(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "sub", "identity.pem")
	b1, srv1 := testBuiltin(t, BuiltinOptions{KeyFile: keyFile})
	st, err := os.Stat(keyFile)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	tok, _ := issue(t, srv1, "demo", "demopass", "demo")

	b2, _ := testBuiltin(t, BuiltinOptions{KeyFile: keyFile})
	ac, err := b2.VerifyToken(t.Context(), tok)
	require.NoError(t, err, "a restart with the same key keeps tokens valid")
	id1, _ := b1.ProjectID("demo")
	require.Equal(t, id1, ac.ProjectID)
	require.Len(t, id1, 32)

	other, _ := testBuiltin(t, BuiltinOptions{})
	_, err = other.VerifyToken(t.Context(), tok)
	require.ErrorIs(t, err, ErrInvalidToken, "another key rejects it")

	require.NoError(t, os.WriteFile(keyFile, []byte("junk"), 0o600))
	_, err = NewBuiltin(BuiltinOptions{KeyFile: keyFile}, nil)
	require.Error(t, err)
}

func TestNewBuiltinErrors(t *testing.T) {
	tests := map[string][]User{
		"no password": {{Name: "a", Project: "p"}},
		"no project":  {{Name: "a", Password: "x"}},
		"duplicate":   {{Name: "a", Password: "x", Project: "p"}, {Name: "a", Password: "y", Project: "p"}},
	}
	for name, users := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := NewBuiltin(BuiltinOptions{Users: users}, nil)
			require.Error(t, err)
		})
	}
}

func TestHashPassword(t *testing.T) {
	h, err := HashPassword("s3cret")
	require.NoError(t, err)
	u := &builtinUser{User: User{PasswordHash: h}}
	require.True(t, u.checkPassword("s3cret"))
	require.False(t, u.checkPassword("s3cret "))
	plain := &builtinUser{User: User{Password: "pw"}}
	require.True(t, plain.checkPassword("pw"))
	require.False(t, plain.checkPassword("PW"))
}

func TestBuiltinRevocationsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	opts := BuiltinOptions{KeyFile: filepath.Join(dir, "key.pem"), RevocationFile: filepath.Join(dir, "revoked")}
	b1, srv1 := testBuiltin(t, opts)
	gone, _ := issue(t, srv1, "demo", "demopass", "demo")
	kept, _ := issue(t, srv1, "demo", "demopass", "demo")
	require.NoError(t, b1.Revoke(gone))
	require.ErrorIs(t, b1.Revoke(gone), ErrInvalidToken, "already revoked")

	b2, _ := testBuiltin(t, opts)
	_, err := b2.VerifyToken(t.Context(), gone)
	require.ErrorIs(t, err, ErrInvalidToken)
	_, err = b2.VerifyToken(t.Context(), kept)
	require.NoError(t, err)

	later := opts
	later.Now = func() time.Time { return time.Now().Add(DefaultTokenTTL + time.Hour) }
	testBuiltin(t, later) // compacts: the revoked token has expired by then
	data, err := os.ReadFile(opts.RevocationFile)
	require.NoError(t, err)
	require.Empty(t, string(data))
}

// A verified token is answered from memory on later uses, but never past its revocation or its
// expiry.
func TestBuiltinVerifyCacheHonoursRevocationAndExpiry(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	b, srv := testBuiltin(t, BuiltinOptions{Now: clock, TokenTTL: time.Hour})
	ctx := context.Background()
	tok, _ := issue(t, srv, "demo", "demopass", "demo")
	first, err := b.VerifyToken(ctx, tok)
	require.NoError(t, err)
	again, err := b.VerifyToken(ctx, tok)
	require.NoError(t, err)
	require.Same(t, first, again, "the second use is answered from the cache")

	require.NoError(t, b.Revoke(tok))
	_, err = b.VerifyToken(ctx, tok)
	require.ErrorIs(t, err, ErrInvalidToken, "a revoked token is refused although it was cached")

	tok2, _ := issue(t, srv, "demo", "demopass", "demo")
	_, err = b.VerifyToken(ctx, tok2)
	require.NoError(t, err)
	now = now.Add(2 * time.Hour)
	_, err = b.VerifyToken(ctx, tok2)
	require.ErrorIs(t, err, ErrInvalidToken, "an expired token is refused although it was cached")
}
