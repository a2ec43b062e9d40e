package apiv3

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/model"
)

// TestManageWire runs unmanage and manage of a volume and a snapshot over the real service
// layer and checks the responses against Tempest's manage schemas.
func TestManageWire(t *testing.T) {
	srv, d := backupStack(t)
	ctx := context.Background()
	st := d.Store()
	require.NoError(t, st.UpsertDVG(ctx, &model.DVG{ID: "dvg-1", Name: "pool-1", BackendName: "dlvm", AvailabilityZone: "nova"}))
	require.NoError(t, st.UpsertDPV(ctx, &model.DPV{ID: "dpv-1", Name: "dpv-1", DVGID: "dvg-1", URL: "http://dpv-1", State: "up", CreatedAt: time.Now()}))
	vol := stackVolume(t, d)
	base := "/v3/" + projA
	const adminRoles, memberRoles = "admin,member,reader", "member,reader"

	// A snapshot with legs taken from the volume's.
	vlegs, err := st.ListLegs(ctx, vol)
	require.NoError(t, err)
	snapID := uuid.NewString()
	require.NoError(t, st.CreateSnapshot(ctx, &model.Snapshot{ID: snapID, ProjectID: projA, VolumeID: vol, Size: 1, Status: model.StatusAvailable}))
	for _, vl := range vlegs {
		require.NoError(t, st.CreateLegs(ctx, []*model.Leg{{ID: uuid.NewString(), OwnerKind: model.OwnerSnapshot, OwnerID: snapID,
			Mirror: vl.Mirror, DPVID: "dpv-1", SizeBytes: vl.SizeBytes, SourceLegID: vl.ID, Status: model.LegAvailable}}))
	}

	requireFault(t, doAs(t, srv.URL, memberRoles, "POST", base+"/snapshots/"+snapID+"/action", "", map[string]any{"os-unmanage": nil}),
		http.StatusForbidden, "forbidden", "")
	r := doAs(t, srv.URL, adminRoles, "POST", base+"/snapshots/"+snapID+"/action", "", map[string]any{"os-unmanage": nil})
	require.Equal(t, http.StatusAccepted, r.code, "%s", r.body)
	requireFault(t, doAs(t, srv.URL, adminRoles, "GET", base+"/snapshots/"+snapID, "", nil), http.StatusNotFound, "itemNotFound", "")

	r = doAs(t, srv.URL, adminRoles, "GET", base+"/manageable_snapshots/detail?host=dlvm@dlvm", "3.8", nil)
	require.Equal(t, http.StatusOK, r.code, "%s", r.body)
	items := r.json(t)["manageable-snapshots"].([]any)
	require.Len(t, items, 1)
	requireKeys(t, items[0].(map[string]any), []string{"reference", "size", "safe_to_manage", "source_reference", "reason_not_safe", "cinder_id", "extra_info"},
		[]string{"reference", "size", "safe_to_manage", "source_reference", "reason_not_safe", "cinder_id", "extra_info"})
	requireFault(t, doAs(t, srv.URL, adminRoles, "GET", base+"/manageable_snapshots", "3.8", nil), http.StatusBadRequest, "badRequest", "host")
	requireFault(t, doAs(t, srv.URL, adminRoles, "GET", base+"/manageable_snapshots?host=x", "3.7", nil), http.StatusNotFound, "itemNotFound", "")

	r = doAs(t, srv.URL, adminRoles, "POST", base+"/os-snapshot-manage", "", map[string]any{"snapshot": map[string]any{
		"volume_id": vol, "ref": map[string]any{"source-name": "snapshot-" + snapID}, "name": "s", "description": "d",
		"metadata": map[string]any{"k": "v"}}})
	require.Equal(t, http.StatusAccepted, r.code, "%s", r.body)
	sn := r.json(t)["snapshot"].(map[string]any)
	requireKeys(t, sn, []string{"status", "size", "metadata", "name", "volume_id", "created_at", "description", "id", "updated_at"},
		[]string{"status", "size", "volume_id", "created_at", "description", "id", "updated_at"})
	require.Eventually(t, func() bool {
		s, err := st.GetSnapshot(ctx, sn["id"].(string))
		require.NoError(t, err)
		return s.Status == model.StatusAvailable
	}, 10*time.Second, 20*time.Millisecond)
	// Unmanage the managed snapshot again so the volume can be unmanaged.
	r = doAs(t, srv.URL, adminRoles, "POST", base+"/snapshots/"+sn["id"].(string)+"/action", "", map[string]any{"os-unmanage": nil})
	require.Equal(t, http.StatusAccepted, r.code, "%s", r.body)

	r = doAs(t, srv.URL, adminRoles, "POST", base+"/volumes/"+vol+"/action", "", map[string]any{"os-unmanage": nil})
	require.Equal(t, http.StatusAccepted, r.code, "%s", r.body)
	r = doAs(t, srv.URL, adminRoles, "GET", base+"/manageable_volumes?host=dlvm@dlvm", "3.8", nil)
	require.Equal(t, http.StatusOK, r.code, "%s", r.body)
	items = r.json(t)["manageable-volumes"].([]any)
	require.Len(t, items, 1)
	requireKeys(t, items[0].(map[string]any), []string{"reference", "size", "safe_to_manage"}, []string{"reference", "size", "safe_to_manage"})

	for _, tc := range []struct {
		body map[string]any
		msg  string
	}{
		{map[string]any{"ref": map[string]any{"source-name": "volume-" + vol}}, "'host' is a required property"},
		{map[string]any{"host": "dlvm@dlvm#pool-1"}, "'ref' is a required property"},
		{map[string]any{"host": "dlvm@dlvm#pool-1", "ref": "x"}, "ref"},
		{map[string]any{"host": "dlvm@dlvm#pool-1", "ref": map[string]any{"source-name": "volume-" + vol}, "bogus": 1}, "'bogus' was unexpected"},
		{map[string]any{"host": "dlvm@dlvm#other", "ref": map[string]any{"source-name": "volume-" + vol}}, "not dlvm@dlvm#other"},
	} {
		requireFault(t, doAs(t, srv.URL, adminRoles, "POST", base+"/os-volume-manage", "", map[string]any{"volume": tc.body}),
			http.StatusBadRequest, "badRequest", tc.msg)
	}
	r = doAs(t, srv.URL, adminRoles, "POST", base+"/os-volume-manage", "3.70", map[string]any{"volume": map[string]any{
		"host": "dlvm@dlvm#pool-1", "ref": map[string]any{"source-name": "volume-" + vol}, "name": "adopted"}})
	require.Equal(t, http.StatusAccepted, r.code, "%s", r.body)
	nv := r.json(t)["volume"].(map[string]any)
	for _, k := range tempestVolumeRequired {
		require.Contains(t, nv, k)
	}
	require.Equal(t, "adopted", nv["name"])
	require.Eventually(t, func() bool {
		v, err := st.GetVolume(ctx, nv["id"].(string))
		require.NoError(t, err)
		return v.Status == model.StatusAvailable
	}, 10*time.Second, 20*time.Millisecond)
}
