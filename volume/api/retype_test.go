package api

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume/rpc"
)

func TestRetypeVolume(t *testing.T) {
	e := sqlite(t)
	gold, err := e.api.CreateType(e.ctx, admin, "gold", "", true, map[string]string{model.SpecMirrors: "1", model.SpecStripes: "2"})
	require.NoError(t, err)
	v := e.volume(alice, 2, model.StatusAvailable)

	for _, tc := range []struct {
		name, status, newType, policy string
		kind                          error
	}{
		{"bad policy", model.StatusAvailable, "gold", "sometimes", model.ErrInvalid},
		{"unknown type", model.StatusAvailable, "tin", "never", model.ErrNotFound},
		{"same type", model.StatusAvailable, v.VolumeTypeID, "never", model.ErrInvalid},
		{"creating", model.StatusCreating, "gold", "never", model.ErrInvalid},
		{"error", model.StatusError, "gold", "on-demand", model.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.setStatus(v.ID, tc.status)
			requireKind(t, e.api.RetypeVolume(e.ctx, alice, v.ID, tc.newType, tc.policy), tc.kind)
			got, err := e.db.Store().GetVolume(e.ctx, v.ID)
			require.NoError(t, err)
			require.Equal(t, tc.status, got.Status, "nothing changed")
			require.Empty(t, e.workflows(v.ID)[1:], "no workflow but the create")
		})
	}
	requireKind(t, e.api.RetypeVolume(e.ctx, bob, v.ID, "gold", "never"), model.ErrNotFound)
	t.Run("a new layout needs on-demand", func(t *testing.T) {
		e.setStatus(v.ID, model.StatusAvailable)
		err := e.api.RetypeVolume(e.ctx, alice, v.ID, "gold", "never")
		requireKind(t, err, model.ErrInvalid)
		require.Contains(t, model.UserMessage(err), "needs migration_policy on-demand")
		e.setStatus(v.ID, model.StatusInUse)
		requireKind(t, e.api.RetypeVolume(e.ctx, alice, v.ID, "gold", "on-demand"), model.ErrInvalid)
		require.Empty(t, e.workflows(v.ID)[1:])
	})

	t.Run("accepted: retyping and a workflow for the scheduler", func(t *testing.T) {
		e.setStatus(v.ID, model.StatusAvailable)
		require.NoError(t, e.api.RetypeVolume(e.ctx, alice, v.ID, "gold", "on-demand"))
		got, err := e.db.Store().GetVolume(e.ctx, v.ID)
		require.NoError(t, err)
		require.Equal(t, model.StatusRetyping, got.Status)
		w := e.onlyWorkflow(v.ID, model.WfRetypeVolume)
		var p model.RetypeParams
		require.NoError(t, json.Unmarshal(w.Params, &p))
		require.Equal(t, model.RetypeParams{NewTypeID: gold.ID, Layout: model.Layout{Mirrors: 1, Stripes: 2, ChunkKiB: 512},
			Policy: model.MigrationOnDemand, OldStatus: model.StatusAvailable}, p)
		e.waitCast(rpc.TopicScheduler, rpc.MethodSchedule, w.ID)
		requireKind(t, e.api.RetypeVolume(e.ctx, alice, v.ID, "gold", "never"), model.ErrInvalid)
	})
}

func TestMigrateVolume(t *testing.T) {
	e := sqlite(t)
	st := e.db.Store()
	for _, g := range []*model.DVG{{ID: "g1", Name: "dlvm-1", BackendName: "dlvm-1"}, {ID: "g2", Name: "dlvm-2", BackendName: "dlvm-2"}} {
		require.NoError(t, st.UpsertDVG(e.ctx, g))
	}
	v := e.volume(alice, 1, model.StatusAvailable)
	got, err := st.GetVolume(e.ctx, v.ID)
	require.NoError(t, err)
	got.DVGID, got.Host = "g1", "dlvm@dlvm-1#dlvm-1"
	require.NoError(t, st.UpdateVolume(e.ctx, got))

	requireKind(t, e.api.MigrateVolume(e.ctx, alice, v.ID, "dlvm@dlvm-2#dlvm-2", false), model.ErrForbidden)
	requireKind(t, e.api.MigrateVolume(e.ctx, admin, v.ID, "dlvm@dlvm-1#dlvm-1", false), model.ErrInvalid)
	requireKind(t, e.api.MigrateVolume(e.ctx, admin, v.ID, "dlvm@nowhere", false), model.ErrInvalid)
	requireKind(t, e.api.MigrateVolume(e.ctx, admin, v.ID, "garbage", false), model.ErrInvalid)
	sn := e.snapshot(alice, v.ID, model.StatusAvailable)
	requireKind(t, e.api.MigrateVolume(e.ctx, admin, v.ID, "dlvm@dlvm-2", false), model.ErrInvalid)
	require.NoError(t, st.DeleteSnapshot(e.ctx, sn.ID))

	require.NoError(t, e.api.MigrateVolume(e.ctx, admin, v.ID, "dlvm@dlvm-2", true))
	got, err = st.GetVolume(e.ctx, v.ID)
	require.NoError(t, err)
	require.Equal(t, model.StatusMaintenance, got.Status)
	require.Equal(t, "starting", got.MigrationStatus)
	var p model.RetypeParams
	require.NoError(t, json.Unmarshal(e.onlyWorkflow(v.ID, model.WfRetypeVolume).Params, &p))
	require.Equal(t, "g2", p.DestDVGID)
	require.True(t, p.ForceCopy)
	require.Empty(t, p.NewTypeID)
}
