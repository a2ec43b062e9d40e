package keystone

import (
	"crypto/ecdsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"
)

// Integration tests against real upstream Keystones started by
// testdata/start-test-keystones.sh (the Makefile's test target exports its env file).

// realKeystone describes one running Keystone.
type realKeystone struct {
	url, jwsKeys, demoPass, svcUser, svcPass string
}

// requireKeystones returns the Keystones from the environment. Without them the test skips, or
// fails when DLVM_REQUIRE_KEYSTONE=1.
func requireKeystones(t *testing.T) (fernet, jws realKeystone) {
	t.Helper()
	env := func(k, def string) string {
		if v := os.Getenv(k); v != "" {
			return v
		}
		return def
	}
	fernet.url, jws.url, jws.jwsKeys = os.Getenv("KEYSTONE_FERNET_URL"), os.Getenv("KEYSTONE_JWS_URL"), os.Getenv("KEYSTONE_JWS_KEYS")
	if fernet.url == "" || jws.url == "" || jws.jwsKeys == "" {
		msg := "KEYSTONE_FERNET_URL, KEYSTONE_JWS_URL and KEYSTONE_JWS_KEYS unset: run " +
			"keystone/testdata/start-test-keystones.sh DIR and source DIR/keystone.env"
		if os.Getenv("DLVM_REQUIRE_KEYSTONE") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	for _, k := range []*realKeystone{&fernet, &jws} {
		k.demoPass = env("KEYSTONE_DEMO_PASS", "demopass")
		k.svcUser = env("KEYSTONE_SERVICE_USER", "cinder")
		k.svcPass = env("KEYSTONE_SERVICE_PASS", "cinderpass")
	}
	return fernet, jws
}

// countingTransport counts validation calls (GET .../auth/tokens) that reach Keystone.
type countingTransport struct{ validations atomic.Int32 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/auth/tokens") {
		c.validations.Add(1)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// middleware builds a keystone-strategy middleware against k; cacheTTL < 0 disables the cache.
func (k realKeystone) middleware(t *testing.T, withJWS bool, cacheTTL time.Duration) (http.Handler, *countingTransport) {
	t.Helper()
	ct := &countingTransport{}
	opts := MiddlewareOptions{
		Strategy: StrategyKeystone, AuthURL: k.url + "/v3", WWWAuthenticateURI: k.url,
		Username: k.svcUser, Password: k.svcPass, ProjectName: "service",
		CacheTTL: cacheTTL, HTTPClient: &http.Client{Transport: ct, Timeout: 30 * time.Second},
	}
	if withJWS {
		opts.JWSPublicKeyRepository = k.jwsKeys
	}
	m, err := NewMiddleware(opts, nil)
	require.NoError(t, err)
	return m.Wrap(okHandler()), ct
}

// demoToken issues a token for demo in project demo on the real Keystone.
func (k realKeystone) demoToken(t *testing.T) (string, wireToken) {
	t.Helper()
	resp, body := do(t, http.MethodPost, k.url+"/v3/auth/tokens?nocatalog",
		passwordAuth("demo", k.demoPass, projectScope("demo")), "Content-Type", "application/json")
	require.Equal(t, http.StatusCreated, resp.StatusCode, string(body))
	var tb wireTokenBody
	require.NoError(t, json.Unmarshal(body, &tb))
	return resp.Header.Get("X-Subject-Token"), tb.Token
}

func TestRealKeystone(t *testing.T) {
	fernet, jws := requireKeystones(t)
	for _, tc := range []struct {
		name    string
		ks      realKeystone
		withJWS bool
	}{
		{"fernet", fernet, false},
		{"jws", jws, true},
		{"jws without local keys", jws, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, ct := tc.ks.middleware(t, tc.withJWS, 0)
			tok, body := tc.ks.demoToken(t)

			t.Run("demo token passes with its project and roles", func(t *testing.T) {
				rec, ac := serve(t, h, http.MethodGet, "/v3/"+body.Project.ID+"/volumes", tok)
				require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
				require.Equal(t, body.Project.ID, ac.ProjectID)
				require.Equal(t, "demo", ac.ProjectName)
				require.Equal(t, "demo", ac.UserName)
				require.Equal(t, body.User.ID, ac.UserID)
				require.ElementsMatch(t, []string{"member", "reader"}, ac.Roles)
				require.False(t, ac.IsAdmin)
				require.Equal(t, int32(1), ct.validations.Load())
			})
			t.Run("second request is served from the cache", func(t *testing.T) {
				rec, _ := serve(t, h, http.MethodGet, "/v3/volumes", tok)
				require.Equal(t, http.StatusOK, rec.Code)
				require.Equal(t, int32(1), ct.validations.Load())
			})
			t.Run("random token", func(t *testing.T) {
				rec, _ := serve(t, h, http.MethodGet, "/v3/volumes", "gAAAAABnotarealtoken"+strings.Repeat("x", 100))
				requireUnauthorized(t, rec, tc.ks.url)
			})
			t.Run("tampered token", func(t *testing.T) {
				rec, _ := serve(t, h, http.MethodGet, "/v3/volumes", tamper(tok))
				requireUnauthorized(t, rec, tc.ks.url)
			})
			t.Run("revoked token", func(t *testing.T) {
				victim, _ := tc.ks.demoToken(t)
				fresh, _ := tc.ks.middleware(t, tc.withJWS, -1) // no cache
				rec, _ := serve(t, fresh, http.MethodGet, "/v3/volumes", victim)
				require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
				resp, b := do(t, http.MethodDelete, tc.ks.url+"/v3/auth/tokens", nil,
					"X-Auth-Token", victim, "X-Subject-Token", victim)
				require.Equal(t, http.StatusNoContent, resp.StatusCode, string(b))
				rec, _ = serve(t, fresh, http.MethodGet, "/v3/volumes", victim)
				requireUnauthorized(t, rec, tc.ks.url)
			})
		})
	}

	t.Run("jws checked locally", func(t *testing.T) {
		h, ct := jws.middleware(t, true, 0)
		tok, _ := jws.demoToken(t)
		realKey := readPrivateKey(t, filepath.Join(filepath.Dir(jws.jwsKeys), "private", "private.pem"))
		wrongKey := writeECKeyPair(t, t.TempDir())
		cases := map[string]string{
			"expired, real key":           signJWS(t, realKey, time.Now().Add(-time.Minute)),
			"wrong key":                   signJWS(t, wrongKey, time.Now().Add(time.Hour)),
			"expired, wrong key":          signJWS(t, wrongKey, time.Now().Add(-time.Minute)),
			"payload with crafted expiry": withPayloadExp(t, tok, time.Now().Add(-time.Hour)),
			"tampered signature":          tamper(tok),
		}
		for name, bad := range cases {
			t.Run(name, func(t *testing.T) {
				rec, _ := serve(t, h, http.MethodGet, "/v3/volumes", bad)
				requireUnauthorized(t, rec, jws.url)
			})
		}
		require.Zero(t, ct.validations.Load(), "none of them reached Keystone")
		rec, _ := serve(t, h, http.MethodGet, "/v3/volumes", tok)
		require.Equal(t, http.StatusOK, rec.Code, "the genuine token still passes")
		require.Equal(t, int32(1), ct.validations.Load(), "and gets its roles from Keystone")
	})
}

// tamper flips characters inside the token's last part.
func tamper(tok string) string {
	b := []byte(tok)
	i := len(b) - 10
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

// withPayloadExp rewrites a JWS payload's exp, keeping the original signature.
func withPayloadExp(t *testing.T, tok string, exp time.Time) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	require.Len(t, parts, 3)
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var claims map[string]any
	require.NoError(t, json.Unmarshal(raw, &claims))
	claims["exp"] = exp.Unix()
	nb, err := json.Marshal(claims)
	require.NoError(t, err)
	parts[1] = base64.RawURLEncoding.EncodeToString(nb)
	return strings.Join(parts, ".")
}

func readPrivateKey(t *testing.T, path string) *ecdsa.PrivateKey {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	key, err := jwt.ParseECPrivateKeyFromPEM(b)
	require.NoError(t, err)
	return key
}
