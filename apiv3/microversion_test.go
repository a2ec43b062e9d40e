package apiv3

import (
	"errors"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRequestVersion(t *testing.T) {
	tests := []struct {
		name   string
		hdr    map[string]string
		want   Version
		status int // 0: no error
	}{
		{"none", nil, Version{3, 0}, 0},
		{"plain", map[string]string{"OpenStack-API-Version": "volume 3.44"}, Version{3, 44}, 0},
		{"latest", map[string]string{"OpenStack-API-Version": "volume latest"}, MaxVersion, 0},
		{"max", map[string]string{"OpenStack-API-Version": "volume 3.70"}, MaxVersion, 0},
		{"list", map[string]string{"OpenStack-API-Version": "compute 2.1, volume 3.12"}, Version{3, 12}, 0},
		{"other service only", map[string]string{"OpenStack-API-Version": "compute 2.1"}, Version{3, 0}, 0},
		{"legacy header", map[string]string{"X-OpenStack-Volume-API-Version": "3.27"}, Version{3, 27}, 0},
		{"new header wins", map[string]string{"OpenStack-API-Version": "volume 3.5", "X-OpenStack-Volume-API-Version": "3.27"}, Version{3, 5}, 0},
		{"too high", map[string]string{"OpenStack-API-Version": "volume 3.71"}, Version{}, http.StatusNotAcceptable},
		{"v2", map[string]string{"OpenStack-API-Version": "volume 2.0"}, Version{}, http.StatusNotAcceptable},
		{"v4", map[string]string{"OpenStack-API-Version": "volume 4.0"}, Version{}, http.StatusNotAcceptable},
		{"leading zero", map[string]string{"OpenStack-API-Version": "volume 3.01"}, Version{}, http.StatusBadRequest},
		{"garbage", map[string]string{"OpenStack-API-Version": "volume abc"}, Version{}, http.StatusBadRequest},
		{"no minor", map[string]string{"OpenStack-API-Version": "volume 3"}, Version{}, http.StatusBadRequest},
		{"missing version", map[string]string{"OpenStack-API-Version": "volume"}, Version{}, http.StatusBadRequest},
		{"huge", map[string]string{"OpenStack-API-Version": "volume 3.99999999999999999999"}, Version{}, http.StatusBadRequest},
		{"legacy garbage", map[string]string{"X-OpenStack-Volume-API-Version": "x.y"}, Version{}, http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tc.hdr {
				h.Set(k, v)
			}
			got, err := RequestVersion(h)
			if tc.status == 0 {
				require.NoError(t, err)
				require.Equal(t, tc.want, got)
				return
			}
			var ve *versionError
			require.True(t, errors.As(err, &ve), "err %v", err)
			require.Equal(t, tc.status, ve.status)
		})
	}
}

func TestVersionOutOfRangeMessage(t *testing.T) {
	e := newEnv(t)
	r := e.do("GET", "/v3/"+projA+"/volumes", member, "3.71", nil)
	requireFault(t, r, http.StatusNotAcceptable, "computeFault",
		"Version 3.71 is not supported by the API. Minimum is 3.0 and maximum is 3.70.")
	require.Equal(t, "volume 3.0", r.hdr.Get("OpenStack-API-Version"))
}

// FuzzMicroversion: no header value makes the handler answer 5xx or panic, and every answer
// carries the version headers.
func FuzzMicroversion(f *testing.F) {
	for _, s := range []string{"volume 3.0", "volume latest", "volume 3.70", "volume 3.71", "volume 3.-1",
		"volume 03.1", "compute 2.1, volume 3.5", "volume", "", "volume 3.1 extra", "volume\t3.2", ",,,"} {
		f.Add(s)
	}
	e := newEnv(&testing.T{})
	f.Fuzz(func(t *testing.T, s string) {
		e.t = t
		req, _ := http.NewRequest("GET", "/v3/"+projA+"/volumes", nil)
		req.Header.Set("X-Project-Id", projA)
		req.Header.Set("X-Roles", "member")
		req.Header["Openstack-Api-Version"] = []string{s}
		rec := newRecorder()
		e.h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q: %s", rec.Code, s, rec.Body)
		}
		if rec.Header().Get("OpenStack-API-Version") == "" || rec.Header().Get("x-openstack-request-id") == "" {
			t.Fatalf("missing headers for %q", s)
		}
	})
}
