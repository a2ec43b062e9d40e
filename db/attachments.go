package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"

	"github.com/dlvm-project/dlvm/model"
)

// AttachmentQuery selects attachments. Zero fields do not filter; deleted attachments are
// never listed.
type AttachmentQuery struct {
	ProjectID    string
	VolumeID     string
	InstanceUUID string
	Status       string
	Host         string
	VolumeIDs    []string // any of these volumes (none: no filter)
}

const attachmentCols = `id, volume_id, instance_uuid, project_id, attach_status, attach_mode, attached_host,
	mountpoint, connector, connection_info, error_reason, attach_time, detach_time, created_at, updated_at, deleted`

// rawJSON scans a nullable TEXT column of JSON.
type rawJSON struct{ b json.RawMessage }

func (r *rawJSON) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		r.b = nil
	case string:
		r.b = json.RawMessage(v)
	case []byte:
		r.b = append(json.RawMessage(nil), v...)
	default:
		return errors.New("db: cannot scan JSON column")
	}
	return nil
}

// jsonArg stores a raw JSON value; nil and JSON null become NULL.
func jsonArg(b json.RawMessage) any {
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	return string(b)
}

func scanAttachment(r rowScanner) (*model.Attachment, error) {
	var (
		a                  model.Attachment
		conn, info         rawJSON
		attached, detached scanTime
		created, updated   scanTime
	)
	if err := r.Scan(&a.ID, &a.VolumeID, &a.InstanceUUID, &a.ProjectID, &a.Status, &a.AttachMode, &a.Host,
		&a.Mountpoint, &conn, &info, &a.ErrorReason, &attached, &detached, &created, &updated, &a.Deleted); err != nil {
		return nil, err
	}
	a.Connector, a.ConnectionInfo = conn.b, info.b
	a.AttachedAt, a.DetachedAt = attached.ptr(), detached.ptr()
	a.CreatedAt, a.UpdatedAt = created.T, updated.T
	return &a, nil
}

// CreateAttachment inserts a. CreatedAt/UpdatedAt are set if zero. ErrConflict if the id exists.
func (s *Store) CreateAttachment(ctx context.Context, a *model.Attachment) error {
	if a.CreatedAt.IsZero() {
		a.CreatedAt = now()
	}
	if a.UpdatedAt.IsZero() {
		a.UpdatedAt = a.CreatedAt
	}
	a.CreatedAt, a.UpdatedAt = norm(a.CreatedAt), norm(a.UpdatedAt)
	return s.write(ctx, func(s *Store) error {
		_, err := s.q.ExecContext(ctx, `INSERT INTO attachments (`+attachmentCols+`) VALUES (`+placeholders(16)+`)`,
			a.ID, a.VolumeID, a.InstanceUUID, a.ProjectID, a.Status, a.AttachMode, a.Host, a.Mountpoint,
			jsonArg(a.Connector), jsonArg(a.ConnectionInfo), a.ErrorReason, s.tvp(a.AttachedAt), s.tvp(a.DetachedAt),
			s.tv(a.CreatedAt), s.tv(a.UpdatedAt), a.Deleted)
		if isDuplicate(err) {
			return model.Errorf(model.ErrConflict, "Attachment %s already exists.", a.ID)
		}
		if err != nil {
			return dbErr("create attachment", err)
		}
		return s.bumpVolumeRev(ctx, "id = ?", a.VolumeID) // the volume's views list its attachments
	})
}

// GetAttachment returns one attachment; ErrNotFound if missing or deleted.
func (s *Store) GetAttachment(ctx context.Context, id string) (*model.Attachment, error) {
	a, err := scanAttachment(s.q.QueryRowContext(ctx, `SELECT `+attachmentCols+` FROM attachments
		WHERE id = ? AND deleted = 0`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("Attachment", id)
	}
	if err != nil {
		return nil, dbErr("get attachment", err)
	}
	return a, nil
}

// ListAttachments returns the live (not deleted) attachments matching q, oldest first.
func (s *Store) ListAttachments(ctx context.Context, q AttachmentQuery) ([]*model.Attachment, error) {
	var c cond
	c.add("deleted = 0")
	for _, f := range []struct{ col, v string }{{"project_id", q.ProjectID}, {"volume_id", q.VolumeID},
		{"instance_uuid", q.InstanceUUID}, {"attach_status", q.Status}, {"attached_host", q.Host}} {
		if f.v != "" {
			c.add(f.col+" = ?", f.v)
		}
	}
	if len(q.VolumeIDs) > 0 {
		args := make([]any, len(q.VolumeIDs))
		for i, id := range q.VolumeIDs {
			args[i] = id
		}
		c.add("volume_id IN ("+placeholders(len(args))+")", args...)
	}
	rows, err := s.q.QueryContext(ctx, `SELECT `+attachmentCols+` FROM attachments WHERE `+c.sql()+`
		ORDER BY created_at, id`, c.args...)
	if err != nil {
		return nil, dbErr("list attachments", err)
	}
	defer rows.Close()
	out := []*model.Attachment{}
	for rows.Next() {
		a, err := scanAttachment(rows)
		if err != nil {
			return nil, dbErr("scan attachment", err)
		}
		out = append(out, a)
	}
	return out, dbErr("list attachments", rows.Err())
}

// UpdateAttachment writes every column of a except ID, VolumeID, ProjectID, CreatedAt and
// Deleted, and sets UpdatedAt. ErrNotFound if missing or deleted.
func (s *Store) UpdateAttachment(ctx context.Context, a *model.Attachment) error {
	t := now()
	err := s.write(ctx, func(s *Store) error {
		res, err := s.q.ExecContext(ctx, `UPDATE attachments SET instance_uuid = ?, attach_status = ?, attach_mode = ?,
			attached_host = ?, mountpoint = ?, connector = ?, connection_info = ?, error_reason = ?, attach_time = ?,
			detach_time = ?, updated_at = ? WHERE id = ? AND deleted = 0`,
			a.InstanceUUID, a.Status, a.AttachMode, a.Host, a.Mountpoint, jsonArg(a.Connector), jsonArg(a.ConnectionInfo),
			a.ErrorReason, s.tvp(a.AttachedAt), s.tvp(a.DetachedAt), s.tv(t), a.ID)
		if err != nil {
			return dbErr("update attachment", err)
		}
		n, err := affected(res)
		if err != nil {
			return err
		}
		if n == 0 {
			return notFound("Attachment", a.ID)
		}
		return s.bumpVolumeRev(ctx, "id = (SELECT volume_id FROM attachments WHERE id = ?)", a.ID)
	})
	if err == nil {
		a.UpdatedAt = t
	}
	return err
}

// DeleteAttachment soft-deletes an attachment: status detached, detach time and deleted_at set.
// Idempotent: a missing or already deleted attachment is not an error.
func (s *Store) DeleteAttachment(ctx context.Context, id string) error {
	t := s.tv(now())
	return s.write(ctx, func(s *Store) error {
		res, err := s.q.ExecContext(ctx, `UPDATE attachments SET deleted = 1, deleted_at = ?, updated_at = ?,
			detach_time = ?, attach_status = ? WHERE id = ? AND deleted = 0`, t, t, t, model.AttachDetached, id)
		if err != nil {
			return dbErr("delete attachment", err)
		}
		if n, err := affected(res); err != nil || n == 0 {
			return err
		}
		return s.bumpVolumeRev(ctx, "id = (SELECT volume_id FROM attachments WHERE id = ?)", id)
	})
}

// SyncVolumeAttachState sets a volume's status and attach_status from its live attachments
// (model.AttachState), unless the volume is in a status attachments do not own
// (model.AttachStatuses: extending, maintenance, error... are kept). The first attach sets
// LaunchedAt. A missing volume is not an error. Use it inside the transaction that changed the
// attachments.
func (s *Store) SyncVolumeAttachState(ctx context.Context, volumeID string) error {
	v, err := s.GetVolume(ctx, volumeID)
	if errors.Is(err, model.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	atts, err := s.ListAttachments(ctx, AttachmentQuery{VolumeID: volumeID})
	if err != nil {
		return err
	}
	if !slices.Contains(model.AttachStatuses, v.Status) {
		return nil
	}
	status, attach := model.AttachState(atts)
	if v.Status == status && v.AttachStatus == attach {
		return nil
	}
	v.Status, v.AttachStatus = status, attach
	if attach == model.AttachAttached && v.LaunchedAt == nil {
		t := now()
		v.LaunchedAt = &t
	}
	return s.UpdateVolume(ctx, v)
}
