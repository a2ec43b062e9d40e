package db

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/dlvm-project/dlvm/model"
)

// MessageQuery selects user messages. Zero fields do not filter. Sorting and paging work as in
// ListVolumes (default created_at desc).
type MessageQuery struct {
	ProjectID    string // "" = every project
	ResourceUUID string
	ResourceType string
	EventID      string
	Level        string
	RequestID    string
	Sort         []SortKey
	Marker       string
	Limit        int
	Offset       int
}

const messageCols = `id, project_id, request_id, resource_type, resource_uuid, event_id, message_level,
	user_message, created_at, expires_at`

// messageSortColumns maps API sort keys to columns (the whitelist).
var messageSortColumns = map[string]string{
	"id":            "id",
	"created_at":    "created_at",
	"event_id":      "event_id",
	"message_level": "message_level",
	"resource_type": "resource_type",
	"resource_uuid": "resource_uuid",
	"request_id":    "request_id",
	"expires_at":    "expires_at",
}

func scanMessage(r rowScanner) (*model.Message, error) {
	var (
		m                model.Message
		created, expires scanTime
	)
	if err := r.Scan(&m.ID, &m.ProjectID, &m.RequestID, &m.ResourceType, &m.ResourceUUID, &m.EventID, &m.Level,
		&m.UserMessage, &created, &expires); err != nil {
		return nil, err
	}
	m.CreatedAt, m.ExpiresAt = created.T, expires.T
	return &m, nil
}

// CreateMessage inserts m. CreatedAt is set if zero. ErrConflict if the id exists.
func (s *Store) CreateMessage(ctx context.Context, m *model.Message) error {
	if m.CreatedAt.IsZero() {
		m.CreatedAt = now()
	}
	m.CreatedAt, m.ExpiresAt = norm(m.CreatedAt), norm(m.ExpiresAt)
	_, err := s.q.ExecContext(ctx, `INSERT INTO messages (`+messageCols+`) VALUES (`+placeholders(10)+`)`,
		m.ID, m.ProjectID, m.RequestID, m.ResourceType, m.ResourceUUID, m.EventID, m.Level, m.UserMessage,
		s.tv(m.CreatedAt), s.tv(m.ExpiresAt))
	if isDuplicate(err) {
		return model.Errorf(model.ErrConflict, "Message %s already exists.", m.ID)
	}
	return dbErr("create message", err)
}

// GetMessage returns the message; ErrNotFound when missing.
func (s *Store) GetMessage(ctx context.Context, id string) (*model.Message, error) {
	m, err := scanMessage(s.q.QueryRowContext(ctx, `SELECT `+messageCols+` FROM messages WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("Message", id)
	}
	if err != nil {
		return nil, dbErr("get message", err)
	}
	return m, nil
}

// ListMessages returns the matching messages.
func (s *Store) ListMessages(ctx context.Context, q MessageQuery) ([]*model.Message, error) {
	var where, scope cond
	if q.ProjectID != "" {
		where.add("project_id = ?", q.ProjectID)
		scope.add("project_id = ?", q.ProjectID)
	}
	for _, f := range [][2]string{{"resource_uuid", q.ResourceUUID}, {"resource_type", q.ResourceType},
		{"event_id", q.EventID}, {"message_level", q.Level}, {"request_id", q.RequestID}} {
		if f[1] != "" {
			where.add(f[0]+" = ?", f[1])
		}
	}
	p := page{table: "messages", what: "Message", columns: messageSortColumns, sort: q.Sort,
		marker: q.Marker, scope: scope, limit: q.Limit, offset: q.Offset}
	tail, err := p.apply(ctx, s.q, &where)
	if err != nil {
		return nil, err
	}
	rows, err := s.q.QueryContext(ctx, `SELECT `+messageCols+` FROM messages WHERE `+where.sql()+tail, where.args...)
	if err != nil {
		return nil, dbErr("list messages", err)
	}
	defer rows.Close()
	out := []*model.Message{}
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, dbErr("scan message", err)
		}
		out = append(out, m)
	}
	return out, dbErr("list messages", rows.Err())
}

// DeleteMessage removes the message. ErrNotFound when missing.
func (s *Store) DeleteMessage(ctx context.Context, id string) error {
	res, err := s.q.ExecContext(ctx, `DELETE FROM messages WHERE id = ?`, id)
	if err != nil {
		return dbErr("delete message", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("Message", id)
	}
	return nil
}

// DeleteExpiredMessages removes the messages whose expires_at is before t (Cinder's
// cleanup_expired_messages) and returns how many went.
func (s *Store) DeleteExpiredMessages(ctx context.Context, t time.Time) (int64, error) {
	res, err := s.q.ExecContext(ctx, `DELETE FROM messages WHERE expires_at < ?`, s.tv(t))
	if err != nil {
		return 0, dbErr("delete expired messages", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}
