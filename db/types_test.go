package db_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
)

func TestVolumeTypes(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, d *db.DB) {
		s := d.Store()
		gold := &model.VolumeType{ID: "t-gold", Name: "gold", Description: "fast", IsPublic: true,
			ExtraSpecs: map[string]string{model.SpecMirrors: "2", model.SpecBackendName: "dlvm"},
			QosSpecsID: "q1", CreatedAt: base, UpdatedAt: base}
		require.NoError(t, s.CreateType(ctx, gold))
		silver := &model.VolumeType{ID: "t-silver", Name: "silver", IsPublic: false}
		require.NoError(t, s.CreateType(ctx, silver))

		got, err := s.GetType(ctx, "t-gold")
		require.NoError(t, err)
		require.Equal(t, gold, got)
		got, err = s.GetTypeByName(ctx, "silver")
		require.NoError(t, err)
		require.Equal(t, "t-silver", got.ID)
		require.Empty(t, got.ExtraSpecs)
		_, err = s.GetType(ctx, "nope")
		require.ErrorIs(t, err, model.ErrNotFound)
		_, err = s.GetTypeByName(ctx, "nope")
		require.ErrorIs(t, err, model.ErrNotFound)

		dup := []struct {
			name string
			t    *model.VolumeType
		}{
			{"same name", &model.VolumeType{ID: "t-other", Name: "gold"}},
			{"same id", &model.VolumeType{ID: "t-gold", Name: "platinum"}},
		}
		for _, tc := range dup {
			t.Run(tc.name, func(t *testing.T) {
				require.ErrorIs(t, s.CreateType(ctx, tc.t), model.ErrConflict)
			})
		}

		t.Run("list and is_public filter", func(t *testing.T) {
			all, err := s.ListTypes(ctx, nil)
			require.NoError(t, err)
			require.Len(t, all, 2)
			require.Equal(t, "gold", all[0].Name)
			require.Equal(t, gold.ExtraSpecs, all[0].ExtraSpecs)
			pub, err := s.ListTypes(ctx, ptrBool(true))
			require.NoError(t, err)
			require.Len(t, pub, 1)
			require.Equal(t, "gold", pub[0].Name)
			priv, err := s.ListTypes(ctx, ptrBool(false))
			require.NoError(t, err)
			require.Len(t, priv, 1)
			require.Equal(t, "silver", priv[0].Name)
		})

		t.Run("extra specs", func(t *testing.T) {
			require.NoError(t, s.SetExtraSpecs(ctx, "t-gold", map[string]string{model.SpecMirrors: "3", model.SpecStripes: "2"}))
			got, err := s.GetType(ctx, "t-gold")
			require.NoError(t, err)
			require.Equal(t, map[string]string{model.SpecMirrors: "3", model.SpecStripes: "2", model.SpecBackendName: "dlvm"}, got.ExtraSpecs)
			require.NoError(t, s.DeleteExtraSpec(ctx, "t-gold", model.SpecStripes))
			require.ErrorIs(t, s.DeleteExtraSpec(ctx, "t-gold", model.SpecStripes), model.ErrNotFound)
			require.ErrorIs(t, s.SetExtraSpecs(ctx, "nope", map[string]string{"a": "b"}), model.ErrNotFound)
			require.ErrorIs(t, s.DeleteExtraSpec(ctx, "nope", "a"), model.ErrNotFound)
		})

		t.Run("update", func(t *testing.T) {
			silver.Name, silver.Description, silver.IsPublic = "bronze", "cheap", true
			require.NoError(t, s.UpdateType(ctx, silver))
			got, err := s.GetType(ctx, "t-silver")
			require.NoError(t, err)
			require.Equal(t, "bronze", got.Name)
			require.Equal(t, "cheap", got.Description)
			require.True(t, got.IsPublic)
			require.NoError(t, s.UpdateType(ctx, silver), "unchanged name is no conflict with itself")
			silver.Name = "gold"
			require.ErrorIs(t, s.UpdateType(ctx, silver), model.ErrConflict)
			require.ErrorIs(t, s.UpdateType(ctx, &model.VolumeType{ID: "nope", Name: "x"}), model.ErrNotFound)
		})

		t.Run("delete in use", func(t *testing.T) {
			v := newVolume("vol-1", "p1", base)
			v.VolumeTypeID = "t-gold"
			require.NoError(t, s.CreateVolume(ctx, v))
			require.ErrorIs(t, s.DeleteType(ctx, "t-gold"), model.ErrConflict)
			require.NoError(t, s.DeleteVolume(ctx, "vol-1"))
		})

		t.Run("delete frees the name", func(t *testing.T) {
			require.NoError(t, s.DeleteType(ctx, "t-gold"))
			require.ErrorIs(t, s.DeleteType(ctx, "t-gold"), model.ErrNotFound)
			_, err := s.GetType(ctx, "t-gold")
			require.ErrorIs(t, err, model.ErrNotFound)
			_, err = s.GetTypeByName(ctx, "gold")
			require.ErrorIs(t, err, model.ErrNotFound)
			again := &model.VolumeType{ID: "t-gold-2", Name: "gold", IsPublic: true}
			require.NoError(t, s.CreateType(ctx, again))
			// A second deleted "gold" may coexist with the first.
			require.NoError(t, s.DeleteType(ctx, "t-gold-2"))
			all, err := s.ListTypes(ctx, nil)
			require.NoError(t, err)
			require.Len(t, all, 1)
			require.Equal(t, "bronze", all[0].Name)
		})
	})
}
