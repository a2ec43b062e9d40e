package kernel

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/connector"
	"github.com/dlvm-project/dlvm/internal/runner"
	"github.com/dlvm-project/dlvm/model"
)

func newTestEngine(t *testing.T) (*Engine, *world, *runner.Recorder) {
	t.Helper()
	w, r := newWorld()
	return New(Options{Runner: r, Poll: 1}), w, r
}

// TestAttachDetachGolden pins the command lines and tables of attach, a repeated attach (adopts
// what exists, creates nothing) and detach for 1x1, 2x1 and 2x2 plans; detach leaves nothing.
func TestAttachDetachGolden(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name             string
		stripes, mirrors int
		wantDM           int
	}{
		{"1x1", 1, 1, 3},
		{"2x1", 2, 1, 4},
		{"2x2", 2, 2, 12},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e, w, r := newTestEngine(t)
			p := testPlan(tt.stripes, tt.mirrors)
			var lines []string
			a, err := e.Attach(ctx, p)
			require.NoError(t, err)
			require.Equal(t, &connector.Attached{VolumeID: "vol1", DevicePath: "/dev/mapper/dlvm-vol1"}, a)
			require.Len(t, w.dm, tt.wantDM)
			lines = append(append(lines, "# attach"), r.Lines()...)
			r.Reset()
			_, err = e.Attach(ctx, p)
			require.NoError(t, err)
			for _, l := range r.Lines() {
				require.NotContains(t, l, "dmsetup create", "a repeated attach creates nothing")
			}
			lines = append(append(lines, "# attach again"), r.Lines()...)
			r.Reset()
			require.NoError(t, e.Detach(ctx, "vol1"))
			require.True(t, w.empty(), "detach leaves no dm device and no session")
			require.NoError(t, e.Detach(ctx, "vol1"), "detaching again is fine")
			lines = append(append(lines, "# detach, twice"), r.Lines()...)
			runner.Golden(t, "testdata/attach_"+tt.name+".golden", lines)
		})
	}
}

// TestAttachRollback: a failure at any step leaves no session and no dm device behind.
func TestAttachRollback(t *testing.T) {
	ctx := context.Background()
	boom := errors.New("boom")
	for _, prefix := range []string{
		"iscsiadm -m node -T iqn.2026-11.dev.dlvm:leg-g1-m1 -p 10.0.0.2:3260 --login",
		"dmsetup create dlvm-vol1-g1 ",
		"dmsetup create dlvm-vol1-stripe",
		"dmsetup create dlvm-vol1 ",
	} {
		t.Run(prefix, func(t *testing.T) {
			e, w, r := newTestEngine(t)
			r.On(prefix, runner.Reply{Err: boom})
			_, err := e.Attach(ctx, testPlan(2, 2))
			require.ErrorIs(t, err, boom)
			require.True(t, w.empty(), "rollback removed everything: %v %v", w.dm, w.sessions)
			_, err = e.Health(ctx, "vol1")
			require.ErrorIs(t, err, model.ErrNotFound)
		})
	}
	t.Run("disk never appears", func(t *testing.T) {
		e, w, r := newTestEngine(t)
		e.opts.DeviceTimeout = 1
		r.On("iscsiadm -m session -P 3", runner.Reply{Stdout: "iSCSI Transport Class version 2.0-870\n"})
		_, err := e.Attach(ctx, testPlan(1, 2))
		require.ErrorIs(t, err, model.ErrUnavailable)
		require.True(t, w.empty())
	})
	t.Run("leg too small for metadata", func(t *testing.T) {
		e, w, _ := newTestEngine(t)
		p := testPlan(1, 2)
		p.Legs[1].SizeBytes = 64 * mib
		_, err := e.Attach(ctx, p)
		require.ErrorIs(t, err, model.ErrInvalid)
		require.True(t, w.empty())
	})
}

// TestReplaceLegGolden: a failed leg shows in Health, ReplaceLeg rebuilds it with dm-raid's
// rebuild and the old leg is logged out; the replacement reports resyncing until in sync.
func TestReplaceLegGolden(t *testing.T) {
	ctx := context.Background()
	e, w, r := newTestEngine(t)
	p := testPlan(2, 2)
	_, err := e.Attach(ctx, p)
	require.NoError(t, err)
	r.Reset()
	w.status["dlvm-vol1-g1"] = "0 65536 raid raid1 2 AD 65536/65536 idle 0 0 -"
	h, err := e.Health(ctx, "vol1")
	require.NoError(t, err)
	require.Equal(t, []string{"ok", "ok", "ok", "failed"}, states(h))
	require.Equal(t, "leg-g1-m1", h[3].LegID)

	nl := testLeg("leg-new", 0, 0, p.Legs[3].SizeBytes)
	nl.Portal = "10.0.0.3:3260"
	require.NoError(t, e.ReplaceLeg(ctx, "vol1", "leg-g1-m1", nl))
	runner.Golden(t, "testdata/replace_2x2.golden", r.Lines())
	r.Reset()
	require.NoError(t, e.ReplaceLeg(ctx, "vol1", "leg-g1-m1", nl), "repeating is a no-op")
	require.Empty(t, r.Lines())

	w.status["dlvm-vol1-g1"] = "0 65536 raid raid1 2 Aa 1024/65536 recover 0 0 -"
	h, err = e.Health(ctx, "vol1")
	require.NoError(t, err)
	require.Equal(t, []string{"ok", "ok", "ok", "resyncing"}, states(h))
	require.Equal(t, connector.LegHealth{LegID: "leg-new", State: "resyncing", Message: "1024/65536 recover"}, h[3])

	require.ErrorIs(t, e.ReplaceLeg(ctx, "vol1", "leg-gone", testLeg("leg-x", 0, 0, mib)), model.ErrNotFound)
	require.NoError(t, e.Detach(ctx, "vol1"))
	require.True(t, w.empty())
}

func states(h []connector.LegHealth) []string {
	var s []string
	for _, x := range h {
		s = append(s, x.State)
	}
	return s
}

// TestExtendGolden: extend reloads bottom-up (raid groups suspended while their metadata moves)
// and refuses while a group is out of sync.
func TestExtendGolden(t *testing.T) {
	ctx := context.Background()
	e, w, r := newTestEngine(t)
	p := testPlan(2, 2)
	_, err := e.Attach(ctx, p)
	require.NoError(t, err)

	big := testPlan(2, 2)
	big.SizeBytes = 96 * mib
	size, err := LegBytes(big)
	require.NoError(t, err)
	for i := range big.Legs {
		big.Legs[i].SizeBytes = size
	}
	w.status["dlvm-vol1-g0"] = "0 65536 raid raid1 2 Aa 1024/65536 recover 0 0 -"
	require.ErrorIs(t, e.Extend(ctx, big), model.ErrConflict)
	delete(w.status, "dlvm-vol1-g0")
	r.Reset()
	require.NoError(t, e.Extend(ctx, big))
	runner.Golden(t, "testdata/extend_2x2.golden", r.Lines())
	require.ErrorIs(t, e.Extend(ctx, p), model.ErrInvalid, "no shrinking")
}

func TestQuiesce(t *testing.T) {
	ctx := context.Background()
	e, _, r := newTestEngine(t)
	resume, err := e.Quiesce(ctx, "vol1")
	require.NoError(t, err)
	resume()
	resume()
	require.Equal(t, []string{"dmsetup suspend dlvm-vol1", "dmsetup resume dlvm-vol1"}, r.Lines())
	_, err = e.Quiesce(ctx, "../x")
	require.ErrorIs(t, err, model.ErrInvalid)
}
