package tempest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/attachments"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/snapshots"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/internal/agentauth"
)

// transitional volume and snapshot states: a volume left in one of them is stuck.
var transitional = []string{"creating", "attaching", "detaching", "deleting", "extending", "maintenance"}

func isTransitional(status string) bool {
	for _, s := range transitional {
		if s == status {
			return true
		}
	}
	return false
}

// volumeState reads a volume's status and error reason from the database (not through the
// API, so the client counters only count the scenario's own requests).
func (c *cluster) volumeState(id string) (status, reason string) {
	_ = c.db.QueryRow(`SELECT status, error_reason FROM volumes WHERE id = ?`, id).Scan(&status, &reason)
	return status, reason
}

func (c *cluster) snapshotState(id string) string {
	var status string
	_ = c.db.QueryRow(`SELECT status FROM snapshots WHERE id = ?`, id).Scan(&status)
	return status
}

// waitSettled waits until the volume leaves every transitional state and returns the state.
func (c *cluster) waitSettled(t *testing.T, id string, timeout time.Duration) (string, string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st, reason := c.volumeState(id)
		if st != "" && !isTransitional(st) {
			return st, reason
		}
		if time.Now().After(deadline) {
			return st, reason
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stuck counts volumes and snapshots still in a transitional state, after giving them bound to
// settle.
func (c *cluster) stuck(t *testing.T, bound time.Duration) (int, []string) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for {
		var names []string
		rows, err := c.db.Query(`SELECT id, status FROM volumes WHERE deleted = 0
			UNION ALL SELECT id, status FROM snapshots WHERE deleted = 0`)
		require.NoError(t, err)
		for rows.Next() {
			var id, st string
			require.NoError(t, rows.Scan(&id, &st))
			if isTransitional(st) {
				names = append(names, id+"="+st)
			}
		}
		rows.Close()
		if len(names) == 0 || time.Now().After(deadline) {
			return len(names), names
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// agentGet sends a signed GET to a dpv agent or the connector daemon.
func (c *cluster) agentGet(url string, out any) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	agentauth.Sign(req, nil, []byte(c.secret))
	hc := http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: c.agentTLS}}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// garbage compares what every dpv holds with the database: a leg on a dpv that the database
// does not list as live, a live leg missing from its dpv, or a target exported for a volume
// with no attachment, is garbage (or loss).
func (c *cluster) garbage(t *testing.T) []string {
	t.Helper()
	var out []string
	live := map[string]string{} // leg id -> dpv
	rows, err := c.db.Query(`SELECT id, dpv_id FROM legs WHERE status <> 'deleted'`)
	require.NoError(t, err)
	for rows.Next() {
		var id, dpv string
		require.NoError(t, rows.Scan(&id, &dpv))
		live[id] = dpv
	}
	rows.Close()
	attachedLegs := map[string]bool{}
	rows, err = c.db.Query(`SELECT l.id FROM legs l JOIN attachments a ON a.volume_id = l.owner_id
		WHERE a.deleted = 0 AND l.status <> 'deleted'`)
	require.NoError(t, err)
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		attachedLegs[id] = true
	}
	rows.Close()
	onDPV := map[string]bool{}
	for i := 1; i <= 3; i++ {
		dpv := fmt.Sprintf("dpv%d", i)
		base := "https://" + nodeIP(dpv) + ":8801"
		var legs struct {
			Legs []struct {
				ID string `json:"id"`
			} `json:"legs"`
		}
		if err := c.agentGet(base+"/v1/legs", &legs); err != nil {
			out = append(out, fmt.Sprintf("%s: %v", dpv, err))
			continue
		}
		for _, l := range legs.Legs {
			onDPV[l.ID] = true
			if live[l.ID] != dpv {
				out = append(out, fmt.Sprintf("%s holds leg %s the database does not list there", dpv, l.ID))
			}
		}
		var exp struct {
			Legs []struct {
				LegID  string `json:"leg_id"`
				Access []any  `json:"access"`
			} `json:"legs"`
		}
		if err := c.agentGet(base+"/v1/exports", &exp); err != nil {
			out = append(out, fmt.Sprintf("%s: %v", dpv, err))
			continue
		}
		for _, e := range exp.Legs {
			if len(e.Access) > 0 && !attachedLegs[e.LegID] {
				out = append(out, fmt.Sprintf("%s exports leg %s of no attached volume", dpv, e.LegID))
			}
		}
	}
	for id, dpv := range live {
		if !onDPV[id] {
			out = append(out, fmt.Sprintf("live leg %s is missing from %s", id, dpv))
		}
	}
	return out
}

// legHealth asks the connector daemon of ihost1 for the states of a volume's legs.
func (c *cluster) legHealth(volumeID string) map[string]int {
	var legs []struct{ State string }
	out := map[string]int{}
	if c.agentGet("https://"+nodeIP("ihost1")+":8810/v1/health/"+volumeID, &legs) == nil {
		for _, l := range legs {
			out[l.State]++
		}
	}
	return out
}

// createVolume creates a 2-mirror volume through the balancer and waits until it settles.
func (c *cluster) createVolume(t *testing.T, name string, size int) string {
	t.Helper()
	v, err := volumes.Create(context.Background(), c.client, volumes.CreateOpts{Size: size, Name: name, VolumeType: c.volType}, nil).Extract()
	require.NoError(t, err)
	st, reason := c.waitSettled(t, v.ID, 60*time.Second)
	require.Equal(t, "available", st, "volume %s: %s", v.ID, reason)
	return v.ID
}

// attach runs Nova's attach flow for ihost1 and returns the attachment and the device.
func (c *cluster) attach(t *testing.T, volumeID string) (string, string) {
	t.Helper()
	ctx := context.Background()
	a, err := attachments.Create(ctx, c.client, attachments.CreateOpts{VolumeUUID: volumeID, InstanceUUID: uuid.NewString()}).Extract()
	require.NoError(t, err)
	a, err = attachments.Update(ctx, c.client, a.ID, attachments.UpdateOpts{Connector: ihostConnector()}).Extract()
	require.NoError(t, err)
	dev, _ := a.ConnectionInfo["device_path"].(string)
	require.True(t, strings.HasPrefix(dev, "/dev/loop"), "device_path %q (%v)", dev, a.ConnectionInfo)
	require.NoError(t, attachments.Complete(ctx, c.client, a.ID).ExtractErr())
	st, reason := c.waitSettled(t, volumeID, 60*time.Second)
	require.Equal(t, "in-use", st, reason)
	return a.ID, dev
}

func ihostConnector() map[string]any {
	return map[string]any{"platform": "x86_64", "os_type": "linux", "ip": nodeIP("ihost1"), "host": "ihost1",
		"multipath": false, "initiator": clusterInitiator, "mountpoint": "/dev/vdb"}
}

func (c *cluster) detach(t *testing.T, volumeID, attachmentID string) {
	t.Helper()
	require.NoError(t, attachments.Delete(context.Background(), c.client, attachmentID).ExtractErr())
	st, reason := c.waitSettled(t, volumeID, 60*time.Second)
	require.Equal(t, "available", st, reason)
}

// fio runs fio in ihost1's namespace on dev and returns its output and error.
func (c *cluster) fio(dev string, extra ...string) *exec.Cmd {
	args := append([]string{"netns", "exec", clusterNSPref + "ihost1", "fio", "--name=e2e", "--filename=" + dev,
		"--rw=randwrite", "--bs=4k", "--iodepth=16", "--ioengine=libaio", "--direct=1", "--randrepeat=1",
		"--verify=crc32c", "--verify_fatal=1", "--do_verify=1"}, extra...)
	return exec.Command("ip", args...)
}

var verifyError = regexp.MustCompile(`(?i)verify.*(bad|fail|mismatch)|bad magic|crc32c.*wanted`)

// verifyErrors counts fio's verification errors in its output (at least one when it failed on
// one).
func verifyErrors(out string) int {
	return len(verifyError.FindAllString(out, -1))
}

// deleteAllAndCheckEmpty deletes every snapshot and volume (detaching first) and checks that no
// dpv holds a leg or an export afterwards.
func (c *cluster) deleteAllAndCheckEmpty(t *testing.T) {
	ctx := context.Background()
	rows, err := c.db.Query(`SELECT id FROM attachments WHERE deleted = 0`)
	require.NoError(t, err)
	var atts []string
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		atts = append(atts, id)
	}
	rows.Close()
	for _, a := range atts {
		require.NoError(t, attachments.Delete(ctx, c.client, a).ExtractErr())
	}
	ids := func(q string) []string {
		rows, err := c.db.Query(q)
		require.NoError(t, err)
		defer rows.Close()
		var out []string
		for rows.Next() {
			var id string
			require.NoError(t, rows.Scan(&id))
			out = append(out, id)
		}
		return out
	}
	for _, s := range ids(`SELECT id FROM snapshots WHERE deleted = 0`) {
		require.NoError(t, snapshots.Delete(ctx, c.client, s).ExtractErr())
	}
	deadline := time.Now().Add(60 * time.Second)
	for len(ids(`SELECT id FROM snapshots WHERE deleted = 0`)) > 0 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	for _, v := range ids(`SELECT id FROM volumes WHERE deleted = 0`) {
		c.waitSettled(t, v, 60*time.Second)
		err := volumes.Delete(ctx, c.client, v, volumes.DeleteOpts{Cascade: true}).ExtractErr()
		if !gophercloud.ResponseCodeIs(err, http.StatusNotFound) { // a load worker's delete may have won
			require.NoError(t, err, "delete volume %s", v)
		}
	}
	for len(ids(`SELECT id FROM volumes WHERE deleted = 0`)) > 0 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	require.Empty(t, ids(`SELECT CONCAT(id, '=', status) FROM volumes WHERE deleted = 0`), "volumes left")
	require.Empty(t, c.garbage(t))
	require.Empty(t, ids(`SELECT id FROM legs WHERE status <> 'deleted'`), "live legs left")
}
