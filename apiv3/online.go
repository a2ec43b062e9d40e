package apiv3

import (
	"context"

	"github.com/dlvm-project/dlvm/volume/api"
)

// mvExtendInUse is the microversion from which os-extend accepts an in-use volume.
var mvExtendInUse = Version{3, 42}

// OnlineService is what online operations on attached volumes need of the service layer.
type OnlineService interface {
	// ExtendVolumeInUse is ExtendVolume that also accepts an in-use volume.
	ExtendVolumeInUse(ctx context.Context, c api.Caller, id string, newSize int) error
}

// extendFor returns the service call os-extend makes at the request's microversion.
func (h *Handler) extendFor(ctx context.Context) func(context.Context, api.Caller, string, int) error {
	if state(ctx).ver.AtLeast(mvExtendInUse) {
		return h.svc.ExtendVolumeInUse
	}
	return h.svc.ExtendVolume
}
