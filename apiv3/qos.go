package apiv3

import (
	"context"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume/api"
)

// QosService is the part of the service layer the qos-specs routes call.
type QosService interface {
	CreateQos(ctx context.Context, c api.Caller, name, consumer string, specs map[string]string) (*model.QosSpecs, error)
	GetQos(ctx context.Context, c api.Caller, id string) (*model.QosSpecs, error)
	ListQos(ctx context.Context, c api.Caller) ([]*model.QosSpecs, error)
	SetQosKeys(ctx context.Context, c api.Caller, id string, specs map[string]string) error
	UnsetQosKeys(ctx context.Context, c api.Caller, id string, keys []string) error
	DeleteQos(ctx context.Context, c api.Caller, id string, force bool) error
	QosAssociations(ctx context.Context, c api.Caller, id string) ([]*model.VolumeType, error)
	AssociateQos(ctx context.Context, c api.Caller, id, typeID string) error
	DisassociateQos(ctx context.Context, c api.Caller, id, typeID string) error
	DisassociateAllQos(ctx context.Context, c api.Caller, id string) error
}

// qosRoutes: Cinder's qos_specs_manage. Associate and disassociate are GETs with ?vol_type_id=,
// as cinderclient, the openstack CLI and Tempest send them.
func (h *Handler) qosRoutes(add addFunc, v30 Version) {
	add("GET", "/qos-specs", v30, h.listQos)
	add("POST", "/qos-specs", v30, h.createQos)
	add("GET", "/qos-specs/{id}", v30, h.showQos)
	add("PUT", "/qos-specs/{id}", v30, h.setQosKeys)
	add("DELETE", "/qos-specs/{id}", v30, h.deleteQos)
	add("PUT", "/qos-specs/{id}/delete_keys", v30, h.unsetQosKeys)
	add("GET", "/qos-specs/{id}/associations", v30, h.qosAssociations)
	add("GET", "/qos-specs/{id}/associate", v30, h.qosTypeAction(Service.AssociateQos))
	add("GET", "/qos-specs/{id}/disassociate", v30, h.qosTypeAction(Service.DisassociateQos))
	add("GET", "/qos-specs/{id}/disassociate_all", v30, h.disassociateAllQos)
}

func qosView(q *model.QosSpecs) map[string]any {
	return map[string]any{"id": q.ID, "name": q.Name, "consumer": q.Consumer, "specs": nonNilMap(q.Specs)}
}

func qosDetail(ctx context.Context, q *model.QosSpecs) map[string]any {
	return map[string]any{"qos_specs": qosView(q), "links": links(ctx, "qos-specs", q.ID)}
}

func (h *Handler) listQos(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := authorizeAdmin(ctx, "volume_extension:qos_specs_manage:get_all"); err != nil {
		return err
	}
	qs, err := h.svc.ListQos(ctx, state(ctx).caller)
	if err != nil {
		return err
	}
	list := make([]any, 0, len(qs))
	for _, q := range qs {
		list = append(list, qosView(q))
	}
	writeJSON(w, http.StatusOK, map[string]any{"qos_specs": list})
	return nil
}

// qosSpecsBody reads {"qos_specs": {...}} with every value a string.
func qosSpecsBody(r *http.Request) (map[string]string, error) {
	o, err := decodeBody(r)
	if err != nil {
		return nil, err
	}
	b, err := body(o, "qos_specs")
	if err != nil {
		return nil, err
	}
	return parseMetadata("qos_specs", map[string]any(b), false)
}

func (h *Handler) createQos(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := authorizeAdmin(ctx, "volume_extension:qos_specs_manage:create"); err != nil {
		return err
	}
	specs, err := qosSpecsBody(r)
	if err != nil {
		return err
	}
	name, ok := specs["name"]
	if !ok {
		return badRequest("Please specify a name for QoS specs.")
	}
	consumer := specs["consumer"]
	delete(specs, "name")
	delete(specs, "consumer")
	q, err := h.svc.CreateQos(ctx, state(ctx).caller, name, consumer, specs)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, qosDetail(ctx, q))
	return nil
}

func (h *Handler) showQos(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := authorizeAdmin(ctx, "volume_extension:qos_specs_manage:get"); err != nil {
		return err
	}
	q, err := h.svc.GetQos(ctx, state(ctx).caller, mux.Vars(r)["id"])
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, qosDetail(ctx, q))
	return nil
}

// setQosKeys answers the keys it was given, as Cinder does.
func (h *Handler) setQosKeys(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := authorizeAdmin(ctx, "volume_extension:qos_specs_manage:update"); err != nil {
		return err
	}
	specs, err := qosSpecsBody(r)
	if err != nil {
		return err
	}
	if err := h.svc.SetQosKeys(ctx, state(ctx).caller, mux.Vars(r)["id"], specs); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"qos_specs": specs})
	return nil
}

func (h *Handler) unsetQosKeys(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := authorizeAdmin(ctx, "volume_extension:qos_specs_manage:delete_keys"); err != nil {
		return err
	}
	o, err := decodeBody(r)
	if err != nil {
		return err
	}
	if err := onlyKeys(o, "body", "keys"); err != nil {
		return err
	}
	raw, ok := o["keys"].([]any)
	if !ok {
		return badRequest("Invalid input for field/attribute keys. Value: %s. %s is not of type 'array'", repr(o["keys"]), repr(o["keys"]))
	}
	keys := make([]string, 0, len(raw))
	for _, v := range raw {
		k, ok := v.(string)
		if !ok || k == "" || len(k) > 255 {
			return badRequest("Invalid input for field/attribute keys. Value: %s. Each key must be a string of 1 to 255 characters.", repr(o["keys"]))
		}
		keys = append(keys, k)
	}
	if err := h.svc.UnsetQosKeys(ctx, state(ctx).caller, mux.Vars(r)["id"], keys); err != nil {
		return err
	}
	writeEmpty(w, http.StatusAccepted)
	return nil
}

func (h *Handler) deleteQos(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := authorizeAdmin(ctx, "volume_extension:qos_specs_manage:delete"); err != nil {
		return err
	}
	force := false
	if s := r.URL.Query().Get("force"); s != "" {
		var err error
		if force, err = parseBool("force", s); err != nil {
			return err
		}
	}
	if err := h.svc.DeleteQos(ctx, state(ctx).caller, mux.Vars(r)["id"], force); err != nil {
		return err
	}
	writeEmpty(w, http.StatusAccepted)
	return nil
}

func (h *Handler) qosAssociations(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := authorizeAdmin(ctx, "volume_extension:qos_specs_manage:get_all"); err != nil {
		return err
	}
	types, err := h.svc.QosAssociations(ctx, state(ctx).caller, mux.Vars(r)["id"])
	if err != nil {
		return err
	}
	list := make([]any, 0, len(types))
	for _, t := range types {
		list = append(list, map[string]any{"association_type": "volume_type", "name": t.Name, "id": t.ID})
	}
	writeJSON(w, http.StatusOK, map[string]any{"qos_associations": list})
	return nil
}

func volTypeParam(r *http.Request) (string, error) {
	id := r.URL.Query().Get("vol_type_id")
	if id == "" {
		return "", badRequest("Volume Type id must not be None.")
	}
	return id, nil
}

// qosTypeAction is associate or disassociate (GET ?vol_type_id=, as the CLI sends them): admin,
// the type id from the query, then act on the specs of the URL.
func (h *Handler) qosTypeAction(act func(svc Service, ctx context.Context, c api.Caller, id, typeID string) error) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		ctx := r.Context()
		if err := authorizeAdmin(ctx, "volume_extension:qos_specs_manage:update"); err != nil {
			return err
		}
		typeID, err := volTypeParam(r)
		if err != nil {
			return err
		}
		if err := act(h.svc, ctx, state(ctx).caller, mux.Vars(r)["id"], typeID); err != nil {
			return err
		}
		writeEmpty(w, http.StatusAccepted)
		return nil
	}
}

func (h *Handler) disassociateAllQos(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := authorizeAdmin(ctx, "volume_extension:qos_specs_manage:update"); err != nil {
		return err
	}
	if err := h.svc.DisassociateAllQos(ctx, state(ctx).caller, mux.Vars(r)["id"]); err != nil {
		return err
	}
	writeEmpty(w, http.StatusAccepted)
	return nil
}
