package db_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
)

func TestGetVolumeLegs(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, d *db.DB) {
		s := d.Store()
		for _, p := range []*model.DPV{{ID: "d1", Name: "a", URL: "http://a"}, {ID: "d2", Name: "b", URL: "http://b"}} {
			require.NoError(t, s.UpsertDPV(ctx, p))
		}
		leg := func(id, owner, dpv string, group, mirror int, status string) *model.Leg {
			return &model.Leg{ID: id, OwnerKind: model.OwnerVolume, OwnerID: owner, Group: group, Mirror: mirror,
				DPVID: dpv, SizeBytes: model.GiB, Status: status}
		}
		for _, id := range []string{"v-legs", "v-none", "v-norow"} {
			require.NoError(t, s.CreateVolume(ctx, newVolume(id, "p1", base)))
		}
		require.NoError(t, s.CreateLegs(ctx, []*model.Leg{
			leg("l-b", "v-legs", "d2", 0, 1, model.LegCreating), leg("l-a", "v-legs", "d1", 0, 0, model.LegAvailable),
			leg("l-c", "v-legs", "d1", 1, 0, model.LegCreating), leg("l-old", "v-legs", "d2", 0, 0, model.LegDeleted),
			leg("l-x", "v-norow", "d1", 0, 0, model.LegCreating), leg("l-y", "v-norow", "d-norow", 0, 1, model.LegCreating),
		}))

		for _, id := range []string{"v-legs", "v-none", "v-norow"} {
			t.Run(id, func(t *testing.T) {
				v, legs, dpvs, err := s.GetVolumeLegs(ctx, id)
				require.NoError(t, err)
				wantV, err := s.GetVolume(ctx, id)
				require.NoError(t, err)
				wantV.Metadata = map[string]string{} // read without its metadata
				require.Equal(t, wantV, v)
				wantLegs, err := s.ListLegs(ctx, id)
				require.NoError(t, err)
				require.Equal(t, wantLegs, legs, "the legs, in ListLegs order")
				var ids []string
				for _, l := range wantLegs {
					ids = append(ids, l.DPVID)
				}
				wantDPVs, err := s.GetDPVs(ctx, ids)
				require.NoError(t, err)
				require.Equal(t, wantDPVs, dpvs)
			})
		}
		_, _, _, err := s.GetVolumeLegs(ctx, "nope")
		require.ErrorIs(t, err, model.ErrNotFound)
	})
}
