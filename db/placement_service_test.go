package db_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
)

// TestListDVGsWithService: the dvgs come as ListDVGs lists them and the service as GetService
// reads it (the fields that gate a placement), each also without the other.
func TestListDVGsWithService(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, d *db.DB) {
		s := d.Store()
		host := model.VolumeServiceHost("be1")
		gs, svc, err := s.ListDVGsWithService(ctx, host, model.BinaryVolume)
		require.NoError(t, err)
		require.Empty(t, gs)
		require.Nil(t, svc, "no service row")

		at := base.Add(time.Minute)
		require.NoError(t, s.HeartbeatService(ctx, host, model.BinaryVolume, "nova", at))
		require.NoError(t, s.HeartbeatService(ctx, host, model.BinaryScheduler, "nova", at.Add(time.Hour)))
		require.NoError(t, s.SetServiceDisabled(ctx, host, model.BinaryVolume, true, "maintenance"))
		gs, svc, err = s.ListDVGsWithService(ctx, host, model.BinaryVolume)
		require.NoError(t, err)
		require.Empty(t, gs, "a service and no dvgs")
		want, err := s.GetService(ctx, host, model.BinaryVolume)
		require.NoError(t, err)
		require.NotNil(t, svc)
		require.Equal(t, want.Host, svc.Host)
		require.Equal(t, model.BinaryVolume, svc.Binary)
		require.True(t, svc.Disabled)
		require.Equal(t, "maintenance", svc.DisabledReason)
		require.False(t, svc.Frozen)
		require.True(t, want.UpdatedAt.Equal(svc.UpdatedAt), "%v vs %v", want.UpdatedAt, svc.UpdatedAt)

		require.NoError(t, s.UpsertDVG(ctx, &model.DVG{ID: "g2", Name: "beta", BackendName: "be1", AvailabilityZone: "nova",
			OverSubscription: 20.5, ReservedPercentage: 5, CreatedAt: base}))
		require.NoError(t, s.UpsertDVG(ctx, &model.DVG{ID: "g1", Name: "alpha", OverSubscription: 1}))
		list, err := s.ListDVGs(ctx)
		require.NoError(t, err)
		gs, svc, err = s.ListDVGsWithService(ctx, host, model.BinaryVolume)
		require.NoError(t, err)
		require.Equal(t, list, gs)
		require.NotNil(t, svc)
		require.True(t, svc.Disabled)

		gs, svc, err = s.ListDVGsWithService(ctx, model.VolumeServiceHost("other"), model.BinaryVolume)
		require.NoError(t, err)
		require.Equal(t, list, gs, "dvgs and no service")
		require.Nil(t, svc)
	})
}
