package apiv3

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/model"
)

func TestVersionDocuments(t *testing.T) {
	e := newEnv(t)
	want := `{"versions":[{"id":"v3.0","status":"CURRENT","version":"3.70","min_version":"3.0","updated":"2022-08-31T00:00:00Z","links":[{"rel":"describedby","type":"text/html","href":"https://docs.openstack.org/"},{"rel":"self","href":"http://dlvm.test:8776/v3/"}],"media-types":[{"base":"application/json","type":"application/vnd.openstack.volume+json;version=3"}]}]}`
	for _, tc := range []struct {
		path string
		code int
	}{{"/", http.StatusMultipleChoices}, {"/v3/", http.StatusOK}, {"/v3", http.StatusOK}} {
		t.Run(tc.path, func(t *testing.T) {
			r := e.do("GET", tc.path, anon, "", nil) // no identity: public
			require.Equal(t, tc.code, r.code)
			require.JSONEq(t, want, string(r.body))
			req, _ := http.NewRequest("GET", tc.path, nil)
			require.True(t, IsPublic(req))
		})
	}
	req, _ := http.NewRequest("GET", "/v3/"+projA+"/volumes", nil)
	require.False(t, IsPublic(req))
}

func TestVersionDocumentHostDerived(t *testing.T) {
	h := New(newFakeService(), Options{Identity: HeaderIdentity})
	req, _ := http.NewRequest("GET", "/v3/", nil)
	req.Host = "10.1.2.3:8776"
	rec := newRecorder()
	h.ServeHTTP(rec, req)
	require.Contains(t, rec.Body.String(), `"href":"http://10.1.2.3:8776/v3/"`)
}

var reqIDRE = regexp.MustCompile(`^req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func TestCommonHeadersAndFaults(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name, method, path string
		as                 who
		ver                string
		code               int
		fault, msg         string
		echo               string
	}{
		{"unknown route", "GET", "/v3/" + projA + "/nothing", member, "3.40", 404, "itemNotFound", "could not be found", "volume 3.40"},
		{"outside v3", "GET", "/v2/" + projA + "/volumes", member, "", 404, "itemNotFound", "", "volume 3.0"},
		{"wrong method", "PATCH", "/v3/" + projA + "/volumes", member, "", 405, "badMethod", "", "volume 3.0"},
		{"malformed version", "GET", "/v3/" + projA + "/volumes", member, "3.x", 400, "badRequest", "invalid format", "volume 3.0"},
		{"version too high", "GET", "/v3/" + projA + "/volumes", member, "3.99", 406, "computeFault", "maximum is 3.70", "volume 3.0"},
		{"no identity", "GET", "/v3/" + projA + "/volumes", anon, "", 401, "unauthorized", "", "volume 3.0"},
		{"project mismatch", "GET", "/v3/" + projB + "/volumes", member, "", 400, "badRequest", "Malformed request url", "volume 3.0"},
		{"project mismatch admin", "GET", "/v3/" + projB + "/volumes", admin, "", 400, "badRequest", "Malformed request url", "volume 3.0"},
		{"projectless before 3.67", "GET", "/v3/volumes", member, "3.66", 404, "itemNotFound", "", "volume 3.66"},
		{"summary before 3.12", "GET", "/v3/" + projA + "/volumes/summary", member, "3.11", 404, "itemNotFound", "", "volume 3.11"},
		{"default type before 3.62", "GET", "/v3/" + projA + "/types/default", member, "3.61", 404, "itemNotFound", "", "volume 3.61"},
		{"name lookup", "GET", "/v3/" + projA + "/volumes/my-volume", member, "", 404, "itemNotFound", "Volume my-volume could not be found.", "volume 3.0"},
		{"snapshot name lookup", "GET", "/v3/" + projA + "/snapshots/snap1", member, "", 404, "itemNotFound", "Snapshot snap1 could not be found.", "volume 3.0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(tc.method, tc.path, tc.as, tc.ver, nil)
			requireFault(t, r, tc.code, tc.fault, tc.msg)
			require.Equal(t, tc.echo, r.hdr.Get("OpenStack-API-Version"))
			require.Equal(t, "OpenStack-API-Version", r.hdr.Get("Vary"))
			require.Regexp(t, reqIDRE, r.hdr.Get("x-openstack-request-id"))
		})
	}
}

func TestProjectlessURLs(t *testing.T) {
	e := newEnv(t)
	v := e.createVolume(member, map[string]any{"size": 1})
	r := e.do("GET", "/v3/volumes/"+v["id"].(string), member, "3.67", nil)
	require.Equal(t, http.StatusOK, r.code, "%s", r.body)
	self := r.json(t)["volume"].(map[string]any)["links"].([]any)[0].(map[string]any)["href"]
	require.Equal(t, "http://dlvm.test:8776/v3/volumes/"+v["id"].(string), self)
	require.Equal(t, "volume 3.67", r.hdr.Get("OpenStack-API-Version"))
}

func TestErrorTable(t *testing.T) {
	tests := []struct {
		err  error
		code int
		name string
	}{
		{model.Wrap(model.ErrInvalid, errSecret, "Invalid volume: bad"), 400, "badRequest"},
		{fmt.Errorf("lookup: %w", model.Wrap(model.ErrNotFound, errSecret, "Volume x could not be found.")), 404, "itemNotFound"},
		{model.Wrap(model.ErrConflict, errSecret, "in use"), 409, "conflictingRequest"},
		{&model.QuotaError{Resource: "volumes", Limit: 3}, 413, "overLimit"},
		{model.Wrap(model.ErrForbidden, errSecret, "no"), 403, "forbidden"},
		{model.Wrap(model.ErrUnavailable, errSecret, "later"), 503, "serviceUnavailable"},
		{fmt.Errorf("%w: %w", model.ErrUnavailable, errSecret), 503, "serviceUnavailable"},
		{errSecret, 500, "computeFault"},
		{&fault{http.StatusUnsupportedMediaType, "Unsupported Content-Type"}, 415, "badMediaType"},
		{&fault{http.StatusNotImplemented, "x"}, 501, "notImplemented"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder()
			req, _ := http.NewRequest("GET", "/", nil)
			writeFault(rec, req, New(nil, Options{}).log, tc.err)
			require.Equal(t, tc.code, rec.Code)
			var m map[string]map[string]any
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &m))
			require.EqualValues(t, tc.code, m[tc.name]["code"])
			require.NotEmpty(t, m[tc.name]["message"])
			require.NotContains(t, rec.Body.String(), "SECRET")
		})
	}
	q := &model.QuotaError{Resource: "volumes", Limit: 3}
	_, msg := errorStatus(q)
	require.Contains(t, msg, "exceeded")
	require.True(t, errors.Is(q, model.ErrQuotaExceeded))
}

func TestPanicIsComputeFault(t *testing.T) {
	h := New(panicService{newFakeService()}, Options{Identity: HeaderIdentity})
	req, _ := http.NewRequest("GET", "/v3/os-availability-zone", nil)
	req.Header.Set("X-Project-Id", projA)
	req.Header.Set("OpenStack-API-Version", "volume 3.67")
	rec := newRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, 500, rec.Code)
	require.Contains(t, rec.Body.String(), "computeFault")
	require.NotContains(t, rec.Body.String(), "boom")
	require.Equal(t, "volume 3.67", rec.Header().Get("OpenStack-API-Version"))
}

type panicService struct{ *fakeService }

func (panicService) AvailabilityZones(context.Context) ([]string, error) { panic("boom") }
