package tempest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumetypes"
	"github.com/stretchr/testify/require"
)

// TestLegReplacement: an all-in-one with one local dpv and two `dlvm dpv-agent` processes (on a
// private RabbitMQ vhost) holds a 2-mirror volume attached to its connector. While fio writes and
// verifies, the dpv holding one leg — agent and tgtd — is killed for good. I/O goes on on the
// other leg; after leg_replace_after the manager places a new leg on the third dpv, the host's
// connector swaps it into the mirror and resyncs it fully while in use; fio sees no error; the
// new leg and the surviving one are byte-identical; the data verifies after a fresh attach.
func TestLegReplacement(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: loop devices, FUSE")
	}
	for _, bin := range []string{"fio", "rabbitmqctl"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s is not installed", bin)
		}
	}
	vhost := fmt.Sprintf("dlvm-replace-%d", rand.IntN(1<<30))
	rabbitctl(t, "add_vhost", vhost)
	t.Cleanup(func() { _ = exec.Command("rabbitmqctl", "delete_vhost", vhost).Run() })
	rabbitctl(t, "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
	transport := "rabbit://guest:guest@127.0.0.1:5672/" + vhost
	timing := "dpv_heartbeat_interval = 1\ndpv_heartbeat_timeout = 4\nleg_replace_after = 10\nworkflow_sweep_interval = 1\nworkflow_stale_after = 30\n"

	// Registered before the service, so it runs after the service stopped (cleanups run last
	// in, first out): the external dpvs outlive the volume's last detach.
	agents := map[string]*exec.Cmd{}
	tgtPorts := map[string]int{}
	t.Cleanup(func() {
		for name, cmd := range agents {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			_ = exec.Command("pkill", "-KILL", "-f", fmt.Sprintf("^tgtd .*-C %d$", tgtPorts[name])).Run()
		}
	})
	base := t.TempDir()
	conf := filepath.Join(base, "all-in-one.conf")
	require.NoError(t, os.WriteFile(conf, []byte("[DEFAULT]\ntransport_url = "+transport+"\n"+timing+"[all_in_one]\ndpv_count = 1\n"), 0o600))
	s := startService(t, "--config-file", conf)
	t.Cleanup(func() { // keep the whole service log of a failed run
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(s.dataDir, "dlvm.log"))
			_ = os.WriteFile(filepath.Join(os.TempDir(), "TestLegReplacement-dlvm.log"), b, 0o600)
			t.Logf("service log kept in %s", filepath.Join(os.TempDir(), "TestLegReplacement-dlvm.log"))
		}
	})

	// Two more dpvs as their own processes, their pools under the service's data dir.
	for _, name := range []string{"ext-1", "ext-2"} {
		tgt := freeTgtPort(t, 1)
		tgtPorts[name] = tgt
		dir := filepath.Join(s.dataDir, name)
		cf := filepath.Join(base, name+".conf")
		// A dpv agent uses neither the database nor Keystone, but the file is a full one.
		require.NoError(t, os.WriteFile(cf, []byte(fmt.Sprintf("[DEFAULT]\nhost = %s\nstate_path = %s\ntransport_url = %s\nauth_strategy = noauth\n%s"+
			"[database]\nconnection = sqlite:///%s/unused.db\n"+
			"[dpv]\nname = %s\ndvg = dlvm-1\nlisten = 127.0.0.1\nport = %d\npool_type = file\npool_dir = %s\ntarget_port = %d\n",
			name, dir, transport, timing, base, name, freePort(t), dir, tgt)), 0o600))
		cmd := exec.Command(binary(t), "dpv-agent", "--config-file", cf)
		logf, err := os.Create(filepath.Join(base, name+".log"))
		require.NoError(t, err)
		cmd.Stdout, cmd.Stderr = logf, logf
		require.NoError(t, cmd.Start())
		agents[name] = cmd
		t.Cleanup(func() {
			logf.Close()
			if t.Failed() {
				b, _ := os.ReadFile(logf.Name())
				t.Logf("%s log:\n%s", name, tail(string(b), 30))
			}
		})
	}

	c, _ := s.client(t, s.env["OS_USERNAME"], s.env["OS_PASSWORD"], s.env["OS_PROJECT_NAME"])
	c.Microversion = "3.70"
	ctx := context.Background()
	vt, err := volumetypes.Create(ctx, c, volumetypes.CreateOpts{Name: "mirrored", ExtraSpecs: map[string]string{"dlvm:mirrors": "2"}}).Extract()
	require.NoError(t, err)
	// The external dpvs' heartbeats reach the manager over RabbitMQ: wait until a volume's
	// legs land on one of them.
	var vol *volumes.Volume
	var victim string
	deadline := time.Now().Add(60 * time.Second)
	for victim == "" {
		require.True(t, time.Now().Before(deadline), "no leg was ever placed on an external dpv")
		legs := newLegFiles(t, s.dataDir, func() {
			vol, err = volumes.Create(ctx, c, volumes.CreateOpts{Size: 1, Name: "replace", VolumeType: vt.Name}, nil).Extract()
			require.NoError(t, err)
			for vol.Status != "available" && vol.Status != "error" { // error: the dpvs are not all heard yet
				time.Sleep(200 * time.Millisecond)
				vol, err = volumes.Get(ctx, c, vol.ID).Extract()
				require.NoError(t, err)
			}
		})
		for _, p := range legs {
			if name := filepath.Base(filepath.Dir(filepath.Dir(p))); strings.HasPrefix(name, "ext-") {
				victim = name
			}
		}
		if victim == "" {
			require.NoError(t, volumes.Delete(ctx, c, vol.ID, nil).ExtractErr())
			time.Sleep(time.Second)
		}
	}
	att, dev := attach(t, c, vol.ID)
	before := currentLegs(t, s, vol.ID)
	require.Len(t, before, 2)

	fio := func(extra ...string) *exec.Cmd {
		args := append([]string{"--name=replace", "--filename=" + dev, "--rw=randwrite", "--bs=4k", "--iodepth=16",
			"--ioengine=libaio", "--direct=1", "--size=160M", "--randrepeat=1", "--verify=crc32c",
			"--verify_fatal=1", "--do_verify=1"}, extra...)
		return exec.Command("fio", args...)
	}
	var out bytes.Buffer
	writer := fio("--loops=3")
	writer.Stdout, writer.Stderr = &out, &out
	require.NoError(t, writer.Start())
	time.Sleep(700 * time.Millisecond)

	// The victim dpv dies for good: its agent and its tgtd.
	killed := time.Now()
	require.NoError(t, agents[victim].Process.Kill())
	require.NoError(t, exec.Command("pkill", "-KILL", "-f", fmt.Sprintf("^tgtd .*-C %d$", tgtPorts[victim])).Run())
	t.Logf("killed %s (agent and tgtd)", victim)

	// The manager replaces the leg after leg_replace_after; the host resyncs the new one. The
	// service shows the volume degraded meanwhile.
	sawDegraded, sawResyncing, lastStatus := false, false, ""
	var after map[string]string
	deadline = time.Now().Add(3 * time.Minute)
	for {
		after = currentLegs(t, s, vol.ID)
		replaced := len(after) == 2
		for id, st := range after {
			replaced = replaced && st == "ok"
			if _, old := before[id]; old && strings.Contains(legDPV(t, s.dataDir, id), victim) {
				replaced = false
			}
		}
		if replaced {
			break
		}
		var h struct {
			Health struct {
				Status string `json:"status"`
			} `json:"health"`
		}
		if _, err := c.Get(ctx, c.ServiceURL("volumes", vol.ID, "dlvm-health"), &h, nil); err == nil && h.Health.Status != lastStatus {
			t.Logf("service shows the volume %s %s after the kill (host: %v)", h.Health.Status, time.Since(killed).Round(time.Millisecond), after)
			lastStatus = h.Health.Status
			sawDegraded = sawDegraded || h.Health.Status == "degraded"
			sawResyncing = sawResyncing || h.Health.Status == "resyncing"
		}
		require.True(t, time.Now().Before(deadline), "leg not replaced within 3 minutes: %v", after)
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("leg replaced and in sync %s after the kill: %v", time.Since(killed).Round(time.Millisecond), after)
	require.True(t, sawDegraded, "the service never showed the volume degraded")
	require.True(t, sawResyncing, "the service never showed the volume resyncing")
	require.NoError(t, writer.Wait(), "fio (write + verify) through the loss and the replacement:\n%s", out.String())

	// The service shows the volume healthy again, with the new leg.
	var health struct {
		Health struct {
			Status string `json:"status"`
			Legs   []struct {
				LegID string `json:"leg_id"`
				State string `json:"state"`
			} `json:"legs"`
		} `json:"health"`
	}
	require.Eventually(t, func() bool {
		_, err = c.Get(ctx, c.ServiceURL("volumes", vol.ID, "dlvm-health"), &health, nil)
		return err == nil && health.Health.Status == "healthy"
	}, 30*time.Second, 500*time.Millisecond, "the service shows the volume healthy again: %+v", health)
	require.Len(t, health.Health.Legs, 2)
	for _, l := range health.Health.Legs {
		require.Contains(t, after, l.LegID, "the service's legs are the host's")
	}
	detach(t, c, vol.ID, att)

	var files []string
	for id := range after {
		files = append(files, legDPV(t, s.dataDir, id))
	}
	require.Len(t, files, 2)
	for _, f := range files {
		require.NotContains(t, f, victim, "no leg left on the dead dpv")
	}
	a, err := os.ReadFile(files[0])
	require.NoError(t, err)
	b, err := os.ReadFile(files[1])
	require.NoError(t, err)
	require.True(t, bytes.Equal(a, b), "the surviving and the new leg differ after the resync")

	att, dev = attach(t, c, vol.ID)
	out.Reset()
	check := fio("--verify_only")
	check.Stdout, check.Stderr = &out, &out
	require.NoError(t, check.Run(), "fio verify after re-attach:\n%s", out.String())
	detach(t, c, vol.ID, att)
}

func rabbitctl(t *testing.T, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "rabbitmqctl", args...).CombinedOutput()
	require.NoError(t, err, "rabbitmqctl %v: %s", args, out)
}

// currentLegs returns leg id -> state as the local connector reports the volume.
func currentLegs(t *testing.T, s *service, volumeID string) map[string]string {
	t.Helper()
	out := map[string]string{}
	resp, err := connectorGet(s.connectorURL(), s.agentSecret(t), volumeID, 2*time.Second)
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	var legs []struct {
		LegID string `json:"leg_id"`
		State string `json:"state"`
	}
	if json.NewDecoder(resp.Body).Decode(&legs) == nil {
		for _, l := range legs {
			out[l.LegID] = l.State
		}
	}
	return out
}

// legDPV returns the image file of a leg under any dpv of the data dir ("" if none).
func legDPV(t *testing.T, dataDir, legID string) string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dataDir, "*", "legs", legID+".img"))
	require.NoError(t, err)
	if len(m) == 0 {
		return ""
	}
	return m[0]
}

// newLegFiles runs fn and returns the leg image files that appeared under any dpv meanwhile.
func newLegFiles(t *testing.T, dataDir string, fn func()) []string {
	t.Helper()
	glob := func() map[string]bool {
		m, err := filepath.Glob(filepath.Join(dataDir, "*", "legs", "*.img"))
		require.NoError(t, err)
		out := map[string]bool{}
		for _, p := range m {
			out[p] = true
		}
		return out
	}
	before := glob()
	fn()
	var out []string
	for p := range glob() {
		if !before[p] {
			out = append(out, p)
		}
	}
	return out
}
