package db_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
)

func TestSwapLegOwners(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, d *db.DB) {
		s := d.Store()
		leg := func(id, owner, status string) *model.Leg {
			return &model.Leg{ID: id, OwnerKind: model.OwnerVolume, OwnerID: owner, DPVID: "dpv-1", SizeBytes: 1, Status: status}
		}
		require.NoError(t, s.CreateLegs(ctx, []*model.Leg{leg("old-1", "vol", model.LegAvailable),
			leg("old-2", "vol", model.LegAvailable), leg("gone", "vol", model.LegDeleted),
			leg("new-1", "wf", model.LegAvailable), leg("other", "x", model.LegAvailable)}))
		require.NoError(t, s.SwapLegOwners(ctx, "vol", "wf"))
		ids := func(owner string) []string {
			legs, err := s.ListLegs(ctx, owner)
			require.NoError(t, err)
			var out []string
			for _, l := range legs {
				out = append(out, l.ID)
			}
			return out
		}
		require.Equal(t, []string{"new-1"}, ids("vol"))
		require.ElementsMatch(t, []string{"old-1", "old-2"}, ids("wf"))
		require.Equal(t, []string{"other"}, ids("x"))
	})
}

func TestSwapLeg(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, d *db.DB) {
		st := d.Store()
		require.NoError(t, st.CreateLegs(ctx, []*model.Leg{
			{ID: "old", OwnerKind: model.OwnerVolume, OwnerID: "v1", Group: 0, Mirror: 1, DPVID: "p1", SizeBytes: 10, Status: model.LegAvailable},
			{ID: "keep", OwnerKind: model.OwnerVolume, OwnerID: "v1", Group: 0, Mirror: 0, DPVID: "p2", SizeBytes: 10, Status: model.LegAvailable},
			{ID: "new", OwnerKind: model.OwnerReplacement, OwnerID: "wf-1", Group: 0, Mirror: 1, DPVID: "p3", SizeBytes: 10, Status: model.LegCreating, SourceLegID: "old"},
		}))
		require.NoError(t, st.SetHostLegHealth(ctx, "c1", []*model.LegHealth{{LegID: "old", VolumeID: "v1", State: model.LegStateFailed}}))
		legs, err := st.ListLegs(ctx, "v1")
		require.NoError(t, err)
		require.Len(t, legs, 2, "the replacement is not part of the volume yet")

		for range 2 { // idempotent
			require.NoError(t, st.SwapLeg(ctx, "v1", "old", "new"))
			legs, err = st.ListLegs(ctx, "v1")
			require.NoError(t, err)
			require.Equal(t, []string{"keep", "new"}, []string{legs[0].ID, legs[1].ID})
			require.Equal(t, model.LegAvailable, legs[1].Status)
			retired, err := st.ListLegsByKind(ctx, model.OwnerRetired)
			require.NoError(t, err)
			require.Len(t, retired, 1)
			require.Equal(t, "old", retired[0].ID)
			require.Equal(t, model.LegDeleting, retired[0].Status)
			require.Equal(t, "p1", retired[0].DPVID)
			require.Equal(t, "new", retired[0].OwnerID)
		}
		hs, err := st.ListLegHealth(ctx, "v1")
		require.NoError(t, err)
		require.Empty(t, hs)
		require.ErrorIs(t, st.SwapLeg(ctx, "v1", "old", "missing"), model.ErrNotFound)
	})
}
