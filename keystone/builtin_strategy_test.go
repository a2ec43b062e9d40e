package keystone

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestBuiltinStrategy(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	b, srv := testBuiltin(t, BuiltinOptions{TokenTTL: time.Hour, Now: func() time.Time { return clock() }})
	m, err := NewMiddleware(MiddlewareOptions{Strategy: StrategyBuiltin, Verifier: b,
		WWWAuthenticateURI: srv.URL}, nil)
	require.NoError(t, err)
	h := m.Wrap(okHandler())

	demo, _ := issue(t, srv, "demo", "demopass", "demo")
	admin, _ := issue(t, srv, "admin", "adminpass", "admin")
	revoked, _ := issue(t, srv, "demo", "demopass", "demo")
	require.NoError(t, b.Revoke(revoked))
	_, otherSrv := testBuiltin(t, BuiltinOptions{})
	forged, _ := issue(t, otherSrv, "demo", "demopass", "demo") // same claims, other key
	demoProj, _ := b.ProjectID("demo")

	t.Run("valid member", func(t *testing.T) {
		rec, ac := serve(t, h, http.MethodGet, "/v3/"+demoProj+"/volumes", demo)
		require.Equal(t, http.StatusOK, rec.Code)
		require.Equal(t, demoProj, ac.ProjectID)
		require.Equal(t, "demo", ac.ProjectName)
		require.Equal(t, "demo", ac.UserName)
		require.Equal(t, []string{"member", "reader"}, ac.Roles)
		require.False(t, ac.IsAdmin)
		require.WithinDuration(t, now.Add(time.Hour), ac.ExpiresAt, time.Second)
	})
	t.Run("valid admin", func(t *testing.T) {
		_, ac := serve(t, h, http.MethodGet, "/v3/volumes", admin)
		require.True(t, ac.IsAdmin)
	})
	for name, tok := range map[string]string{
		"revoked": revoked, "forged": forged, "garbage": "abc", "tampered": demo[:len(demo)-3] + "xyz",
	} {
		t.Run(name, func(t *testing.T) {
			rec, _ := serve(t, h, http.MethodGet, "/v3/volumes", tok)
			requireUnauthorized(t, rec, srv.URL)
		})
	}
	t.Run("expired", func(t *testing.T) {
		clock = func() time.Time { return now.Add(time.Hour + time.Second) }
		rec, _ := serve(t, h, http.MethodGet, "/v3/volumes", demo)
		requireUnauthorized(t, rec, srv.URL)
	})
}
