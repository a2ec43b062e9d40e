package api

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/model"
)

func TestVolumeHealth(t *testing.T) {
	e := sqlite(t)
	s := e.db.Store()
	now := time.Now().UTC()
	for _, p := range []*model.DPV{
		{ID: "p1", Name: "p1", State: "up", HeartbeatAt: now},
		{ID: "p2", Name: "p2", State: "up", HeartbeatAt: now},
	} {
		require.NoError(t, s.UpsertDPV(e.ctx, p))
	}
	v := e.volume(alice, 1, model.StatusInUse)
	require.NoError(t, s.CreateLegs(e.ctx, []*model.Leg{
		{ID: "l1", OwnerKind: model.OwnerVolume, OwnerID: v.ID, Group: 0, Mirror: 0, DPVID: "p1", SizeBytes: model.GiB, Status: model.LegAvailable},
		{ID: "l2", OwnerKind: model.OwnerVolume, OwnerID: v.ID, Group: 0, Mirror: 1, DPVID: "p2", SizeBytes: model.GiB, Status: model.LegAvailable},
	}))
	health := func() *model.VolumeHealth {
		t.Helper()
		h, err := e.api.VolumeHealth(e.ctx, admin, v.ID)
		require.NoError(t, err)
		return h
	}

	_, err := e.api.VolumeHealth(e.ctx, alice, v.ID)
	requireKind(t, err, model.ErrForbidden)
	h := health()
	require.Equal(t, model.HealthHealthy, h.Status, "no report, every dpv up")
	require.Len(t, h.Legs, 2)
	require.Equal(t, model.LegReport{LegID: "l1", Group: 0, Mirror: 0, DPVID: "p1", DPVState: "up"}, h.Legs[0])

	require.NoError(t, s.SetHostLegHealth(e.ctx, "c1", []*model.LegHealth{
		{LegID: "l1", VolumeID: v.ID, State: model.LegStateOK},
		{LegID: "l2", VolumeID: v.ID, State: model.LegStateFailed, DirtyRegions: 12, Message: "timeout"},
	}))
	h = health()
	require.Equal(t, model.HealthDegraded, h.Status)
	require.Equal(t, model.LegStateFailed, h.Legs[1].State)
	require.EqualValues(t, 12, h.Legs[1].DirtyRegions)

	require.NoError(t, s.SetHostLegHealth(e.ctx, "c1", []*model.LegHealth{
		{LegID: "l1", VolumeID: v.ID, State: model.LegStateOK},
		{LegID: "l2", VolumeID: v.ID, State: model.LegStateResyncing, DirtyRegions: 4},
	}))
	require.Equal(t, model.HealthResyncing, health().Status)

	// A dpv that stopped heartbeating makes the volume degraded whatever the hosts said last.
	require.NoError(t, s.SetHostLegHealth(e.ctx, "c1", nil))
	require.NoError(t, s.UpsertDPV(e.ctx, &model.DPV{ID: "p2", Name: "p2", State: "up", HeartbeatAt: now.Add(-time.Hour)}))
	h = health()
	require.Equal(t, model.HealthDegraded, h.Status)
	require.Equal(t, "down", h.Legs[1].DPVState)

	// A replacement of l2 being resynced by the host: the volume is resyncing, the replacement
	// is listed after the volume's legs.
	require.NoError(t, s.UpsertDPV(e.ctx, &model.DPV{ID: "p3", Name: "p3", State: "up", HeartbeatAt: now}))
	require.NoError(t, s.CreateLegs(e.ctx, []*model.Leg{{ID: "l3", OwnerKind: model.OwnerReplacement, OwnerID: "wf-1",
		Group: 0, Mirror: 1, DPVID: "p3", SizeBytes: model.GiB, SourceLegID: "l2", Status: model.LegCreating}}))
	require.NoError(t, s.SetHostLegHealth(e.ctx, "c1", []*model.LegHealth{
		{LegID: "l1", VolumeID: v.ID, State: model.LegStateOK},
		{LegID: "l3", VolumeID: v.ID, State: model.LegStateResyncing, DirtyRegions: 2},
	}))
	h = health()
	require.Equal(t, model.HealthResyncing, h.Status)
	require.Len(t, h.Legs, 3)
	require.Equal(t, "l3", h.Legs[2].LegID)
	require.Equal(t, model.LegStateResyncing, h.Legs[2].State)

	// The host has the replacement in sync, but it has not taken l2's place yet: still resyncing.
	require.NoError(t, s.SetHostLegHealth(e.ctx, "c1", []*model.LegHealth{
		{LegID: "l1", VolumeID: v.ID, State: model.LegStateOK},
		{LegID: "l3", VolumeID: v.ID, State: model.LegStateOK},
	}))
	require.Equal(t, model.HealthResyncing, health().Status)
	require.NoError(t, s.SwapLeg(e.ctx, v.ID, "l2", "l3"))
	h = health()
	require.Equal(t, model.HealthHealthy, h.Status, "swapped in: healthy")
	require.Len(t, h.Legs, 2)
}
