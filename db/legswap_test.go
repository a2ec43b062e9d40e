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
