package target

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/internal/runner"
	"github.com/dlvm-project/dlvm/model"
)

const lioRoot = "/sys/kernel/config/target"

func newTestLIO(t *testing.T) (*LIO, *MemFS) {
	t.Helper()
	m := &MemFS{Root: lioRoot}
	m.AddDevice("/dev/vg/dlvm-leg1", true, 64<<20)
	m.AddDevice("/srv/legs/leg2", false, 32<<20)
	l, err := NewLIO(LIOOptions{Portal: "10.0.0.5:3260", IQNPrefix: "iqn.2026-11.dev.dlvm:", FS: m})
	require.NoError(t, err)
	return l, m
}

var alice = Access{InitiatorIQN: "iqn.1993-08.org.debian:01:alice", CHAPUser: "alice", CHAPSecret: "alice-secret-123"}

// TestLIOGolden pins the configfs operations of a full export/allow/deny/unexport cycle and
// shows that every step repeated changes nothing.
func TestLIOGolden(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name, leg, dev string
		golden         string
	}{
		{"iblock", "leg1", "/dev/vg/dlvm-leg1", "testdata/lio_iblock.golden"},
		{"fileio", "leg2", "/srv/legs/leg2", "testdata/lio_fileio.golden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, m := newTestLIO(t)
			var ops []string
			step := func(name string, f func() error) {
				m.ResetOps()
				require.NoError(t, f(), name)
				ops = append(ops, "# "+name)
				ops = append(ops, m.Ops()...)
				// Repeating is idempotent: only attribute rewrites, no new objects.
				m.ResetOps()
				require.NoError(t, f(), name+" again")
				for _, op := range m.Ops() {
					require.True(t, strings.HasPrefix(op, "write "), "%s again did %q", name, op)
				}
			}
			step("export", func() error {
				e, err := l.Export(ctx, tt.leg, tt.dev)
				require.Equal(t, Export{IQN: "iqn.2026-11.dev.dlvm:" + tt.leg, LUN: 1, Portal: "10.0.0.5:3260"}, e)
				return err
			})
			step("allow", func() error { return l.Allow(ctx, tt.leg, alice) })
			legs, err := l.List(ctx)
			require.NoError(t, err)
			require.Equal(t, []string{tt.leg}, legs)
			step("deny", func() error { return l.Deny(ctx, tt.leg, alice.InitiatorIQN) })
			step("allow again", func() error { return l.Allow(ctx, tt.leg, alice) })
			step("unexport", func() error { return l.Unexport(ctx, tt.leg) })
			legs, err = l.List(ctx)
			require.NoError(t, err)
			require.Empty(t, legs)
			runner.Golden(t, tt.golden, ops)
		})
	}
}

func TestLIOErrors(t *testing.T) {
	ctx := context.Background()
	boom := errors.New("boom")
	tests := []struct {
		name string
		run  func(l *LIO, m *MemFS) error
		want error
	}{
		{"bad leg id", func(l *LIO, _ *MemFS) error { _, err := l.Export(ctx, "../x", "/dev/vg/dlvm-leg1"); return err }, model.ErrInvalid},
		{"missing device", func(l *LIO, _ *MemFS) error { _, err := l.Export(ctx, "leg1", "/dev/nope"); return err }, model.ErrNotFound},
		{"allow before export", func(l *LIO, _ *MemFS) error { return l.Allow(ctx, "leg1", alice) }, model.ErrNotFound},
		{"bad initiator", func(l *LIO, _ *MemFS) error { return l.Deny(ctx, "leg1", "bad name") }, model.ErrInvalid},
		{"other device", func(l *LIO, m *MemFS) error {
			if _, err := l.Export(ctx, "leg1", "/dev/vg/dlvm-leg1"); err != nil {
				return err
			}
			m.AddDevice("/dev/vg/other", true, 1<<20)
			_, err := l.Export(ctx, "leg1", "/dev/vg/other")
			return err
		}, model.ErrConflict},
		{"configfs failure is wrapped", func(l *LIO, m *MemFS) error {
			m.Fail = func(op string) error {
				if strings.HasPrefix(op, "mkdir iscsi/") {
					return boom
				}
				return nil
			}
			_, err := l.Export(ctx, "leg1", "/dev/vg/dlvm-leg1")
			return err
		}, boom},
		{"missing leg unexport is fine", func(l *LIO, _ *MemFS) error { return l.Unexport(ctx, "leg9") }, nil},
		{"missing acl deny is fine", func(l *LIO, _ *MemFS) error { return l.Deny(ctx, "leg9", alice.InitiatorIQN) }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, m := newTestLIO(t)
			err := tt.run(l, m)
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.want)
		})
	}
	_, err := NewLIO(LIOOptions{Portal: "nope"})
	require.ErrorIs(t, err, model.ErrInvalid)
}

// TestMemFSOrder shows the fake refuses out-of-order teardown, so the golden order means something.
func TestMemFSOrder(t *testing.T) {
	m := &MemFS{}
	require.NoError(t, m.Mkdir("/a"))
	require.NoError(t, m.Mkdir("/a/b"))
	require.NoError(t, m.WriteFile("/a/attr", "1"))
	require.Error(t, m.Remove("/a"))
	require.NoError(t, m.Remove("/a/b"))
	require.NoError(t, m.Remove("/a"))
}

// TestLIOResizeGolden: a fileio object gets the grown file's size through its control
// attribute; an iblock object follows its device by itself; an unexported leg is left alone.
func TestLIOResizeGolden(t *testing.T) {
	ctx := context.Background()
	l, m := newTestLIO(t)
	var ops []string
	for _, tt := range []struct{ leg, dev string }{{"leg1", "/dev/vg/dlvm-leg1"}, {"leg2", "/srv/legs/leg2"}} {
		_, err := l.Export(ctx, tt.leg, tt.dev)
		require.NoError(t, err)
		m.AddDevice(tt.dev, tt.leg == "leg1", 128<<20) // the leg grew
		m.ResetOps()
		require.NoError(t, l.Resize(ctx, tt.leg, tt.dev))
		ops = append(ops, "# resize "+tt.leg)
		ops = append(ops, m.Ops()...)
	}
	m.ResetOps()
	require.NoError(t, l.Resize(ctx, "leg3", "/srv/legs/leg3"))
	require.Empty(t, m.Ops(), "an unexported leg is not touched")
	runner.Golden(t, "testdata/lio_resize.golden", ops)
}
