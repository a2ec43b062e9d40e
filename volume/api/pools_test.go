package api

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/model"
)

func TestPools(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	e := newEnv(t, "sqlite", Options{Backend: "be", Now: func() time.Time { return now }})
	s := e.db.Store()
	require.NoError(t, s.UpsertDVG(e.ctx, &model.DVG{ID: "g1", Name: "fast", BackendName: "dlvm-fast", AvailabilityZone: "nova", ReservedPercentage: 5, OverSubscription: 4}))
	require.NoError(t, s.UpsertDVG(e.ctx, &model.DVG{ID: "g2", Name: "slow", AvailabilityZone: "az2"}))
	dpvs := []*model.DPV{
		{ID: "p1", Name: "p1", DVGID: "g1", State: "up", HeartbeatAt: now.Add(-10 * time.Second), TotalBytes: 100 * model.GiB, FreeBytes: 60 * model.GiB},
		{ID: "p2", Name: "p2", DVGID: "g1", State: "up", HeartbeatAt: now.Add(-59 * time.Second), TotalBytes: 50 * model.GiB, FreeBytes: 50*model.GiB - model.GiB/4},
		{ID: "p3", Name: "p3", DVGID: "g1", State: "up", HeartbeatAt: now.Add(-61 * time.Second), TotalBytes: 1000 * model.GiB, FreeBytes: 1000 * model.GiB}, // stale
		{ID: "p4", Name: "p4", DVGID: "g1", State: "down", HeartbeatAt: now, TotalBytes: 1000 * model.GiB, FreeBytes: 1000 * model.GiB},
	}
	for _, p := range dpvs {
		p.PoolType, p.URL, p.TargetPortal = "file", "http://"+p.ID, "127.0.0.1:3260"
		require.NoError(t, s.UpsertDPV(e.ctx, p))
	}
	v := e.volume(alice, 2, model.StatusAvailable)
	require.NoError(t, s.CreateLegs(e.ctx, []*model.Leg{
		{ID: "l1", OwnerKind: model.OwnerVolume, OwnerID: v.ID, Group: 0, Mirror: 0, DPVID: "p1", SizeBytes: 2 * model.GiB, Status: model.LegAvailable},
		{ID: "l2", OwnerKind: model.OwnerVolume, OwnerID: v.ID, Group: 0, Mirror: 1, DPVID: "p3", SizeBytes: 2 * model.GiB, Status: model.LegAvailable},
	}))

	pools, err := e.api.Pools(e.ctx)
	require.NoError(t, err)
	require.Len(t, pools, 2)
	fast := pools[0]
	require.Equal(t, "dlvm@dlvm-fast#fast", fast.Name) // the dvg's backend, as the scheduler writes hosts
	want := map[string]any{
		"pool_name":                   "fast",
		"total_capacity_gb":           150.0,
		"free_capacity_gb":            109.75,
		"provisioned_capacity_gb":     4.0,
		"allocated_capacity_gb":       4.0,
		"max_over_subscription_ratio": 4.0,
		"reserved_percentage":         5,
		"thin_provisioning_support":   true,
		"thick_provisioning_support":  false,
		"volume_backend_name":         "dlvm-fast",
		"vendor_name":                 "dlvm",
		"driver_version":              "1.0",
		"storage_protocol":            "iSCSI",
		"multiattach":                 true,
		"timestamp":                   "2025-01-02T03:04:05Z",
		"dpvs":                        2,
	}
	require.Equal(t, want, fast.Capabilities)

	slow := pools[1]
	require.Equal(t, "dlvm@be#slow", slow.Name)
	require.Equal(t, 0.0, slow.Capabilities["total_capacity_gb"])
	require.Equal(t, "be", slow.Capabilities["volume_backend_name"])
	require.Equal(t, 20.0, slow.Capabilities["max_over_subscription_ratio"])
	require.Equal(t, 0, slow.Capabilities["dpvs"])
}

func TestAvailabilityZones(t *testing.T) {
	e := sqlite(t)
	zones, err := e.api.AvailabilityZones(e.ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"nova"}, zones)

	s := e.db.Store()
	for _, g := range []*model.DVG{{ID: "a", Name: "a", AvailabilityZone: "z2"}, {ID: "b", Name: "b", AvailabilityZone: "nova"}, {ID: "c", Name: "c", AvailabilityZone: "z1"}, {ID: "d", Name: "d", AvailabilityZone: "z2"}} {
		require.NoError(t, s.UpsertDVG(e.ctx, g))
	}
	zones, err = e.api.AvailabilityZones(e.ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"nova", "z1", "z2"}, zones)

	v, err := e.api.CreateVolume(e.ctx, alice, CreateVolumeRequest{Size: 1, AvailabilityZone: "z1"})
	require.NoError(t, err)
	require.Equal(t, "z1", v.AvailabilityZone)
}
