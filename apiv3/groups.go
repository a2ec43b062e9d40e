package apiv3

import (
	"context"
	"net/http"
	"strings"

	"github.com/gorilla/mux"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume/api"
)

// Group microversions.
var (
	mvGroupResetStatus    = Version{3, 20}
	mvGroupSnapshotReset  = Version{3, 19}
	mvGroupVolumeList     = Version{3, 25}
	mvGroupReplication    = Version{3, 38}
	mvGroupProjectID      = Version{3, 58}
	mvGroupSnapshotsGroup = Version{3, 14}
)

// GroupService is what the group and group snapshot routes need from the service layer.
type GroupService interface {
	CreateGroup(ctx context.Context, c api.Caller, req api.CreateGroupRequest) (*model.Group, error)
	CreateGroupFromSource(ctx context.Context, c api.Caller, name, description, groupSnapshotID, sourceGroupID string) (*model.Group, error)
	GetGroup(ctx context.Context, c api.Caller, id string) (*model.Group, error)
	ListGroups(ctx context.Context, c api.Caller, q db.GroupQuery, allTenants bool) ([]*model.Group, error)
	GroupVolumeIDs(ctx context.Context, groupID string) ([]string, error)
	UpdateGroup(ctx context.Context, c api.Caller, id string, u api.GroupUpdate) (*model.Group, error)
	DeleteGroup(ctx context.Context, c api.Caller, id string, deleteVolumes bool) error
	ResetGroupStatus(ctx context.Context, c api.Caller, id, status string) error

	CreateGroupSnapshot(ctx context.Context, c api.Caller, groupID, name, description string) (*model.GroupSnapshot, error)
	GetGroupSnapshot(ctx context.Context, c api.Caller, id string) (*model.GroupSnapshot, error)
	ListGroupSnapshots(ctx context.Context, c api.Caller, q db.GroupSnapshotQuery, allTenants bool) ([]*model.GroupSnapshot, error)
	DeleteGroupSnapshot(ctx context.Context, c api.Caller, id string) error
	ResetGroupSnapshotStatus(ctx context.Context, c api.Caller, id, status string) error
}

func (h *Handler) groupRoutes(add addFunc, _ Version) {
	h.groupTypeRoutes(add, mvGroupTypes)
	add("GET", "/groups", mvGroupVolume, h.listGroups(false))
	add("GET", "/groups/detail", mvGroupVolume, h.listGroups(true))
	add("POST", "/groups", mvGroupVolume, h.createGroup)
	add("POST", "/groups/action", mvGroupSnapshotsGroup, h.createGroupFromSource)
	add("GET", "/groups/{id}", mvGroupVolume, h.showGroup)
	add("PUT", "/groups/{id}", mvGroupVolume, h.updateGroup)
	add("POST", "/groups/{id}/action", mvGroupVolume, h.groupAction)
	h.groupSnapshotRoutes(add)
	h.transferRoutes(add)
}

func groupSummary(g *model.Group) map[string]any {
	return map[string]any{"id": g.ID, "name": g.Name}
}

// groupDetail is Cinder's detailed group view at the request's microversion; volumeIDs is
// shown when not nil (3.25 with list_volume).
func groupDetail(ctx context.Context, g *model.Group, volumeIDs []string) map[string]any {
	ver := state(ctx).ver
	m := map[string]any{
		"id":                g.ID,
		"name":              g.Name,
		"description":       orNull(g.Description),
		"status":            g.Status,
		"availability_zone": g.AvailabilityZone,
		"created_at":        isoTime(g.CreatedAt),
		"group_type":        g.GroupTypeID,
		"volume_types":      append([]string{}, g.VolumeTypeIDs...),
	}
	if ver.AtLeast(mvGroupSnapshotsGroup) {
		m["group_snapshot_id"] = orNull(g.GroupSnapshotID)
		m["source_group_id"] = orNull(g.SourceGroupID)
	}
	if volumeIDs != nil && ver.AtLeast(mvGroupVolumeList) {
		m["volumes"] = volumeIDs
	}
	if ver.AtLeast(mvGroupReplication) {
		m["replication_status"] = "disabled"
	}
	if ver.AtLeast(mvGroupProjectID) {
		m["project_id"] = g.ProjectID
	}
	return m
}

// groupVolumes returns the volume ids to show with a group: only at 3.25+ with list_volume.
func (h *Handler) groupVolumes(r *http.Request, g *model.Group) ([]string, error) {
	if !state(r.Context()).ver.AtLeast(mvGroupVolumeList) || !boolParam(r.URL.Query().Get("list_volume")) {
		return nil, nil
	}
	return h.svc.GroupVolumeIDs(r.Context(), g.ID)
}

func (h *Handler) listGroups(detail bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		ctx := r.Context()
		q := r.URL.Query()
		p, err := parseListParams(q)
		if err != nil {
			return err
		}
		gq := db.GroupQuery{Name: q.Get("name"), Status: q.Get("status"), Sort: p.sort, Limit: p.limit, Marker: p.marker, Offset: p.offset}
		allTenants := isAdmin(ctx) && boolParam(q.Get("all_tenants"))
		if pid := q.Get("project_id"); isAdmin(ctx) && pid != "" {
			gq.ProjectID, allTenants = pid, true
		}
		groups, err := h.svc.ListGroups(ctx, state(ctx).caller, gq, allTenants)
		if err != nil {
			return err
		}
		list := make([]any, 0, len(groups))
		for _, g := range groups {
			if !detail {
				list = append(list, groupSummary(g))
				continue
			}
			vols, err := h.groupVolumes(r, g)
			if err != nil {
				return err
			}
			list = append(list, groupDetail(ctx, g, vols))
		}
		writeJSON(w, http.StatusOK, map[string]any{"groups": list})
		return nil
	}
}

func (h *Handler) showGroup(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	g, err := h.svc.GetGroup(ctx, state(ctx).caller, mux.Vars(r)["id"])
	if err != nil {
		return err
	}
	vols, err := h.groupVolumes(r, g)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"group": groupDetail(ctx, g, vols)})
	return nil
}

func (h *Handler) createGroup(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := authorizeWrite(ctx, "group:create"); err != nil {
		return err
	}
	o, err := decodeBody(r)
	if err != nil {
		return err
	}
	g, err := body(o, "group")
	if err != nil {
		return err
	}
	if err := onlyKeys(g, "group", "name", "description", "group_type", "volume_types", "availability_zone"); err != nil {
		return err
	}
	var req api.CreateGroupRequest
	if req.Name, _, err = optString(g, "name", 255, true); err != nil {
		return err
	}
	if req.Description, _, err = optString(g, "description", 255, false); err != nil {
		return err
	}
	if req.AvailabilityZone, _, err = optString(g, "availability_zone", 255, false); err != nil {
		return err
	}
	gt, present, err := optString(g, "group_type", 255, true)
	if err != nil {
		return err
	}
	if !present || gt == "" {
		return badRequest("Missing required element 'group_type' in request body.")
	}
	req.GroupType = gt
	vts, ok := g["volume_types"].([]any)
	if !ok || len(vts) == 0 {
		return invalidField("volume_types", g["volume_types"], "volume_types must be a non-empty list of volume type ids or names.")
	}
	for _, v := range vts {
		s, ok := v.(string)
		if !ok || strings.TrimSpace(s) == "" || len(s) > 255 {
			return invalidField("volume_types", g["volume_types"], "volume_types must be a non-empty list of volume type ids or names.")
		}
		req.VolumeTypes = append(req.VolumeTypes, strings.TrimSpace(s))
	}
	grp, err := h.svc.CreateGroup(ctx, state(ctx).caller, req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"group": groupSummary(grp)})
	return nil
}

func (h *Handler) createGroupFromSource(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := authorizeWrite(ctx, "group:create"); err != nil {
		return err
	}
	o, err := decodeBody(r)
	if err != nil {
		return err
	}
	src, err := body(o, "create-from-src")
	if err != nil {
		return err
	}
	if err := onlyKeys(src, "create-from-src", "name", "description", "group_snapshot_id", "source_group_id"); err != nil {
		return err
	}
	name, _, err := optString(src, "name", 255, true)
	if err != nil {
		return err
	}
	desc, _, err := optString(src, "description", 255, false)
	if err != nil {
		return err
	}
	gsID, err := optUUID(src, "group_snapshot_id")
	if err != nil {
		return err
	}
	srcID, err := optUUID(src, "source_group_id")
	if err != nil {
		return err
	}
	if (gsID == "") == (srcID == "") {
		return badRequest("Invalid input received: Either 'group_snapshot_id' or 'source_group_id' must be provided to create group %s from source.", name)
	}
	g, err := h.svc.CreateGroupFromSource(ctx, state(ctx).caller, name, desc, gsID, srcID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"group": groupSummary(g)})
	return nil
}

// idList reads a comma-separated list of volume ids (add_volumes / remove_volumes).
func idList(o object, key string) ([]string, error) {
	s, _, err := optString(o, key, 0, true)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, id := range strings.Split(s, ",") {
		if id = strings.TrimSpace(id); id != "" {
			out = append(out, id)
		}
	}
	return out, nil
}

func (h *Handler) updateGroup(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := authorizeWrite(ctx, "group:update"); err != nil {
		return err
	}
	o, err := decodeBody(r)
	if err != nil {
		return err
	}
	g, err := body(o, "group")
	if err != nil {
		return err
	}
	if err := onlyKeys(g, "group", "name", "description", "add_volumes", "remove_volumes"); err != nil {
		return err
	}
	var u api.GroupUpdate
	if s, present, err := optString(g, "name", 255, true); err != nil {
		return err
	} else if present {
		u.Name = &s
	}
	if s, present, err := optString(g, "description", 255, false); err != nil {
		return err
	} else if present {
		u.Description = &s
	}
	if u.AddVolumes, err = idList(g, "add_volumes"); err != nil {
		return err
	}
	if u.RemoveVolumes, err = idList(g, "remove_volumes"); err != nil {
		return err
	}
	if u.Name == nil && u.Description == nil && len(u.AddVolumes) == 0 && len(u.RemoveVolumes) == 0 {
		return badRequest("Name, description, add_volumes, and remove_volumes can not be all empty in the request body.")
	}
	if _, err := h.svc.UpdateGroup(ctx, state(ctx).caller, mux.Vars(r)["id"], u); err != nil {
		return err
	}
	writeEmpty(w, http.StatusAccepted)
	return nil
}

func (h *Handler) groupAction(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id := mux.Vars(r)["id"]
	o, err := decodeBody(r)
	if err != nil {
		return err
	}
	if len(o) != 1 {
		return badRequest("Invalid request body: exactly one group action is expected.")
	}
	switch {
	case o["delete"] != nil:
		if err := authorizeWrite(ctx, "group:delete"); err != nil {
			return err
		}
		d, err := body(o, "delete")
		if err != nil {
			return err
		}
		if err := onlyKeys(d, "delete", "delete-volumes"); err != nil {
			return err
		}
		delVols := false
		if v, ok := d["delete-volumes"]; ok && v != nil {
			if delVols, err = parseBool("delete-volumes", v); err != nil {
				return err
			}
		}
		if err := h.svc.DeleteGroup(ctx, state(ctx).caller, id, delVols); err != nil {
			return err
		}
	case o["reset_status"] != nil && state(ctx).ver.AtLeast(mvGroupResetStatus):
		if err := authorizeAdmin(ctx, "group:reset_status"); err != nil {
			return err
		}
		status, err := resetStatusBody(o)
		if err != nil {
			return err
		}
		if err := h.svc.ResetGroupStatus(ctx, state(ctx).caller, id, status); err != nil {
			return err
		}
	default:
		for k := range o {
			return badRequest("Invalid input received: group action %s is not supported by this service.", k)
		}
	}
	writeEmpty(w, http.StatusAccepted)
	return nil
}

// resetStatusBody reads {"reset_status": {"status": "..."}}.
func resetStatusBody(o object) (string, error) {
	rs, err := body(o, "reset_status")
	if err != nil {
		return "", err
	}
	if err := onlyKeys(rs, "reset_status", "status"); err != nil {
		return "", err
	}
	status, present, err := optString(rs, "status", 255, true)
	if err != nil {
		return "", err
	}
	if !present || status == "" {
		return "", badRequest("Must specify 'status'")
	}
	return strings.ToLower(status), nil
}
