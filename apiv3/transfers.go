package apiv3

import (
	"context"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume/api"
)

// Transfer microversions: the volume-transfers resource with no_snapshots (3.55), and the
// source/destination projects and accepted flag in its views (3.57).
var (
	mvTransfers        = Version{3, 55}
	mvTransferProjects = Version{3, 57}
)

// TransferService is what the volume transfer routes need from the service layer.
type TransferService interface {
	CreateTransfer(ctx context.Context, c api.Caller, volumeID, name string, noSnapshots bool) (*model.Transfer, string, error)
	GetTransfer(ctx context.Context, c api.Caller, id string) (*model.Transfer, error)
	ListTransfers(ctx context.Context, c api.Caller, allTenants bool) ([]*model.Transfer, error)
	DeleteTransfer(ctx context.Context, c api.Caller, id string) error
	AcceptTransfer(ctx context.Context, c api.Caller, id, authKey string) (*model.Transfer, error)
}

// transferRoutes serves the legacy os-volume-transfer resource (every version, Cinder's old
// views) and volume-transfers (3.55+, views by microversion).
func (h *Handler) transferRoutes(add addFunc) {
	for _, res := range []struct {
		coll string
		min  Version
	}{{"os-volume-transfer", MinVersion}, {"volume-transfers", mvTransfers}} {
		t := transferRes{h: h, coll: res.coll, v3: res.coll == "volume-transfers"}
		add("GET", "/"+res.coll, res.min, t.list(false))
		add("GET", "/"+res.coll+"/detail", res.min, t.list(true))
		add("POST", "/"+res.coll, res.min, t.create)
		add("GET", "/"+res.coll+"/{id}", res.min, t.show)
		add("DELETE", "/"+res.coll+"/{id}", res.min, t.delete)
		add("POST", "/"+res.coll+"/{id}/accept", res.min, t.accept)
	}
}

type transferRes struct {
	h    *Handler
	coll string
	v3   bool // the 3.55 volume-transfers resource
}

func (t transferRes) summary(ctx context.Context, tr *model.Transfer) map[string]any {
	return map[string]any{"id": tr.ID, "name": orNull(tr.Name), "volume_id": tr.VolumeID, "links": links(ctx, t.coll, tr.ID)}
}

func (t transferRes) detail(ctx context.Context, tr *model.Transfer) map[string]any {
	m := t.summary(ctx, tr)
	m["created_at"] = isoTime(tr.CreatedAt)
	ver := state(ctx).ver
	if t.v3 && ver.AtLeast(mvTransfers) {
		m["no_snapshots"] = tr.NoSnapshots
	}
	if t.v3 && ver.AtLeast(mvTransferProjects) {
		m["source_project_id"] = tr.SourceProjectID
		m["destination_project_id"] = orNull(tr.DestinationProjectID)
		m["accepted"] = tr.Accepted
	}
	return m
}

func (t transferRes) list(detail bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		ctx := r.Context()
		allTenants := isAdmin(ctx) && boolParam(r.URL.Query().Get("all_tenants"))
		list, err := t.h.svc.ListTransfers(ctx, state(ctx).caller, allTenants)
		if err != nil {
			return err
		}
		out := make([]any, 0, len(list))
		for _, tr := range list {
			if detail {
				out = append(out, t.detail(ctx, tr))
			} else {
				out = append(out, t.summary(ctx, tr))
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"transfers": out})
		return nil
	}
}

func (t transferRes) show(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	tr, err := t.h.svc.GetTransfer(ctx, state(ctx).caller, mux.Vars(r)["id"])
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"transfer": t.detail(ctx, tr)})
	return nil
}

func (t transferRes) create(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := authorizeWrite(ctx, "volume:create_transfer"); err != nil {
		return err
	}
	o, err := decodeBody(r)
	if err != nil {
		return err
	}
	b, err := body(o, "transfer")
	if err != nil {
		return err
	}
	allowed := []string{"volume_id", "name"}
	if t.v3 {
		allowed = append(allowed, "no_snapshots")
	}
	if err := onlyKeys(b, "transfer", allowed...); err != nil {
		return err
	}
	volumeID, err := optUUID(b, "volume_id")
	if err != nil {
		return err
	}
	if volumeID == "" {
		return badRequest("Missing required element 'volume_id' in request body.")
	}
	name, _, err := optString(b, "name", 255, true)
	if err != nil {
		return err
	}
	noSnaps := false
	if v, ok := b["no_snapshots"]; ok && v != nil {
		if noSnaps, err = parseBool("no_snapshots", v); err != nil {
			return err
		}
	}
	tr, key, err := t.h.svc.CreateTransfer(ctx, state(ctx).caller, volumeID, name, noSnaps)
	if err != nil {
		return err
	}
	m := t.detail(ctx, tr)
	m["auth_key"] = key
	writeJSON(w, http.StatusAccepted, map[string]any{"transfer": m})
	return nil
}

func (t transferRes) delete(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := authorizeWrite(ctx, "volume:delete_transfer"); err != nil {
		return err
	}
	if err := t.h.svc.DeleteTransfer(ctx, state(ctx).caller, mux.Vars(r)["id"]); err != nil {
		return err
	}
	writeEmpty(w, http.StatusAccepted)
	return nil
}

func (t transferRes) accept(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := authorizeWrite(ctx, "volume:accept_transfer"); err != nil {
		return err
	}
	o, err := decodeBody(r)
	if err != nil {
		return err
	}
	b, err := body(o, "accept")
	if err != nil {
		return err
	}
	if err := onlyKeys(b, "accept", "auth_key"); err != nil {
		return err
	}
	key, present, err := optString(b, "auth_key", 255, true)
	if err != nil {
		return err
	}
	if !present || key == "" {
		return badRequest("Missing required element 'auth_key' in request body.")
	}
	tr, err := t.h.svc.AcceptTransfer(ctx, state(ctx).caller, mux.Vars(r)["id"], key)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"transfer": t.summary(ctx, tr)})
	return nil
}
