package apiv3

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume/api"
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
