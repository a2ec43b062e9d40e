package apiv3

import (
	"context"
	"fmt"
	"net/http"

	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume/api"
)

// mvManageable is the microversion of GET /manageable_volumes and /manageable_snapshots.
var mvManageable = Version{3, 8}

// ManageService is the part of the service layer the manage/unmanage routes call.
type ManageService interface {
	ManageVolume(ctx context.Context, c api.Caller, req api.ManageVolumeRequest) (*model.Volume, error)
	UnmanageVolume(ctx context.Context, c api.Caller, id string) error
	ManageSnapshot(ctx context.Context, c api.Caller, volumeID string, ref map[string]string, name, description string, md map[string]string) (*model.Snapshot, error)
	UnmanageSnapshot(ctx context.Context, c api.Caller, id string) error
	ManageableVolumes(ctx context.Context, c api.Caller) ([]api.Manageable, error)
	ManageableSnapshots(ctx context.Context, c api.Caller) ([]api.Manageable, error)
}

func (h *Handler) manageRoutes(add addFunc, v30 Version) {
	add("POST", "/os-volume-manage", v30, h.manageVolume)
	add("POST", "/os-snapshot-manage", v30, h.manageSnapshot)
	add("GET", "/manageable_volumes", mvManageable, h.listManageable("manageable-volumes", false))
	add("GET", "/manageable_volumes/detail", mvManageable, h.listManageable("manageable-volumes", true))
	add("GET", "/manageable_snapshots", mvManageable, h.listManageable("manageable-snapshots", false))
	add("GET", "/manageable_snapshots/detail", mvManageable, h.listManageable("manageable-snapshots", true))
}

// decodeRef reads a manage request's "ref": an object of strings.
func decodeRef(o object) (map[string]string, error) {
	v, ok := o["ref"]
	if !ok {
		return nil, badRequest("Invalid input for field/attribute ref. 'ref' is a required property")
	}
	m, ok := v.(map[string]any)
	if !ok || len(m) == 0 {
		return nil, invalidField("ref", v, repr(v)+" is not a non-empty object")
	}
	out := map[string]string{}
	for k, x := range m {
		s, ok := x.(string)
		if !ok {
			return nil, invalidField("ref", v, fmt.Sprintf("%s is not of type 'string'", repr(x)))
		}
		out[k] = s
	}
	return out, nil
}

func (h *Handler) manageVolume(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := authorizeAdmin(ctx, "volume_extension:volume_manage"); err != nil {
		return err
	}
	o, err := decodeBody(r)
	if err != nil {
		return err
	}
	vol, err := body(o, "volume")
	if err != nil {
		return err
	}
	if err := onlyKeys(vol, "volume", "host", "ref", "name", "description", "volume_type", "availability_zone",
		"metadata", "bootable"); err != nil {
		return err
	}
	var req api.ManageVolumeRequest
	var present bool
	if req.Host, present, err = optString(vol, "host", 255, true); err != nil {
		return err
	} else if !present || req.Host == "" {
		return badRequest("Invalid input for field/attribute volume. 'host' is a required property")
	}
	if req.Ref, err = decodeRef(vol); err != nil {
		return err
	}
	for _, f := range []struct {
		key string
		dst *string
	}{{"name", &req.Name}, {"description", &req.Description}, {"volume_type", &req.VolumeType}, {"availability_zone", &req.AvailabilityZone}} {
		if *f.dst, _, err = optString(vol, f.key, 255, true); err != nil {
			return err
		}
	}
	if v, ok := vol["metadata"]; ok {
		if req.Metadata, err = parseMetadata("metadata", v, true); err != nil {
			return err
		}
	}
	if v, ok := vol["bootable"]; ok && v != nil {
		if req.Bootable, err = parseBool("bootable", v); err != nil {
			return err
		}
	}
	v, err := h.svc.ManageVolume(ctx, state(ctx).caller, req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"volume": volumeDetail(ctx, v, h.newLookups(), false)})
	return nil
}

func (h *Handler) manageSnapshot(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := authorizeAdmin(ctx, "snapshot_extension:snapshot_manage"); err != nil {
		return err
	}
	o, err := decodeBody(r)
	if err != nil {
		return err
	}
	snap, err := body(o, "snapshot")
	if err != nil {
		return err
	}
	if err := onlyKeys(snap, "snapshot", "volume_id", "ref", "name", "description", "metadata"); err != nil {
		return err
	}
	volumeID, err := optUUID(snap, "volume_id")
	if err != nil {
		return err
	}
	if volumeID == "" {
		return badRequest("Invalid input for field/attribute snapshot. 'volume_id' is a required property")
	}
	ref, err := decodeRef(snap)
	if err != nil {
		return err
	}
	name, _, err := optString(snap, "name", 255, true)
	if err != nil {
		return err
	}
	desc, _, err := optString(snap, "description", 255, true)
	if err != nil {
		return err
	}
	var md map[string]string
	if v, ok := snap["metadata"]; ok {
		if md, err = parseMetadata("metadata", v, true); err != nil {
			return err
		}
	}
	sn, err := h.svc.ManageSnapshot(ctx, state(ctx).caller, volumeID, ref, name, desc, md)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"snapshot": snapshotView(ctx, sn, false, false)})
	return nil
}

// listManageable serves Cinder's manageable lists; dlvm offers what os-unmanage left behind,
// all safe to manage. Cinder requires a host (or cluster) to look at.
func (h *Handler) listManageable(key string, detail bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		ctx := r.Context()
		if err := authorizeAdmin(ctx, "volume_extension:list_manageable"); err != nil {
			return err
		}
		q := r.URL.Query()
		if q.Get("host") == "" && q.Get("cluster") == "" {
			return badRequest("Invalid input received: Must specify 'host' or 'cluster'.")
		}
		var items []api.Manageable
		var err error
		if key == "manageable-volumes" {
			items, err = h.svc.ManageableVolumes(ctx, state(ctx).caller)
		} else {
			items, err = h.svc.ManageableSnapshots(ctx, state(ctx).caller)
		}
		if err != nil {
			return err
		}
		list := make([]any, 0, len(items))
		for _, it := range items {
			m := map[string]any{"reference": it.Reference, "size": it.Size, "safe_to_manage": true}
			if key == "manageable-snapshots" {
				m["source_reference"] = it.SourceRef
			}
			if detail {
				m["reason_not_safe"], m["cinder_id"], m["extra_info"] = nil, nil, nil
			}
			list = append(list, m)
		}
		writeJSON(w, http.StatusOK, map[string]any{key: list})
		return nil
	}
}

func actUnmanage(ctx context.Context, h *Handler, w http.ResponseWriter, id string, _ any) error {
	if err := authorizeAdmin(ctx, "volume_extension:volume_unmanage"); err != nil {
		return err
	}
	if err := h.svc.UnmanageVolume(ctx, state(ctx).caller, id); err != nil {
		return err
	}
	writeEmpty(w, http.StatusAccepted)
	return nil
}
