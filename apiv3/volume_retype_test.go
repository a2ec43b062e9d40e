package apiv3

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/model"
)

// TestRetypeActions decodes os-retype and os-migrate_volume against the real service layer.
func TestRetypeActions(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	require.NoError(t, s.d.Store().CreateType(ctx, &model.VolumeType{ID: "5a0c7f7e-5d1b-4f5b-8b7a-2f3c1d0e9a11", Name: "gold", IsPublic: true}))
	vol := s.volume(t, 2, false)
	act := "/v3/" + projA + "/volumes/" + vol + "/action"
	for _, tc := range []struct {
		name string
		body map[string]any
		code int
	}{
		{"no new_type", map[string]any{"os-retype": map[string]any{"migration_policy": "never"}}, http.StatusBadRequest},
		{"new_type not a string", map[string]any{"os-retype": map[string]any{"new_type": 7}}, http.StatusBadRequest},
		{"bad policy", map[string]any{"os-retype": map[string]any{"new_type": "gold", "migration_policy": "always"}}, http.StatusBadRequest},
		{"extra key", map[string]any{"os-retype": map[string]any{"new_type": "gold", "force": true}}, http.StatusBadRequest},
		{"not an object", map[string]any{"os-retype": "gold"}, http.StatusBadRequest},
		{"unknown type", map[string]any{"os-retype": map[string]any{"new_type": "tin"}}, http.StatusNotFound},
		{"member cannot migrate", map[string]any{"os-migrate_volume": map[string]any{"host": "dlvm@dlvm-2#dlvm-2"}}, http.StatusForbidden},
		{"completion stays unimplemented", map[string]any{"os-migrate_volume_completion": map[string]any{"new_volume": vol}}, http.StatusNotImplemented},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := doVer(t, s.srv.URL, "POST", act, "3.70", tc.body)
			require.Equal(t, tc.code, r.code, "%s", r.body)
			require.Equal(t, model.StatusAvailable, s.volumeStatus(t, vol), "nothing changed")
		})
	}
	r := doVer(t, s.srv.URL, "POST", act, "3.0", map[string]any{"os-retype": map[string]any{"new_type": "gold", "migration_policy": "on-demand"}})
	require.Equal(t, http.StatusAccepted, r.code, "%s", r.body)
	require.Equal(t, model.StatusRetyping, s.volumeStatus(t, vol))
	r = doVer(t, s.srv.URL, "POST", act, "3.0", map[string]any{"os-retype": map[string]any{"new_type": "gold"}})
	require.Equal(t, http.StatusBadRequest, r.code, "a retyping volume cannot be retyped again")
}
