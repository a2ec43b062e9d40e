package tempest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/attachments"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/snapshots"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumetypes"
	"github.com/stretchr/testify/require"
)

// TestAttachedDataPath is the data-path story of issue 4 through the public API only: a
// 2-mirror x 2-stripe volume on three dpvs (each with its own tgtd) is attached with Nova's
// attachments flow to the all-in-one's own connector (userspace engine: Go iSCSI initiator,
// mirror and stripe in Go, FUSE file under a loop device), formatted and mounted; a snapshot is
// taken while it is in use; after more writes it is detached; a volume made from the snapshot,
// attached the same way, holds exactly the snapshot-time files, and the original, attached again,
// holds the latest ones.
func TestAttachedDataPath(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: loop devices, FUSE, mount")
	}
	s := startService(t)
	c, _ := s.client(t, s.env["OS_USERNAME"], s.env["OS_PASSWORD"], s.env["OS_PROJECT_NAME"])
	c.Microversion = "3.70"
	ctx := context.Background()

	vt, err := volumetypes.Create(ctx, c, volumetypes.CreateOpts{Name: "mirror2stripe2",
		ExtraSpecs: map[string]string{"dlvm:mirrors": "2", "dlvm:stripes": "2"}}).Extract()
	require.NoError(t, err)
	vol, err := volumes.Create(ctx, c, volumes.CreateOpts{Size: 1, Name: "data", VolumeType: vt.Name}, nil).Extract()
	require.NoError(t, err)
	waitVolume(t, c, vol.ID, "available")

	// Attach, format, mount, write the first generation of files.
	att, dev := attach(t, c, vol.ID)
	mnt := mount(t, dev, true)
	first := writeFiles(t, mnt, "gen1", 6, 3<<20)
	sync(t)

	// Snapshot while in use (3.66+: no force needed). The connector pauses I/O while every leg
	// is snapshotted.
	sn, err := snapshots.Create(ctx, c, snapshots.CreateOpts{VolumeID: vol.ID, Name: "snap"}).Extract()
	require.NoError(t, err)
	waitSnapshot(t, c, sn.ID, "available")

	second := writeFiles(t, mnt, "gen2", 4, 2<<20)
	for name := range first { // rewrite some first-generation files too
		if strings.HasSuffix(name, "0") {
			second[name] = rewrite(t, filepath.Join(mnt, name), 1<<20)
		}
	}
	sync(t)
	unmount(t, mnt)
	detach(t, c, vol.ID, att)

	// The snapshot's volume, attached: exactly the snapshot-time files.
	clone, err := volumes.Create(ctx, c, volumes.CreateOpts{SnapshotID: sn.ID, Name: "from-snap"}, nil).Extract()
	require.NoError(t, err)
	waitVolume(t, c, clone.ID, "available")
	catt, cdev := attach(t, c, clone.ID)
	cmnt := mount(t, cdev, false)
	require.Equal(t, first, checksums(t, cmnt), "the volume from the snapshot holds the snapshot-time files")
	unmount(t, cmnt)
	detach(t, c, clone.ID, catt)

	// The original, attached again: the latest files.
	att, dev = attach(t, c, vol.ID)
	mnt = mount(t, dev, false)
	latest := map[string]string{}
	for k, v := range first {
		latest[k] = v
	}
	for k, v := range second {
		latest[k] = v
	}
	require.Equal(t, latest, checksums(t, mnt), "the original holds the latest files")
	unmount(t, mnt)
	detach(t, c, vol.ID, att)
}

// attach runs Nova's flow: create the attachment (reserved), update it with this host's
// connector (the service assembles the volume here and answers a local device path), complete.
func attach(t *testing.T, c *gophercloud.ServiceClient, volumeID string) (string, string) {
	t.Helper()
	ctx := context.Background()
	a, err := attachments.Create(ctx, c, attachments.CreateOpts{VolumeUUID: volumeID, InstanceUUID: uuid.NewString()}).Extract()
	require.NoError(t, err)
	require.Equal(t, "reserved", a.Status)
	host, _ := os.Hostname()
	a, err = attachments.Update(ctx, c, a.ID, attachments.UpdateOpts{Connector: map[string]any{
		"platform": "x86_64", "os_type": "linux", "ip": "127.0.0.1", "host": host, "multipath": false,
		"initiator": "iqn.2026-11.dev.dlvm.test:" + host, "mountpoint": "/dev/vdb",
	}}).Extract()
	require.NoError(t, err)
	require.Equal(t, "local", a.ConnectionInfo["driver_volume_type"], "a multi-leg volume is assembled by the host's connector")
	dev, _ := a.ConnectionInfo["device_path"].(string)
	require.True(t, strings.HasPrefix(dev, "/dev/loop"), "device_path %q", dev)
	require.NoError(t, attachments.Complete(ctx, c, a.ID).ExtractErr())
	v := waitVolume(t, c, volumeID, "in-use")
	require.Len(t, v.Attachments, 1)
	return a.ID, dev
}

func detach(t *testing.T, c *gophercloud.ServiceClient, volumeID, attachmentID string) {
	t.Helper()
	require.NoError(t, attachments.Delete(context.Background(), c, attachmentID).ExtractErr())
	waitVolume(t, c, volumeID, "available")
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	require.NoError(t, err, "%s %s: %s", name, strings.Join(args, " "), out)
	return string(out)
}

func mount(t *testing.T, dev string, mkfs bool) string {
	t.Helper()
	if mkfs {
		run(t, "mkfs.ext4", "-q", "-F", dev)
	} else {
		run(t, "e2fsck", "-fn", dev)
	}
	mnt := t.TempDir()
	run(t, "mount", dev, mnt)
	t.Cleanup(func() { _ = exec.Command("umount", mnt).Run() })
	return mnt
}

func unmount(t *testing.T, mnt string) {
	t.Helper()
	run(t, "umount", mnt)
}

func sync(t *testing.T) {
	t.Helper()
	run(t, "sync")
}

// writeFiles writes n files of random bytes (size each) named prefix-i and returns their sums.
func writeFiles(t *testing.T, dir, prefix string, n, size int) map[string]string {
	t.Helper()
	out := map[string]string{}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("%s-%d", prefix, i)
		out[name] = rewrite(t, filepath.Join(dir, name), size)
	}
	return out
}

func rewrite(t *testing.T, path string, size int) string {
	t.Helper()
	b := make([]byte, size)
	f, err := os.Open("/dev/urandom")
	require.NoError(t, err)
	_, err = f.Read(b)
	f.Close()
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, b, 0o644))
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// checksums returns the sums of every regular file in dir (lost+found aside).
func checksums(t *testing.T, dir string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	out := map[string]string{}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		sum := sha256.Sum256(b)
		out[e.Name()] = hex.EncodeToString(sum[:])
	}
	return out
}
