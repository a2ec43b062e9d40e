package service

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/db/dbtest"
	"github.com/dlvm-project/dlvm/model"
)

// The provisioned bytes are summed from the legs at most once per provisionedTTL; in between, a
// scheduler counts the legs it placed itself, and legs placed by others show after the TTL.
func TestProvisionedBytesCache(t *testing.T) {
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			e := newEnv(t, dialect)
			e.dpv("dpv-a")
			e.dpv("dpv-b")
			now := time.Now()
			e.svc.now = func() time.Time { return now }

			st, _, err := e.svc.snapshot(e.ctx)
			require.NoError(t, err)
			require.Empty(t, st.Provisioned)

			v, w := e.volume(nil)
			require.NoError(t, e.svc.Schedule(e.ctx, w.ID))
			legs := e.legs(v.ID)
			require.Len(t, legs, 2)
			leg := legs[0].SizeBytes // the volume's size and the leg's own metadata
			st, _, err = e.svc.snapshot(e.ctx)
			require.NoError(t, err)
			require.Equal(t, map[string]int64{"dpv-a": leg, "dpv-b": leg}, st.Provisioned,
				"its own placement counts before the next read")

			// another scheduler's leg: not seen until the TTL passes
			require.NoError(t, e.db.Store().CreateLegs(e.ctx, []*model.Leg{{ID: "other", OwnerKind: model.OwnerVolume,
				OwnerID: "elsewhere", DPVID: "dpv-a", SizeBytes: 5 * model.GiB, Status: model.LegCreating}}))
			st, _, err = e.svc.snapshot(e.ctx)
			require.NoError(t, err)
			require.Equal(t, leg, st.Provisioned["dpv-a"])
			st.Provisioned["dpv-a"] = 0 // the snapshot's map is the caller's own

			now = now.Add(provisionedTTL)
			st, _, err = e.svc.snapshot(e.ctx)
			require.NoError(t, err)
			require.Equal(t, map[string]int64{"dpv-a": leg + 5*model.GiB, "dpv-b": leg}, st.Provisioned,
				"summed again from the legs table")
		})
	}
}
