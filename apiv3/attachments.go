package apiv3

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"github.com/gorilla/mux"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume/api"
)

// AttachService is the part of Service the attach routes and the legacy attach actions call.
type AttachService interface {
	AttachmentCreate(ctx context.Context, c api.Caller, volumeID, instance string, connector json.RawMessage, mode string) (*model.Attachment, error)
	AttachmentUpdate(ctx context.Context, c api.Caller, id string, connector json.RawMessage) (*model.Attachment, error)
	AttachmentComplete(ctx context.Context, c api.Caller, id string) error
	AttachmentDelete(ctx context.Context, c api.Caller, id string) ([]*model.Attachment, error)
	GetAttachment(ctx context.Context, c api.Caller, id string) (*model.Attachment, error)
	ListAttachments(ctx context.Context, c api.Caller, q db.AttachmentQuery, allTenants bool) ([]*model.Attachment, error)
	VolumeAttachments(ctx context.Context, c api.Caller, volumeID string) ([]*model.Attachment, error)

	ReserveVolume(ctx context.Context, c api.Caller, id string) error
	UnreserveVolume(ctx context.Context, c api.Caller, id string) error
	BeginDetaching(ctx context.Context, c api.Caller, id string) error
	RollDetaching(ctx context.Context, c api.Caller, id string) error
	InitializeConnection(ctx context.Context, c api.Caller, id string, connector json.RawMessage) (json.RawMessage, error)
	AttachVolume(ctx context.Context, c api.Caller, id, instance, hostName, mountpoint, mode string) error
	TerminateConnection(ctx context.Context, c api.Caller, id string, connector json.RawMessage) error
	DetachVolume(ctx context.Context, c api.Caller, id, attachmentID string) error
	ForceDetach(ctx context.Context, c api.Caller, id, attachmentID string) error
}

var _ AttachService = (*api.API)(nil)

// Attachment microversions.
var (
	mvNewAttach      = Version{3, 27}
	mvAttachComplete = Version{3, 44}
	mvAttachMode     = Version{3, 54}
)

func (h *Handler) attachmentRoutes(add addFunc) {
	add("POST", "/attachments", mvNewAttach, h.createAttachment)
	add("GET", "/attachments", mvNewAttach, h.listAttachments(false))
	add("GET", "/attachments/detail", mvNewAttach, h.listAttachments(true))
	add("GET", "/attachments/{id}", mvNewAttach, h.showAttachment)
	add("PUT", "/attachments/{id}", mvNewAttach, h.updateAttachment)
	add("DELETE", "/attachments/{id}", mvNewAttach, h.deleteAttachment)
	add("POST", "/attachments/{id}/action", mvAttachComplete, h.attachmentAction)
}

// attachmentID returns the {id} of the URL; a non-UUID is a missing attachment.
func attachmentID(r *http.Request) (string, error) {
	id := mux.Vars(r)["id"]
	if !isUUID(id) {
		return "", notFound("VolumeAttachment %s could not be found.", id)
	}
	return id, nil
}

// connectorField reads an optional connector object (null or absent -> nil).
func connectorField(o object, path string) (json.RawMessage, error) {
	v, ok := o["connector"]
	if !ok || v == nil {
		return nil, nil
	}
	if _, isObj := v.(map[string]any); !isObj {
		return nil, invalidField(path+"/connector", v, repr(v)+" is not of type 'object'")
	}
	return json.Marshal(v)
}

func (h *Handler) createAttachment(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := authorizeWrite(ctx, "volume:attachment_create"); err != nil {
		return err
	}
	o, err := decodeBody(r)
	if err != nil {
		return err
	}
	att, err := body(o, "attachment")
	if err != nil {
		return err
	}
	keys := []string{"volume_uuid", "instance_uuid", "connector"}
	if state(ctx).ver.AtLeast(mvAttachMode) {
		keys = append(keys, "mode")
	}
	if err := onlyKeys(att, "attachment", keys...); err != nil {
		return err
	}
	volID, err := optUUID(att, "volume_uuid")
	if err != nil {
		return err
	}
	if volID == "" {
		return badRequest("Invalid input for field/attribute attachment. Value: %s. 'volume_uuid' is a required property", repr(map[string]any(att)))
	}
	instance, err := optUUID(att, "instance_uuid")
	if err != nil {
		return err
	}
	conn, err := connectorField(att, "attachment")
	if err != nil {
		return err
	}
	mode, _, err := optString(att, "mode", 2, false)
	if err != nil {
		return err
	}
	if mode != "" && mode != model.AttachModeRW && mode != model.AttachModeRO {
		return invalidField("attachment/mode", mode, repr(mode)+" is not one of ['rw', 'ro']")
	}
	a, err := h.svc.AttachmentCreate(ctx, state(ctx).caller, volID, instance, conn, mode)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"attachment": attachmentDetail(a)})
	return nil
}

func (h *Handler) updateAttachment(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := authorizeWrite(ctx, "volume:attachment_update"); err != nil {
		return err
	}
	id, err := attachmentID(r)
	if err != nil {
		return err
	}
	o, err := decodeBody(r)
	if err != nil {
		return err
	}
	att, err := body(o, "attachment")
	if err != nil {
		return err
	}
	if err := onlyKeys(att, "attachment", "connector"); err != nil {
		return err
	}
	conn, err := connectorField(att, "attachment")
	if err != nil {
		return err
	}
	if conn == nil {
		return badRequest("Invalid input for field/attribute attachment. Value: %s. 'connector' is a required property", repr(map[string]any(att)))
	}
	a, err := h.svc.AttachmentUpdate(ctx, state(ctx).caller, id, conn)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"attachment": attachmentDetail(a)})
	return nil
}

func (h *Handler) showAttachment(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := attachmentID(r)
	if err != nil {
		return err
	}
	a, err := h.svc.GetAttachment(ctx, state(ctx).caller, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"attachment": attachmentDetail(a)})
	return nil
}

func (h *Handler) deleteAttachment(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := authorizeWrite(ctx, "volume:attachment_delete"); err != nil {
		return err
	}
	id, err := attachmentID(r)
	if err != nil {
		return err
	}
	left, err := h.svc.AttachmentDelete(ctx, state(ctx).caller, id)
	if err != nil {
		return err
	}
	out := []any{}
	for _, a := range left {
		out = append(out, attachmentSummary(a))
	}
	writeJSON(w, http.StatusOK, map[string]any{"attachments": out})
	return nil
}

func (h *Handler) attachmentAction(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := attachmentID(r)
	if err != nil {
		return err
	}
	o, err := decodeBody(r)
	if err != nil {
		return err
	}
	name, _, err := singleAction(o)
	if err != nil {
		return err
	}
	if name != "os-complete" {
		return badRequest("There is no such action: %s. Verify the request body and Content-Type header and try again.", name)
	}
	if err := authorizeWrite(ctx, "volume:attachment_complete"); err != nil {
		return err
	}
	if err := h.svc.AttachmentComplete(ctx, state(ctx).caller, id); err != nil {
		return err
	}
	writeEmpty(w, http.StatusNoContent)
	return nil
}

func (h *Handler) listAttachments(detail bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		ctx := r.Context()
		q := r.URL.Query()
		p, err := parseListParams(q)
		if err != nil {
			return err
		}
		aq := db.AttachmentQuery{VolumeID: q.Get("volume_id"), InstanceUUID: q.Get("instance_id"), Status: q.Get("status")}
		all := boolParam(q.Get("all_tenants"))
		if all && isAdmin(ctx) {
			aq.ProjectID = q.Get("project_id")
		}
		atts, err := h.svc.ListAttachments(ctx, state(ctx).caller, aq, all)
		if err != nil {
			return err
		}
		slices.Reverse(atts) // newest first, as Cinder's default sort created_at:desc
		page, err := pageOf(atts, p.marker, p.offset, p.limit)
		if err != nil {
			return err
		}
		out := []any{}
		last := ""
		for _, a := range page {
			if detail {
				out = append(out, attachmentDetail(a))
			} else {
				out = append(out, attachmentSummary(a))
			}
			last = a.ID
		}
		writeJSON(w, http.StatusOK, listBody(r, "attachments", detail, out, p.limit, last))
		return nil
	}
}

// pageOf applies marker (exclusive), offset and limit (0: none) to an ordered list.
func pageOf(atts []*model.Attachment, marker string, offset, limit int) ([]*model.Attachment, error) {
	if marker != "" {
		i := slices.IndexFunc(atts, func(a *model.Attachment) bool { return a.ID == marker })
		if i < 0 {
			return nil, badRequest("Marker %s could not be found.", marker)
		}
		atts = atts[i+1:]
	}
	atts = atts[min(offset, len(atts)):]
	if limit > 0 && len(atts) > limit {
		atts = atts[:limit]
	}
	return atts, nil
}

// attachmentSummary is Cinder's attachment summary view.
func attachmentSummary(a *model.Attachment) map[string]any {
	return map[string]any{"id": a.ID, "status": a.Status, "instance": orNull(a.InstanceUUID), "volume_id": a.VolumeID}
}

// attachmentDetail is Cinder's attachment detail view: times are "" when unset and
// connection_info is {} until the volume is connected.
func attachmentDetail(a *model.Attachment) map[string]any {
	m := attachmentSummary(a)
	m["attached_at"] = timeOrEmpty(a.AttachedAt)
	m["detached_at"] = timeOrEmpty(a.DetachedAt)
	m["attach_mode"] = a.AttachMode
	info := json.RawMessage(`{}`)
	if len(a.ConnectionInfo) > 0 {
		info = a.ConnectionInfo
	}
	m["connection_info"] = info
	return m
}

func timeOrEmpty(t *time.Time) any {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeFormat)
}

// attachments is the "attachments" field of a volume view: its attached attachments (Cinder's
// _get_attachments); host_name only for admins. Errors give an empty list (a view never fails
// because of its attachments) and mark the lookups failed, so that view is not cached.
func (l *viewLookups) attachments(ctx context.Context, v *model.Volume) []any {
	out := []any{}
	if v.AttachStatus != model.AttachAttached {
		return out // nothing attached: no query
	}
	atts, ok := l.atts[v.ID]
	if l.atts == nil {
		var err error
		if atts, err = l.h.svc.VolumeAttachments(ctx, state(ctx).caller, v.ID); err != nil {
			l.failed = true
			return out
		}
	} else if !ok {
		return out
	}
	for _, a := range atts {
		if a.Status != model.AttachAttached {
			continue
		}
		var host any
		if isAdmin(ctx) {
			host = orNull(a.Host)
		}
		var at any
		if a.AttachedAt != nil {
			at = isoTime(*a.AttachedAt)
		}
		out = append(out, map[string]any{"id": v.ID, "attachment_id": a.ID, "volume_id": v.ID,
			"server_id": orNull(a.InstanceUUID), "host_name": host, "device": orNull(a.Mountpoint), "attached_at": at})
	}
	return out
}
