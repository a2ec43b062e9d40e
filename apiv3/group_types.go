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

// mvGroupTypes is where group types and group specs appear.
var mvGroupTypes = Version{3, 11}

// GroupTypeService is what the group type routes need from the service layer.
type GroupTypeService interface {
	CreateGroupType(ctx context.Context, c api.Caller, name, description string, isPublic bool, specs map[string]string) (*model.GroupType, error)
	GetGroupType(ctx context.Context, c api.Caller, idOrName string) (*model.GroupType, error)
	DefaultGroupType(ctx context.Context, c api.Caller) (*model.GroupType, error)
	ListGroupTypes(ctx context.Context, c api.Caller, isPublic *bool, sort []db.SortKey) ([]*model.GroupType, error)
	UpdateGroupType(ctx context.Context, c api.Caller, id string, u api.GroupTypeUpdate) (*model.GroupType, error)
	DeleteGroupType(ctx context.Context, c api.Caller, id string) error
	SetGroupSpecs(ctx context.Context, c api.Caller, typeID string, specs map[string]string) error
	DeleteGroupSpec(ctx context.Context, c api.Caller, typeID, key string) error
}

func (h *Handler) groupTypeRoutes(add addFunc, _ Version) {
	add("GET", "/group_types", mvGroupTypes, h.listGroupTypes)
	add("POST", "/group_types", mvGroupTypes, h.createGroupType)
	add("GET", "/group_types/default", mvGroupTypes, h.defaultGroupType)
	add("GET", "/group_types/{id}", mvGroupTypes, h.showGroupType)
	add("PUT", "/group_types/{id}", mvGroupTypes, h.updateGroupType)
	add("DELETE", "/group_types/{id}", mvGroupTypes, h.deleteGroupType)
	add("GET", "/group_types/{id}/group_specs", mvGroupTypes, h.listGroupSpecs)
	add("POST", "/group_types/{id}/group_specs", mvGroupTypes, h.setGroupSpecs)
	add("GET", "/group_types/{id}/group_specs/{key}", mvGroupTypes, h.showGroupSpec)
	add("PUT", "/group_types/{id}/group_specs/{key}", mvGroupTypes, h.setGroupSpec)
	add("DELETE", "/group_types/{id}/group_specs/{key}", mvGroupTypes, h.deleteGroupSpec)
}

// groupTypeView is Cinder's group type view; group specs are shown to admins only.
func groupTypeView(ctx context.Context, t *model.GroupType) map[string]any {
	m := map[string]any{
		"id":          t.ID,
		"name":        t.Name,
		"is_public":   t.IsPublic,
		"description": orNull(t.Description),
	}
	if isAdmin(ctx) {
		m["group_specs"] = nonNilMap(t.GroupSpecs)
	}
	return m
}

// parseIsPublic reads the is_public list filter as Cinder does: absent = public only, "None" =
// all (admin), else a boolean.
func parseIsPublic(ctx context.Context, q map[string][]string) (*bool, error) {
	t, f := true, false
	isPublic := &t
	if s, ok := q["is_public"]; ok && len(s) > 0 {
		switch l := strings.ToLower(s[0]); {
		case l == "none":
			isPublic = nil
		case contains(trueStrings, l):
		case contains(falseStrings, l):
			isPublic = &f
		default:
			return nil, badRequest("Invalid is_public filter [%s]", s[0])
		}
	}
	if !isAdmin(ctx) {
		isPublic = &t
	}
	return isPublic, nil
}

func (h *Handler) listGroupTypes(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	isPublic, err := parseIsPublic(ctx, r.URL.Query())
	if err != nil {
		return err
	}
	p, err := parseListParams(r.URL.Query())
	if err != nil {
		return err
	}
	types, err := h.svc.ListGroupTypes(ctx, state(ctx).caller, isPublic, p.sort)
	if err != nil {
		return err
	}
	list := make([]any, 0, len(types))
	for _, t := range types {
		list = append(list, groupTypeView(ctx, t))
	}
	writeJSON(w, http.StatusOK, map[string]any{"group_types": list})
	return nil
}

func (h *Handler) showGroupType(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	t, err := h.svc.GetGroupType(ctx, state(ctx).caller, mux.Vars(r)["id"])
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"group_type": groupTypeView(ctx, t)})
	return nil
}

func (h *Handler) defaultGroupType(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	t, err := h.svc.DefaultGroupType(ctx, state(ctx).caller)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"group_type": groupTypeView(ctx, t)})
	return nil
}

func (h *Handler) createGroupType(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := authorizeAdmin(ctx, "group:group_types:create"); err != nil {
		return err
	}
	c, err := decodeTypeCreate(r, "group_type", "is_public", "group_specs", "Group type")
	if err != nil {
		return err
	}
	t, err := h.svc.CreateGroupType(ctx, state(ctx).caller, c.name, c.desc, c.public, c.specs)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"group_type": groupTypeView(ctx, t)})
	return nil
}

func (h *Handler) updateGroupType(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := authorizeAdmin(ctx, "group:group_types:update"); err != nil {
		return err
	}
	u, err := decodeTypeUpdate(r, "group_type", "Group type")
	if err != nil {
		return err
	}
	if u.Name == nil && u.Description == nil && u.IsPublic == nil {
		return badRequest("Specify group type name, description or a combination thereof.")
	}
	t, err := h.svc.UpdateGroupType(ctx, state(ctx).caller, mux.Vars(r)["id"], api.GroupTypeUpdate(u))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"group_type": groupTypeView(ctx, t)})
	return nil
}

func (h *Handler) deleteGroupType(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := authorizeAdmin(ctx, "group:group_types:delete"); err != nil {
		return err
	}
	if err := h.svc.DeleteGroupType(ctx, state(ctx).caller, mux.Vars(r)["id"]); err != nil {
		return err
	}
	writeEmpty(w, http.StatusAccepted)
	return nil
}

// groupSpecsOf returns a type's specs for an admin (group specs are admin-only in Cinder).
func (h *Handler) groupSpecsOf(ctx context.Context, id string) (map[string]string, error) {
	if err := authorizeAdmin(ctx, "group:group_types_specs:get"); err != nil {
		return nil, err
	}
	t, err := h.svc.GetGroupType(ctx, state(ctx).caller, id)
	if err != nil {
		return nil, err
	}
	return nonNilMap(t.GroupSpecs), nil
}

func (h *Handler) listGroupSpecs(w http.ResponseWriter, r *http.Request) error {
	specs, err := h.groupSpecsOf(r.Context(), mux.Vars(r)["id"])
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"group_specs": specs})
	return nil
}

func (h *Handler) showGroupSpec(w http.ResponseWriter, r *http.Request) error {
	id, key := mux.Vars(r)["id"], mux.Vars(r)["key"]
	specs, err := h.groupSpecsOf(r.Context(), id)
	if err != nil {
		return err
	}
	v, ok := specs[key]
	if !ok {
		return notFound("Group Type %s has no specs with key %s.", id, key)
	}
	writeJSON(w, http.StatusOK, map[string]string{key: v})
	return nil
}

func (h *Handler) setGroupSpecs(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := authorizeAdmin(ctx, "group:group_types_specs:create"); err != nil {
		return err
	}
	o, err := decodeBody(r)
	if err != nil {
		return err
	}
	if _, ok := o["group_specs"]; !ok {
		return badRequest("Missing required element 'group_specs' in request body.")
	}
	if err := onlyKeys(o, "body", "group_specs"); err != nil {
		return err
	}
	specs, err := parseMetadata("group_specs", o["group_specs"], false)
	if err != nil {
		return err
	}
	if err := h.svc.SetGroupSpecs(ctx, state(ctx).caller, mux.Vars(r)["id"], specs); err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"group_specs": specs})
	return nil
}

func (h *Handler) setGroupSpec(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := authorizeAdmin(ctx, "group:group_types_specs:update"); err != nil {
		return err
	}
	key := mux.Vars(r)["key"]
	o, err := decodeBody(r)
	if err != nil {
		return err
	}
	specs, err := parseMetadata("group_specs", map[string]any(o), false)
	if err != nil {
		return err
	}
	if len(specs) > 1 {
		return badRequest("Request body contains too many items.")
	}
	if _, ok := specs[key]; !ok {
		return badRequest("Request body and URI mismatch")
	}
	if err := h.svc.SetGroupSpecs(ctx, state(ctx).caller, mux.Vars(r)["id"], specs); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, specs)
	return nil
}

func (h *Handler) deleteGroupSpec(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := authorizeAdmin(ctx, "group:group_types_specs:delete"); err != nil {
		return err
	}
	if err := h.svc.DeleteGroupSpec(ctx, state(ctx).caller, mux.Vars(r)["id"], mux.Vars(r)["key"]); err != nil {
		return err
	}
	writeEmpty(w, http.StatusAccepted)
	return nil
}
