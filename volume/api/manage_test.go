package api

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/model"
)

// placeLegs gives a volume (or snapshot) legs on dpv-1 of dvg "pool-1", as the scheduler would.
func (e *env) placeLegs(owner, kind string, lay model.Layout, size int, source []*model.Leg) []*model.Leg {
	e.t.Helper()
	st := e.db.Store()
	require.NoError(e.t, st.UpsertDVG(e.ctx, &model.DVG{ID: "dvg-1", Name: "pool-1", BackendName: "dlvm", AvailabilityZone: "nova"}))
	require.NoError(e.t, st.UpsertDPV(e.ctx, &model.DPV{ID: "dpv-1", Name: "dpv-1", DVGID: "dvg-1", State: "up"}))
	var legs []*model.Leg
	i := 0
	for g := 0; g < lay.Stripes; g++ {
		for m := 0; m < lay.Mirrors; m++ {
			l := &model.Leg{ID: kind + "-" + owner[:8] + "-" + string(rune('a'+i)), OwnerKind: kind, OwnerID: owner, Group: g, Mirror: m,
				DPVID: "dpv-1", SizeBytes: lay.LegSize(size), Status: model.LegAvailable}
			if source != nil {
				l.SourceLegID = source[i].ID
			}
			legs = append(legs, l)
			i++
		}
	}
	require.NoError(e.t, st.CreateLegs(e.ctx, legs))
	return legs
}

func TestUnmanageManageVolume(t *testing.T) {
	e := sqlite(t)
	v := e.volume(alice, 2, model.StatusAvailable)
	lay := e.vol(v.ID).Layout
	e.placeLegs(v.ID, model.OwnerVolume, lay, 2, nil)

	requireKind(t, e.api.UnmanageVolume(e.ctx, alice, v.ID), model.ErrForbidden)
	require.NoError(t, e.api.UnmanageVolume(e.ctx, admin, v.ID))
	_, err := e.api.GetVolume(e.ctx, admin, v.ID)
	requireKind(t, err, model.ErrNotFound)
	require.Zero(t, e.usage(alice.ProjectID)[model.ResVolumes].InUse, "unmanage releases the quota")
	legs, err := e.db.Store().ListLegs(e.ctx, v.ID)
	require.NoError(t, err)
	require.Len(t, legs, 2)
	for _, l := range legs {
		require.Equal(t, model.LegUnmanaged, l.Status, "the legs stay, unmanaged")
	}
	list, err := e.api.ManageableVolumes(e.ctx, admin)
	require.NoError(t, err)
	require.Equal(t, []Manageable{{Reference: map[string]string{"source-name": "volume-" + v.ID}, Size: 2}}, list)

	ref := map[string]string{"source-name": "volume-" + v.ID}
	for name, req := range map[string]ManageVolumeRequest{
		"bad ref":     {Host: "dlvm@dlvm#pool-1", Ref: map[string]string{"source-name": "nope"}},
		"unknown ref": {Host: "dlvm@dlvm#pool-1", Ref: map[string]string{"source-id": "6f0b8f0e-0000-4000-8000-000000000000"}},
		"wrong host":  {Host: "dlvm@dlvm#other", Ref: ref},
		"wrong zone":  {Host: "dlvm@dlvm#pool-1", Ref: ref, AvailabilityZone: "mars"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := e.api.ManageVolume(e.ctx, admin, req)
			requireKind(t, err, model.ErrInvalid)
		})
	}
	one, err := e.api.CreateType(e.ctx, admin, "single", "", true, map[string]string{model.SpecMirrors: "1"})
	require.NoError(t, err)
	_, err = e.api.ManageVolume(e.ctx, admin, ManageVolumeRequest{Host: "dlvm@dlvm#pool-1", Ref: ref, VolumeType: one.Name})
	requireKind(t, err, model.ErrInvalid) // 1 mirror asked, 2 legs there
	_, err = e.api.ManageVolume(e.ctx, alice, ManageVolumeRequest{Host: "dlvm@dlvm#pool-1", Ref: ref})
	requireKind(t, err, model.ErrForbidden)

	nv, err := e.api.ManageVolume(e.ctx, admin, ManageVolumeRequest{Host: "dlvm@dlvm#pool-1", Ref: ref, Name: "adopted",
		Metadata: map[string]string{"k": "v"}})
	require.NoError(t, err)
	require.Equal(t, 2, nv.Size, "the size comes from the legs")
	require.Equal(t, "managing", nv.Status)
	require.Equal(t, "dlvm@dlvm#pool-1", nv.Host)
	require.Len(t, e.legsOf(nv.ID), 2)
	require.Empty(t, e.legsOf(v.ID))
	e.onlyWorkflow(nv.ID, model.WfManageVolume)
	require.EqualValues(t, 2, e.usage(admin.ProjectID)[model.ResGigabytes].InUse)
	list, err = e.api.ManageableVolumes(e.ctx, admin)
	require.NoError(t, err)
	require.Empty(t, list)
	_, err = e.api.ManageVolume(e.ctx, admin, ManageVolumeRequest{Host: "dlvm@dlvm", Ref: ref})
	requireKind(t, err, model.ErrInvalid) // adopted once only
}

func (e *env) legsOf(owner string) []*model.Leg {
	e.t.Helper()
	legs, err := e.db.Store().ListLegs(e.ctx, owner)
	require.NoError(e.t, err)
	return legs
}

func TestUnmanageManageSnapshot(t *testing.T) {
	e := sqlite(t)
	v := e.volume(alice, 1, model.StatusAvailable)
	lay := e.vol(v.ID).Layout
	vlegs := e.placeLegs(v.ID, model.OwnerVolume, lay, 1, nil)
	other := e.volume(alice, 1, model.StatusAvailable)
	e.placeLegs(other.ID, model.OwnerVolume, lay, 1, nil)
	sn := e.snapshot(alice, v.ID, model.StatusAvailable)
	e.placeLegs(sn.ID, model.OwnerSnapshot, lay, 1, vlegs)

	requireKind(t, e.api.UnmanageSnapshot(e.ctx, alice, sn.ID), model.ErrForbidden)
	require.NoError(t, e.api.UnmanageSnapshot(e.ctx, admin, sn.ID))
	_, err := e.api.GetSnapshot(e.ctx, admin, sn.ID)
	requireKind(t, err, model.ErrNotFound)
	require.Zero(t, e.usage(alice.ProjectID)[model.ResSnapshots].InUse)
	list, err := e.api.ManageableSnapshots(e.ctx, admin)
	require.NoError(t, err)
	require.Equal(t, []Manageable{{Reference: map[string]string{"source-name": "snapshot-" + sn.ID}, Size: 1,
		SourceRef: map[string]string{"source-name": "volume-" + v.ID}}}, list)

	ref := map[string]string{"source-name": "snapshot-" + sn.ID}
	_, err = e.api.ManageSnapshot(e.ctx, admin, other.ID, ref, "x", "", nil)
	requireKind(t, err, model.ErrInvalid) // taken from another volume
	ns, err := e.api.ManageSnapshot(e.ctx, admin, v.ID, ref, "adopted", "d", map[string]string{"a": "b"})
	require.NoError(t, err)
	require.Equal(t, "managing", ns.Status)
	require.Equal(t, v.ID, ns.VolumeID)
	require.Len(t, e.legsOf(ns.ID), 2)
	w := e.onlyWorkflow(v.ID, model.WfManageSnapshot)
	require.Equal(t, ns.ID, w.SnapshotID)
	require.EqualValues(t, 1, e.usage(alice.ProjectID)[model.ResSnapshots].InUse)
}
