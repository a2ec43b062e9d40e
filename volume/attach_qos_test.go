package volume

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/connector"
	"github.com/dlvm-project/dlvm/db/dbtest"
	"github.com/dlvm-project/dlvm/model"
)

func TestFrontEndQos(t *testing.T) {
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			r := newRig(t, dialect)
			ctx := context.Background()
			s := r.db.Store()
			specs := map[string]string{"total_iops_sec": "500", "read_bytes_sec": "1048576"}
			for _, q := range []*model.QosSpecs{
				{ID: "q-front", Name: "front", Consumer: model.QosFrontEnd, Specs: specs},
				{ID: "q-both", Name: "both", Consumer: model.QosBoth, Specs: specs},
				{ID: "q-back", Name: "back", Consumer: model.QosBackEnd, Specs: specs},
			} {
				require.NoError(t, s.CreateQos(ctx, q))
			}
			for _, id := range []string{"t-front", "t-both", "t-back", "t-none"} {
				require.NoError(t, s.CreateType(ctx, &model.VolumeType{ID: id, Name: id, IsPublic: true}))
			}
			require.NoError(t, s.AssociateQos(ctx, "q-front", "t-front"))
			require.NoError(t, s.AssociateQos(ctx, "q-both", "t-both"))
			require.NoError(t, s.AssociateQos(ctx, "q-back", "t-back"))

			for _, tc := range []struct {
				typeID string
				want   map[string]string
			}{
				{"t-front", specs}, {"t-both", specs}, {"t-back", nil}, {"t-none", nil}, {"", nil}, {"t-missing", nil},
			} {
				got, err := r.m.frontEndQos(ctx, tc.typeID)
				require.NoError(t, err, tc.typeID)
				require.Equal(t, tc.want, got, tc.typeID)
			}

			// connection_info carries them (null without).
			p := connector.Plan{VolumeID: "v1", Legs: []connector.PlanLeg{{Portal: "p:3260", IQN: "iqn", LUN: 1}}}
			raw, err := connectionInfo("iscsi", "a1", p, "", specs)
			require.NoError(t, err)
			var info map[string]any
			require.NoError(t, json.Unmarshal(raw, &info))
			require.Equal(t, map[string]any{"total_iops_sec": "500", "read_bytes_sec": "1048576"}, info["qos_specs"])
			raw, err = connectionInfo("iscsi", "a1", p, "", nil)
			require.NoError(t, err)
			require.NoError(t, json.Unmarshal(raw, &info))
			require.Nil(t, info["qos_specs"])
		})
	}
}
