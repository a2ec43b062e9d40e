package keystone

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestNoAuth(t *testing.T) {
	m, err := NewMiddleware(MiddlewareOptions{Strategy: StrategyNoAuth, WWWAuthenticateURI: "http://ks:5000"}, nil)
	require.NoError(t, err)
	h := m.Wrap(okHandler())
	tests := []struct {
		name, path, token  string
		wantCode           int
		wantUser, wantProj string
	}{
		{"user:project", "/v3/p9/volumes", "alice:p1", http.StatusOK, "alice", "p1"},
		{"any token, project from path", "/v3/p9/volumes/detail", "whatever", http.StatusOK, "admin", "p9"},
		{"any token, project-less path", "/v3/volumes", "whatever", http.StatusOK, "admin", "whatever"},
		{"os- collection is no project", "/v3/os-services", "tok", http.StatusOK, "admin", "tok"},
		{"no token", "/v3/p1/volumes", "", http.StatusUnauthorized, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec, ac := serve(t, h, http.MethodGet, tc.path, tc.token)
			if tc.wantCode == http.StatusUnauthorized {
				requireUnauthorized(t, rec, "http://ks:5000")
				return
			}
			require.Equal(t, tc.wantCode, rec.Code)
			require.Equal(t, tc.wantUser, ac.UserID)
			require.Equal(t, tc.wantProj, ac.ProjectID)
			require.ElementsMatch(t, []string{"admin", "member"}, ac.Roles)
			require.True(t, ac.IsAdmin)
		})
	}
}

func TestPublicPaths(t *testing.T) {
	f := newFakeKeystone(t)
	m, err := NewMiddleware(f.keystoneOpts(), nil)
	require.NoError(t, err)
	h := m.Wrap(okHandler())
	tests := []struct {
		method, path string
		public       bool
	}{
		{http.MethodGet, "/", true},
		{http.MethodGet, "/v3/", true},
		{http.MethodGet, "/v3", false},
		{http.MethodGet, "/v3/volumes", false},
		{http.MethodPost, "/", false},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			rec, _ := serve(t, h, tc.method, tc.path, "")
			if tc.public {
				require.Equal(t, http.StatusNoContent, rec.Code) // reached next, no auth context
				return
			}
			requireUnauthorized(t, rec, "http://ks.example:5000")
		})
	}
	require.Zero(t, f.authCalls.Load(), "public paths and missing tokens never call Keystone")
}

func TestKeystoneStrategy(t *testing.T) {
	f := newFakeKeystone(t)
	f.addUser("good", time.Now().Add(time.Hour), "member", "reader")
	f.addUser("admintok", time.Now().Add(time.Hour), "admin")
	m, err := NewMiddleware(f.keystoneOpts(), nil)
	require.NoError(t, err)
	h := m.Wrap(okHandler())

	t.Run("valid token", func(t *testing.T) {
		rec, ac := serve(t, h, http.MethodGet, "/v3/p1/volumes", "good")
		require.Equal(t, http.StatusOK, rec.Code)
		require.Equal(t, "u1", ac.UserID)
		require.Equal(t, "demo", ac.UserName)
		require.Equal(t, "p1", ac.ProjectID)
		require.Equal(t, "demo", ac.ProjectName)
		require.Equal(t, "default", ac.DomainID)
		require.Equal(t, []string{"member", "reader"}, ac.Roles)
		require.False(t, ac.IsAdmin)
		require.Equal(t, "good", ac.Token)
	})
	t.Run("cache hit avoids a second validation", func(t *testing.T) {
		before := f.validateCalls.Load()
		for range 3 {
			rec, _ := serve(t, h, http.MethodGet, "/v3/p1/volumes", "good")
			require.Equal(t, http.StatusOK, rec.Code)
		}
		require.Equal(t, before, f.validateCalls.Load())
		require.Equal(t, int32(1), f.authCalls.Load(), "one service token for all requests")
	})
	t.Run("admin role", func(t *testing.T) {
		_, ac := serve(t, h, http.MethodGet, "/v3/p1/volumes", "admintok")
		require.True(t, ac.IsAdmin)
		require.True(t, ac.HasRole("ADMIN"))
	})
	t.Run("unknown token, refusal cached", func(t *testing.T) {
		before := f.validateCalls.Load()
		for range 2 {
			rec, _ := serve(t, h, http.MethodGet, "/v3/p1/volumes", "nope")
			requireUnauthorized(t, rec, "http://ks.example:5000")
		}
		require.Equal(t, before+1, f.validateCalls.Load())
	})
	t.Run("rejected service token is renewed once", func(t *testing.T) {
		f.forgetServiceTokens()
		f.addUser("fresh", time.Now().Add(time.Hour), "member")
		rec, _ := serve(t, h, http.MethodGet, "/v3/p1/volumes", "fresh")
		require.Equal(t, http.StatusOK, rec.Code)
		require.Equal(t, int32(2), f.authCalls.Load())
	})
}

func TestKeystoneCacheBounds(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	f := newFakeKeystone(t)
	f.addUser("short", now.Add(30*time.Second), "member")
	f.addUser("long", now.Add(time.Hour), "member")
	opts := f.keystoneOpts()
	opts.Now = func() time.Time { return clock() }
	opts.CacheTTL = time.Minute
	opts.CacheSize = 1
	m, err := NewMiddleware(opts, nil)
	require.NoError(t, err)
	h := m.Wrap(okHandler())
	validate := func(tok string) int32 {
		before := f.validateCalls.Load()
		rec, _ := serve(t, h, http.MethodGet, "/v3/p1/volumes", tok)
		require.Equal(t, http.StatusOK, rec.Code)
		return f.validateCalls.Load() - before
	}
	require.Equal(t, int32(1), validate("long"))
	require.Equal(t, int32(0), validate("long"))
	clock = func() time.Time { return now.Add(61 * time.Second) }
	require.Equal(t, int32(1), validate("long"), "TTL elapsed")
	clock = func() time.Time { return now }
	require.Equal(t, int32(1), validate("short"), "evicts long (size 1)")
	require.Equal(t, int32(1), validate("long"), "was evicted")
	require.Equal(t, int32(1), validate("short"), "was evicted")
	clock = func() time.Time { return now.Add(31 * time.Second) }
	rec, _ := serve(t, h, http.MethodGet, "/v3/p1/volumes", "short")
	requireUnauthorized(t, rec, "http://ks.example:5000") // cache never outlives the token
}

func TestKeystoneNoCache(t *testing.T) {
	f := newFakeKeystone(t)
	f.addUser("good", time.Now().Add(time.Hour), "member")
	opts := f.keystoneOpts()
	opts.CacheTTL = -1
	m, err := NewMiddleware(opts, nil)
	require.NoError(t, err)
	h := m.Wrap(okHandler())
	for range 2 {
		rec, _ := serve(t, h, http.MethodGet, "/v3/p1/volumes", "good")
		require.Equal(t, http.StatusOK, rec.Code)
	}
	require.Equal(t, int32(2), f.validateCalls.Load())
}

func TestKeystoneUnavailable(t *testing.T) {
	tests := []struct {
		name  string
		setup func(f *fakeKeystone, o *MiddlewareOptions)
	}{
		{"keystone down", func(f *fakeKeystone, _ *MiddlewareOptions) { f.srv.Close() }},
		{"service credentials rejected", func(_ *fakeKeystone, o *MiddlewareOptions) { o.Password = "wrong" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeKeystone(t)
			f.addUser("good", time.Now().Add(time.Hour), "member")
			opts := f.keystoneOpts()
			opts.HTTPTimeout = 2 * time.Second
			tc.setup(f, &opts)
			m, err := NewMiddleware(opts, nil)
			require.NoError(t, err)
			rec, _ := serve(t, m.Wrap(okHandler()), http.MethodGet, "/v3/p1/volumes", "good")
			require.Equal(t, http.StatusServiceUnavailable, rec.Code)
			require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
			require.JSONEq(t, `{"serviceUnavailable":{"code":503,"message":"The identity service is temporarily unavailable."}}`,
				rec.Body.String())
		})
	}
}

func TestKeystoneJWSLocalChecks(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "public")
	key := writeECKeyPair(t, dir)
	other := writeECKeyPair(t, t.TempDir())
	f := newFakeKeystone(t)
	good := signJWS(t, key, time.Now().Add(time.Hour))
	f.addUser(good, time.Now().Add(time.Hour), "member")
	expired := signJWS(t, key, time.Now().Add(-time.Minute))
	f.addUser(expired, time.Now().Add(time.Hour), "member") // Keystone would say yes: never asked
	forged := signJWS(t, other, time.Now().Add(time.Hour))
	f.addUser(forged, time.Now().Add(time.Hour), "member")
	tampered := good[:len(good)-4] + "AAAA"
	f.addUser(tampered, time.Now().Add(time.Hour), "member")

	opts := f.keystoneOpts()
	opts.JWSPublicKeyRepository = dir
	m, err := NewMiddleware(opts, nil)
	require.NoError(t, err)
	h := m.Wrap(okHandler())
	for name, tok := range map[string]string{"expired": expired, "wrong key": forged, "tampered": tampered} {
		t.Run(name, func(t *testing.T) {
			rec, _ := serve(t, h, http.MethodGet, "/v3/p1/volumes", tok)
			requireUnauthorized(t, rec, "http://ks.example:5000")
		})
	}
	require.Zero(t, f.validateCalls.Load(), "bad JWS tokens never reach Keystone")
	require.Zero(t, f.authCalls.Load())

	t.Run("valid JWS still asks Keystone for roles, once", func(t *testing.T) {
		for range 2 {
			rec, ac := serve(t, h, http.MethodGet, "/v3/p1/volumes", good)
			require.Equal(t, http.StatusOK, rec.Code)
			require.Equal(t, []string{"member"}, ac.Roles)
			require.Equal(t, "p1", ac.ProjectID)
		}
		require.Equal(t, int32(1), f.validateCalls.Load())
	})
}

func TestNewMiddlewareErrors(t *testing.T) {
	tests := []struct {
		name string
		opts MiddlewareOptions
	}{
		{"unknown strategy", MiddlewareOptions{Strategy: "kerberos"}},
		{"builtin without verifier", MiddlewareOptions{Strategy: StrategyBuiltin}},
		{"keystone without auth_url", MiddlewareOptions{Strategy: StrategyKeystone, Username: "u", ProjectName: "p"}},
		{"missing key repository", MiddlewareOptions{Strategy: StrategyKeystone, AuthURL: "http://x", Username: "u",
			ProjectName: "p", JWSPublicKeyRepository: "/nonexistent/dlvm/keys"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewMiddleware(tc.opts, nil)
			require.Error(t, err)
		})
	}
}

func TestContextHelpers(t *testing.T) {
	_, ok := FromContext(context.Background())
	require.False(t, ok)
	ac := newContext(Context{UserID: "u", Roles: []string{"Member", "admin"}})
	got, ok := FromContext(WithContext(context.Background(), ac))
	require.True(t, ok)
	require.Same(t, ac, got)
	require.True(t, got.IsAdmin)
	require.True(t, got.HasRole("member"))
	require.False(t, got.HasRole("reader"))
	var nilCtx *Context
	require.False(t, nilCtx.HasRole("admin"))
}

func TestV3Root(t *testing.T) {
	for in, want := range map[string]string{
		"http://h:5000": "http://h:5000/v3", "http://h:5000/": "http://h:5000/v3",
		"http://h:5000/v3": "http://h:5000/v3", "http://h:5000/v3/": "http://h:5000/v3",
		"http://h/identity": "http://h/identity/v3",
	} {
		t.Run(in, func(t *testing.T) { require.Equal(t, want, v3Root(in)) })
	}
}
