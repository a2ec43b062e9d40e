package apiv3

import (
	"context"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume/api"
)

// TypeAccessService is the part of the service layer the type access and encryption routes call.
type TypeAccessService interface {
	AddTypeAccess(ctx context.Context, c api.Caller, typeID, project string) error
	RemoveTypeAccess(ctx context.Context, c api.Caller, typeID, project string) error
	ListTypeAccess(ctx context.Context, c api.Caller, typeID string) ([]string, error)
	GetTypeEncryption(ctx context.Context, c api.Caller, typeID string) (*model.TypeEncryption, error)
	CreateTypeEncryption(ctx context.Context, c api.Caller, typeID string, u api.EncryptionUpdate) (*model.TypeEncryption, error)
	UpdateTypeEncryption(ctx context.Context, c api.Caller, typeID string, u api.EncryptionUpdate) (*model.TypeEncryption, error)
	DeleteTypeEncryption(ctx context.Context, c api.Caller, typeID string) error
}

func (h *Handler) typeAccessRoutes(add addFunc, v30 Version) {
	add("POST", "/types/{id}/action", v30, h.typeAction)
	add("GET", "/types/{id}/os-volume-type-access", v30, h.typeAccess)
	add("GET", "/types/{id}/encryption", v30, h.showEncryption)
	add("POST", "/types/{id}/encryption", v30, h.createEncryption)
	add("GET", "/types/{id}/encryption/{key}", v30, h.showEncryptionItem)
	add("PUT", "/types/{id}/encryption/{key}", v30, h.updateEncryption)
	add("DELETE", "/types/{id}/encryption/{key}", v30, h.deleteEncryption)
}

// typeAction serves addProjectAccess and removeProjectAccess (202, no body).
func (h *Handler) typeAction(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	o, err := decodeBody(r)
	if err != nil {
		return err
	}
	if len(o) != 1 {
		return badRequest("Invalid request body: exactly one action is expected.")
	}
	var (
		action string
		arg    any
	)
	for k, v := range o {
		action, arg = k, v
	}
	if action != "addProjectAccess" && action != "removeProjectAccess" {
		return badRequest("There is no such action: %s", action)
	}
	if err := authorizeAdmin(ctx, "volume_extension:volume_type_access:"+action); err != nil {
		return err
	}
	a, ok := arg.(map[string]any)
	if !ok {
		return invalidField(action, arg, repr(arg)+" is not of type 'object'")
	}
	if err := onlyKeys(object(a), action, "project"); err != nil {
		return err
	}
	project, present, err := optString(object(a), "project", 255, true)
	if err != nil {
		return err
	}
	if !present || project == "" {
		return badRequest("Missing required element 'project' in request body.")
	}
	c, id := state(ctx).caller, mux.Vars(r)["id"]
	if action == "addProjectAccess" {
		err = h.svc.AddTypeAccess(ctx, c, id, project)
	} else {
		err = h.svc.RemoveTypeAccess(ctx, c, id, project)
	}
	if err != nil {
		return err
	}
	writeEmpty(w, http.StatusAccepted)
	return nil
}

func (h *Handler) typeAccess(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := authorizeAdmin(ctx, "volume_extension:volume_type_access"); err != nil {
		return err
	}
	id := mux.Vars(r)["id"]
	projects, err := h.svc.ListTypeAccess(ctx, state(ctx).caller, id)
	if err != nil {
		return err
	}
	list := make([]any, 0, len(projects))
	for _, p := range projects {
		list = append(list, map[string]any{"volume_type_id": id, "project_id": p})
	}
	writeJSON(w, http.StatusOK, map[string]any{"volume_type_access": list})
	return nil
}

// encryptionFields are the values of Cinder's encryption spec, as its views name them.
func encryptionFields(e *model.TypeEncryption) map[string]any {
	var keySize any
	if e.KeySize != nil {
		keySize = *e.KeySize
	}
	return map[string]any{
		"volume_type_id":   e.VolumeTypeID,
		"encryption_id":    e.EncryptionID,
		"provider":         e.Provider,
		"cipher":           orNull(e.Cipher),
		"key_size":         keySize,
		"control_location": e.ControlLocation,
	}
}

// showEncryption answers the spec's row, or {} when the type has none (any caller who may see
// the type: Horizon reads it).
func (h *Handler) showEncryption(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	e, err := h.svc.GetTypeEncryption(ctx, state(ctx).caller, mux.Vars(r)["id"])
	if err != nil {
		return err
	}
	if e == nil {
		writeJSON(w, http.StatusOK, map[string]any{})
		return nil
	}
	m := encryptionFields(e)
	m["deleted"] = false
	m["created_at"] = isoTime(e.CreatedAt)
	m["updated_at"] = isoTime(e.UpdatedAt)
	m["deleted_at"] = nil
	writeJSON(w, http.StatusOK, m)
	return nil
}

func (h *Handler) showEncryptionItem(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, key := mux.Vars(r)["id"], mux.Vars(r)["key"]
	e, err := h.svc.GetTypeEncryption(ctx, state(ctx).caller, id)
	if err != nil {
		return err
	}
	if e == nil {
		return notFound("Volume type encryption for type %s does not exist.", id)
	}
	v, ok := encryptionFields(e)[key]
	if !ok {
		return notFound("The resource could not be found.")
	}
	writeJSON(w, http.StatusOK, map[string]any{key: v})
	return nil
}

// encryptionBody reads {"encryption": {provider, cipher, key_size, control_location}}.
func encryptionBody(r *http.Request) (api.EncryptionUpdate, map[string]any, error) {
	var u api.EncryptionUpdate
	o, err := decodeBody(r)
	if err != nil {
		return u, nil, err
	}
	b, err := body(o, "encryption")
	if err != nil {
		return u, nil, err
	}
	if err := onlyKeys(b, "encryption", "provider", "cipher", "key_size", "control_location"); err != nil {
		return u, nil, err
	}
	echo := map[string]any{}
	for _, f := range []struct {
		key string
		dst **string
	}{{"provider", &u.Provider}, {"cipher", &u.Cipher}, {"control_location", &u.ControlLocation}} {
		s, present, err := optString(b, f.key, 255, false)
		if err != nil {
			return u, nil, err
		}
		if present {
			*f.dst = &s
			echo[f.key] = orNull(s)
		}
	}
	if v, ok := b["key_size"]; ok {
		u.KeySizeSet = true
		echo["key_size"] = nil
		if v != nil {
			n, err := parseInt("key_size", v, 0, 1<<20)
			if err != nil {
				return u, nil, err
			}
			k := int(n)
			u.KeySize = &k
			echo["key_size"] = k
		}
	}
	return u, echo, nil
}

func (h *Handler) createEncryption(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := authorizeAdmin(ctx, "volume_extension:volume_type_encryption:create"); err != nil {
		return err
	}
	u, _, err := encryptionBody(r)
	if err != nil {
		return err
	}
	e, err := h.svc.CreateTypeEncryption(ctx, state(ctx).caller, mux.Vars(r)["id"], u)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"encryption": encryptionFields(e)})
	return nil
}

// updateEncryption answers the fields it was given, as Cinder does.
func (h *Handler) updateEncryption(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := authorizeAdmin(ctx, "volume_extension:volume_type_encryption:update"); err != nil {
		return err
	}
	u, echo, err := encryptionBody(r)
	if err != nil {
		return err
	}
	if _, err := h.svc.UpdateTypeEncryption(ctx, state(ctx).caller, mux.Vars(r)["id"], u); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"encryption": echo})
	return nil
}

func (h *Handler) deleteEncryption(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := authorizeAdmin(ctx, "volume_extension:volume_type_encryption:delete"); err != nil {
		return err
	}
	if err := h.svc.DeleteTypeEncryption(ctx, state(ctx).caller, mux.Vars(r)["id"]); err != nil {
		return err
	}
	writeEmpty(w, http.StatusAccepted)
	return nil
}
