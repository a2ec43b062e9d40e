package apiv3

import (
	"context"
	"net/http"
	"strings"

	"github.com/gorilla/mux"

	"github.com/dlvm-project/dlvm/model"
)

func (h *Handler) typeRoutes(add addFunc, v30 Version) {
	add("GET", "/types", v30, h.listTypes)
	add("POST", "/types", v30, h.createType)
	add("GET", "/types/default", mvDefaultType, h.defaultType)
	add("GET", "/types/{id}", v30, h.showType)
	add("PUT", "/types/{id}", v30, h.updateType)
	add("DELETE", "/types/{id}", v30, h.deleteType)
	add("GET", "/types/{id}/extra_specs", v30, h.listExtraSpecs)
	add("POST", "/types/{id}/extra_specs", v30, h.setExtraSpecs)
	add("GET", "/types/{id}/extra_specs/{key}", v30, h.showExtraSpec)
	add("PUT", "/types/{id}/extra_specs/{key}", v30, h.setExtraSpec)
	add("DELETE", "/types/{id}/extra_specs/{key}", v30, h.deleteExtraSpec)
}

// userVisibleSpecs are the extra specs Cinder shows to non-admins.
var userVisibleSpecs = []string{"RESKEY:availability_zones", "multiattach", "replication_enabled"}

func visibleSpecs(ctx context.Context, specs map[string]string) map[string]string {
	if isAdmin(ctx) {
		return nonNilMap(specs)
	}
	out := map[string]string{}
	for _, k := range userVisibleSpecs {
		if v, ok := specs[k]; ok {
			out[k] = v
		}
	}
	return out
}

// typeShow is the v3 show/index view with its access extension attribute.
func typeShow(ctx context.Context, t *model.VolumeType) map[string]any {
	m := map[string]any{
		"id":                              t.ID,
		"name":                            t.Name,
		"is_public":                       t.IsPublic,
		"description":                     orNull(t.Description),
		"extra_specs":                     visibleSpecs(ctx, t.ExtraSpecs),
		"os-volume-type-access:is_public": t.IsPublic,
	}
	if isAdmin(ctx) {
		m["qos_specs_id"] = orNull(t.QosSpecsID)
	}
	return m
}

// typeManageView is the view of create (access=true) and update responses.
func typeManageView(t *model.VolumeType, access bool) map[string]any {
	m := map[string]any{
		"id":          t.ID,
		"name":        t.Name,
		"is_public":   t.IsPublic,
		"description": orNull(t.Description),
		"extra_specs": nonNilMap(t.ExtraSpecs),
	}
	if access {
		m["os-volume-type-access:is_public"] = t.IsPublic
	}
	return m
}

func (h *Handler) listTypes(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var isPublic *bool
	t := true
	isPublic = &t
	if s, ok := r.URL.Query()["is_public"]; ok && len(s) > 0 {
		switch strings.ToLower(s[0]) {
		case "none":
			isPublic = nil
		case "true", "1", "yes", "on", "y", "t":
		case "false", "0", "no", "off", "n", "f":
			f := false
			isPublic = &f
		default:
			return badRequest("Invalid is_public filter [%s]", s[0])
		}
	}
	if !isAdmin(ctx) {
		isPublic = &t
	}
	types, err := h.svc.ListTypes(ctx, state(ctx).caller, isPublic)
	if err != nil {
		return err
	}
	list := make([]any, 0, len(types))
	for _, vt := range types {
		list = append(list, typeShow(ctx, vt))
	}
	writeJSON(w, http.StatusOK, map[string]any{"volume_types": list})
	return nil
}

func (h *Handler) getType(ctx context.Context, id string) (*model.VolumeType, error) {
	return h.svc.GetType(ctx, state(ctx).caller, id)
}

func (h *Handler) showType(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	t, err := h.getType(ctx, mux.Vars(r)["id"])
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"volume_type": typeShow(ctx, t)})
	return nil
}

func (h *Handler) defaultType(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	t, err := h.svc.DefaultType(ctx, state(ctx).caller)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"volume_type": typeShow(ctx, t)})
	return nil
}

func (h *Handler) createType(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := authorizeAdmin(ctx, "volume_extension:types_manage:create"); err != nil {
		return err
	}
	c, err := decodeTypeCreate(r, "volume_type", "os-volume-type-access:is_public", "extra_specs", "Volume type")
	if err != nil {
		return err
	}
	t, err := h.svc.CreateType(ctx, state(ctx).caller, c.name, c.desc, c.public, c.specs)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"volume_type": typeManageView(t, true)})
	return nil
}

func (h *Handler) updateType(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := authorizeAdmin(ctx, "volume_extension:types_manage:update"); err != nil {
		return err
	}
	u, err := decodeTypeUpdate(r, "volume_type", "Volume type")
	if err != nil {
		return err
	}
	if u.Name == nil && u.Description == nil && u.IsPublic == nil {
		return badRequest("Specify volume type name, description, is_public or a combination thereof.")
	}
	t, err := h.svc.UpdateType(ctx, state(ctx).caller, mux.Vars(r)["id"], u.Name, u.Description, u.IsPublic)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"volume_type": typeManageView(t, false)})
	return nil
}

func (h *Handler) deleteType(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := authorizeAdmin(ctx, "volume_extension:types_manage:delete"); err != nil {
		return err
	}
	if err := h.svc.DeleteType(ctx, state(ctx).caller, mux.Vars(r)["id"]); err != nil {
		return err
	}
	writeEmpty(w, http.StatusAccepted)
	return nil
}

func (h *Handler) listExtraSpecs(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	t, err := h.getType(ctx, mux.Vars(r)["id"])
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"extra_specs": visibleSpecs(ctx, t.ExtraSpecs)})
	return nil
}

func (h *Handler) setExtraSpecs(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := authorizeAdmin(ctx, "volume_extension:types_extra_specs:create"); err != nil {
		return err
	}
	o, err := decodeBody(r)
	if err != nil {
		return err
	}
	if _, ok := o["extra_specs"]; !ok {
		return badRequest("Missing required element 'extra_specs' in request body.")
	}
	if err := onlyKeys(o, "body", "extra_specs"); err != nil {
		return err
	}
	specs, err := parseMetadata("extra_specs", o["extra_specs"], false)
	if err != nil {
		return err
	}
	if _, err := h.svc.SetExtraSpecs(ctx, state(ctx).caller, mux.Vars(r)["id"], specs); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"extra_specs": specs})
	return nil
}

func (h *Handler) showExtraSpec(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, key := mux.Vars(r)["id"], mux.Vars(r)["key"]
	t, err := h.getType(ctx, id)
	if err != nil {
		return err
	}
	v, ok := visibleSpecs(ctx, t.ExtraSpecs)[key]
	if !ok {
		return notFound("Volume Type %s has no extra specs with key %s.", id, key)
	}
	writeJSON(w, http.StatusOK, map[string]string{key: v})
	return nil
}

func (h *Handler) setExtraSpec(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := authorizeAdmin(ctx, "volume_extension:types_extra_specs:update"); err != nil {
		return err
	}
	key := mux.Vars(r)["key"]
	o, err := decodeBody(r)
	if err != nil {
		return err
	}
	specs, err := parseMetadata("extra_specs", map[string]any(o), false)
	if err != nil {
		return err
	}
	if len(specs) > 1 {
		return badRequest("Request body contains too many items.")
	}
	if _, ok := specs[key]; !ok {
		return badRequest("Request body and URI mismatch")
	}
	if _, err := h.svc.SetExtraSpecs(ctx, state(ctx).caller, mux.Vars(r)["id"], specs); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, specs)
	return nil
}

func (h *Handler) deleteExtraSpec(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := authorizeAdmin(ctx, "volume_extension:types_extra_specs:delete"); err != nil {
		return err
	}
	if err := h.svc.DeleteExtraSpec(ctx, state(ctx).caller, mux.Vars(r)["id"], mux.Vars(r)["key"]); err != nil {
		return err
	}
	writeEmpty(w, http.StatusAccepted)
	return nil
}

// typeCreate is the create body of a volume type or group type.
type typeCreate struct {
	name, desc string
	public     bool
	specs      map[string]string
}

// decodeTypeCreate reads a type's create body under key (volume_type, group_type), its public
// flag under publicKey and its specs under specsKey; what ("Volume type") names it in errors.
func decodeTypeCreate(r *http.Request, key, publicKey, specsKey, what string) (typeCreate, error) {
	var c typeCreate
	o, err := decodeBody(r)
	if err != nil {
		return c, err
	}
	t, err := body(o, key)
	if err != nil {
		return c, err
	}
	if err := onlyKeys(t, key, "name", "description", publicKey, specsKey); err != nil {
		return c, err
	}
	name, present, err := optString(t, "name", 255, true)
	if err != nil {
		return c, err
	}
	if !present || name == "" {
		return c, badRequest("Invalid input for field/attribute name. Value: %s. %s name can not be empty.", repr(t["name"]), what)
	}
	c.name = name
	if c.desc, _, err = optString(t, "description", 255, false); err != nil {
		return c, err
	}
	c.public = true
	if v, ok := t[publicKey]; ok && v != nil {
		if c.public, err = parseBool(publicKey, v); err != nil {
			return c, err
		}
	}
	if v, ok := t[specsKey]; ok {
		if c.specs, err = parseMetadata(specsKey, v, true); err != nil {
			return c, err
		}
	}
	return c, nil
}

// typeUpdate is the update body of a volume type or group type: nil fields are unchanged.
type typeUpdate struct {
	Name, Description *string
	IsPublic          *bool
}

// decodeTypeUpdate reads a type's update body under key: the fields given (nil: unchanged);
// what ("Volume type") names it in errors. The caller refuses an update that changes nothing,
// in its own words.
func decodeTypeUpdate(r *http.Request, key, what string) (typeUpdate, error) {
	var u typeUpdate
	o, err := decodeBody(r)
	if err != nil {
		return u, err
	}
	t, err := body(o, key)
	if err != nil {
		return u, err
	}
	if err := onlyKeys(t, key, "name", "description", "is_public"); err != nil {
		return u, err
	}
	if s, present, err := optString(t, "name", 255, true); err != nil {
		return u, err
	} else if present {
		if s == "" {
			return u, badRequest("Invalid input for field/attribute name. Value: %s. %s name can not be empty.", repr(t["name"]), what)
		}
		u.Name = &s
	}
	if s, present, err := optString(t, "description", 255, false); err != nil {
		return u, err
	} else if present {
		u.Description = &s
	}
	if v, ok := t["is_public"]; ok && v != nil {
		b, err := parseBool("is_public", v)
		if err != nil {
			return u, err
		}
		u.IsPublic = &b
	}
	return u, nil
}
