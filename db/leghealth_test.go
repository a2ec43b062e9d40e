package db_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
)

func TestLegHealth(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, d *db.DB) {
		st := d.Store()
		report := func(host string, rows ...*model.LegHealth) {
			t.Helper()
			require.NoError(t, st.SetHostLegHealth(ctx, host, rows))
		}
		report("c1", &model.LegHealth{LegID: "l1", VolumeID: "v1", State: model.LegStateOK},
			&model.LegHealth{LegID: "l2", VolumeID: "v1", State: model.LegStateFailed, DirtyRegions: 3, Message: "timeout"})
		report("c2", &model.LegHealth{LegID: "l1", VolumeID: "v1", State: model.LegStateOK})
		got, err := st.ListLegHealth(ctx, "v1")
		require.NoError(t, err)
		require.Len(t, got, 3)
		require.Equal(t, []string{"l1/c1", "l1/c2", "l2/c1"}, []string{got[0].LegID + "/" + got[0].Host,
			got[1].LegID + "/" + got[1].Host, got[2].LegID + "/" + got[2].Host})
		failedSince := got[2].Since
		require.EqualValues(t, 3, got[2].DirtyRegions)
		require.Equal(t, "timeout", got[2].Message)
		require.WithinDuration(t, time.Now(), got[2].ReportedAt, time.Minute)

		// The same state again keeps its Since; a new state starts a new one; a volume the host
		// no longer reports is forgotten.
		time.Sleep(2 * time.Millisecond)
		report("c1", &model.LegHealth{LegID: "l1", VolumeID: "v1", State: model.LegStateResyncing},
			&model.LegHealth{LegID: "l2", VolumeID: "v1", State: model.LegStateFailed, DirtyRegions: 5})
		got, err = st.ListLegHealth(ctx, "v1")
		require.NoError(t, err)
		require.Equal(t, failedSince, got[2].Since)
		require.EqualValues(t, 5, got[2].DirtyRegions)
		require.True(t, got[0].Since.After(failedSince))
		report("c1")
		got, err = st.ListLegHealth(ctx, "v1")
		require.NoError(t, err)
		require.Len(t, got, 1)
		require.Equal(t, "c2", got[0].Host)

		require.NoError(t, st.DeleteLegHealth(ctx, "l1"))
		got, err = st.ListLegHealth(ctx, "v1")
		require.NoError(t, err)
		require.Empty(t, got)

		require.ErrorIs(t, st.SetHostLegHealth(ctx, "c1", []*model.LegHealth{{LegID: "x", VolumeID: "v"}, {LegID: "x", VolumeID: "v"}}), model.ErrInvalid)
		require.ErrorIs(t, st.SetHostLegHealth(ctx, "", nil), model.ErrInvalid)
	})
}
