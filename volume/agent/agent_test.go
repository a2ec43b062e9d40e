package agent

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume/pool"
)

const mib = int64(1) << 20

type env struct {
	pool   *pool.File
	client *Client
	srv    *httptest.Server
}

func newEnv(t *testing.T, opts ServerOptions, poolOpts pool.FileOptions) *env {
	t.Helper()
	p, err := pool.NewFile(t.TempDir(), poolOpts)
	require.NoError(t, err)
	srv := httptest.NewServer(NewServer(p, opts, nil).Handler())
	t.Cleanup(srv.Close)
	return &env{pool: p, client: NewClient(srv.URL, srv.Client(), opts.Token), srv: srv}
}

func (e *env) read(t *testing.T, id string, off int64, n int) []byte {
	t.Helper()
	buf := make([]byte, n)
	got, err := e.client.ReadAt(context.Background(), id, buf, off)
	require.NoError(t, err)
	require.Equal(t, n, got)
	return buf
}

func TestAgentLifecycle(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, ServerOptions{Name: "dpv1", DVG: "gold", Location: "rack1"}, pool.FileOptions{NoReflink: true})
	c := e.client
	old, newer := bytes.Repeat([]byte("old!"), 1024), bytes.Repeat([]byte("new!"), 1024)

	info, err := c.CreateLeg(ctx, "vol", 4*mib)
	require.NoError(t, err)
	require.Equal(t, pool.LegInfo{ID: "vol", SizeBytes: 4 * mib}, info)
	_, err = c.CreateLeg(ctx, "vol", 4*mib)
	require.NoError(t, err, "create is idempotent")
	require.Equal(t, make([]byte, 4096), e.read(t, "vol", 0, 4096))

	n, err := c.WriteAt(ctx, "vol", old, mib)
	require.NoError(t, err)
	require.Equal(t, len(old), n)
	snap, err := c.SnapshotLeg(ctx, "snap", "vol")
	require.NoError(t, err)
	require.True(t, snap.Snapshot)
	_, err = c.SnapshotLeg(ctx, "snap", "vol")
	require.NoError(t, err, "snapshot is idempotent")
	_, err = c.WriteAt(ctx, "vol", newer, mib)
	require.NoError(t, err)

	clone, err := c.CloneLeg(ctx, "clone", "snap", 8*mib)
	require.NoError(t, err)
	require.Equal(t, 8*mib, clone.SizeBytes)
	require.Equal(t, old, e.read(t, "clone", mib, len(old)), "clone of a snapshot has snapshot-time bytes")
	require.Equal(t, old, e.read(t, "snap", mib, len(old)))
	require.Equal(t, newer, e.read(t, "vol", mib, len(newer)), "source has the newest bytes")

	ext, err := c.ExtendLeg(ctx, "vol", 16*mib)
	require.NoError(t, err)
	require.Equal(t, 16*mib, ext.SizeBytes)
	require.Equal(t, newer, e.read(t, "vol", mib, len(newer)), "extend keeps data")
	require.Equal(t, make([]byte, 4096), e.read(t, "vol", 15*mib, 4096))

	// A read across the end is short with io.EOF, like io.ReaderAt.
	buf := make([]byte, 8192)
	n, err = c.ReadAt(ctx, "vol", buf, 16*mib-4096)
	require.ErrorIs(t, err, io.EOF)
	require.Equal(t, 4096, n)

	in, err := c.Info(ctx)
	require.NoError(t, err)
	require.Equal(t, "dpv1", in.Name)
	require.Equal(t, "gold", in.DVG)
	require.Equal(t, "rack1", in.Location)
	require.Equal(t, "file", in.PoolType)
	require.Equal(t, 3, in.Legs)
	require.Equal(t, 28*mib, in.ProvisionedBytes)
	require.Positive(t, in.TotalBytes)
	require.Positive(t, in.FreeBytes)

	legs, err := c.ListLegs(ctx)
	require.NoError(t, err)
	require.Len(t, legs, 3)

	for range 2 {
		require.NoError(t, c.DeleteLeg(ctx, "vol"), "delete is idempotent")
	}
	_, err = c.GetLeg(ctx, "vol")
	require.ErrorIs(t, err, model.ErrNotFound)
	require.Equal(t, old, e.read(t, "clone", mib, len(old)), "clones outlive their source")
}

func TestAgentErrors(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, ServerOptions{MaxDataBytes: mib}, pool.FileOptions{})
	c := e.client
	_, err := c.CreateLeg(ctx, "vol", 2*mib)
	require.NoError(t, err)
	_, err = c.SnapshotLeg(ctx, "snap", "vol")
	require.NoError(t, err)

	raw := func(method, path, body string) error {
		req, err := http.NewRequestWithContext(ctx, method, e.srv.URL+path, bytes.NewBufferString(body))
		require.NoError(t, err)
		resp, err := e.srv.Client().Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return fromWire(resp.StatusCode, data)
	}
	tests := []struct {
		name string
		op   func() error
		want error
	}{
		{"get missing", func() error { _, err := c.GetLeg(ctx, "nope"); return err }, model.ErrNotFound},
		{"create other size", func() error { _, err := c.CreateLeg(ctx, "vol", 4*mib); return err }, model.ErrConflict},
		{"create invalid id", func() error { _, err := c.CreateLeg(ctx, "bad_id", mib); return err }, model.ErrInvalid},
		{"create dotted id", func() error { return raw(http.MethodPut, "/v1/legs/a.b", `{"size_bytes":1048576}`) }, model.ErrInvalid},
		{"create traversal id", func() error { return raw(http.MethodPut, "/v1/legs/..%2Fx", `{"size_bytes":1048576}`) }, model.ErrNotFound},
		{"create bad size", func() error { _, err := c.CreateLeg(ctx, "x", 123); return err }, model.ErrInvalid},
		{"clone missing source", func() error { _, err := c.CloneLeg(ctx, "x", "nope", mib); return err }, model.ErrNotFound},
		{"extend missing", func() error { _, err := c.ExtendLeg(ctx, "nope", mib); return err }, model.ErrNotFound},
		{"extend snapshot", func() error { _, err := c.ExtendLeg(ctx, "snap", 4*mib); return err }, model.ErrConflict},
		{"write snapshot", func() error { _, err := c.WriteAt(ctx, "snap", []byte("x"), 0); return err }, model.ErrConflict},
		{"write past end", func() error { _, err := c.WriteAt(ctx, "vol", []byte("xy"), 2*mib-1); return err }, model.ErrInvalid},
		{"write above limit", func() error { _, err := c.WriteAt(ctx, "vol", make([]byte, mib+1), 0); return err }, model.ErrInvalid},
		{"read above limit", func() error { _, err := c.ReadAt(ctx, "vol", make([]byte, mib+1), 0); return err }, model.ErrInvalid},
		{"read missing", func() error { _, err := c.ReadAt(ctx, "nope", make([]byte, 1), 0); return err }, model.ErrNotFound},
		{"snapshot without source", func() error { return raw(http.MethodPut, "/v1/legs/s2", `{"snapshot":true}`) }, model.ErrInvalid},
		{"unknown field", func() error { return raw(http.MethodPut, "/v1/legs/s2", `{"size":1}`) }, model.ErrInvalid},
		{"bad offset", func() error { return raw(http.MethodGet, "/v1/legs/vol/data?offset=-1", "") }, model.ErrInvalid},
		{"no route", func() error { return raw(http.MethodGet, "/v2/x", "") }, model.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.op()
			require.ErrorIs(t, err, tt.want)
			require.NotEmpty(t, model.UserMessage(err))
		})
	}

	t.Run("client checks ids", func(t *testing.T) {
		_, err := c.GetLeg(ctx, "..")
		require.ErrorIs(t, err, model.ErrInvalid)
		var re *RemoteError
		require.NotErrorAs(t, err, &re, "rejected before sending")
	})
	t.Run("server errors are remote", func(t *testing.T) {
		_, err := c.GetLeg(ctx, "nope")
		var re *RemoteError
		require.ErrorAs(t, err, &re)
		require.Equal(t, 404, re.Status)
		require.Equal(t, "not_found", re.Kind)
	})
	t.Run("unreachable agent", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		srv.Close()
		_, err := NewClient(srv.URL, nil, "").Info(ctx)
		require.ErrorIs(t, err, model.ErrUnavailable)
	})
	t.Run("internal error has no kind", func(t *testing.T) {
		err := fromWire(500, []byte(`{"error":{"kind":"internal","message":"m","detail":"lvm failed"}}`))
		for _, k := range []error{model.ErrNotFound, model.ErrConflict, model.ErrInvalid, model.ErrUnavailable} {
			require.NotErrorIs(t, err, k)
		}
		require.Contains(t, err.Error(), "lvm failed")
	})
}

func TestAgentToken(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, ServerOptions{Token: "s3cret"}, pool.FileOptions{})
	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"right token", "s3cret", nil},
		{"wrong token", "guess", model.ErrForbidden},
		{"no token", "", model.ErrForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := "vol-" + strings.ReplaceAll(tt.name, " ", "-")
			_, err := NewClient(e.srv.URL, nil, tt.token).CreateLeg(ctx, id, mib)
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.want)
			var re *RemoteError
			require.ErrorAs(t, err, &re)
			require.Equal(t, http.StatusUnauthorized, re.Status)
			_, err = e.pool.Stat(ctx, id)
			require.ErrorIs(t, err, model.ErrNotFound, "a refused call does nothing")
		})
	}
}

// TestAgentSparseClone checks that a clone made by the copy path (no reflink) keeps the
// source's holes: only the written extents get allocated.
func TestAgentSparseClone(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, ServerOptions{}, pool.FileOptions{NoReflink: true})
	c := e.client
	_, err := c.CreateLeg(ctx, "src", 256*mib)
	require.NoError(t, err)
	data := bytes.Repeat([]byte{0xa5}, int(mib))
	for _, off := range []int64{0, 100 * mib, 255 * mib} {
		_, err := c.WriteAt(ctx, "src", data, off)
		require.NoError(t, err)
	}
	_, err = c.SnapshotLeg(ctx, "snap", "src")
	require.NoError(t, err)
	clone, err := c.CloneLeg(ctx, "clone", "snap", 512*mib)
	require.NoError(t, err)
	for _, id := range []string{"snap", "clone"} {
		info, err := e.pool.Stat(ctx, id)
		require.NoError(t, err)
		require.GreaterOrEqual(t, info.AllocatedBytes, 3*mib, id)
		require.LessOrEqual(t, info.AllocatedBytes, 4*mib, "%s: holes must stay holes", id)
	}
	require.Equal(t, 512*mib, clone.SizeBytes)
	require.Equal(t, data, e.read(t, "clone", 100*mib, int(mib)))
	require.Equal(t, make([]byte, mib), e.read(t, "clone", 200*mib, int(mib)))
}
