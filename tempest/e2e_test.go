package tempest

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/limits"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/quotasets"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/snapshots"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumetypes"
	"github.com/stretchr/testify/require"
)

func waitVolume(t *testing.T, c *gophercloud.ServiceClient, id, want string) *volumes.Volume {
	t.Helper()
	var v *volumes.Volume
	var err error
	for i := 0; i < 300; i++ {
		v, err = volumes.Get(context.Background(), c, id).Extract()
		require.NoError(t, err)
		if v.Status == want {
			return v
		}
		require.NotContains(t, v.Status, "error", "volume %s", id)
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("volume %s is %s, want %s", id, v.Status, want)
	return nil
}

func waitSnapshot(t *testing.T, c *gophercloud.ServiceClient, id, want string) {
	t.Helper()
	for i := 0; i < 300; i++ {
		s, err := snapshots.Get(context.Background(), c, id).Extract()
		require.NoError(t, err)
		if s.Status == want {
			return
		}
		require.NotContains(t, s.Status, "error")
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("snapshot %s never became %s", id, want)
}

func waitGone(t *testing.T, get func() error) {
	t.Helper()
	for i := 0; i < 300; i++ {
		if err := get(); gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("resource was not deleted")
}

// newLegs runs fn and returns the leg files that appeared meanwhile.
func (s *service) newLegs(t *testing.T, fn func()) []string {
	t.Helper()
	before := s.legFiles(t)
	fn()
	var out []string
	for p := range s.legFiles(t) {
		if !before[p] {
			out = append(out, p)
		}
	}
	return out
}

func writeFile(t *testing.T, path string, off int64, p []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	require.NoError(t, err)
	defer f.Close()
	_, err = f.WriteAt(p, off)
	require.NoError(t, err)
	require.NoError(t, f.Sync())
}

func readFile(t *testing.T, path string, off int64, n int) []byte {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	b := make([]byte, n)
	_, err = f.ReadAt(b, off)
	require.NoError(t, err)
	return b
}

// TestVolumeLifecycle drives the README's flow through gophercloud v2 against a dlvm it starts,
// at the default microversion and at 3.70, and checks where the bytes live.
func TestVolumeLifecycle(t *testing.T) {
	s := startService(t)
	for _, mv := range []string{"", "3.70"} {
		t.Run("microversion="+mv, func(t *testing.T) {
			c, project := s.client(t, s.env["OS_USERNAME"], s.env["OS_PASSWORD"], s.env["OS_PROJECT_NAME"])
			lifecycle(t, s, c, project, mv)
		})
	}
}

// lifecycle creates a 2-mirror type and a volume of it, checks its legs on disk, lists, renames,
// snapshots, extends, clones from the snapshot and from the volume (checking which bytes each
// leg file holds), reads quotas and limits, and deletes everything, leaving no leg file behind.
func lifecycle(t *testing.T, s *service, c *gophercloud.ServiceClient, project, mv string) {
	c.Microversion = mv
	ctx := context.Background()
	sfx := strings.ReplaceAll(mv, ".", "")

	vt, err := volumetypes.Create(ctx, c, volumetypes.CreateOpts{Name: "gold" + sfx,
		ExtraSpecs: map[string]string{"dlvm:mirrors": "2"}}).Extract()
	require.NoError(t, err)

	var v1 *volumes.Volume
	legs := s.newLegs(t, func() {
		v1, err = volumes.Create(ctx, c, volumes.CreateOpts{Size: 1, Name: "v1", VolumeType: vt.Name}, nil).Extract()
		require.NoError(t, err)
		v1 = waitVolume(t, c, v1.ID, "available")
	})
	require.Len(t, legs, 2, "a 2-mirror volume has two legs")
	require.NotEqual(t, filepath.Dir(filepath.Dir(legs[0])), filepath.Dir(filepath.Dir(legs[1])), "mirrors on distinct dpvs")
	require.Equal(t, "gold"+sfx, v1.VolumeType)
	require.Equal(t, "false", v1.Bootable)

	// list, show, update
	pages, err := volumes.List(c, volumes.ListOpts{Name: "v1"}).AllPages(ctx)
	require.NoError(t, err)
	all, err := volumes.ExtractVolumes(pages)
	require.NoError(t, err)
	require.Len(t, all, 1)
	name := "v1-renamed"
	_, err = volumes.Update(ctx, c, v1.ID, volumes.UpdateOpts{Name: &name}).Extract()
	require.NoError(t, err)

	// Write a pattern into both mirrors of the source, then snapshot.
	old := bytes.Repeat([]byte("snapshot-time "), 1000)
	for _, l := range legs {
		writeFile(t, l, 8192, old)
	}
	sn, err := snapshots.Create(ctx, c, snapshots.CreateOpts{VolumeID: v1.ID, Name: "s1"}).Extract()
	require.NoError(t, err)
	waitSnapshot(t, c, sn.ID, "available")
	newer := bytes.Repeat([]byte("after-snapshot"), 1000)
	for _, l := range legs {
		writeFile(t, l, 8192, newer)
	}

	// extend to 2 GiB: legs grow, data stays
	require.NoError(t, volumes.ExtendSize(ctx, c, v1.ID, volumes.ExtendSizeOpts{NewSize: 2}).ExtractErr())
	v1 = waitVolume(t, c, v1.ID, "available")
	require.Equal(t, 2, v1.Size)
	for _, l := range legs {
		fi, err := os.Stat(l)
		require.NoError(t, err)
		require.EqualValues(t, 2<<30+1<<20, fi.Size(), "2 GiB of data + 1 MiB of mirror metadata")
		require.Equal(t, newer, readFile(t, l, 8192, len(newer)))
	}

	// a volume from the snapshot has the snapshot-time bytes
	var v2 *volumes.Volume
	clone := s.newLegs(t, func() {
		v2, err = volumes.Create(ctx, c, volumes.CreateOpts{SnapshotID: sn.ID, Name: "v2"}, nil).Extract()
		require.NoError(t, err)
		waitVolume(t, c, v2.ID, "available")
	})
	require.Len(t, clone, 2)
	for _, l := range clone {
		require.Equal(t, old, readFile(t, l, 8192, len(old)), "clone of the snapshot")
	}
	// ... and writing to it leaves the source alone
	for _, l := range clone {
		writeFile(t, l, 8192, bytes.Repeat([]byte("clone-written!"), 1000))
	}
	for _, l := range legs {
		require.Equal(t, newer, readFile(t, l, 8192, len(newer)), "source unchanged by writes to the clone")
	}

	// a volume from the volume has the newest bytes
	var v3 *volumes.Volume
	srcClone := s.newLegs(t, func() {
		v3, err = volumes.Create(ctx, c, volumes.CreateOpts{SourceVolID: v1.ID, Name: "v3"}, nil).Extract()
		require.NoError(t, err)
		waitVolume(t, c, v3.ID, "available")
	})
	require.Len(t, srcClone, 2)
	for _, l := range srcClone {
		require.Equal(t, newer, readFile(t, l, 8192, len(newer)))
	}

	// quotas and limits see the usage
	qs, err := quotasets.GetUsage(ctx, c, project).Extract()
	require.NoError(t, err)
	require.GreaterOrEqual(t, qs.Volumes.InUse, 3)
	lim, err := limits.Get(ctx, c).Extract()
	require.NoError(t, err)
	require.GreaterOrEqual(t, lim.Absolute.TotalVolumesUsed, 3)
	require.Positive(t, lim.Absolute.MaxTotalVolumes)

	// delete everything; no leg file is left behind
	for _, id := range []string{v2.ID, v3.ID} {
		require.NoError(t, volumes.Delete(ctx, c, id, nil).ExtractErr())
	}
	require.NoError(t, snapshots.Delete(ctx, c, sn.ID).ExtractErr())
	waitGone(t, func() error { return snapshots.Get(ctx, c, sn.ID).Err })
	require.NoError(t, volumes.Delete(ctx, c, v1.ID, nil).ExtractErr())
	for _, id := range []string{v1.ID, v2.ID, v3.ID} {
		waitGone(t, func() error { return volumes.Get(ctx, c, id).Err })
	}
	require.Empty(t, s.legFiles(t), "legs left behind")
	snaps, _ := filepath.Glob(filepath.Join(s.dataDir, "dpv-*", "snapshots", "*.img"))
	require.Empty(t, snaps, "snapshot legs left behind")
	require.NoError(t, volumetypes.Delete(ctx, c, vt.ID).ExtractErr())
}

// TestBadInput sends what a careless or hostile client might, and checks each gets the Cinder
// fault with the right code and changes nothing.
func TestBadInput(t *testing.T) {
	s := startService(t)
	c, _ := s.client(t, s.env["OS_USERNAME"], s.env["OS_PASSWORD"], s.env["OS_PROJECT_NAME"])
	demo, _ := s.client(t, "demo", "demo", "demo")
	ctx := context.Background()
	token := func(c *gophercloud.ServiceClient) string { return c.ProviderClient.Token() }

	own, err := volumes.Create(ctx, c, volumes.CreateOpts{Size: 1, Name: "mine"}, nil).Extract()
	require.NoError(t, err)
	waitVolume(t, c, own.ID, "available")

	count := func() int {
		pages, err := volumes.List(c, volumes.ListOpts{AllTenants: true}).AllPages(ctx)
		require.NoError(t, err)
		vs, err := volumes.ExtractVolumes(pages)
		require.NoError(t, err)
		return len(vs)
	}
	before := count()

	long := strings.Repeat("x", 10000)
	cases := []struct {
		name, method, path, ctype, body string
		client                          *gophercloud.ServiceClient
		code                            int
		fault                           string
	}{
		{"negative size", "POST", "volumes", "application/json", `{"volume":{"size":-1}}`, c, 400, "badRequest"},
		{"zero size", "POST", "volumes", "application/json", `{"volume":{"size":0}}`, c, 400, "badRequest"},
		{"huge size", "POST", "volumes", "application/json", `{"volume":{"size":99999999999}}`, c, 400, "badRequest"},
		{"size over quota", "POST", "volumes", "application/json", `{"volume":{"size":100000}}`, c, 413, "overLimit"},
		{"string size", "POST", "volumes", "application/json", `{"volume":{"size":"big"}}`, c, 400, "badRequest"},
		{"unknown type", "POST", "volumes", "application/json", `{"volume":{"size":1,"volume_type":"no-such-type"}}`, c, 404, "itemNotFound"},
		{"malformed json", "POST", "volumes", "application/json", `{"volume":{"size":1`, c, 400, "badRequest"},
		{"wrong content type", "POST", "volumes", "text/plain", `{"volume":{"size":1}}`, c, 415, "badMediaType"},
		{"name of 10000 characters", "POST", "volumes", "application/json", `{"volume":{"size":1,"name":"` + long + `"}}`, c, 400, "badRequest"},
		{"no volume key", "POST", "volumes", "application/json", `{"size":1}`, c, 400, "badRequest"},
		{"other project's volume", "GET", "volumes/" + own.ID, "", "", demo, 404, "itemNotFound"},
		{"delete other project's volume", "DELETE", "volumes/" + own.ID, "", "", demo, 404, "itemNotFound"},
		{"rename other project's volume", "PUT", "volumes/" + own.ID, "application/json", `{"volume":{"name":"stolen"}}`, demo, 404, "itemNotFound"},
		{"unknown snapshot source", "POST", "volumes", "application/json", `{"volume":{"size":1,"snapshot_id":"5a1f2c3e-0000-4000-8000-000000000000"}}`, c, 404, "itemNotFound"},
		{"extend smaller", "POST", "volumes/" + own.ID + "/action", "application/json", `{"os-extend":{"new_size":1}}`, c, 400, "badRequest"},
		{"member creates a type", "POST", "types", "application/json", `{"volume_type":{"name":"x"}}`, demo, 403, "forbidden"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, tc.client.ResourceBaseURL()+tc.path, strings.NewReader(tc.body))
			require.NoError(t, err)
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			req.Header.Set("X-Auth-Token", token(tc.client))
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			require.Equal(t, tc.code, resp.StatusCode, string(b))
			require.Contains(t, string(b), `"`+tc.fault+`"`)
			require.NotContains(t, strings.ToLower(string(b)), "sql", "no internal causes leak")
			require.Equal(t, "application/json", strings.Split(resp.Header.Get("Content-Type"), ";")[0])
		})
	}
	require.Equal(t, before, count(), "bad requests created nothing")
	v, err := volumes.Get(ctx, c, own.ID).Extract()
	require.NoError(t, err)
	require.Equal(t, "mine", v.Name)
	require.Equal(t, 1, v.Size)
	require.Equal(t, "available", v.Status)
}
