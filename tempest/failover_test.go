package tempest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumetypes"
	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/internal/agentauth"
)

// TestLegFailover kills the tgtd of the dpv holding one mirror leg of an attached volume while
// fio writes to it with verification: I/O goes on on the surviving leg and nothing acknowledged
// is lost (fio verifies every block); the dpv agent restarts its tgtd, the host's connector sees
// the leg answer again and resyncs what it missed; then both legs are byte-identical on their dpvs
// and the data verifies again after a fresh attach.
func TestLegFailover(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: loop devices, FUSE")
	}
	if _, err := exec.LookPath("fio"); err != nil {
		t.Fatal("fio is not installed (apt-get install fio)")
	}
	s := startService(t)
	c, _ := s.client(t, s.env["OS_USERNAME"], s.env["OS_PASSWORD"], s.env["OS_PROJECT_NAME"])
	c.Microversion = "3.70"
	ctx := context.Background()
	vt, err := volumetypes.Create(ctx, c, volumetypes.CreateOpts{Name: "mirrored",
		ExtraSpecs: map[string]string{"dlvm:mirrors": "2"}}).Extract()
	require.NoError(t, err)
	var vol *volumes.Volume
	legs := s.newLegs(t, func() {
		vol, err = volumes.Create(ctx, c, volumes.CreateOpts{Size: 1, Name: "failover", VolumeType: vt.Name}, nil).Extract()
		require.NoError(t, err)
		waitVolume(t, c, vol.ID, "available")
	})
	require.Len(t, legs, 2)
	att, dev := attach(t, c, vol.ID)

	// The victim: the dpv of the first leg (.../dpv-N/legs/<id>.img), whose tgtd listens on
	// tgtBase+N-1.
	dpv := filepath.Base(filepath.Dir(filepath.Dir(legs[0])))
	n, err := strconv.Atoi(strings.TrimPrefix(dpv, "dpv-"))
	require.NoError(t, err, dpv)
	port := s.tgtBase + n - 1

	fio := func(extra ...string) *exec.Cmd {
		args := append([]string{"--name=failover", "--filename=" + dev, "--rw=randwrite", "--bs=4k", "--iodepth=16",
			"--ioengine=libaio", "--direct=1", "--size=160M", "--randrepeat=1", "--verify=crc32c",
			"--verify_fatal=1", "--do_verify=1"}, extra...)
		return exec.Command("fio", args...)
	}
	var out bytes.Buffer
	writer := fio()
	writer.Stdout, writer.Stderr = &out, &out
	require.NoError(t, writer.Start())
	time.Sleep(700 * time.Millisecond)
	// The dpv is down for 6 s; meanwhile the host's connector must drop its leg and writes go
	// on on the partner.
	killed := time.Now()
	seen := make(chan map[string]bool, 1)
	go func() { // watch the connector's view of the legs while the dpv is down
		states := map[string]bool{}
		for time.Since(killed) < 8*time.Second {
			for st := range legStates(s.connectorURL(), s.agentSecret(t), vol.ID) {
				states[st] = true
			}
			time.Sleep(100 * time.Millisecond)
		}
		seen <- states
	}()
	// Killed, the agent restarts tgtd within milliseconds; freeze every restarted instance so
	// the dpv answers nothing for 6 s, as a dead server would. The agent's watchdog kills
	// frozen instances too; afterwards it starts one that is left alone.
	pattern := fmt.Sprintf("^tgtd .*-C %d$", port)
	require.NoError(t, exec.Command("pkill", "-KILL", "-f", pattern).Run(), "kill the tgtd of %s", dpv)
	for time.Since(killed) < 6*time.Second {
		_ = exec.Command("pkill", "-STOP", "-f", pattern).Run()
		time.Sleep(50 * time.Millisecond)
	}
	states := <-seen
	t.Logf("leg states seen while the dpv was down: %v", states)
	require.True(t, states["failed"] || states["resyncing"], "the connector never took the dead dpv's leg out of service: %v", states)
	require.NoError(t, writer.Wait(), "fio (write + verify) through the failure:\n%s", out.String())
	t.Logf("fio finished %s after the kill; no verify error", time.Since(killed).Round(time.Millisecond))

	// The agent restarts its tgtd; the connector resyncs the leg. Wait until every leg is ok.
	waitLegsOK(t, s.connectorURL(), s.agentSecret(t), vol.ID, 90*time.Second)
	t.Logf("leg back in sync %s after the kill", time.Since(killed).Round(time.Millisecond))
	detach(t, c, vol.ID, att)

	a, err := os.ReadFile(legs[0])
	require.NoError(t, err)
	b, err := os.ReadFile(legs[1])
	require.NoError(t, err)
	require.True(t, bytes.Equal(a, b), "the two mirror legs differ after the resync")

	// Every block fio wrote still verifies through a fresh assembly.
	_, dev = attach(t, c, vol.ID)
	out.Reset()
	check := fio("--verify_only")
	check.Stdout, check.Stderr = &out, &out
	require.NoError(t, check.Run(), "fio verify after re-attach:\n%s", out.String())
}

// legStates counts the legs of a volume per state, as the connector daemon at base reports them
// (empty when the daemon does not answer within a second).
func legStates(base, secret, volumeID string) map[string]int {
	out := map[string]int{}
	resp, err := connectorGet(base, secret, volumeID, time.Second)
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	var legs []struct{ State string }
	if json.NewDecoder(resp.Body).Decode(&legs) == nil {
		for _, l := range legs {
			out[l.State]++
		}
	}
	return out
}

// connectorGet asks the connector daemon at base for a volume's leg health, signed with the
// agents' shared secret as the volume manager signs its calls.
func connectorGet(base, secret, volumeID string, timeout time.Duration) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, base+"/v1/health/"+volumeID, nil)
	if err != nil {
		return nil, err
	}
	agentauth.Sign(req, nil, []byte(secret))
	hc := http.Client{Timeout: timeout}
	return hc.Do(req)
}

// waitLegsOK polls the connector daemon at base until every leg of the volume is "ok".
func waitLegsOK(t *testing.T, base, secret, volumeID string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		resp, err := connectorGet(base, secret, volumeID, 5*time.Second)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = string(body)
			var legs []struct{ State string }
			if json.Unmarshal(body, &legs) == nil && len(legs) > 0 {
				ok := true
				for _, l := range legs {
					ok = ok && l.State == "ok"
				}
				if ok {
					return
				}
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("legs not back in sync within %s: %s", timeout, last)
}
