package volume

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/db/dbtest"
	"github.com/dlvm-project/dlvm/model"
)

// migration sets up rig volume v1 (2 mirrors, data written) being retyped to a 2-stripe,
// 1-mirror layout in dvg2 (dpv-x, dpv-y), with the legs placed as the scheduler would, and
// returns the workflow id and the data.
func migration(t *testing.T, r *rig) (string, []byte) {
	t.Helper()
	ctx := context.Background()
	st := r.db.Store()
	require.NoError(t, st.UpsertDVG(ctx, &model.DVG{ID: "dvg2", Name: "dvg2", BackendName: "dlvm-2", AvailabilityZone: "nova", OverSubscription: 20}))
	for _, n := range []string{"dpv-x", "dpv-y"} {
		r.dpvs[n] = newFakeDPV(n)
		require.NoError(t, st.UpsertDPV(ctx, &model.DPV{ID: n, Name: n, DVGID: "dvg2", URL: "http://" + n, PoolType: "file",
			TotalBytes: 100 * model.GiB, FreeBytes: 100 * model.GiB, State: "up", HeartbeatAt: time.Now().UTC(), CreatedAt: time.Now().UTC()}))
	}
	require.Equal(t, model.WfDone, r.run(r.volume("v1", 1, small, "", "")).State)
	data := bytes.Repeat([]byte("migrate me "), 20000) // 220 KB: crosses 4 KiB chunks
	r.writeLogical("v1", 8192, data)
	require.NoError(t, st.SetVolumeStatus(ctx, "v1", nil, model.StatusRetyping))

	lay := model.Layout{Mirrors: 1, Stripes: 2, ChunkKiB: 4}
	p := model.RetypeParams{NewTypeID: "type-2", Layout: lay, Policy: model.MigrationOnDemand, OldStatus: model.StatusAvailable,
		Migrate: true, DVGID: "dvg2", Host: "dlvm@dlvm-2#dvg2"}
	raw, err := json.Marshal(p)
	require.NoError(t, err)
	w := &model.Workflow{ID: uuid.NewString(), Kind: model.WfRetypeVolume, VolumeID: "v1", State: model.WfScheduled, Params: raw}
	legs := []*model.Leg{
		{ID: uuid.NewString(), OwnerKind: model.OwnerVolume, OwnerID: w.ID, Group: 0, DPVID: "dpv-x", SizeBytes: lay.LegSize(1), Status: model.LegCreating},
		{ID: uuid.NewString(), OwnerKind: model.OwnerVolume, OwnerID: w.ID, Group: 1, DPVID: "dpv-y", SizeBytes: lay.LegSize(1), Status: model.LegCreating},
	}
	require.NoError(t, r.db.InTx(ctx, func(s *db.Store) error {
		if err := s.CreateLegs(ctx, legs); err != nil {
			return err
		}
		return s.CreateWorkflow(ctx, w)
	}))
	return w.ID, data
}

func TestMigration(t *testing.T) {
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Run("bytes move to the new dvg and layout, old legs go", func(t *testing.T) {
				r := newRig(t, dialect)
				id, data := migration(t, r)
				w := r.run(id)
				require.Equal(t, model.WfDone, w.State, w.Error)
				v := r.vol("v1")
				require.Equal(t, model.StatusAvailable, v.Status)
				require.Equal(t, model.MigrationSuccess, v.MigrationStatus)
				require.Equal(t, "type-2", v.VolumeTypeID)
				require.Equal(t, "dvg2", v.DVGID)
				require.Equal(t, "dlvm@dlvm-2#dvg2", v.Host)
				require.Equal(t, model.Layout{Mirrors: 1, Stripes: 2, ChunkKiB: 4}, v.Layout)
				legs := r.legs("v1")
				require.Len(t, legs, 2)
				require.Equal(t, []string{"dpv-x", "dpv-y"}, []string{legs[0].DPVID, legs[1].DPVID})
				require.Equal(t, data, r.readLogical("v1", 8192, int64(len(data))), "bytes read through the new stripes")
				require.Empty(t, r.legs(id), "old legs deleted")
				require.Empty(t, r.dpvs["dpv-a"].legs, "old legs gone from their dpvs")
				require.Empty(t, r.dpvs["dpv-b"].legs)
				require.Equal(t, model.WfDone, r.run(id).State, "a re-run does nothing")
			})
			t.Run("a failure leaves the volume where it was", func(t *testing.T) {
				r := newRig(t, dialect)
				id, data := migration(t, r)
				r.dpvs["dpv-y"].failCreate = true
				w := r.run(id)
				require.Equal(t, model.WfFailed, w.State)
				v := r.vol("v1")
				require.Equal(t, model.StatusAvailable, v.Status)
				require.Equal(t, model.MigrationError, v.MigrationStatus)
				require.NotEmpty(t, v.ErrorReason)
				require.Equal(t, "dvg1", v.DVGID)
				require.Equal(t, small, v.Layout)
				require.Empty(t, r.legs(id), "new legs rolled back")
				require.Empty(t, r.dpvs["dpv-x"].legs)
				require.Equal(t, data, r.readLogical("v1", 8192, int64(len(data))), "the old legs still hold the data")
			})
		})
	}
}
