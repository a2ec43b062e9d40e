package agent

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume/pool"
	"github.com/dlvm-project/dlvm/volume/target"
)

// fakeTarget is an in-memory target.Target: leg -> device and allowed initiators.
type fakeTarget struct {
	mu      sync.Mutex
	devs    map[string]string
	acl     map[string][]string
	resized []string // legs Resize was called for while exported
}

func newFakeTarget() *fakeTarget {
	return &fakeTarget{devs: map[string]string{}, acl: map[string][]string{}}
}

func (f *fakeTarget) Export(_ context.Context, leg, dev string) (target.Export, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.devs[leg] = dev
	return target.Export{IQN: "iqn.test:" + leg, LUN: 1, Portal: "127.0.0.1:3260"}, nil
}

func (f *fakeTarget) Allow(_ context.Context, leg string, a target.Access) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.devs[leg]; !ok {
		return model.Errorf(model.ErrNotFound, "no target")
	}
	if !slices.Contains(f.acl[leg], a.InitiatorIQN) {
		f.acl[leg] = append(f.acl[leg], a.InitiatorIQN)
	}
	return nil
}

func (f *fakeTarget) Deny(_ context.Context, leg, initiator string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.acl[leg] = slices.DeleteFunc(f.acl[leg], func(s string) bool { return s == initiator })
	return nil
}

func (f *fakeTarget) Unexport(_ context.Context, leg string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.devs, leg)
	delete(f.acl, leg)
	return nil
}

func (f *fakeTarget) Resize(_ context.Context, leg, dev string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.devs[leg]; ok {
		f.resized = append(f.resized, leg)
	}
	return nil
}

func (f *fakeTarget) List(context.Context) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for id := range f.devs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids, nil
}

func (f *fakeTarget) Initiators(_ context.Context, leg string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.acl[leg]), nil
}

type exportEnv struct {
	pool   *pool.File
	client *Client
	state  string // exports.json path
}

func newExportEnv(t *testing.T, tgt target.Target) *exportEnv {
	t.Helper()
	dir := t.TempDir()
	p, err := pool.NewFile(dir, pool.FileOptions{NoReflink: true})
	require.NoError(t, err)
	statePath := filepath.Join(dir, "exports.json")
	st, err := target.OpenState(statePath)
	require.NoError(t, err)
	srv := httptest.NewServer(NewServer(p, ServerOptions{Name: "dpv1", Target: tgt, Exports: st}, nil).Handler())
	t.Cleanup(srv.Close)
	return &exportEnv{pool: p, client: NewClient(srv.URL, srv.Client(), ""), state: statePath}
}

var (
	accX = target.Access{InitiatorIQN: "iqn.2026-11.test:host-x", CHAPUser: "userx", CHAPSecret: "secret-of-x-123"}
	accY = target.Access{InitiatorIQN: "iqn.2026-11.test:host-y", CHAPUser: "usery", CHAPSecret: "secret-of-y-123"}
)

func TestExportsWithoutTarget(t *testing.T) {
	e := newEnv(t, ServerOptions{}, pool.FileOptions{})
	ctx := context.Background()
	_, err := e.client.CreateLeg(ctx, "leg1", mib)
	require.NoError(t, err)
	_, err = e.client.ExportLeg(ctx, "leg1", accX)
	require.ErrorIs(t, err, model.ErrInvalid)
	var re *RemoteError
	require.ErrorAs(t, err, &re)
	require.Equal(t, http.StatusNotImplemented, re.Status)
	require.NoError(t, e.client.DeleteLeg(ctx, "leg1"), "delete works without a target")
}

func TestExportStateAndResync(t *testing.T) {
	ctx := context.Background()
	ft := newFakeTarget()
	e := newExportEnv(t, ft)
	c := e.client
	for _, id := range []string{"leg1", "leg2"} {
		_, err := c.CreateLeg(ctx, id, mib)
		require.NoError(t, err)
	}

	tests := []struct {
		name    string
		leg     string
		a       target.Access
		wantErr error
	}{
		{"ok", "leg1", accX, nil},
		{"again", "leg1", accX, nil},
		{"second initiator", "leg1", accY, nil},
		{"missing leg", "nope", accX, model.ErrNotFound},
		{"bad initiator", "leg1", target.Access{InitiatorIQN: "-oops"}, model.ErrInvalid},
		{"short secret", "leg1", target.Access{InitiatorIQN: accX.InitiatorIQN, CHAPUser: "u", CHAPSecret: "x"}, model.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exp, err := c.ExportLeg(ctx, tt.leg, tt.a)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, target.Export{IQN: "iqn.test:" + tt.leg, LUN: 1, Portal: "127.0.0.1:3260"}, exp)
		})
	}
	require.Equal(t, e.pool.DevicePath("leg1"), ft.devs["leg1"])
	got, err := c.Exports(ctx)
	require.NoError(t, err)
	require.Equal(t, []target.LegExports{{LegID: "leg1", Access: []target.Access{accX, accY}}}, got)

	// The state is on disk (0600: it holds CHAP secrets) and reloads.
	fi, err := os.Stat(e.state)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	st, err := target.OpenState(e.state)
	require.NoError(t, err)
	require.Equal(t, got, st.Legs())

	require.NoError(t, c.UnexportInitiator(ctx, "leg1", accY.InitiatorIQN))
	require.NoError(t, c.UnexportInitiator(ctx, "leg1", accY.InitiatorIQN), "missing initiator is fine")
	require.Equal(t, []string{accX.InitiatorIQN}, ft.acl["leg1"])

	// Resync: leg2 is missing from the target (rebuilt); leg1 is wanted with Y only (X denied);
	// a stray target is reported, not removed.
	_, err = ft.Export(ctx, "stray", "/dev/null")
	require.NoError(t, err)
	res, err := c.Resync(ctx, []target.LegExports{
		{LegID: "leg1", Access: []target.Access{accY}},
		{LegID: "leg2", Access: []target.Access{accX}},
		{LegID: "gone", Access: []target.Access{accX}},
	})
	require.NoError(t, err)
	require.Equal(t, []string{"leg2"}, res.Rebuilt)
	require.Equal(t, []string{"stray"}, res.Unknown)
	require.Len(t, res.Failed, 1)
	require.Equal(t, "gone", res.Failed[0].LegID)
	require.Equal(t, []string{accY.InitiatorIQN}, ft.acl["leg1"])
	require.Contains(t, ft.devs, "stray", "resync never deletes unknown targets")
	got, err = c.Exports(ctx)
	require.NoError(t, err)
	require.Equal(t, []target.LegExports{
		{LegID: "leg1", Access: []target.Access{accY}},
		{LegID: "leg2", Access: []target.Access{accX}},
	}, got)

	// A leg named with no access is unexported; UnexportLeg and DeleteLeg unexport too.
	_, err = c.Resync(ctx, []target.LegExports{{LegID: "leg2"}})
	require.NoError(t, err)
	require.NotContains(t, ft.devs, "leg2")
	require.NoError(t, c.UnexportLeg(ctx, "leg2"), "missing is fine")
	require.NoError(t, c.DeleteLeg(ctx, "leg1"))
	require.NotContains(t, ft.devs, "leg1")
	got, err = c.Exports(ctx)
	require.NoError(t, err)
	require.Empty(t, got)
}

// TestExtendResizesExport: extending an exported leg resizes its LUN; an unexported leg only
// grows in the pool.
func TestExtendResizesExport(t *testing.T) {
	ctx := context.Background()
	ft := newFakeTarget()
	e := newExportEnv(t, ft)
	for _, id := range []string{"leg1", "leg2"} {
		_, err := e.client.CreateLeg(ctx, id, 4*mib)
		require.NoError(t, err)
	}
	_, err := e.client.ExportLeg(ctx, "leg1", accX)
	require.NoError(t, err)
	for _, id := range []string{"leg1", "leg2"} {
		info, err := e.client.ExtendLeg(ctx, id, 8*mib)
		require.NoError(t, err)
		require.EqualValues(t, 8*mib, info.SizeBytes)
	}
	require.Equal(t, []string{"leg1"}, ft.resized)
}
