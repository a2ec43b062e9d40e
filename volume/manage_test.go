package volume

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/db/dbtest"
	"github.com/dlvm-project/dlvm/model"
)

func TestManageChecksLegs(t *testing.T) {
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			r := newRig(t, dialect)
			ctx := context.Background()
			lay := model.Layout{Mirrors: 2, Stripes: 1, ChunkKiB: 512}
			for _, id := range []string{"ok", "gone"} {
				require.Equal(t, model.WfDone, r.run(r.volume(id, 1, lay, "", "")).State)
				require.NoError(t, r.db.Store().SetVolumeStatus(ctx, id, nil, statusManaging))
			}
			w := r.run(r.workflow(model.WfManageVolume, "ok", "", nil))
			require.Equal(t, model.WfDone, w.State, w.Error)
			require.Equal(t, model.StatusAvailable, r.vol("ok").Status)

			l := r.legs("gone")[1]
			require.NoError(t, r.dpvs[l.DPVID].DeleteLeg(ctx, l.ID))
			w = r.run(r.workflow(model.WfManageVolume, "gone", "", nil))
			require.Equal(t, model.WfFailed, w.State)
			v := r.vol("gone")
			require.Equal(t, statusErrorManaging, v.Status)
			require.Contains(t, v.ErrorReason, "leg "+l.ID+" is not on its storage server")
		})
	}
}
