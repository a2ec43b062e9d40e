package apiv3

import (
	"context"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume/api"
)

// mvMessages is the microversion that added user messages.
var mvMessages = Version{3, 3}

// MessageService is what the /messages routes need from the service layer.
type MessageService interface {
	ListMessages(ctx context.Context, c api.Caller, q db.MessageQuery) ([]*model.Message, error)
	GetMessage(ctx context.Context, c api.Caller, id string) (*model.Message, error)
	DeleteMessage(ctx context.Context, c api.Caller, id string) error
}

// messageSortKeys are the keys GET /messages sorts by.
var messageSortKeys = map[string]string{
	"created_at": "created_at", "id": "id", "event_id": "event_id", "message_level": "message_level",
	"resource_type": "resource_type", "resource_uuid": "resource_uuid", "request_id": "request_id",
	"guaranteed_until": "expires_at",
}

func (h *Handler) messageRoutes(add addFunc, _ Version) {
	add("GET", "/messages", mvMessages, h.listMessages)
	add("GET", "/messages/{id}", mvMessages, h.showMessage)
	add("DELETE", "/messages/{id}", mvMessages, h.deleteMessage)
}

// messageView is Cinder's message view (Tempest's common_show_message schema).
func messageView(ctx context.Context, m *model.Message) map[string]any {
	return map[string]any{
		"id":               m.ID,
		"event_id":         m.EventID,
		"user_message":     m.UserMessage,
		"message_level":    m.Level,
		"resource_type":    m.ResourceType,
		"resource_uuid":    m.ResourceUUID,
		"request_id":       m.RequestID,
		"created_at":       isoTime(m.CreatedAt),
		"guaranteed_until": isoTime(m.ExpiresAt),
		"links":            links(ctx, "messages", m.ID),
	}
}

func (h *Handler) listMessages(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q := r.URL.Query()
	p, err := parseListParamsKeys(q, messageSortKeys)
	if err != nil {
		return err
	}
	mq := db.MessageQuery{Sort: p.sort, Limit: p.limit, Marker: p.marker, Offset: p.offset,
		ResourceUUID: q.Get("resource_uuid"), ResourceType: q.Get("resource_type"), EventID: q.Get("event_id"),
		Level: q.Get("message_level"), RequestID: q.Get("request_id")}
	msgs, err := h.svc.ListMessages(ctx, state(ctx).caller, mq)
	if err != nil {
		return err
	}
	list := make([]any, 0, len(msgs))
	for _, m := range msgs {
		list = append(list, messageView(ctx, m))
	}
	last := ""
	if len(msgs) > 0 {
		last = msgs[len(msgs)-1].ID
	}
	out := listBody(r, "messages", false, list, p.limit, last)
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) showMessage(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	m, err := h.svc.GetMessage(ctx, state(ctx).caller, mux.Vars(r)["id"])
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"message": messageView(ctx, m)})
	return nil
}

func (h *Handler) deleteMessage(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := authorizeWrite(ctx, "message:delete"); err != nil {
		return err
	}
	if err := h.svc.DeleteMessage(ctx, state(ctx).caller, mux.Vars(r)["id"]); err != nil {
		return err
	}
	writeEmpty(w, http.StatusNoContent)
	return nil
}
