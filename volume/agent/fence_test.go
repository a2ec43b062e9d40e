package agent

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/internal/agentauth"
	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume/pool"
)

// TestAgentSignedRequests replays, tampers with and forges signed requests on the wire: each
// is refused with 401 and changes nothing.
func TestAgentSignedRequests(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, ServerOptions{Token: "s3cret"}, pool.FileOptions{})
	signed := func(method, path string, body []byte, secret string) *http.Request {
		req, err := http.NewRequestWithContext(ctx, method, e.srv.URL+path, bytes.NewReader(body))
		require.NoError(t, err)
		agentauth.Sign(req, body, []byte(secret))
		return req
	}
	send := func(req *http.Request, body []byte) int {
		req.Body = io.NopCloser(bytes.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	body := []byte(`{"size_bytes":1048576}`)

	req := signed(http.MethodPut, "/v1/legs/a", body, "s3cret")
	require.Equal(t, http.StatusOK, send(req, body))
	require.Equal(t, http.StatusUnauthorized, send(req, body), "the same request again is a replay")

	req = signed(http.MethodPut, "/v1/legs/b", body, "s3cret")
	require.Equal(t, http.StatusUnauthorized, send(req, []byte(`{"size_bytes":2097152}`)), "another body")

	req = signed(http.MethodPut, "/v1/legs/b", body, "s3cret")
	req.URL.Path = "/v1/legs/c"
	require.Equal(t, http.StatusUnauthorized, send(req, body), "another path")

	req = signed(http.MethodPut, "/v1/legs/b", body, "s3cret")
	req.Header.Set(agentauth.HeaderTimestamp, "1000")
	require.Equal(t, http.StatusUnauthorized, send(req, body), "a timestamp outside the window")

	require.Equal(t, http.StatusUnauthorized, send(signed(http.MethodPut, "/v1/legs/b", body, "guess"), body), "another secret")

	legs, err := e.pool.ListLegs(ctx)
	require.NoError(t, err)
	require.Len(t, legs, 1, "only the one valid request made a leg")
	require.Equal(t, "a", legs[0].ID)
}

// TestAgentFence checks that a call carrying a lower epoch than one the agent has seen for the
// volume is refused (409, stale_epoch) and does nothing, that equal and higher ones pass, that
// unfenced reads pass, and that the fence survives an agent restart.
func TestAgentFence(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	fence, err := agentauth.OpenFence(filepath.Join(dir, "epochs.json"))
	require.NoError(t, err)
	e := newEnv(t, ServerOptions{Token: "k", Fence: fence}, pool.FileOptions{})
	c := e.client
	at := func(epoch int64) context.Context { return agentauth.WithEpoch(ctx, "vol-1", epoch) }

	_, err = c.CreateLeg(at(3), "leg-1", mib)
	require.NoError(t, err)
	_, err = c.ExtendLeg(at(3), "leg-1", 2*mib)
	require.NoError(t, err, "the same epoch again")

	_, err = c.ExtendLeg(at(2), "leg-1", 4*mib)
	require.ErrorIs(t, err, agentauth.ErrStaleEpoch)
	var re *RemoteError
	require.ErrorAs(t, err, &re)
	require.Equal(t, http.StatusConflict, re.Status)
	info, err := c.GetLeg(at(2), "leg-1")
	require.NoError(t, err, "reads are not fenced")
	require.Equal(t, 2*mib, info.SizeBytes, "the stale extend did nothing")
	require.ErrorIs(t, c.DeleteLeg(at(1), "leg-1"), agentauth.ErrStaleEpoch)

	_, err = c.CreateLeg(at(4), "leg-2", mib)
	require.NoError(t, err, "a newer owner")
	_, err = c.CreateLeg(at(3), "leg-3", mib)
	require.ErrorIs(t, err, agentauth.ErrStaleEpoch, "the old owner is fenced off")
	_, err = c.CreateLeg(agentauth.WithEpoch(ctx, "vol-2", 1), "leg-4", mib)
	require.NoError(t, err, "epochs are per volume")

	// A restarted agent reads the fence back.
	fence2, err := agentauth.OpenFence(filepath.Join(dir, "epochs.json"))
	require.NoError(t, err)
	require.Equal(t, int64(4), fence2.Highest("vol-1"))
	e2 := newEnv(t, ServerOptions{Token: "k", Fence: fence2}, pool.FileOptions{})
	_, err = e2.client.CreateLeg(at(3), "leg-5", mib)
	require.ErrorIs(t, err, agentauth.ErrStaleEpoch)
	_, err = e2.pool.Stat(ctx, "leg-5")
	require.ErrorIs(t, err, model.ErrNotFound)

	// A malformed epoch is a bad request.
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, e.srv.URL+"/v1/legs/leg-2", nil)
	require.NoError(t, err)
	req.Header.Set(agentauth.HeaderVolume, "vol-1")
	req.Header.Set(agentauth.HeaderEpoch, "x")
	agentauth.Sign(req, nil, []byte("k"))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
}
