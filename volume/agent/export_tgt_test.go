package agent

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/volume/pool"
	"github.com/dlvm-project/dlvm/volume/target"
)

// realTgt starts a private tgtd (random control port, loopback portal) and stops it at the
// end; it skips without tgtd, libiscsi-bin or root.
func realTgt(t *testing.T) *target.Tgt {
	t.Helper()
	for _, bin := range []string{"tgtd", "iscsi-readcapacity16", "iscsi-inq"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s is not installed", bin)
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("tgtd needs root")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	portal := l.Addr().String()
	require.NoError(t, l.Close())
	ctl := 10000 + rand.IntN(22000) // tgtd takes 0..32767
	for {
		if _, err := os.Stat(fmt.Sprintf("/var/run/tgtd/socket.%d", ctl)); os.IsNotExist(err) {
			break
		}
		ctl = 10000 + rand.IntN(22000)
	}
	tg := target.NewTgt(target.TgtOptions{Portal: portal, ControlPort: ctl,
		Log: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))})
	require.NoError(t, tg.EnsureDaemon(context.Background()))
	t.Cleanup(func() {
		tg.Stop()
		_ = os.Remove(fmt.Sprintf("/var/run/tgtd/socket.%d", ctl))
		_ = os.Remove(fmt.Sprintf("/var/run/tgtd/socket.%d.lock", ctl))
	})
	return tg
}

// iscsiTool runs a libiscsi tool as a's initiator against LUN exp.LUN with a's credentials.
func iscsiTool(t *testing.T, tool string, exp target.Export, a target.Access) (string, error) {
	t.Helper()
	url := fmt.Sprintf("iscsi://%s%%%s@%s/%s/%d", a.CHAPUser, a.CHAPSecret, exp.Portal, exp.IQN, exp.LUN)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	args := []string{"-i", a.InitiatorIQN, url}
	if tool == "iscsi-readcapacity16" {
		args = append([]string{"-s"}, args...)
	}
	out, err := exec.CommandContext(ctx, tool, args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func TestExportsRealTgtd(t *testing.T) {
	ctx := context.Background()
	tg := realTgt(t)
	dir := t.TempDir()
	p, err := pool.NewFile(dir, pool.FileOptions{NoReflink: true})
	require.NoError(t, err)
	statePath := filepath.Join(dir, "exports.json")
	newAgent := func() (*Server, *Client) { // a (re)started agent: state reloaded from disk
		st, err := target.OpenState(statePath)
		require.NoError(t, err)
		s := NewServer(p, ServerOptions{Name: "dpv1", Target: tg, Exports: st}, nil)
		hs := httptest.NewServer(s.Handler())
		t.Cleanup(hs.Close)
		return s, NewClient(hs.URL, hs.Client(), "")
	}
	_, c := newAgent()
	_, err = c.CreateLeg(ctx, "leg1", 64*mib)
	require.NoError(t, err)

	exp, err := c.ExportLeg(ctx, "leg1", accX)
	require.NoError(t, err)
	require.Equal(t, target.Export{IQN: target.DefaultIQNPrefix + "leg1", LUN: 1, Portal: tg.Portal()}, exp)
	again, err := c.ExportLeg(ctx, "leg1", accX)
	require.NoError(t, err)
	require.Equal(t, exp, again, "export is idempotent")
	size := "67108864"
	reachable := func(msg string) {
		t.Helper()
		out, err := iscsiTool(t, "iscsi-readcapacity16", exp, accX)
		require.NoError(t, err, "%s: %s", msg, out)
		require.Equal(t, size, out, msg)
		out, err = iscsiTool(t, "iscsi-inq", exp, accX)
		require.NoError(t, err, "%s: %s", msg, out)
		require.Contains(t, out, "Peripheral Device Type", msg)
	}
	reachable("exported")
	_, err = iscsiTool(t, "iscsi-readcapacity16", exp, accY)
	require.Error(t, err, "an initiator not allowed cannot log in")

	// tgtd dies: a new one is empty; EnsureDaemon + RestoreExports (of a restarted agent,
	// reading the state file) brings the leg back.
	tg.Stop()
	_, err = iscsiTool(t, "iscsi-readcapacity16", exp, accX)
	require.Error(t, err)
	require.NoError(t, tg.EnsureDaemon(ctx))
	s2, c2 := newAgent()
	require.NoError(t, s2.RestoreExports(ctx))
	reachable("restored after a tgtd restart")

	// Resync reports a target nobody named and leaves it; one missing is rebuilt.
	stray, err := tg.Export(ctx, "stray", p.DevicePath("leg1"))
	require.NoError(t, err)
	require.NoError(t, tg.Unexport(ctx, "leg1"))
	res, err := c2.Resync(ctx, []target.LegExports{{LegID: "leg1", Access: []target.Access{accX}}})
	require.NoError(t, err)
	require.Equal(t, ResyncResult{Rebuilt: []string{"leg1"}, Unknown: []string{"stray"}}, res)
	ids, err := tg.List(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"leg1", "stray"}, ids, "resync never deletes")
	reachable("rebuilt by resync")
	require.NoError(t, tg.Unexport(ctx, stray.IQN[len(target.DefaultIQNPrefix):]))

	// Extend of an exported leg: the LUN shows the new size, the target keeps its ACL.
	_, err = c2.ExtendLeg(ctx, "leg1", 96*mib)
	require.NoError(t, err)
	out, err := iscsiTool(t, "iscsi-readcapacity16", exp, accX)
	require.NoError(t, err, out)
	require.Equal(t, "100663296", out, "the exported LUN grew with its leg")
	size = out
	_, err = iscsiTool(t, "iscsi-readcapacity16", exp, accY)
	require.Error(t, err, "the resized LUN keeps its ACL")

	// Deny, then delete the leg: the target goes with it.
	require.NoError(t, c2.UnexportInitiator(ctx, "leg1", accX.InitiatorIQN))
	_, err = iscsiTool(t, "iscsi-readcapacity16", exp, accX)
	require.Error(t, err, "a denied initiator cannot log in")
	_, err = c2.ExportLeg(ctx, "leg1", accX)
	require.NoError(t, err)
	reachable("allowed again")
	require.NoError(t, c2.DeleteLeg(ctx, "leg1"))
	ids, err = tg.List(ctx)
	require.NoError(t, err)
	require.Empty(t, ids, "deleting a leg unexports it")
	legs, err := c2.Exports(ctx)
	require.NoError(t, err)
	require.Empty(t, legs)
}
