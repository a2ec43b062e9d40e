package target

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/internal/runner"
	"github.com/dlvm-project/dlvm/model"
)

const (
	admPrefix   = "tgtadm --lld iscsi -C 3270 "
	showTargets = admPrefix + "--mode target --op show"
	showAccts   = admPrefix + "--mode account --op show"
	host1       = "iqn.1994-05.com.redhat:host1"
	host2       = "iqn.1994-05.com.redhat:host2"
)

func readFixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return string(b)
}

func newTestTgt(rec *runner.Recorder) *Tgt {
	return NewTgt(TgtOptions{Portal: "10.0.0.5:3260", ControlPort: 3270, Runner: rec})
}

func TestParseTgtShow(t *testing.T) {
	ts, err := parseTgtShow(readFixture(t, "show_two.txt"))
	require.NoError(t, err)
	require.Equal(t, []tgtTarget{
		{
			TID: 1, IQN: "iqn.2026-11.dev.dlvm:leg-a",
			Nexus: []tgtNexus{{SID: 4, Initiator: host1, CIDs: []int{0}}, {SID: 5, Initiator: host2, CIDs: []int{0, 1}}},
			LUNs:  map[int]string{0: "None", 1: "/srv/dlvm/legs/leg-a.img"},
			// the outgoing account is not an incoming CHAP user
			Accounts: []string{"host1user", "host2user"},
			ACLs:     []string{host1, host2},
		},
		{TID: 3, IQN: "iqn.2010-10.org.openstack:volume-foreign", LUNs: map[int]string{0: "None"},
			Accounts: []string{"host1user"}, ACLs: []string{"ALL"}},
	}, ts)
	require.Equal(t, 2, lowestFreeTID(ts))
	require.Equal(t, []string{"u1", "u2"}, parseAccounts("Account list:\n    u1\n    u2\n    o (outgoing)\n")[:2])

	empty, err := parseTgtShow("")
	require.NoError(t, err)
	require.Empty(t, empty)
	require.Equal(t, 1, lowestFreeTID(empty))

	_, err = parseTgtShow("Target x: iqn.a\n")
	require.Error(t, err)
}

// TestTgtGolden runs every operation against scripted tgtadm answers and compares the exact
// command lines with testdata/tgt_<name>.golden.
func TestTgtGolden(t *testing.T) {
	two := readFixture(t, "show_two.txt")
	ctx := context.Background()
	chap1 := Access{InitiatorIQN: host1, CHAPUser: "host1user", CHAPSecret: "secret-host-1"}
	tests := []struct {
		name    string
		script  func(r *runner.Recorder)
		run     func(tg *Tgt) error
		wantErr error
	}{
		{"export_new", func(r *runner.Recorder) {}, func(tg *Tgt) error {
			exp, err := tg.Export(ctx, "leg-b", "/srv/dlvm/legs/leg-b.img")
			require.Equal(t, Export{IQN: "iqn.2026-11.dev.dlvm:leg-b", LUN: 1, Portal: "10.0.0.5:3260"}, exp)
			return err
		}, nil},
		{"export_lowest_free_tid", func(r *runner.Recorder) { r.On(showTargets, runner.Reply{Stdout: two}) },
			func(tg *Tgt) error { _, err := tg.Export(ctx, "leg-b", "/dev/vg/leg-b"); return err }, nil},
		{"export_existing", func(r *runner.Recorder) { r.On(showTargets, runner.Reply{Stdout: two}) },
			func(tg *Tgt) error { _, err := tg.Export(ctx, "leg-a", "/srv/dlvm/legs/leg-a.img"); return err }, nil},
		{"export_other_device", func(r *runner.Recorder) { r.On(showTargets, runner.Reply{Stdout: two}) },
			func(tg *Tgt) error { _, err := tg.Export(ctx, "leg-a", "/srv/other.img"); return err }, model.ErrConflict},
		{"export_lun_fails_undo", func(r *runner.Recorder) {
			r.On(admPrefix+"--mode logicalunit", runner.Reply{Err: &runner.ExitError{Code: 22}})
		}, func(tg *Tgt) error { _, err := tg.Export(ctx, "leg-b", "/missing"); return err }, errAny},
		{"allow_new_chap", func(r *runner.Recorder) {
			r.On(showTargets, runner.Reply{Stdout: "Target 2: iqn.2026-11.dev.dlvm:leg-b\n"})
		}, func(tg *Tgt) error { return tg.Allow(ctx, "leg-b", chap1) }, nil},
		{"allow_replaces_unknown_account", func(r *runner.Recorder) {
			r.On(showTargets, runner.Reply{Stdout: two})
			r.On(showAccts, runner.Reply{Stdout: "Account list:\n    host1user\n    host2user\n"})
		}, func(tg *Tgt) error { return tg.Allow(ctx, "leg-a", chap1) }, nil},
		{"allow_again_is_quiet", func(r *runner.Recorder) {
			r.Once(showTargets, runner.Reply{Stdout: "Target 2: iqn.2026-11.dev.dlvm:leg-b\n"})
			r.On(showTargets, runner.Reply{Stdout: "Target 2: iqn.2026-11.dev.dlvm:leg-b\n    Account information:\n        host1user\n    ACL information:\n        " + host1 + "\n"})
			r.Once(showAccts, runner.Reply{Stdout: "Account list:\n"})
			r.On(showAccts, runner.Reply{Stdout: "Account list:\n    host1user\n"})
		}, func(tg *Tgt) error {
			require.NoError(t, tg.Allow(ctx, "leg-b", chap1))
			return tg.Allow(ctx, "leg-b", chap1)
		}, nil},
		{"allow_no_chap", func(r *runner.Recorder) {
			r.On(showTargets, runner.Reply{Stdout: "Target 2: iqn.2026-11.dev.dlvm:leg-b\n"})
		}, func(tg *Tgt) error { return tg.Allow(ctx, "leg-b", Access{InitiatorIQN: host2}) }, nil},
		{"allow_missing_target", func(r *runner.Recorder) {},
			func(tg *Tgt) error { return tg.Allow(ctx, "leg-b", chap1) }, model.ErrNotFound},
		{"allow_invalid", func(r *runner.Recorder) {}, func(tg *Tgt) error {
			return tg.Allow(ctx, "leg-b", Access{InitiatorIQN: "iqn.x:h", CHAPUser: "u", CHAPSecret: "short"})
		}, model.ErrInvalid},
		{"deny_closes_sessions", func(r *runner.Recorder) {
			r.On(showTargets, runner.Reply{Stdout: two})
			r.On(showAccts, runner.Reply{Stdout: "Account list:\n    host1user\n    host2user\n"})
		}, func(tg *Tgt) error {
			require.NoError(t, tg.Allow(ctx, "leg-a", Access{InitiatorIQN: host2, CHAPUser: "host2user", CHAPSecret: "secret-host-2"}))
			return tg.Deny(ctx, "leg-a", host2)
		}, nil},
		{"deny_shared_account_stays", func(r *runner.Recorder) {
			r.On(showTargets, runner.Reply{Stdout: two})
			r.On(showAccts, runner.Reply{Stdout: "Account list:\n    host1user\n    host2user\n"})
		}, func(tg *Tgt) error {
			// host1user is also bound to target 3: unbound from leg-a, not deleted.
			require.NoError(t, tg.Allow(ctx, "leg-a", chap1))
			return tg.Deny(ctx, "leg-a", host1)
		}, nil},
		{"deny_missing", func(r *runner.Recorder) {}, func(tg *Tgt) error { return tg.Deny(ctx, "leg-b", host1) }, nil},
		{"unexport", func(r *runner.Recorder) { r.On(showTargets, runner.Reply{Stdout: two}) },
			func(tg *Tgt) error { return tg.Unexport(ctx, "leg-a") }, nil},
		{"unexport_missing", func(r *runner.Recorder) {}, func(tg *Tgt) error { return tg.Unexport(ctx, "leg-a") }, nil},
		{"unexport_retries_busy", func(r *runner.Recorder) {
			r.On(showTargets, runner.Reply{Stdout: two})
			r.Once(admPrefix+"--mode target --op delete", runner.Reply{Err: &runner.ExitError{Code: 22}})
		}, func(tg *Tgt) error { return tg.Unexport(ctx, "leg-a") }, nil},
		{"list", func(r *runner.Recorder) { r.On(showTargets, runner.Reply{Stdout: two}) }, func(tg *Tgt) error {
			ids, err := tg.List(ctx)
			require.Equal(t, []string{"leg-a"}, ids, "foreign targets are not listed")
			return err
		}, nil},
		{"daemon_down", func(r *runner.Recorder) {
			r.On(showTargets, runner.Reply{Err: &runner.ExitError{Code: tgtadmNotConnected}})
		}, func(tg *Tgt) error { _, err := tg.List(ctx); return err }, model.ErrUnavailable},
		{"ensure_daemon_adopts", func(r *runner.Recorder) {}, func(tg *Tgt) error {
			err := tg.EnsureDaemon(ctx)
			require.False(t, tg.Started(), "an answering tgtd is adopted, not started")
			tg.Stop() // leaves an adopted tgtd alone
			return err
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &runner.Recorder{}
			tt.script(rec)
			err := tt.run(newTestTgt(rec))
			switch tt.wantErr {
			case nil:
				require.NoError(t, err)
			case errAny:
				require.Error(t, err)
			default:
				require.ErrorIs(t, err, tt.wantErr)
			}
			runner.Golden(t, filepath.Join("testdata", "tgt_"+tt.name+".golden"), rec.Lines())
		})
	}
}

// errAny marks a case that must fail without a particular kind.
var errAny = model.Errorf(nil, "any error")

// TestTgtResizeGolden: a resize re-creates LUN 1 over the same backing store (target, ACLs and
// sessions stay), retries a LUN busy with commands, and leaves an unexported leg alone.
func TestTgtResizeGolden(t *testing.T) {
	two := readFixture(t, "show_two.txt")
	ctx := context.Background()
	tests := []struct {
		name    string
		script  func(r *runner.Recorder)
		dev     string
		wantErr error
	}{
		{"resize", func(r *runner.Recorder) { r.On(showTargets, runner.Reply{Stdout: two}) }, "/srv/dlvm/legs/leg-a.img", nil},
		{"resize_retries_busy", func(r *runner.Recorder) {
			r.On(showTargets, runner.Reply{Stdout: two})
			r.Once(admPrefix+"--mode logicalunit --op delete", runner.Reply{Err: &runner.ExitError{Code: 22}})
		}, "/srv/dlvm/legs/leg-a.img", nil},
		{"resize_not_exported", func(r *runner.Recorder) {}, "/srv/dlvm/legs/leg-a.img", nil},
		{"resize_other_device", func(r *runner.Recorder) { r.On(showTargets, runner.Reply{Stdout: two}) }, "/srv/other.img", model.ErrConflict},
		{"resize_daemon_down", func(r *runner.Recorder) {
			r.On(showTargets, runner.Reply{Stdout: two})
			r.On(admPrefix+"--mode logicalunit", runner.Reply{Err: &runner.ExitError{Code: tgtadmNotConnected}})
		}, "/srv/dlvm/legs/leg-a.img", model.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &runner.Recorder{}
			tt.script(rec)
			err := newTestTgt(rec).Resize(ctx, "leg-a", tt.dev)
			if tt.wantErr == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, tt.wantErr)
			}
			runner.Golden(t, filepath.Join("testdata", "tgt_"+tt.name+".golden"), rec.Lines())
		})
	}
}
