package apiv3

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/limits"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/quotasets"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/snapshots"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumes"
	"github.com/gophercloud/gophercloud/v2/openstack/blockstorage/v3/volumetypes"
	"github.com/gophercloud/gophercloud/v2/pagination"
	"github.com/stretchr/testify/require"
)

// identityTransport adds the test identity headers to every request.
type identityTransport struct{ roles string }

func (t identityTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Project-Id", projA)
	r.Header.Set("X-User-Id", userA)
	r.Header.Set("X-Roles", t.roles)
	return http.DefaultTransport.RoundTrip(r)
}

func gopherClient(t *testing.T, srvURL, roles, microversion string) *gophercloud.ServiceClient {
	t.Helper()
	pc := &gophercloud.ProviderClient{HTTPClient: http.Client{Transport: identityTransport{roles}}}
	return &gophercloud.ServiceClient{ProviderClient: pc, Endpoint: srvURL + "/v3/" + projA + "/",
		Type: "block-storage", Microversion: microversion}
}

// TestGophercloudDecodes proves gophercloud v2's blockstorage v3 packages accept our responses.
func TestGophercloudDecodes(t *testing.T) {
	svc := newFakeService()
	srv := httptest.NewServer(New(svc, Options{Identity: HeaderIdentity}))
	defer srv.Close()
	ctx := context.Background()
	for _, mv := range []string{"3.0", "3.48", "3.70"} {
		t.Run(mv, func(t *testing.T) {
			c := gopherClient(t, srv.URL, "member,reader", mv)
			v, err := volumes.Create(ctx, c, volumes.CreateOpts{Size: 1, Name: "g1", Metadata: map[string]string{"a": "b"}}, nil).Extract()
			require.NoError(t, err)
			require.Equal(t, "g1", v.Name)
			require.False(t, v.CreatedAt.IsZero())

			got, err := volumes.Get(ctx, c, v.ID).Extract()
			require.NoError(t, err)
			require.Equal(t, v.ID, got.ID)
			require.Equal(t, "__DEFAULT__", got.VolumeType)
			require.Equal(t, projA, got.TenantID)

			pages := 0
			var all []volumes.Volume
			err = volumes.List(c, volumes.ListOpts{Limit: 1}).EachPage(ctx, func(_ context.Context, p pagination.Page) (bool, error) {
				pages++
				vs, err := volumes.ExtractVolumes(p)
				all = append(all, vs...)
				return true, err
			})
			require.NoError(t, err)
			require.Equal(t, len(svc.vols), len(all))
			require.GreaterOrEqual(t, pages, len(all), "pagination follows volumes_links")

			_, err = volumes.Update(ctx, c, v.ID, volumes.UpdateOpts{Name: new("g2")}).Extract()
			require.NoError(t, err)
			require.NoError(t, volumes.ExtendSize(ctx, c, v.ID, volumes.ExtendSizeOpts{NewSize: 2}).ExtractErr())
			require.NoError(t, volumes.SetBootable(ctx, c, v.ID, volumes.BootableOpts{Bootable: true}).ExtractErr())

			s, err := snapshots.Create(ctx, c, snapshots.CreateOpts{VolumeID: v.ID, Name: "s"}).Extract()
			require.NoError(t, err)
			_, err = snapshots.Get(ctx, c, s.ID).Extract()
			require.NoError(t, err)
			sp, err := snapshots.ListDetail(c, nil).AllPages(ctx)
			require.NoError(t, err)
			ss, err := snapshots.ExtractSnapshots(sp)
			require.NoError(t, err)
			require.NotEmpty(t, ss)

			tp, err := volumetypes.List(c, nil).AllPages(ctx)
			require.NoError(t, err)
			types, err := volumetypes.ExtractVolumeTypes(tp)
			require.NoError(t, err)
			require.NotEmpty(t, types)

			qs, err := quotasets.GetUsage(ctx, c, projA).Extract()
			require.NoError(t, err)
			require.EqualValues(t, 1000, qs.Gigabytes.Limit)
			l, err := limits.Get(ctx, c).Extract()
			require.NoError(t, err)
			require.EqualValues(t, 10, l.Absolute.MaxTotalVolumes)

			require.NoError(t, volumes.Delete(ctx, c, v.ID, volumes.DeleteOpts{Cascade: true}).ExtractErr())
			_, err = volumes.Get(ctx, c, "not-a-uuid").Extract()
			require.True(t, gophercloud.ResponseCodeIs(err, http.StatusNotFound), "err %v", err)
		})
	}
	ac := gopherClient(t, srv.URL, "admin", "3.0")
	vt, err := volumetypes.Create(ctx, ac, volumetypes.CreateOpts{Name: "silver", ExtraSpecs: map[string]string{"dlvm:mirrors": "1"}}).Extract()
	require.NoError(t, err)
	require.Equal(t, "silver", vt.Name)
	specs, err := volumetypes.ListExtraSpecs(ctx, ac, vt.ID).Extract()
	require.NoError(t, err)
	require.Equal(t, "1", specs["dlvm:mirrors"])
}
