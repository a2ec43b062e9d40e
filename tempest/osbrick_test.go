package tempest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/attachments"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumetypes"
	"github.com/stretchr/testify/require"
)

// osBrickParse feeds connection properties to Debian's os-brick (the library Nova attaches
// with): its connector factory must pick the ISCSI connector, and its own target parsing must
// yield exactly one (portal, iqn, lun) with CHAP credentials. It prints what os-brick understood.
const osBrickParse = `
import json, sys
from os_brick.initiator import connector as factory
from os_brick.initiator.connectors import iscsi
props = json.load(sys.stdin)
c = factory.InitiatorConnector.factory('ISCSI', root_helper='sudo', use_multipath=False)
assert isinstance(c, iscsi.ISCSIConnector), type(c)
targets = list(c._iterate_all_targets(props))
assert len(targets) == 1, targets
t = targets[0]
assert isinstance(t['target_lun'], int), t['target_lun']
assert t['auth_method'] == 'CHAP' and t['auth_username'] and t['auth_password'], t
print(json.dumps({'portal': t['target_portal'], 'iqn': t['target_iqn'], 'lun': t['target_lun'],
                  'user': t['auth_username'], 'password': t['auth_password']}))
`

// TestStockOSBrickAndLibiscsi: for a single-leg volume the attachments flow answers a plain
// "iscsi" connection_info that stock os-brick parses, and libiscsi reads the LUN with exactly the
// CHAP credentials and initiator name given; after detach the initiator is refused.
func TestStockOSBrickAndLibiscsi(t *testing.T) {
	for _, tool := range []string{"iscsi-inq", "iscsi-readcapacity16"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed (apt-get install libiscsi-bin)", tool)
		}
	}
	if err := exec.Command("/usr/bin/python3", "-c", "import os_brick").Run(); err != nil {
		t.Fatal("Debian's os-brick is not installed (apt-get install python3-os-brick)")
	}
	s := startService(t)
	c, _ := s.client(t, s.env["OS_USERNAME"], s.env["OS_PASSWORD"], s.env["OS_PROJECT_NAME"])
	c.Microversion = "3.70"
	ctx := context.Background()
	vt, err := volumetypes.Create(ctx, c, volumetypes.CreateOpts{Name: "single",
		ExtraSpecs: map[string]string{"dlvm:mirrors": "1"}}).Extract()
	require.NoError(t, err)
	vol, err := volumes.Create(ctx, c, volumes.CreateOpts{Size: 1, Name: "plain", VolumeType: vt.Name}, nil).Extract()
	require.NoError(t, err)
	waitVolume(t, c, vol.ID, "available")

	initiator := "iqn.2026-11.dev.dlvm.test:osbrick"
	a, err := attachments.Create(ctx, c, attachments.CreateOpts{VolumeUUID: vol.ID, InstanceUUID: uuid.NewString()}).Extract()
	require.NoError(t, err)
	a, err = attachments.Update(ctx, c, a.ID, attachments.UpdateOpts{Connector: map[string]any{
		"platform": "x86_64", "os_type": "linux", "ip": "127.0.0.1", "host": "compute-osbrick",
		"multipath": false, "initiator": initiator, "mountpoint": "/dev/vdb"}}).Extract()
	require.NoError(t, err)
	ci := a.ConnectionInfo
	require.Equal(t, "iscsi", ci["driver_volume_type"])
	require.Equal(t, a.ID, ci["attachment_id"])
	require.Equal(t, vol.ID, ci["volume_id"])
	require.Equal(t, "rw", ci["access_mode"])

	// The connection properties os-brick receives: the data keys of the flat connection_info.
	props := map[string]any{}
	for k, v := range ci {
		if k != "driver_volume_type" && k != "attachment_id" {
			props[k] = v
		}
	}
	raw, err := json.Marshal(props)
	require.NoError(t, err)
	cmd := exec.Command("/usr/bin/python3", "-c", osBrickParse)
	cmd.Stdin = strings.NewReader(string(raw))
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "os-brick refused the connection properties %s:\n%s", raw, out)
	var got struct {
		Portal, IQN, User, Password string
		LUN                         int
	}
	require.NoError(t, json.Unmarshal(out, &got), string(out))

	lunURL := fmt.Sprintf("iscsi://%s%%%s@%s/%s/%d", url.PathEscape(got.User), url.PathEscape(got.Password), got.Portal, got.IQN, got.LUN)
	out, err = exec.Command("iscsi-readcapacity16", "-i", initiator, lunURL).CombinedOutput()
	require.NoError(t, err, "iscsi-readcapacity16: %s", out)
	require.Contains(t, string(out), "Total size:1073741824", "the LUN is the 1 GiB leg")
	out, err = exec.Command("iscsi-inq", "-i", initiator, lunURL).CombinedOutput()
	require.NoError(t, err, "iscsi-inq: %s", out)
	require.Contains(t, string(out), "DIRECT_ACCESS")

	// Wrong secret, or another initiator: refused.
	bad := strings.Replace(lunURL, url.PathEscape(got.Password), "not-the-secret", 1)
	require.Error(t, exec.Command("iscsi-inq", "-i", initiator, bad).Run(), "a wrong CHAP secret is refused")
	require.Error(t, exec.Command("iscsi-inq", "-i", "iqn.2026-11.dev.dlvm.test:intruder", lunURL).Run(), "another initiator is refused")

	require.NoError(t, attachments.Delete(ctx, c, a.ID).ExtractErr())
	waitVolume(t, c, vol.ID, "available")
	require.Error(t, exec.Command("iscsi-inq", "-i", initiator, lunURL).Run(), "after detach the host's initiator is refused")
}
