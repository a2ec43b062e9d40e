package tempest

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumetypes"
	"github.com/stretchr/testify/require"
)

// TestExtendInUse grows an attached 2-mirror x 2-stripe volume through the public API (os-extend
// at 3.42+) while fio writes and verifies its first 192 MiB: the legs and their LUNs grow under a
// short I/O pause, the host's connector grows the assembled device in place, the loop device
// shows the new size, fio sees no error, the bytes written before are where they were (the
// stripe map keeps existing chunks in place), and the new region is writable, also after a
// fresh attach.
func TestExtendInUse(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: loop devices, FUSE")
	}
	if _, err := exec.LookPath("fio"); err != nil {
		t.Fatal("fio is not installed (apt-get install fio)")
	}
	s := startService(t)
	c, _ := s.client(t, s.env["OS_USERNAME"], s.env["OS_PASSWORD"], s.env["OS_PROJECT_NAME"])
	c.Microversion = "3.70" // attachments complete from 3.44; in-use extend from 3.42
	ctx := context.Background()
	vt, err := volumetypes.Create(ctx, c, volumetypes.CreateOpts{Name: "m2s2",
		ExtraSpecs: map[string]string{"dlvm:mirrors": "2", "dlvm:stripes": "2"}}).Extract()
	require.NoError(t, err)
	vol, err := volumes.Create(ctx, c, volumes.CreateOpts{Size: 1, Name: "grow", VolumeType: vt.Name}, nil).Extract()
	require.NoError(t, err)
	waitVolume(t, c, vol.ID, "available")
	att, dev := attach(t, c, vol.ID)
	require.EqualValues(t, 1<<30, devSize(t, dev))

	// Old data: a block past fio's range and the volume's last 4 MiB.
	const gib = int64(1) << 30
	head, tailBlock := randomBytes(t, 4<<20), randomBytes(t, 4<<20)
	writeFile(t, dev, 512<<20, head)
	writeFile(t, dev, gib-4<<20, tailBlock)

	var out bytes.Buffer
	fio := exec.Command("fio", "--name=grow", "--filename="+dev, "--rw=randwrite", "--bs=4k", "--iodepth=8",
		"--ioengine=libaio", "--direct=1", "--size=192M", "--randrepeat=1", "--verify=crc32c", "--verify_fatal=1",
		"--do_verify=1", "--time_based=0")
	fio.Stdout, fio.Stderr = &out, &out
	require.NoError(t, fio.Start())

	require.NoError(t, volumes.ExtendSize(ctx, c, vol.ID, volumes.ExtendSizeOpts{NewSize: 3}).ExtractErr())
	v := waitVolume(t, c, vol.ID, "in-use")
	require.Equal(t, 3, v.Size)
	require.Len(t, v.Attachments, 1, "still attached")
	require.EqualValues(t, 3*gib, devSize(t, dev), "the host's device grew in place")
	require.NoError(t, fio.Wait(), "fio (write + verify) across the online extend:\n%s", out.String())

	require.Equal(t, head, readFile(t, dev, 512<<20, 4<<20), "data written before the extend moved")
	require.Equal(t, tailBlock, readFile(t, dev, gib-4<<20, 4<<20), "the old end moved")
	fresh := randomBytes(t, 8<<20)
	writeFile(t, dev, gib+gib/2, fresh)
	writeFile(t, dev, 3*gib-4<<20, fresh[:4<<20])
	require.Equal(t, fresh, readFile(t, dev, gib+gib/2, 8<<20))

	// Before 3.42 an in-use volume cannot grow.
	c.Microversion = "3.41"
	err = volumes.ExtendSize(ctx, c, vol.ID, volumes.ExtendSizeOpts{NewSize: 4}).ExtractErr()
	require.Error(t, err)
	require.Contains(t, err.Error(), "must be available to extend")
	c.Microversion = "3.70"

	// A fresh assembly sees the same bytes at the new size.
	detach(t, c, vol.ID, att)
	_, dev = attach(t, c, vol.ID)
	require.EqualValues(t, 3*gib, devSize(t, dev))
	require.Equal(t, head, readFile(t, dev, 512<<20, 4<<20))
	require.Equal(t, tailBlock, readFile(t, dev, gib-4<<20, 4<<20))
	require.Equal(t, fresh, readFile(t, dev, gib+gib/2, 8<<20))
	require.Equal(t, fresh[:4<<20], readFile(t, dev, 3*gib-4<<20, 4<<20))
	out.Reset()
	check := exec.Command("fio", "--name=grow", "--filename="+dev, "--rw=randwrite", "--bs=4k", "--iodepth=8",
		"--ioengine=libaio", "--direct=1", "--size=192M", "--randrepeat=1", "--verify=crc32c", "--verify_fatal=1", "--verify_only")
	check.Stdout, check.Stderr = &out, &out
	require.NoError(t, check.Run(), "fio verify after re-attach:\n%s", out.String())
}

// devSize is a block device's size in bytes (blockdev --getsize64).
func devSize(t *testing.T, dev string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(strings.TrimSpace(run(t, "blockdev", "--getsize64", dev)), 10, 64)
	require.NoError(t, err)
	return n
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return b
}
