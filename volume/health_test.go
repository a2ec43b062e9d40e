package volume

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/db/dbtest"
	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume/rpc"
)

// TestRecordLegHealth: a connector's report (the leg_health cast) is stored per host; legs no
// longer in the volume are ignored; a later report without the volume forgets it.
func TestRecordLegHealth(t *testing.T) {
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			r := newAttachRig(t, dialect)
			vol := r.available(model.Layout{Mirrors: 2, Stripes: 1, ChunkKiB: 512})
			legs := r.legs(vol)
			report := func(v string) {
				t.Helper()
				require.NoError(t, r.m.handle(ctx, rpc.MethodLegHealth, json.RawMessage(v)))
			}
			report(`{"host":"compute-1","volumes":[{"volume_id":"` + vol + `","legs":[
				{"leg_id":"` + legs[0].ID + `","state":"ok"},
				{"leg_id":"` + legs[1].ID + `","state":"failed","dirty_regions":4,"message":"timeout"},
				{"leg_id":"replaced-long-ago","state":"failed"}]}]}`)
			got, err := r.db.Store().ListLegHealth(ctx, vol)
			require.NoError(t, err)
			require.Len(t, got, 2)
			byLeg := map[string]*model.LegHealth{}
			for _, h := range got {
				byLeg[h.LegID] = h
			}
			require.Equal(t, model.LegStateFailed, byLeg[legs[1].ID].State)
			require.EqualValues(t, 4, byLeg[legs[1].ID].DirtyRegions)
			require.Equal(t, "compute-1", byLeg[legs[0].ID].Host)

			// A replacement being filled is reported by the host before it joins the volume.
			require.NoError(t, r.db.Store().CreateLegs(ctx, []*model.Leg{{ID: "repl-1", OwnerKind: model.OwnerReplacement,
				OwnerID: "wf-1", Group: 0, Mirror: 1, DPVID: "dpv-c", SizeBytes: legs[1].SizeBytes, SourceLegID: legs[1].ID,
				Status: model.LegCreating}}))
			report(`{"host":"compute-1","volumes":[{"volume_id":"` + vol + `","legs":[
				{"leg_id":"` + legs[0].ID + `","state":"ok"},{"leg_id":"repl-1","state":"resyncing"}]}]}`)
			got, err = r.db.Store().ListLegHealth(ctx, vol)
			require.NoError(t, err)
			require.Len(t, got, 2)

			report(`{"host":"compute-1","volumes":[]}`)
			got, err = r.db.Store().ListLegHealth(ctx, vol)
			require.NoError(t, err)
			require.Empty(t, got)
			require.Error(t, r.m.handle(ctx, rpc.MethodLegHealth, json.RawMessage(`{"host":""}`)), "a report needs a host")
		})
	}
}
