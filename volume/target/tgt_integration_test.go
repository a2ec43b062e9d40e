package target

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// startRealTgt starts a private tgtd (random control port and loopback portal) through
// EnsureDaemon and stops it when the test ends. It skips when tgtd or root is missing.
func startRealTgt(t *testing.T, pingTimeout time.Duration) *Tgt {
	t.Helper()
	if _, err := exec.LookPath("tgtd"); err != nil {
		t.Skip("tgtd is not installed")
	}
	if os.Geteuid() != 0 {
		t.Skip("tgtd needs root")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	portal := l.Addr().String()
	require.NoError(t, l.Close())
	var ctl int
	for { // a control port no other tgtd uses (its socket lock would make ours exit)
		ctl = 10000 + rand.IntN(22000) // tgtd takes 0..32767
		if _, err := os.Stat(fmt.Sprintf("/var/run/tgtd/socket.%d", ctl)); os.IsNotExist(err) {
			break
		}
	}
	tg := NewTgt(TgtOptions{Portal: portal, ControlPort: ctl, IQNPrefix: "iqn.2026-11.dev.dlvm.test:",
		PingTimeout: pingTimeout, Log: slog.New(slog.NewTextHandler(t.Output(), nil))})
	require.NoError(t, tg.EnsureDaemon(context.Background()))
	t.Cleanup(func() {
		tg.Stop()
		_ = os.Remove(fmt.Sprintf("/var/run/tgtd/socket.%d", ctl))
		_ = os.Remove(fmt.Sprintf("/var/run/tgtd/socket.%d.lock", ctl))
	})
	return tg
}

// readCapacity runs libiscsi's iscsi-readcapacity16 as initiator against LUN 1 of iqn and
// returns the size it reports.
func readCapacity(t *testing.T, tg *Tgt, initiator, user, secret, iqn string) (string, error) {
	t.Helper()
	if _, err := exec.LookPath("iscsi-readcapacity16"); err != nil {
		t.Skip("libiscsi-bin is not installed")
	}
	cred := ""
	if user != "" {
		cred = user + "%" + secret + "@"
	}
	url := fmt.Sprintf("iscsi://%s%s/%s/1", cred, tg.Portal(), iqn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "iscsi-readcapacity16", "-s", "-i", initiator, url).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func TestTgtRealDaemon(t *testing.T) {
	tg := startRealTgt(t, 0)
	ctx := context.Background()
	require.True(t, tg.Started())
	require.NoError(t, tg.EnsureDaemon(ctx), "EnsureDaemon is idempotent")

	dev := filepath.Join(t.TempDir(), "leg1.img")
	require.NoError(t, os.WriteFile(dev, nil, 0o600))
	require.NoError(t, os.Truncate(dev, 64<<20))
	const (
		hostX = "iqn.2026-11.test:host-x"
		hostY = "iqn.2026-11.test:host-y"
	)
	ax := Access{InitiatorIQN: hostX, CHAPUser: "userx", CHAPSecret: "secret-of-x-123"}

	exp, err := tg.Export(ctx, "leg1", dev)
	require.NoError(t, err)
	require.Equal(t, Export{IQN: "iqn.2026-11.dev.dlvm.test:leg1", LUN: 1, Portal: tg.Portal()}, exp)
	again, err := tg.Export(ctx, "leg1", dev)
	require.NoError(t, err)
	require.Equal(t, exp, again)
	require.NoError(t, tg.Allow(ctx, "leg1", ax))
	require.NoError(t, tg.Allow(ctx, "leg1", ax), "Allow is idempotent")

	tests := []struct {
		name, initiator, user, secret string
		ok                            bool
	}{
		{"allowed with CHAP", hostX, "userx", "secret-of-x-123", true},
		{"wrong secret", hostX, "userx", "secret-of-x-999", false},
		{"no CHAP", hostX, "", "", false},
		{"initiator not allowed", hostY, "userx", "secret-of-x-123", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := readCapacity(t, tg, tt.initiator, tt.user, tt.secret, exp.IQN)
			if tt.ok {
				require.NoError(t, err, out)
				require.Equal(t, "67108864", out)
			} else {
				require.Error(t, err, out)
			}
		})
	}

	ids, err := tg.List(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"leg1"}, ids)

	// A new secret replaces the old one.
	ax2 := ax
	ax2.CHAPSecret = "secret-of-x-456"
	require.NoError(t, tg.Allow(ctx, "leg1", ax2))
	_, err = readCapacity(t, tg, hostX, "userx", "secret-of-x-123", exp.IQN)
	require.Error(t, err, "the old secret is gone")
	out, err := readCapacity(t, tg, hostX, "userx", "secret-of-x-456", exp.IQN)
	require.NoError(t, err, out)

	// Deny closes a live session (iscsi-perf keeps one open and would reconnect).
	if _, err := exec.LookPath("iscsi-perf"); err == nil {
		pctx, stop := context.WithTimeout(ctx, 20*time.Second)
		defer stop()
		perf := exec.CommandContext(pctx, "iscsi-perf", "-i", hostX,
			fmt.Sprintf("iscsi://userx%%secret-of-x-456@%s/%s/1", tg.Portal(), exp.IQN))
		require.NoError(t, perf.Start())
		defer func() { stop(); _ = perf.Wait() }()
		require.Eventually(t, func() bool { return len(sessions(t, tg, exp.IQN)) > 0 }, 5*time.Second, 20*time.Millisecond)
	}
	require.NoError(t, tg.Deny(ctx, "leg1", hostX))
	require.Empty(t, sessions(t, tg, exp.IQN), "Deny closed the initiator's sessions")
	time.Sleep(200 * time.Millisecond)
	require.Empty(t, sessions(t, tg, exp.IQN), "and it cannot come back")
	require.NoError(t, tg.Deny(ctx, "leg1", hostX), "Deny is idempotent")
	_, err = readCapacity(t, tg, hostX, "userx", "secret-of-x-456", exp.IQN)
	require.Error(t, err, "a denied initiator cannot log in")

	require.NoError(t, tg.Allow(ctx, "leg1", ax))
	require.NoError(t, tg.Unexport(ctx, "leg1"))
	require.NoError(t, tg.Unexport(ctx, "leg1"), "Unexport is idempotent")
	_, err = readCapacity(t, tg, hostX, "userx", "secret-of-x-123", exp.IQN)
	require.Error(t, err, "an unexported leg is gone")
	ids, err = tg.List(ctx)
	require.NoError(t, err)
	require.Empty(t, ids)
}

func TestTgtWatchRestarts(t *testing.T) {
	tg := startRealTgt(t, 300*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dev := filepath.Join(t.TempDir(), "leg.img")
	require.NoError(t, os.WriteFile(dev, nil, 0o600))
	require.NoError(t, os.Truncate(dev, 8<<20))
	a := Access{InitiatorIQN: "iqn.2026-11.test:host-w", CHAPUser: "userw", CHAPSecret: "secret-of-w-123"}
	reexport := func() error {
		exp, err := tg.Export(ctx, "legw", dev)
		if err == nil {
			err = tg.Allow(ctx, "legw", a)
		}
		if err == nil {
			_, err = readCapacity(t, tg, a.InitiatorIQN, a.CHAPUser, a.CHAPSecret, exp.IQN)
		}
		return err
	}
	require.NoError(t, reexport())

	restarted := make(chan struct{}, 1)
	go tg.Watch(ctx, 100*time.Millisecond, func() { restarted <- struct{}{} })
	old := tg.DaemonPID()
	require.NoError(t, syscall.Kill(old, syscall.SIGKILL))
	select {
	case <-restarted:
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not restart the killed tgtd")
	}
	require.NotEqual(t, old, tg.DaemonPID())
	ids, err := tg.List(ctx)
	require.NoError(t, err)
	require.Empty(t, ids, "a new tgtd starts empty")
	require.NoError(t, reexport(), "the leg is reachable again once re-exported")

	// A tgtd that is alive but does not answer (stopped) is killed and replaced.
	hung := tg.DaemonPID()
	require.NoError(t, syscall.Kill(hung, syscall.SIGSTOP))
	select {
	case <-restarted:
	case <-time.After(10 * time.Second):
		t.Fatal("Watch did not replace the hung tgtd")
	}
	require.NotEqual(t, hung, tg.DaemonPID())
	require.ErrorIs(t, syscall.Kill(hung, 0), syscall.ESRCH, "the hung tgtd was killed")
	require.NoError(t, reexport())
}

// sessions returns the I_T nexuses of target iqn as tgtd shows them.
func sessions(t *testing.T, tg *Tgt, iqn string) []tgtNexus {
	t.Helper()
	ts, err := tg.show(context.Background())
	require.NoError(t, err)
	if x := find(ts, iqn); x != nil {
		return x.Nexus
	}
	return nil
}
