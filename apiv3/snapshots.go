package apiv3

import (
	"context"
	"net/http"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
)

func (h *Handler) snapshotRoutes(add addFunc, v30 Version) {
	add("GET", "/snapshots", v30, h.listSnapshots(false))
	add("GET", "/snapshots/detail", v30, h.listSnapshots(true))
	add("POST", "/snapshots", v30, h.createSnapshot)
	add("GET", "/snapshots/{id}", v30, h.showSnapshot)
	add("PUT", "/snapshots/{id}", v30, h.updateSnapshot)
	add("DELETE", "/snapshots/{id}", v30, h.deleteSnapshot)
	add("POST", "/snapshots/{id}/action", v30, h.snapshotAction)
	add("GET", "/snapshots/{id}/metadata", v30, h.getMetadata(snapshotMeta))
	add("POST", "/snapshots/{id}/metadata", v30, h.setMetadata(snapshotMeta, false))
	add("PUT", "/snapshots/{id}/metadata", v30, h.setMetadata(snapshotMeta, true))
	add("GET", "/snapshots/{id}/metadata/{key}", v30, h.getMetadataItem(snapshotMeta))
	add("PUT", "/snapshots/{id}/metadata/{key}", v30, h.setMetadataItem(snapshotMeta))
	add("DELETE", "/snapshots/{id}/metadata/{key}", v30, h.deleteMetadataItem(snapshotMeta))
}

// snapshotView is Cinder 21's snapshot view. detail adds the v3 microversioned fields; ext adds
// the os-extended-snapshot-attributes of show and detail lists.
func snapshotView(ctx context.Context, s *model.Snapshot, detail, ext bool) map[string]any {
	ver := state(ctx).ver
	m := map[string]any{
		"id":          s.ID,
		"created_at":  isoTime(s.CreatedAt),
		"updated_at":  isoTime(s.UpdatedAt),
		"name":        s.Name,
		"description": s.Description,
		"volume_id":   s.VolumeID,
		"status":      s.Status,
		"size":        s.Size,
		"metadata":    nonNilMap(s.Metadata),
	}
	if detail {
		if ver.AtLeast(mvGroupSnapshots) {
			m["group_snapshot_id"] = orNull(s.GroupSnapshotID)
		}
		if ver.AtLeast(mvSnapshotUserID) {
			m["user_id"] = s.UserID
		}
		if ver.AtLeast(mvUseQuota) {
			m["consumes_quota"] = true
		}
	}
	if ext {
		progress := s.Progress
		if progress == "" {
			progress = "0%"
			if s.Status == model.StatusAvailable {
				progress = "100%"
			}
		}
		m["os-extended-snapshot-attributes:progress"] = progress
		m["os-extended-snapshot-attributes:project_id"] = s.ProjectID
	}
	return m
}

func snapshotID(r *http.Request) (string, error) { return snapshotMeta.id(r) }

func (h *Handler) listSnapshots(detail bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		ctx := r.Context()
		st := state(ctx)
		q := r.URL.Query()
		p, err := parseListParams(q)
		if err != nil {
			return err
		}
		sq := db.SnapshotQuery{Sort: p.sort, Limit: p.limit, Marker: p.marker, Offset: p.offset,
			VolumeID: q.Get("volume_id"), Status: q.Get("status"), Name: q.Get("name")}
		if sq.Name == "" {
			sq.Name = q.Get("display_name")
		}
		allTenants := st.caller.IsAdmin && boolParam(q.Get("all_tenants"))
		if pid := q.Get("project_id"); st.caller.IsAdmin && pid != "" {
			sq.ProjectID, allTenants = pid, true
		}
		if s := q.Get("metadata"); s != "" && st.ver.AtLeast(mvSnapListMetadata) {
			if sq.Metadata, err = parseMetadataFilter(s); err != nil {
				return err
			}
		}
		var snaps []*model.Snapshot
		if p.limit > 0 { // limit=0 asks for an empty page, as Cinder's paginate_query gives
			if snaps, err = h.svc.ListSnapshots(ctx, st.caller, sq, allTenants); err != nil {
				return err
			}
		}
		list := make([]any, 0, len(snaps))
		for _, s := range snaps {
			list = append(list, snapshotView(ctx, s, detail, detail))
		}
		last := ""
		if len(snaps) > 0 {
			last = snaps[len(snaps)-1].ID
		}
		out := listBody(r, "snapshots", detail, list, p.limit, last)
		if st.ver.AtLeast(mvCountInfo) && boolParam(q.Get("with_count")) {
			n, err := h.svc.CountSnapshots(ctx, st.caller, sq, allTenants)
			if err != nil {
				return err
			}
			out["count"] = n
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	}
}

func (h *Handler) showSnapshot(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := snapshotID(r)
	if err != nil {
		return err
	}
	s, err := h.svc.GetSnapshot(ctx, state(ctx).caller, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"snapshot": snapshotView(ctx, s, true, true)})
	return nil
}

// snapshotCreate is a validated POST /snapshots body.
type snapshotCreate struct {
	volumeID, name, description string
	force                       bool
	forceGiven                  bool
	metadata                    map[string]string
}

func decodeCreateSnapshot(o object) (snapshotCreate, error) {
	var c snapshotCreate
	snap, err := body(o, "snapshot")
	if err != nil {
		return c, err
	}
	if err := onlyKeys(snap, "snapshot", "volume_id", "name", "description", "display_name",
		"display_description", "force", "metadata"); err != nil {
		return c, err
	}
	if _, ok := snap["volume_id"]; !ok {
		return c, badRequest("Invalid input for field/attribute snapshot. Value: %s. 'volume_id' is a required property", repr(map[string]any(snap)))
	}
	if c.volumeID, err = optUUID(snap, "volume_id"); err != nil {
		return c, err
	}
	if c.volumeID == "" { // Cinder's schema allows null; the volume lookup then fails
		return c, notFound("Volume None could not be found.")
	}
	if c.name, err = nameField(snap, "name", "display_name"); err != nil {
		return c, err
	}
	if c.description, err = nameField(snap, "description", "display_description"); err != nil {
		return c, err
	}
	if v, ok := snap["force"]; ok && v != nil {
		if c.force, err = parseBool("force", v); err != nil {
			return c, err
		}
		c.forceGiven = true
	}
	if v, ok := snap["metadata"]; ok {
		if c.metadata, err = parseMetadata("metadata", v, true); err != nil {
			return c, err
		}
	}
	return c, nil
}

func (h *Handler) createSnapshot(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := authorizeWrite(ctx, "volume:create_snapshot"); err != nil {
		return err
	}
	o, err := decodeBody(r)
	if err != nil {
		return err
	}
	c, err := decodeCreateSnapshot(o)
	if err != nil {
		return err
	}
	// From 3.66 a volume in use may be snapshotted without force (Cinder's SNAPSHOT_IN_USE);
	// force=false is then refused and force=true ignored, as Cinder does.
	if state(ctx).ver.AtLeast(mvSnapshotInUse) {
		if c.forceGiven && !c.force {
			return badRequest("Since microversion 3.66 the 'force' flag is invalid for this request. For backward compatibility, however, when the 'force' flag is passed with a value evaluating to True, it is silently ignored.")
		}
		c.force = true
	}
	s, err := h.svc.CreateSnapshot(ctx, state(ctx).caller, c.volumeID, c.name, c.description, c.force, c.metadata)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"snapshot": snapshotView(ctx, s, true, false)})
	return nil
}

func (h *Handler) updateSnapshot(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := snapshotID(r)
	if err != nil {
		return err
	}
	if err := authorizeWrite(ctx, "volume:update_snapshot"); err != nil {
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
	if err := onlyKeys(snap, "snapshot", "name", "description", "display_name", "display_description"); err != nil {
		return err
	}
	if len(snap) == 0 {
		return badRequest("Invalid input for field/attribute snapshot. Value: {}. {} is not valid under any of the given schemas")
	}
	var name, desc *string
	for _, f := range []struct {
		dst        **string
		key, alias string
	}{{&name, "name", "display_name"}, {&desc, "description", "display_description"}} {
		for _, k := range []string{f.key, f.alias} {
			s, present, err := optString(snap, k, 255, true)
			if err != nil {
				return err
			}
			if present && *f.dst == nil {
				*f.dst = &s
			}
		}
	}
	s, err := h.svc.UpdateSnapshot(ctx, state(ctx).caller, id, name, desc)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"snapshot": snapshotView(ctx, s, true, false)})
	return nil
}

func (h *Handler) deleteSnapshot(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := snapshotID(r)
	if err != nil {
		return err
	}
	if err := authorizeWrite(ctx, "volume:delete_snapshot"); err != nil {
		return err
	}
	if err := h.svc.DeleteSnapshot(ctx, state(ctx).caller, id, false); err != nil {
		return err
	}
	writeEmpty(w, http.StatusAccepted)
	return nil
}

func (h *Handler) snapshotAction(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := snapshotID(r)
	if err != nil {
		return err
	}
	o, err := decodeBody(r)
	if err != nil {
		return err
	}
	name, arg, err := singleAction(o)
	if err != nil {
		return err
	}
	c := state(ctx).caller
	if ok, err := adminAction(ctx, "snapshot", name, arg,
		func(status string) error { return h.svc.ResetSnapshotStatus(ctx, c, id, status) },
		func() error { return h.svc.DeleteSnapshot(ctx, c, id, true) }); ok || err != nil {
		if err == nil {
			writeEmpty(w, http.StatusAccepted)
		}
		return err
	}
	switch name {
	case "os-update_snapshot_status":
		if err := authorizeWrite(ctx, "snapshot_extension:snapshot_actions:update_snapshot_status"); err != nil {
			return err
		}
		a, status, err := statusArg(name, arg, "progress")
		if err != nil {
			return err
		}
		progress, _, err := optString(a, "progress", 255, true)
		if err != nil {
			return err
		}
		if err := h.svc.UpdateSnapshotStatus(ctx, c, id, status, progress); err != nil {
			return err
		}
	case "os-unmanage":
		if err := authorizeAdmin(ctx, "snapshot_extension:snapshot_unmanage"); err != nil {
			return err
		}
		if err := h.svc.UnmanageSnapshot(ctx, c, id); err != nil {
			return err
		}
	default:
		return badRequest("There is no such action: %s. Verify the request body and Content-Type header and try again.", name)
	}
	writeEmpty(w, http.StatusAccepted)
	return nil
}
