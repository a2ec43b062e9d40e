package db_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
)

func TestGetVolumeWithType(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, d *db.DB) {
		s := d.Store()
		require.NoError(t, s.CreateType(ctx, &model.VolumeType{ID: "t-priv", Name: "priv", IsPublic: false,
			ExtraSpecs: map[string]string{"k": "v"}}))
		require.NoError(t, s.AddTypeAccess(ctx, "t-priv", "p-ok"))
		v := newVolume("v1", "p1", base)
		v.VolumeTypeID = "t-priv"
		v.Metadata = map[string]string{"a": "1", "b": "2"}
		require.NoError(t, s.CreateVolume(ctx, v))

		want, err := s.GetVolume(ctx, "v1")
		require.NoError(t, err)
		got, vt, access, err := s.GetVolumeWithType(ctx, "v1", "p-ok")
		require.NoError(t, err)
		require.Equal(t, want, got, "the volume as GetVolume reads it, metadata included")
		require.Equal(t, &model.VolumeType{ID: "t-priv", Name: "priv", ExtraSpecs: map[string]string{}}, vt)
		require.True(t, access)
		_, _, access, err = s.GetVolumeWithType(ctx, "v1", "p-other")
		require.NoError(t, err)
		require.False(t, access)

		require.NoError(t, s.CreateType(ctx, &model.VolumeType{ID: "t-gone", Name: "gone", IsPublic: true}))
		require.NoError(t, s.DeleteType(ctx, "t-gone"))
		gv := newVolume("v3", "p1", base)
		gv.VolumeTypeID = "t-gone"
		require.NoError(t, s.CreateVolume(ctx, gv))
		_, vt, _, err = s.GetVolumeWithType(ctx, "v3", "p1")
		require.NoError(t, err)
		require.Nil(t, vt, "a deleted type is not shown")

		nv := newVolume("v2", "p1", base) // no type, no metadata
		nv.Metadata = nil
		require.NoError(t, s.CreateVolume(ctx, nv))
		got, vt, _, err = s.GetVolumeWithType(ctx, "v2", "p1")
		require.NoError(t, err)
		require.Nil(t, vt)
		require.Empty(t, got.Metadata)

		_, _, _, err = s.GetVolumeWithType(ctx, "nope", "p1")
		require.ErrorIs(t, err, model.ErrNotFound)
	})
}
