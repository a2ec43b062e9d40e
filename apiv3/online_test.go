package apiv3

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume/api"
	"github.com/dlvm-project/dlvm/volume/target"
)

// ExtendVolumeInUse of the fake: like ExtendVolume (which ignores the status, as the fake's
// volumes stay "creating"), and a volume busy elsewhere is refused.
func (f *fakeService) ExtendVolumeInUse(ctx context.Context, c api.Caller, id string, newSize int) error {
	f.mu.Lock()
	v, err := f.vol(c, id)
	f.mu.Unlock()
	if err != nil {
		return err
	}
	switch v.Status {
	case model.StatusReserved, model.StatusExtending, model.StatusDeleting:
		return model.Errorf(model.ErrInvalid, "Invalid volume: Volume %s status must be available or in-use to extend, but current status is: %s.", id, v.Status)
	}
	return f.ExtendVolume(ctx, c, id, newSize)
}

// TestExtendInUseMicroversion: os-extend of an in-use volume is refused before 3.42 (the
// service layer's ExtendVolume) and accepted from 3.42.
func TestExtendInUseMicroversion(t *testing.T) {
	e := newEnv(t)
	id := e.createVolume(member, map[string]any{"size": 1})["id"].(string)
	act := "/v3/" + projA + "/volumes/" + id + "/action"
	e.svc.mu.Lock()
	e.svc.vols[id].Status = model.StatusInUse
	e.svc.mu.Unlock()
	body := func(n int) any { return map[string]any{"os-extend": map[string]any{"new_size": n}} }

	// The fake's ExtendVolume does not look at the status; the real one refuses in-use
	// (volume/api TestExtendVolumeInUse). What matters here is which call each version makes.
	r := e.do("POST", act, member, "3.42", body(2))
	require.Equal(t, http.StatusAccepted, r.code, "body: %s", r.body)
	e.svc.mu.Lock()
	e.svc.vols[id].Status = model.StatusReserved
	e.svc.mu.Unlock()
	r = e.do("POST", act, member, "3.42", body(3))
	requireFault(t, r, 400, "badRequest", "must be available or in-use to extend")
	r = e.do("POST", act, member, "3.41", body(3))
	require.Equal(t, http.StatusAccepted, r.code, "before 3.42 the plain extend is called: %s", r.body)
}

// VolumeHealth of the fake: every volume is degraded, one leg failed on a dead dpv.
func (f *fakeService) VolumeHealth(ctx context.Context, c api.Caller, id string) (*model.VolumeHealth, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.vol(c, id); err != nil {
		return nil, err
	}
	return &model.VolumeHealth{VolumeID: id, Status: model.HealthDegraded, Legs: []model.LegReport{
		{LegID: "l1", DPVID: "p1", DPVState: "up", State: model.LegStateOK},
		{LegID: "l2", Mirror: 1, DPVID: "p2", DPVState: "down", State: model.LegStateFailed, DirtyRegions: 9, Message: "timeout"},
	}}, nil
}

func TestVolumeHealthRoute(t *testing.T) {
	e := newEnv(t)
	id := e.createVolume(member, map[string]any{"size": 1})["id"].(string)
	path := "/v3/" + projA + "/volumes/" + id + "/dlvm-health"
	requireFault(t, e.do("GET", path, member, "", nil), 403, "forbidden", "dlvm_health")
	r := e.do("GET", path, admin, "3.70", nil)
	require.Equal(t, http.StatusOK, r.code, "body: %s", r.body)
	require.JSONEq(t, `{"health":{"volume_id":"`+id+`","status":"degraded","legs":[
		{"leg_id":"l1","group":0,"mirror":0,"dpv_id":"p1","dpv_state":"up","state":"ok","dirty_regions":0,"message":null,"since":null,"reported_at":null},
		{"leg_id":"l2","group":0,"mirror":1,"dpv_id":"p2","dpv_state":"down","state":"failed","dirty_regions":9,"message":"timeout","since":null,"reported_at":null}]}}`, string(r.body))
	requireFault(t, e.do("GET", "/v3/"+projA+"/volumes/00000000-0000-0000-0000-000000000000/dlvm-health", admin, "", nil), 404, "itemNotFound", "")
}

// ResyncExports of the attachment tests' agent: it exports every named leg to its first
// initiator.
func (f *stackAgent) ResyncExports(ctx context.Context, legs []target.LegExports) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, l := range legs {
		if len(l.Access) > 0 {
			f.exports[l.LegID] = l.Access[0].InitiatorIQN
		}
	}
	return nil
}
