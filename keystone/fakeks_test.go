package keystone

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"
)

// fakeKeystone is a minimal Keystone for unit tests of the keystone strategy: it issues service
// tokens for one account and validates the user tokens it was told about.
type fakeKeystone struct {
	srv *httptest.Server

	mu          sync.Mutex
	users       map[string]wireToken // user token -> body
	svcTokens   map[string]bool
	svcSerial   int
	svcLifetime time.Duration

	authCalls     atomic.Int32
	validateCalls atomic.Int32
}

func newFakeKeystone(t *testing.T) *fakeKeystone {
	t.Helper()
	f := &fakeKeystone{users: map[string]wireToken{}, svcTokens: map[string]bool{}, svcLifetime: time.Hour}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v3/auth/tokens", func(w http.ResponseWriter, r *http.Request) {
		f.authCalls.Add(1)
		var req authRequest
		require.NoError(t, json.NewDecoder(r.Body).Decode(&req))
		pu := req.Auth.Identity.Password.User
		if pu.Name != "cinder" || pu.Password != "secret" || pu.Domain == nil || pu.Domain.Name != "Default" {
			identityError(w, http.StatusUnauthorized, unauthorizedMessage)
			return
		}
		f.mu.Lock()
		f.svcSerial++
		tok := "svc-" + string(rune('a'+f.svcSerial))
		f.svcTokens[tok] = true
		life := f.svcLifetime
		f.mu.Unlock()
		w.Header().Set("X-Subject-Token", tok)
		writeJSON(w, http.StatusCreated, wireTokenBody{Token: wireToken{
			User: wireUser{ID: "cinder-id", Name: "cinder"}, ExpiresAt: formatTime(time.Now().Add(life)),
		}})
	})
	mux.HandleFunc("GET /v3/auth/tokens", func(w http.ResponseWriter, r *http.Request) {
		f.validateCalls.Add(1)
		f.mu.Lock()
		svcOK := f.svcTokens[r.Header.Get("X-Auth-Token")]
		body, found := f.users[r.Header.Get("X-Subject-Token")]
		f.mu.Unlock()
		switch {
		case !svcOK:
			identityError(w, http.StatusUnauthorized, unauthorizedMessage)
		case !found:
			identityError(w, http.StatusNotFound, "Could not find token.")
		default:
			writeJSON(w, http.StatusOK, wireTokenBody{Token: body})
		}
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// addUser registers a valid user token in project demo with the given roles.
func (f *fakeKeystone) addUser(token string, exp time.Time, roles ...string) {
	t := wireToken{
		Methods: []string{"password"}, User: wireUser{ID: "u1", Name: "demo", Domain: idName{ID: "default"}},
		Project:   &wireProject{ID: "p1", Name: "demo", Domain: idName{ID: "default"}},
		ExpiresAt: formatTime(exp),
	}
	for _, r := range roles {
		t.Roles = append(t.Roles, idName{ID: r + "-id", Name: r})
	}
	f.mu.Lock()
	f.users[token] = t
	f.mu.Unlock()
}

func (f *fakeKeystone) forgetServiceTokens() {
	f.mu.Lock()
	f.svcTokens = map[string]bool{}
	f.mu.Unlock()
}

// keystoneOpts are middleware options pointing at the fake.
func (f *fakeKeystone) keystoneOpts() MiddlewareOptions {
	return MiddlewareOptions{
		Strategy: StrategyKeystone, AuthURL: f.srv.URL + "/v3", WWWAuthenticateURI: "http://ks.example:5000",
		Username: "cinder", Password: "secret", ProjectName: "service",
	}
}

// writeECKeyPair writes a fresh P-256 public key into dir (as Keystone's jws-keys/public holds
// them) and returns the private half.
func writeECKeyPair(t *testing.T, dir string) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "public.pem"),
		pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644))
	return key
}

// signJWS signs Keystone-style JWS claims with key.
func signJWS(t *testing.T, key *ecdsa.PrivateKey, exp time.Time) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
		"sub": "u1", "iat": time.Now().Add(-time.Minute).Unix(), "exp": exp.Unix(),
		"openstack_methods": []string{"password"}, "openstack_audit_ids": []string{"abc"},
		"openstack_project_id": "p1",
	}).SignedString(key)
	require.NoError(t, err)
	return tok
}

// okHandler answers 200 with the auth context it received, as JSON.
func okHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ac, ok := FromContext(r.Context())
		if !ok {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		writeJSON(w, http.StatusOK, ac)
	})
}

// serve runs one request through h.
func serve(t *testing.T, h http.Handler, method, path, token string) (*httptest.ResponseRecorder, *Context) {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		return rec, nil
	}
	var ac Context
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &ac))
	return rec, &ac
}

// requireUnauthorized checks the exact 401 answer of the middleware.
func requireUnauthorized(t *testing.T, rec *httptest.ResponseRecorder, wwwAuth string) {
	t.Helper()
	require.Equal(t, http.StatusUnauthorized, rec.Code, rec.Body.String())
	require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	require.Equal(t, `Keystone uri="`+wwwAuth+`"`, rec.Header().Get("WWW-Authenticate"))
	require.JSONEq(t, `{"unauthorized":{"code":401,"message":"The request you have made requires authentication."}}`,
		rec.Body.String())
}
