package apiv3

import (
	"context"
	"net/http"

	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume/api"
)

// mvExtendInUse is the microversion from which os-extend accepts an in-use volume.
var mvExtendInUse = Version{3, 42}

// OnlineService is what online operations on attached volumes need of the service layer.
type OnlineService interface {
	// ExtendVolumeInUse is ExtendVolume that also accepts an in-use volume.
	ExtendVolumeInUse(ctx context.Context, c api.Caller, id string, newSize int) error
	// VolumeHealth reports a volume's legs and derived health (admin only).
	VolumeHealth(ctx context.Context, c api.Caller, id string) (*model.VolumeHealth, error)
}

// onlineRoutes are dlvm's own admin views of the data path (no Cinder counterpart):
// GET /volumes/{id}/dlvm-health answers {"health": {"status": ..., "legs": [...]}}.
func (h *Handler) onlineRoutes(add addFunc, v30 Version) {
	add("GET", "/volumes/{id}/dlvm-health", v30, h.volumeHealth)
}

func (h *Handler) volumeHealth(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := volumeID(r)
	if err != nil {
		return err
	}
	if err := authorizeAdmin(ctx, "volume_extension:dlvm_health"); err != nil {
		return err
	}
	vh, err := h.svc.VolumeHealth(ctx, state(ctx).caller, id)
	if err != nil {
		return err
	}
	legs := make([]map[string]any, 0, len(vh.Legs))
	for _, l := range vh.Legs {
		legs = append(legs, map[string]any{
			"leg_id": l.LegID, "group": l.Group, "mirror": l.Mirror, "dpv_id": l.DPVID, "dpv_state": l.DPVState,
			"state": orNull(l.State), "dirty_regions": l.DirtyRegions, "message": orNull(l.Message),
			"since": isoTime(l.Since), "reported_at": isoTime(l.ReportedAt),
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"health": map[string]any{"volume_id": vh.VolumeID, "status": vh.Status, "legs": legs}})
	return nil
}

// extendFor returns the service call os-extend makes at the request's microversion.
func (h *Handler) extendFor(ctx context.Context) func(context.Context, api.Caller, string, int) error {
	if state(ctx).ver.AtLeast(mvExtendInUse) {
		return h.svc.ExtendVolumeInUse
	}
	return h.svc.ExtendVolume
}
