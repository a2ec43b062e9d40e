package apiv3

import (
	"context"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
)

func (h *Handler) groupSnapshotRoutes(add addFunc) {
	add("GET", "/group_snapshots", mvGroupSnapshotsGroup, h.listGroupSnapshots(false))
	add("GET", "/group_snapshots/detail", mvGroupSnapshotsGroup, h.listGroupSnapshots(true))
	add("POST", "/group_snapshots", mvGroupSnapshotsGroup, h.createGroupSnapshot)
	add("GET", "/group_snapshots/{id}", mvGroupSnapshotsGroup, h.showGroupSnapshot)
	add("DELETE", "/group_snapshots/{id}", mvGroupSnapshotsGroup, h.deleteGroupSnapshot)
	add("POST", "/group_snapshots/{id}/action", mvGroupSnapshotReset, h.groupSnapshotAction)
}

func groupSnapshotSummary(g *model.GroupSnapshot) map[string]any {
	return map[string]any{"id": g.ID, "name": g.Name}
}

// groupSnapshotDetail is Cinder's detailed group snapshot view.
func groupSnapshotDetail(ctx context.Context, g *model.GroupSnapshot) map[string]any {
	m := map[string]any{
		"id":            g.ID,
		"group_id":      g.GroupID,
		"group_type_id": g.GroupTypeID,
		"status":        g.Status,
		"created_at":    isoTime(g.CreatedAt),
		"name":          g.Name,
		"description":   orNull(g.Description),
	}
	if state(ctx).ver.AtLeast(mvGroupProjectID) {
		m["project_id"] = g.ProjectID
	}
	return m
}

func (h *Handler) listGroupSnapshots(detail bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		ctx := r.Context()
		q := r.URL.Query()
		p, err := parseListParams(q)
		if err != nil {
			return err
		}
		gq := db.GroupSnapshotQuery{Name: q.Get("name"), Status: q.Get("status"), GroupID: q.Get("group_id"),
			Sort: p.sort, Limit: p.limit, Marker: p.marker, Offset: p.offset}
		allTenants := isAdmin(ctx) && boolParam(q.Get("all_tenants"))
		if pid := q.Get("project_id"); isAdmin(ctx) && pid != "" {
			gq.ProjectID, allTenants = pid, true
		}
		list, err := h.svc.ListGroupSnapshots(ctx, state(ctx).caller, gq, allTenants)
		if err != nil {
			return err
		}
		out := make([]any, 0, len(list))
		for _, g := range list {
			if detail {
				out = append(out, groupSnapshotDetail(ctx, g))
			} else {
				out = append(out, groupSnapshotSummary(g))
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"group_snapshots": out})
		return nil
	}
}

func (h *Handler) showGroupSnapshot(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	g, err := h.svc.GetGroupSnapshot(ctx, state(ctx).caller, mux.Vars(r)["id"])
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"group_snapshot": groupSnapshotDetail(ctx, g)})
	return nil
}

func (h *Handler) createGroupSnapshot(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := authorizeWrite(ctx, "group:create_group_snapshot"); err != nil {
		return err
	}
	o, err := decodeBody(r)
	if err != nil {
		return err
	}
	gs, err := body(o, "group_snapshot")
	if err != nil {
		return err
	}
	if err := onlyKeys(gs, "group_snapshot", "group_id", "name", "description"); err != nil {
		return err
	}
	groupID, err := optUUID(gs, "group_id")
	if err != nil {
		return err
	}
	if groupID == "" {
		return badRequest("Missing required element 'group_id' in request body.")
	}
	name, _, err := optString(gs, "name", 255, true)
	if err != nil {
		return err
	}
	desc, _, err := optString(gs, "description", 255, false)
	if err != nil {
		return err
	}
	g, err := h.svc.CreateGroupSnapshot(ctx, state(ctx).caller, groupID, name, desc)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"group_snapshot": map[string]any{
		"id": g.ID, "name": g.Name, "group_type_id": g.GroupTypeID}})
	return nil
}

func (h *Handler) deleteGroupSnapshot(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := authorizeWrite(ctx, "group:delete_group_snapshot"); err != nil {
		return err
	}
	if err := h.svc.DeleteGroupSnapshot(ctx, state(ctx).caller, mux.Vars(r)["id"]); err != nil {
		return err
	}
	writeEmpty(w, http.StatusAccepted)
	return nil
}

func (h *Handler) groupSnapshotAction(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	o, err := decodeBody(r)
	if err != nil {
		return err
	}
	if _, ok := o["reset_status"]; !ok || len(o) != 1 {
		return badRequest("Invalid input received: only the reset_status group snapshot action is supported.")
	}
	if err := authorizeAdmin(ctx, "group:reset_group_snapshot_status"); err != nil {
		return err
	}
	status, err := resetStatusBody(o)
	if err != nil {
		return err
	}
	if err := h.svc.ResetGroupSnapshotStatus(ctx, state(ctx).caller, mux.Vars(r)["id"], status); err != nil {
		return err
	}
	writeEmpty(w, http.StatusAccepted)
	return nil
}
