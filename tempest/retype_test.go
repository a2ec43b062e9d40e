package tempest

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumetypes"
	"github.com/stretchr/testify/require"
)

// TestRetypeMigratesData: the all-in-one's two backends through the public API. A 2-mirror
// volume in dlvm-1 is formatted and filled through the attached data path, detached, then retyped
// on demand to a type of backend dlvm-2 with another layout (1 mirror x 2 stripes): its legs move
// to dpv-4 and dpv-5, the old leg files go, host and type change, migration_status is success, and
// attached again it holds the same files. A retype between two types the backend satisfies alike
// changes only the type.
func TestRetypeMigratesData(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: loop devices, FUSE, mount")
	}
	s := startService(t)
	c, _ := s.client(t, s.env["OS_USERNAME"], s.env["OS_PASSWORD"], s.env["OS_PROJECT_NAME"])
	c.Microversion = "3.70"
	ctx := context.Background()
	mkType := func(name string, specs map[string]string) {
		_, err := volumetypes.Create(ctx, c, volumetypes.CreateOpts{Name: name, ExtraSpecs: specs}).Extract()
		require.NoError(t, err)
	}
	mkType("one", map[string]string{"volume_backend_name": "dlvm-1", "dlvm:mirrors": "2"})
	mkType("one-again", map[string]string{"capabilities:volume_backend_name": "dlvm-1", "dlvm:mirrors": "2"})
	mkType("two-striped", map[string]string{"volume_backend_name": "dlvm-2", "dlvm:mirrors": "1", "dlvm:stripes": "2"})

	var vol *volumes.Volume
	oldLegs := s.newLegs(t, func() {
		var err error
		vol, err = volumes.Create(ctx, c, volumes.CreateOpts{Size: 1, Name: "moving", VolumeType: "one"}, nil).Extract()
		require.NoError(t, err)
		vol = waitVolume(t, c, vol.ID, "available")
	})
	require.Len(t, oldLegs, 2)
	require.Equal(t, "dlvm@dlvm-1#dlvm-1", vol.Host)
	for _, l := range oldLegs {
		require.Contains(t, []string{"dpv-1", "dpv-2", "dpv-3"}, dpvOf(l))
	}

	att, dev := attach(t, c, vol.ID)
	mnt := mount(t, dev, true)
	files := writeFiles(t, mnt, "f", 5, 3<<20)
	sync(t)
	unmount(t, mnt)
	detach(t, c, vol.ID, att)

	// Same backend, same layout: only the type changes.
	require.NoError(t, volumes.ChangeType(ctx, c, vol.ID, volumes.ChangeTypeOpts{NewType: "one-again",
		MigrationPolicy: volumes.MigrationPolicyNever}).ExtractErr())
	v := waitVolume(t, c, vol.ID, "available")
	require.Equal(t, "one-again", v.VolumeType)
	require.Equal(t, "dlvm@dlvm-1#dlvm-1", v.Host)

	// Another layout without permission to migrate: refused at once, nothing moves.
	err := volumes.ChangeType(ctx, c, vol.ID, volumes.ChangeTypeOpts{NewType: "two-striped",
		MigrationPolicy: volumes.MigrationPolicyNever}).ExtractErr()
	require.True(t, gophercloud.ResponseCodeIs(err, http.StatusBadRequest), "%v", err)
	v = waitVolume(t, c, vol.ID, "available")
	require.Equal(t, "one-again", v.VolumeType)

	// On demand: the volume migrates.
	newLegs := s.newLegs(t, func() {
		require.NoError(t, volumes.ChangeType(ctx, c, vol.ID, volumes.ChangeTypeOpts{NewType: "two-striped",
			MigrationPolicy: volumes.MigrationPolicyOnDemand}).ExtractErr())
		v = waitVolume(t, c, vol.ID, "available")
	})
	require.Equal(t, "two-striped", v.VolumeType)
	require.Equal(t, "dlvm@dlvm-2#dlvm-2", v.Host)
	got := volumes.Get(ctx, c, vol.ID)
	require.NoError(t, got.Err)
	require.Equal(t, "success", got.Body.(map[string]any)["volume"].(map[string]any)["migration_status"])
	var dpvs []string
	for _, l := range newLegs {
		dpvs = append(dpvs, dpvOf(l))
	}
	sort.Strings(dpvs)
	require.Equal(t, []string{"dpv-4", "dpv-5"}, dpvs, "one leg per stripe on the dlvm-2 dpvs")
	// The old legs are deleted right after the swap (the volume is available already).
	for _, l := range oldLegs {
		require.Eventually(t, func() bool { _, err := os.Stat(l); return os.IsNotExist(err) }, 30*time.Second,
			100*time.Millisecond, "old leg %s deleted", l)
	}

	att, dev = attach(t, c, vol.ID)
	mnt = mount(t, dev, false)
	require.Equal(t, files, checksums(t, mnt), "the migrated volume holds the same files")
	unmount(t, mnt)
	detach(t, c, vol.ID, att)
}

// dpvOf returns the dpv name of a leg file (.../dpv-N/legs/<id>.img).
func dpvOf(leg string) string {
	return strings.TrimSuffix(filepath.Base(filepath.Dir(filepath.Dir(leg))), "/")
}
