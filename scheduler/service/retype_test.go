package service

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/db/dbtest"
	"github.com/dlvm-project/dlvm/model"
)

// retypeEnv adds a second dvg "silver" (backend slow, two dpvs) and an available volume placed in
// gold, with a pending retype_volume workflow of params p (OldStatus available).
func retypeEnv(t *testing.T, dialect string, newSpecs map[string]string, p model.RetypeParams) (*env, *model.Volume, *model.Workflow, string) {
	e := newEnv(t, dialect)
	st := e.db.Store()
	e.dpv("dpv-a")
	e.dpv("dpv-b")
	require.NoError(t, st.UpsertDVG(e.ctx, &model.DVG{ID: "dvg-silver", Name: "silver", BackendName: "slow",
		AvailabilityZone: "nova", OverSubscription: 1}))
	for _, id := range []string{"dpv-x", "dpv-y"} {
		require.NoError(t, st.UpsertDPV(e.ctx, &model.DPV{ID: id, Name: id, DVGID: "dvg-silver", State: "up",
			PoolType: "file", TotalBytes: 100 * model.GiB, FreeBytes: 100 * model.GiB, HeartbeatAt: time.Now(), CreatedAt: time.Now()}))
	}
	nt := &model.VolumeType{ID: uuid.NewString(), Name: "new-" + uuid.NewString()[:6], IsPublic: true, ExtraSpecs: newSpecs}
	require.NoError(t, st.CreateType(e.ctx, nt))
	v, _ := e.volume(func(v *model.Volume) {
		v.Status, v.DVGID, v.Host = model.StatusRetyping, "dvg-gold", "dlvm@dlvm#gold"
	})
	require.NoError(t, st.CreateLegs(e.ctx, []*model.Leg{
		{ID: uuid.NewString(), OwnerKind: model.OwnerVolume, OwnerID: v.ID, Mirror: 0, DPVID: "dpv-a", SizeBytes: model.GiB, Status: model.LegAvailable},
		{ID: uuid.NewString(), OwnerKind: model.OwnerVolume, OwnerID: v.ID, Mirror: 1, DPVID: "dpv-b", SizeBytes: model.GiB, Status: model.LegAvailable},
	}))
	p.NewTypeID, p.OldStatus = nt.ID, model.StatusAvailable
	if p.Layout.Mirrors == 0 {
		p.Layout = v.Layout
	}
	params, err := json.Marshal(p)
	require.NoError(t, err)
	w := &model.Workflow{ID: uuid.NewString(), Kind: model.WfRetypeVolume, VolumeID: v.ID, State: model.WfPending, Params: params}
	require.NoError(t, st.CreateWorkflow(e.ctx, w))
	return e, v, w, nt.ID
}

func TestScheduleRetype(t *testing.T) {
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Run("same backend and layout: the type changes in place", func(t *testing.T) {
				e, v, w, nt := retypeEnv(t, dialect, map[string]string{"vendor_name": "dlvm"}, model.RetypeParams{Policy: model.MigrationNever})
				require.NoError(t, e.svc.Schedule(e.ctx, w.ID))
				got := e.getVolume(v.ID)
				require.Equal(t, nt, got.VolumeTypeID)
				require.Equal(t, model.StatusAvailable, got.Status)
				require.Equal(t, "dvg-gold", got.DVGID)
				require.Empty(t, got.MigrationStatus)
				require.Equal(t, model.WfDone, e.workflow(w.ID).State)
				require.Zero(t, e.runCasts(w.ID), "no manager work")
			})
			t.Run("another backend with policy never is refused", func(t *testing.T) {
				e, v, w, _ := retypeEnv(t, dialect, map[string]string{"volume_backend_name": "slow"}, model.RetypeParams{Policy: model.MigrationNever})
				require.NoError(t, e.svc.Schedule(e.ctx, w.ID))
				got := e.getVolume(v.ID)
				require.Equal(t, e.typ, got.VolumeTypeID, "type unchanged")
				require.Equal(t, model.StatusAvailable, got.Status)
				require.Contains(t, got.ErrorReason, "migration policy is never")
				require.Equal(t, model.WfFailed, e.workflow(w.ID).State)
			})
			t.Run("a layout change needs a migration too", func(t *testing.T) {
				e, v, w, _ := retypeEnv(t, dialect, nil, model.RetypeParams{Policy: model.MigrationNever,
					Layout: model.Layout{Mirrors: 1, Stripes: 1, ChunkKiB: 512}})
				require.NoError(t, e.svc.Schedule(e.ctx, w.ID))
				require.Equal(t, model.WfFailed, e.workflow(w.ID).State)
				require.Equal(t, e.typ, e.getVolume(v.ID).VolumeTypeID)
			})
			t.Run("another backend on demand: legs placed there for the manager", func(t *testing.T) {
				e, v, w, _ := retypeEnv(t, dialect, map[string]string{"volume_backend_name": "slow"}, model.RetypeParams{Policy: model.MigrationOnDemand})
				require.NoError(t, e.svc.Schedule(e.ctx, w.ID))
				wf := e.workflow(w.ID)
				require.Equal(t, model.WfScheduled, wf.State)
				var p model.RetypeParams
				require.NoError(t, json.Unmarshal(wf.Params, &p))
				require.True(t, p.Migrate)
				require.Equal(t, "dvg-silver", p.DVGID)
				require.Equal(t, "dlvm@slow#silver", p.Host)
				legs := e.legs(w.ID)
				require.Len(t, legs, 2)
				require.ElementsMatch(t, []string{"dpv-x", "dpv-y"}, []string{legs[0].DPVID, legs[1].DPVID})
				require.Len(t, e.legs(v.ID), 2, "the volume keeps its legs until the swap")
				got := e.getVolume(v.ID)
				require.Equal(t, model.MigrationMigrating, got.MigrationStatus)
				require.Equal(t, model.StatusRetyping, got.Status)
				require.Eventually(t, func() bool { return e.runCasts(w.ID) == 1 }, 5*time.Second, 10*time.Millisecond)

				require.NoError(t, e.svc.Schedule(e.ctx, w.ID), "a duplicate only wakes the manager")
				require.Len(t, e.legs(w.ID), 2)
				require.Eventually(t, func() bool { return e.runCasts(w.ID) == 2 }, 5*time.Second, 10*time.Millisecond)
			})
			t.Run("no dvg satisfies the new type", func(t *testing.T) {
				e, v, w, _ := retypeEnv(t, dialect, map[string]string{"vendor_name": "acme"}, model.RetypeParams{Policy: model.MigrationOnDemand})
				require.NoError(t, e.svc.Schedule(e.ctx, w.ID))
				got := e.getVolume(v.ID)
				require.Equal(t, model.StatusAvailable, got.Status)
				require.Contains(t, got.ErrorReason, "vendor_name=acme")
				require.Equal(t, model.WfFailed, e.workflow(w.ID).State)
				msgs, err := e.db.Store().ListMessages(e.ctx, db.MessageQuery{ResourceUUID: v.ID})
				require.NoError(t, err)
				require.Empty(t, msgs)
			})
		})
	}
}
