package db_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
)

func TestDVGsAndDPVs(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, d *db.DB) {
		s := d.Store()
		gb := &model.DVG{ID: "g2", Name: "beta", BackendName: "dlvm", AvailabilityZone: "nova",
			OverSubscription: 20.5, ReservedPercentage: 5, CreatedAt: base}
		ga := &model.DVG{ID: "g1", Name: "alpha", BackendName: "dlvm", AvailabilityZone: "nova", OverSubscription: 1}
		require.NoError(t, s.UpsertDVG(ctx, gb))
		require.NoError(t, s.UpsertDVG(ctx, ga))
		gb.OverSubscription = 3
		gb.CreatedAt = base.Add(time.Hour) // ignored on update
		require.NoError(t, s.UpsertDVG(ctx, gb))

		gs, err := s.ListDVGs(ctx)
		require.NoError(t, err)
		require.Len(t, gs, 2)
		require.Equal(t, "alpha", gs[0].Name)
		require.Equal(t, 3.0, gs[1].OverSubscription)
		require.Equal(t, 5, gs[1].ReservedPercentage)
		require.True(t, gs[1].CreatedAt.Equal(base), "created_at kept on update")

		p := &model.DPV{ID: "d1", Name: "node-b", DVGID: "g1", URL: "http://127.0.0.1:8801", Location: "rack1",
			PoolType: "file", TargetPortal: "127.0.0.1:3260", TotalBytes: 100 << 30, FreeBytes: 90 << 30,
			ProvisionedBytes: 10 << 30, State: "up", HeartbeatAt: base, CreatedAt: base}
		require.NoError(t, s.UpsertDPV(ctx, p))
		require.NoError(t, s.UpsertDPV(ctx, &model.DPV{ID: "d2", Name: "node-a", DVGID: "g1", State: "down"}))
		require.NoError(t, s.UpsertDPV(ctx, &model.DPV{ID: "d3", Name: "node-c", DVGID: "g2", State: "up"}))

		got, err := s.GetDPV(ctx, "d1")
		require.NoError(t, err)
		require.Equal(t, p, got)
		p.FreeBytes, p.HeartbeatAt = 80<<30, base.Add(time.Minute)
		require.NoError(t, s.UpsertDPV(ctx, p))
		got, err = s.GetDPV(ctx, "d1")
		require.NoError(t, err)
		require.Equal(t, p, got)
		_, err = s.GetDPV(ctx, "nope")
		require.ErrorIs(t, err, model.ErrNotFound)

		d2, err := s.GetDPV(ctx, "d2")
		require.NoError(t, err)
		require.True(t, d2.HeartbeatAt.IsZero(), "zero heartbeat round-trips")

		tests := []struct {
			dvg  string
			want []string
		}{
			{"g1", []string{"d2", "d1"}},
			{"g2", []string{"d3"}},
			{"", []string{"d2", "d1", "d3"}},
			{"none", []string{}},
		}
		for _, tc := range tests {
			t.Run("dvg="+tc.dvg, func(t *testing.T) {
				ps, err := s.ListDPVs(ctx, tc.dvg)
				require.NoError(t, err)
				ids := []string{}
				for _, p := range ps {
					ids = append(ids, p.ID)
				}
				require.Equal(t, tc.want, ids)
			})
		}
	})
}

func TestLegs(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, d *db.DB) {
		s := d.Store()
		mk := func(id string, g, m int, dpv string, size int64) *model.Leg {
			return &model.Leg{ID: id, OwnerKind: model.OwnerVolume, OwnerID: "vol-1", Group: g, Mirror: m,
				DPVID: dpv, SizeBytes: size, Status: model.LegCreating, CreatedAt: base, UpdatedAt: base}
		}
		legs := []*model.Leg{mk("l4", 1, 1, "d1", 10), mk("l1", 0, 0, "d1", 10), mk("l3", 1, 0, "d2", 10), mk("l2", 0, 1, "d2", 10)}
		require.NoError(t, s.CreateLegs(ctx, legs))
		snapLeg := &model.Leg{ID: "l5", OwnerKind: model.OwnerSnapshot, OwnerID: "snap-1", DPVID: "d1",
			SizeBytes: 5, SourceLegID: "l1", Status: model.LegAvailable}
		require.NoError(t, s.CreateLegs(ctx, []*model.Leg{snapLeg}))

		t.Run("all or none", func(t *testing.T) {
			err := s.CreateLegs(ctx, []*model.Leg{mk("l9", 2, 0, "d1", 1), mk("l1", 2, 1, "d1", 1)})
			require.ErrorIs(t, err, model.ErrConflict)
			got, err := s.ListLegsOnDPV(ctx, "d1")
			require.NoError(t, err)
			for _, l := range got {
				require.NotEqual(t, "l9", l.ID)
			}
		})

		got, err := s.ListLegs(ctx, "vol-1")
		require.NoError(t, err)
		ids := []string{}
		for _, l := range got {
			ids = append(ids, l.ID)
		}
		require.Equal(t, []string{"l1", "l2", "l3", "l4"}, ids)
		require.Equal(t, legs[1], got[0])

		sl, err := s.ListLegs(ctx, "snap-1")
		require.NoError(t, err)
		require.Len(t, sl, 1)
		require.Equal(t, "l1", sl[0].SourceLegID)
		require.False(t, sl[0].CreatedAt.IsZero())

		prov, err := s.ProvisionedBytesByDPV(ctx)
		require.NoError(t, err)
		require.Equal(t, map[string]int64{"d1": 25, "d2": 20}, prov)

		// Move l4 to d2 and grow it; delete l3.
		l4 := got[3]
		l4.DPVID, l4.SizeBytes, l4.Status = "d2", 30, model.LegAvailable
		require.NoError(t, s.UpdateLeg(ctx, l4))
		l3 := got[2]
		l3.Status = model.LegDeleted
		require.NoError(t, s.UpdateLeg(ctx, l3))
		require.ErrorIs(t, s.UpdateLeg(ctx, &model.Leg{ID: "nope"}), model.ErrNotFound)

		onD2, err := s.ListLegsOnDPV(ctx, "d2")
		require.NoError(t, err)
		require.Len(t, onD2, 2)
		require.Equal(t, "l2", onD2[0].ID)
		require.Equal(t, "l4", onD2[1].ID)
		require.Equal(t, int64(30), onD2[1].SizeBytes)
		require.Equal(t, model.LegAvailable, onD2[1].Status)
		prov, err = s.ProvisionedBytesByDPV(ctx)
		require.NoError(t, err)
		require.Equal(t, map[string]int64{"d1": 15, "d2": 40}, prov)
		vl, err := s.ListLegs(ctx, "vol-1")
		require.NoError(t, err)
		require.Len(t, vl, 3)
	})
}

func TestSetLegStatusesAndPlaceVolume(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, d *db.DB) {
		s := d.Store()
		legs := []*model.Leg{
			{ID: "a", OwnerKind: model.OwnerVolume, OwnerID: "v1", DPVID: "d1", SizeBytes: 1, Status: model.LegCreating},
			{ID: "b", OwnerKind: model.OwnerVolume, OwnerID: "v1", Mirror: 1, DPVID: "d2", SizeBytes: 1, Status: model.LegCreating},
		}
		require.NoError(t, s.CreateLegs(ctx, legs))
		require.NoError(t, s.SetLegStatuses(ctx, legs, model.LegAvailable))
		got, err := s.ListLegs(ctx, "v1")
		require.NoError(t, err)
		for _, l := range got {
			require.Equal(t, model.LegAvailable, l.Status)
		}
		err = d.InTx(ctx, func(tx *db.Store) error {
			return tx.SetLegStatuses(ctx, []*model.Leg{{ID: "a"}, {ID: "nope"}}, model.LegDeleted)
		})
		require.ErrorIs(t, err, model.ErrNotFound)
		got, err = s.ListLegs(ctx, "v1")
		require.NoError(t, err)
		require.Len(t, got, 2, "nothing written when a leg is missing")

		v := newVolume("pv", "p1", base)
		v.Status, v.DVGID, v.Host = model.StatusCreating, "", ""
		require.NoError(t, s.CreateVolume(ctx, v))
		ok, err := s.PlaceVolume(ctx, "pv", "dvg-9", "dlvm@b#dvg-9")
		require.NoError(t, err)
		require.True(t, ok)
		pv, err := s.GetVolume(ctx, "pv")
		require.NoError(t, err)
		require.Equal(t, "dvg-9", pv.DVGID)
		require.Equal(t, "dlvm@b#dvg-9", pv.Host)
		require.Equal(t, v.Name, pv.Name)
		ok, err = s.PlaceVolume(ctx, "pv", "dvg-8", "x")
		require.NoError(t, err)
		require.False(t, ok, "placed already")
		ok, err = s.PlaceVolume(ctx, "missing", "dvg-8", "x")
		require.NoError(t, err)
		require.False(t, ok)

		// legs without a dvg (nothing should leave that, but a second placement must not add
		// legs to a volume that has some)
		lv := newVolume("lv", "p1", base)
		lv.Status, lv.DVGID, lv.Host = model.StatusCreating, "", ""
		require.NoError(t, s.CreateVolume(ctx, lv))
		require.NoError(t, s.CreateLegs(ctx, []*model.Leg{{ID: "lv-a", OwnerKind: model.OwnerVolume, OwnerID: "lv", DPVID: "d1", SizeBytes: 1, Status: model.LegCreating}}))
		ok, err = s.PlaceVolume(ctx, "lv", "dvg-8", "x")
		require.NoError(t, err)
		require.False(t, ok, "has legs")
		require.NoError(t, s.SetLegStatuses(ctx, []*model.Leg{{ID: "lv-a"}}, model.LegDeleted))
		ok, err = s.PlaceVolume(ctx, "lv", "dvg-8", "x")
		require.NoError(t, err)
		require.True(t, ok, "deleted legs do not count")
	})
}

func TestGetDPVsAndProvisionedBytes(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, d *db.DB) {
		s := d.Store()
		for _, p := range []*model.DPV{{ID: "d1", Name: "b", DVGID: "g1", State: "up", URL: "http://x"}, {ID: "d2", Name: "a", DVGID: "g1"}, {ID: "d3", Name: "c", DVGID: "g2"}} {
			require.NoError(t, s.UpsertDPV(ctx, p))
		}
		require.NoError(t, s.CreateLegs(ctx, []*model.Leg{
			{ID: "l1", OwnerKind: model.OwnerVolume, OwnerID: "v1", DPVID: "d1", SizeBytes: 5, Status: model.LegAvailable},
			{ID: "l2", OwnerKind: model.OwnerVolume, OwnerID: "v1", Mirror: 1, DPVID: "d2", SizeBytes: 7, Status: model.LegCreating},
			{ID: "l3", OwnerKind: model.OwnerVolume, OwnerID: "v2", DPVID: "d1", SizeBytes: 11, Status: model.LegAvailable},
			{ID: "l4", OwnerKind: model.OwnerVolume, OwnerID: "v3", DPVID: "d3", SizeBytes: 13, Status: model.LegDeleted},
		}))

		got, err := s.GetDPVs(ctx, []string{"d1", "d3", "nope"})
		require.NoError(t, err)
		require.Len(t, got, 2)
		d1, err := s.GetDPV(ctx, "d1")
		require.NoError(t, err)
		require.Equal(t, d1, got["d1"])
		none, err := s.GetDPVs(ctx, nil)
		require.NoError(t, err)
		require.Empty(t, none)

		// deleted legs do not count; dpvs without legs are absent
		prov, err := s.ProvisionedBytesByDPV(ctx)
		require.NoError(t, err)
		require.Equal(t, map[string]int64{"d1": 16, "d2": 7}, prov)
	})
}
