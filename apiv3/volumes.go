package apiv3

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/dlvm-project/dlvm/volume/api"
)

func (h *Handler) volumeRoutes(add addFunc, v30 Version) {
	add("GET", "/volumes", v30, h.listVolumes(false))
	add("GET", "/volumes/detail", v30, h.listVolumes(true))
	add("GET", "/volumes/summary", mvVolumeSummary, h.volumeSummary)
	add("POST", "/volumes", v30, h.createVolume)
	add("GET", "/volumes/{id}", v30, h.showVolume)
	add("PUT", "/volumes/{id}", v30, h.updateVolume)
	add("DELETE", "/volumes/{id}", v30, h.deleteVolume)
	add("POST", "/volumes/{id}/action", v30, h.volumeAction)
	add("GET", "/volumes/{id}/metadata", v30, h.getMetadata(volumeMeta))
	add("POST", "/volumes/{id}/metadata", v30, h.setMetadata(volumeMeta, false))
	add("PUT", "/volumes/{id}/metadata", v30, h.setMetadata(volumeMeta, true))
	add("GET", "/volumes/{id}/metadata/{key}", v30, h.getMetadataItem(volumeMeta))
	add("PUT", "/volumes/{id}/metadata/{key}", v30, h.setMetadataItem(volumeMeta))
	add("DELETE", "/volumes/{id}/metadata/{key}", v30, h.deleteMetadataItem(volumeMeta))
}

// volumeID returns the {id} of the URL; a non-UUID is a missing volume (the CLI looks names up
// this way and expects 404).
func volumeID(r *http.Request) (string, error) {
	id := mux.Vars(r)["id"]
	if !isUUID(id) {
		return "", notFound("Volume %s could not be found.", id)
	}
	return id, nil
}

func (h *Handler) showVolume(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := volumeID(r)
	if err != nil {
		return err
	}
	b, err := h.volumeView(ctx, id)
	if err != nil {
		return err
	}
	writeJSONObject(w, http.StatusOK, []rawField{{key: "volume", val: b}})
	return nil
}

var createVolumeKeys = []string{"name", "description", "display_name", "display_description", "volume_type",
	"metadata", "snapshot_id", "source_volid", "consistencygroup_id", "size", "availability_zone",
	"multiattach", "image_id", "imageRef", "group_id", "backup_id"}

// decodeCreateVolume validates a POST /volumes body as Cinder's schema at version ver does.
func decodeCreateVolume(o object, ver Version) (api.CreateVolumeRequest, error) {
	var req api.CreateVolumeRequest
	vol, err := body(o, "volume", "OS-SCH-HNT:scheduler_hints")
	if err != nil {
		return req, err
	}
	if ver.AtLeast(mvVolumeSchemaChanges) {
		if err := onlyKeys(vol, "volume", createVolumeKeys...); err != nil {
			return req, err
		}
	}
	if req.Name, err = nameField(vol, "name", "display_name"); err != nil {
		return req, err
	}
	if req.Description, err = nameField(vol, "description", "display_description"); err != nil {
		return req, err
	}
	if req.VolumeType, _, err = optString(vol, "volume_type", 255, false); err != nil {
		return req, err
	}
	if req.AvailabilityZone, _, err = optString(vol, "availability_zone", 255, false); err != nil {
		return req, err
	}
	if v, ok := vol["size"]; ok && v != nil {
		if req.Size, err = parseSize("size", v); err != nil {
			return req, err
		}
	}
	if v, ok := vol["metadata"]; ok {
		if req.Metadata, err = parseMetadata("metadata", v, true); err != nil {
			return req, err
		}
	}
	if req.SnapshotID, err = optUUID(vol, "snapshot_id"); err != nil {
		return req, err
	}
	if req.SourceVolID, err = optUUID(vol, "source_volid"); err != nil {
		return req, err
	}
	for _, k := range []string{"consistencygroup_id", "backup_id"} {
		if id, err := optUUID(vol, k); err != nil {
			return req, err
		} else if id != "" {
			return req, badRequest("Invalid input received: %s is not supported by this service.", k)
		}
	}
	if v, ok := vol["multiattach"]; ok && v != nil {
		ma, err := parseBool("multiattach", v)
		if err != nil {
			return req, err
		}
		if ma {
			return req, badRequest("multiattach parameter has been removed. The default behavior is to use multiattach enabled volume types. Contact your administrator to create a multiattach enabled volume type and use it to create multiattach volumes.")
		}
	}
	if req.GroupID, err = optUUID(vol, "group_id"); err != nil {
		return req, err
	}
	for _, k := range []string{"imageRef", "image_id"} {
		s, _, err := optString(vol, k, 255, false)
		if err != nil {
			return req, err
		}
		if s != "" {
			return req, badRequest("Invalid input received: creating a volume from an image is not supported: no image service is configured.")
		}
	}
	return req, nil
}

// nameField reads a name/description (or its display_ alias), trimmed, at most 255 characters.
func nameField(o object, key, alias string) (string, error) {
	s, present, err := optString(o, key, 255, true)
	if err != nil || present {
		return s, err
	}
	s, _, err = optString(o, alias, 255, true)
	return s, err
}

func (h *Handler) createVolume(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := authorizeWrite(ctx, "volume:create"); err != nil {
		return err
	}
	o, err := decodeBody(r)
	if err != nil {
		return err
	}
	req, err := decodeCreateVolume(o, state(ctx).ver)
	if err != nil {
		return err
	}
	v, vt, err := h.svc.CreateVolumeShown(ctx, state(ctx).caller, req)
	if err != nil {
		return err
	}
	l := h.newLookups()
	if vt != nil {
		l.cache[vt.ID] = vt // the type the create read, as GetType would show it to the caller
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"volume": volumeDetail(ctx, v, l, false)})
	return nil
}

func (h *Handler) updateVolume(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := volumeID(r)
	if err != nil {
		return err
	}
	if err := authorizeWrite(ctx, "volume:update"); err != nil {
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
	if err := onlyKeys(vol, "volume", "name", "description", "display_name", "display_description", "metadata"); err != nil {
		return err
	}
	if len(vol) == 0 && state(ctx).ver.AtLeast(mvVolumeSchemaChanges) {
		return badRequest("Invalid input for field/attribute volume. Value: {}. {} is not valid under any of the given schemas")
	}
	var u api.VolumeUpdate
	for _, f := range []struct {
		dst        **string
		key, alias string
	}{{&u.Name, "name", "display_name"}, {&u.Description, "description", "display_description"}} {
		for _, k := range []string{f.key, f.alias} {
			s, present, err := optString(vol, k, 255, true)
			if err != nil {
				return err
			}
			if present && *f.dst == nil {
				*f.dst = &s
			}
		}
	}
	if v, ok := vol["metadata"]; ok {
		if u.Metadata, err = parseMetadata("metadata", v, false); err != nil {
			return err
		}
	}
	v, err := h.svc.UpdateVolume(ctx, state(ctx).caller, id, u)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"volume": volumeDetail(ctx, v, h.newLookups(), false)})
	return nil
}

func (h *Handler) deleteVolume(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := volumeID(r)
	if err != nil {
		return err
	}
	if err := authorizeWrite(ctx, "volume:delete"); err != nil {
		return err
	}
	q := r.URL.Query()
	cascade := boolParam(q.Get("cascade"))
	force := false
	if state(ctx).ver.AtLeast(mvVolumeDeleteForce) && boolParam(q.Get("force")) {
		if err := authorizeAdmin(ctx, "volume:force_delete"); err != nil {
			return err
		}
		force = true
	}
	if err := h.svc.DeleteVolume(ctx, state(ctx).caller, id, cascade, force); err != nil {
		return err
	}
	writeEmpty(w, http.StatusAccepted)
	return nil
}
