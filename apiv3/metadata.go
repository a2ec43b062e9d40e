package apiv3

import (
	"context"
	"net/http"

	"github.com/gorilla/mux"
)

// metaOps adapts the metadata routes to volumes or snapshots.
type metaOps struct {
	kind string // "volume" or "snapshot", for policy names and messages
	get  func(ctx context.Context, h *Handler, id string) (map[string]string, error)
	set  func(ctx context.Context, h *Handler, id string, md map[string]string, replace bool) (map[string]string, error)
	del  func(ctx context.Context, h *Handler, id, key string) error
}

var volumeMeta = metaOps{
	kind: "volume",
	get: func(ctx context.Context, h *Handler, id string) (map[string]string, error) {
		v, err := h.svc.GetVolume(ctx, state(ctx).caller, id)
		if err != nil {
			return nil, err
		}
		return v.Metadata, nil
	},
	set: func(ctx context.Context, h *Handler, id string, md map[string]string, replace bool) (map[string]string, error) {
		return h.svc.SetVolumeMetadata(ctx, state(ctx).caller, id, md, replace)
	},
	del: func(ctx context.Context, h *Handler, id, key string) error {
		return h.svc.DeleteVolumeMetadata(ctx, state(ctx).caller, id, key)
	},
}

var snapshotMeta = metaOps{
	kind: "snapshot",
	get: func(ctx context.Context, h *Handler, id string) (map[string]string, error) {
		s, err := h.svc.GetSnapshot(ctx, state(ctx).caller, id)
		if err != nil {
			return nil, err
		}
		return s.Metadata, nil
	},
	set: func(ctx context.Context, h *Handler, id string, md map[string]string, replace bool) (map[string]string, error) {
		return h.svc.SetSnapshotMetadata(ctx, state(ctx).caller, id, md, replace)
	},
	del: func(ctx context.Context, h *Handler, id, key string) error {
		return h.svc.DeleteSnapshotMetadata(ctx, state(ctx).caller, id, key)
	},
}

func (m metaOps) id(r *http.Request) (string, error) {
	id := mux.Vars(r)["id"]
	if !isUUID(id) {
		if m.kind == "snapshot" {
			return "", notFound("Snapshot %s could not be found.", id)
		}
		return "", notFound("Volume %s could not be found.", id)
	}
	return id, nil
}

func (h *Handler) getMetadata(m metaOps) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := m.id(r)
		if err != nil {
			return err
		}
		md, err := m.get(r.Context(), h, id)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"metadata": nonNilMap(md)})
		return nil
	}
}

func (h *Handler) setMetadata(m metaOps, replace bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		ctx := r.Context()
		id, err := m.id(r)
		if err != nil {
			return err
		}
		if err := authorizeWrite(ctx, m.kind+":update_"+m.kind+"_metadata"); err != nil {
			return err
		}
		o, err := decodeBody(r)
		if err != nil {
			return err
		}
		if _, ok := o["metadata"]; !ok {
			return badRequest("Malformed request body")
		}
		if err := onlyKeys(o, "body", "metadata"); err != nil {
			return err
		}
		md, err := parseMetadata("metadata", o["metadata"], false)
		if err != nil {
			return err
		}
		out, err := m.set(ctx, h, id, md, replace)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"metadata": nonNilMap(out)})
		return nil
	}
}

func (h *Handler) getMetadataItem(m metaOps) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := m.id(r)
		if err != nil {
			return err
		}
		key := mux.Vars(r)["key"]
		md, err := m.get(r.Context(), h, id)
		if err != nil {
			return err
		}
		v, ok := md[key]
		if !ok {
			return notFound("Metadata item was not found")
		}
		writeJSON(w, http.StatusOK, map[string]any{"meta": map[string]string{key: v}})
		return nil
	}
}

func (h *Handler) setMetadataItem(m metaOps) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		ctx := r.Context()
		id, err := m.id(r)
		if err != nil {
			return err
		}
		if err := authorizeWrite(ctx, m.kind+":update_"+m.kind+"_metadata"); err != nil {
			return err
		}
		key := mux.Vars(r)["key"]
		o, err := decodeBody(r)
		if err != nil {
			return err
		}
		meta, err := body(o, "meta")
		if err != nil {
			return err
		}
		md, err := parseMetadata("meta", map[string]any(meta), false)
		if err != nil {
			return err
		}
		if len(md) > 1 {
			return badRequest("Request body contains too many items")
		}
		if _, ok := md[key]; !ok {
			return badRequest("Request body and URI mismatch")
		}
		if _, err := m.set(ctx, h, id, md, false); err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"meta": md})
		return nil
	}
}

func (h *Handler) deleteMetadataItem(m metaOps) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		ctx := r.Context()
		id, err := m.id(r)
		if err != nil {
			return err
		}
		if err := authorizeWrite(ctx, m.kind+":delete_"+m.kind+"_metadata"); err != nil {
			return err
		}
		if err := m.del(ctx, h, id, mux.Vars(r)["key"]); err != nil {
			return err
		}
		writeEmpty(w, http.StatusOK)
		return nil
	}
}
