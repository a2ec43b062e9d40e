package apiv3

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// errSecret is an internal cause that must never reach a client.
var errSecret = errors.New("SECRET: lvcreate failed on 10.0.0.7 with SQL SELECT * FROM volumes")

const (
	projA = "0c9a2b6b5a6e4ee6b2c1d8a8a7f3a111"
	projB = "1d8b3c7c6b7f4ff7c3d2e9b9b8a4b222"
	userA = "2e7c4d8d7c804008d4e3f0c0c9b5c333"
)

type tenv struct {
	t   *testing.T
	svc *fakeService
	h   *Handler
}

func newEnv(t *testing.T) *tenv {
	t.Helper()
	svc := newFakeService()
	return &tenv{t: t, svc: svc, h: New(svc, Options{Identity: HeaderIdentity, PublicURL: "http://dlvm.test:8776"})}
}

type who struct {
	project string
	roles   string
}

var (
	member = who{projA, "member,reader"}
	reader = who{projA, "reader"}
	admin  = who{projA, "admin,member,reader"}
	other  = who{projB, "member"}
	anon   = who{}
)

type resp struct {
	code int
	hdr  http.Header
	body []byte
}

func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.body, &m), "body: %s", r.body)
	return m
}

// do sends a request; body may be nil, a string (sent raw) or a value (JSON-encoded).
// ver "" sends no microversion header.
func (e *tenv) do(method, path string, as who, ver string, body any) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		require.NoError(e.t, err)
		rd = bytes.NewReader(raw)
	}
	req := httptest.NewRequest(method, path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if as.project != "" {
		req.Header.Set("X-Project-Id", as.project)
		req.Header.Set("X-User-Id", userA)
		req.Header.Set("X-Roles", as.roles)
	}
	if ver != "" {
		req.Header.Set("OpenStack-API-Version", "volume "+ver)
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return resp{rec.Code, rec.Header(), rec.Body.Bytes()}
}

// requireFault checks a fault response's status, name and (if non-empty) message substring.
func requireFault(t *testing.T, r resp, code int, name, msg string) {
	t.Helper()
	require.Equal(t, code, r.code, "body: %s", r.body)
	require.Equal(t, "application/json", r.hdr.Get("Content-Type"))
	m := r.json(t)
	f, ok := m[name].(map[string]any)
	require.True(t, ok, "fault %q missing in %s", name, r.body)
	require.EqualValues(t, code, f["code"])
	require.Contains(t, f["message"], msg)
	require.NotContains(t, string(r.body), "SECRET")
}

func (e *tenv) createVolume(as who, body map[string]any) map[string]any {
	e.t.Helper()
	r := e.do("POST", "/v3/"+as.project+"/volumes", as, "", map[string]any{"volume": body})
	require.Equal(e.t, http.StatusAccepted, r.code, "body: %s", r.body)
	return r.json(e.t)["volume"].(map[string]any)
}

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

func httptestRequest(method, path, body string) *http.Request {
	return httptest.NewRequest(method, path, strings.NewReader(body))
}
