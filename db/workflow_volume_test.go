package db_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
)

func TestGetWorkflowForSchedule(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, d *db.DB) {
		s := d.Store()
		require.NoError(t, s.CreateType(ctx, &model.VolumeType{ID: "t1", Name: "gold", IsPublic: true,
			ExtraSpecs: map[string]string{model.SpecMirrors: "2", model.SpecBackendName: "b"}}))
		require.NoError(t, s.CreateType(ctx, &model.VolumeType{ID: "t-bare", Name: "bare", IsPublic: true}))
		require.NoError(t, s.CreateType(ctx, &model.VolumeType{ID: "t-gone", Name: "gone", IsPublic: true, ExtraSpecs: map[string]string{"k": "v"}}))
		require.NoError(t, s.DeleteType(ctx, "t-gone"))
		for _, tc := range []struct{ vol, typ string }{{"v1", "t1"}, {"v2", "t-bare"}, {"v3", "t-gone"}, {"v4", ""}} {
			v := newVolume(tc.vol, "p1", base)
			v.VolumeTypeID = tc.typ
			require.NoError(t, s.CreateVolume(ctx, v))
			require.NoError(t, s.CreateWorkflow(ctx, &model.Workflow{ID: "w-" + tc.vol, Kind: model.WfCreateVolume, VolumeID: tc.vol, State: model.WfPending}))
		}
		require.NoError(t, s.CreateWorkflow(ctx, &model.Workflow{ID: "w-none", Kind: model.WfCreateVolume, VolumeID: "missing", State: model.WfPending}))

		tests := []struct {
			wf        string
			wantVol   bool
			wantSpecs map[string]string
		}{
			{"w-v1", true, map[string]string{model.SpecMirrors: "2", model.SpecBackendName: "b"}},
			{"w-v2", true, map[string]string{}},
			{"w-v3", true, nil}, // the type is deleted
			{"w-v4", true, nil}, // no type
			{"w-none", false, nil},
		}
		for _, tc := range tests {
			t.Run(tc.wf, func(t *testing.T) {
				w, v, specs, err := s.GetWorkflowForSchedule(ctx, tc.wf)
				require.NoError(t, err)
				wantW, err := s.GetWorkflow(ctx, tc.wf)
				require.NoError(t, err)
				require.Equal(t, wantW, w)
				require.Equal(t, tc.wantSpecs, specs)
				if !tc.wantVol {
					require.Nil(t, v)
					return
				}
				wantV, err := s.GetVolume(ctx, w.VolumeID)
				require.NoError(t, err)
				wantV.Metadata = map[string]string{} // read without its metadata
				require.Equal(t, wantV, v)
			})
		}
		_, _, _, err := s.GetWorkflowForSchedule(ctx, "nope")
		require.ErrorIs(t, err, model.ErrNotFound)
	})
}
