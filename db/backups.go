package db

import (
	"context"
	"database/sql"
	"errors"
	"maps"
	"slices"

	"github.com/dlvm-project/dlvm/model"
)

// BackupQuery selects backups. Zero fields do not filter.
type BackupQuery struct {
	ProjectID       string
	VolumeID        string
	Name            string
	Status          string
	ServiceMetadata string // backups sharing one stored copy (export/import)
	Metadata        map[string]string
	Sort            []SortKey
	Limit           int
	Marker          string
	Offset          int
}

const backupCols = `id, project_id, user_id, volume_id, snapshot_id, display_name, display_description, container,
	size, status, fail_reason, availability_zone, object_count, service_metadata, service, data_timestamp,
	created_at, updated_at`

// backupSortColumns maps API sort keys to columns (the whitelist).
var backupSortColumns = map[string]string{
	"created_at":   "created_at",
	"updated_at":   "updated_at",
	"id":           "id",
	"name":         "display_name",
	"display_name": "display_name",
	"size":         "size",
	"status":       "status",
	"volume_id":    "volume_id",
	"container":    "container",
}

func scanBackup(r rowScanner) (*model.Backup, error) {
	var (
		b                      model.Backup
		dataTS, created, updtd scanTime
	)
	err := r.Scan(&b.ID, &b.ProjectID, &b.UserID, &b.VolumeID, &b.SnapshotID, &b.Name, &b.Description, &b.Container,
		&b.Size, &b.Status, &b.FailReason, &b.AvailabilityZone, &b.ObjectCount, &b.ServiceMetadata, &b.Service,
		&dataTS, &created, &updtd)
	if err != nil {
		return nil, err
	}
	b.DataTimestamp, b.CreatedAt, b.UpdatedAt = dataTS.T, created.T, updtd.T
	b.Metadata = map[string]string{}
	return &b, nil
}

// CreateBackup inserts b with its metadata. CreatedAt/UpdatedAt are set if zero. ErrConflict if
// a backup with the id exists (deleted ones included: an id is never reused).
func (s *Store) CreateBackup(ctx context.Context, b *model.Backup) error {
	if b.CreatedAt.IsZero() {
		b.CreatedAt = now()
	}
	if b.UpdatedAt.IsZero() {
		b.UpdatedAt = b.CreatedAt
	}
	b.CreatedAt, b.UpdatedAt = norm(b.CreatedAt), norm(b.UpdatedAt)
	return s.write(ctx, func(s *Store) error {
		_, err := s.q.ExecContext(ctx, `INSERT INTO backups (`+backupCols+`, deleted) VALUES (`+placeholders(18)+`, 0)`,
			b.ID, b.ProjectID, b.UserID, b.VolumeID, b.SnapshotID, b.Name, b.Description, b.Container,
			b.Size, b.Status, b.FailReason, b.AvailabilityZone, b.ObjectCount, b.ServiceMetadata, b.Service,
			s.tvz(b.DataTimestamp), s.tv(b.CreatedAt), s.tv(b.UpdatedAt))
		if isDuplicate(err) {
			return model.Errorf(model.ErrConflict, "Backup %s already exists.", b.ID)
		}
		if err != nil {
			return dbErr("create backup", err)
		}
		return s.setMetadata(ctx, "backup_metadata", "backup_id", b.ID, b.Metadata, false)
	})
}

// GetBackup returns the backup with its metadata; ErrNotFound if missing or deleted.
func (s *Store) GetBackup(ctx context.Context, id string) (*model.Backup, error) {
	b, err := getLive(ctx, s.q, "backups", "Backup", backupCols, id, scanBackup)
	if err != nil {
		return nil, err
	}
	err = loadMetadata(ctx, s.q, "backup_metadata", "backup_id", []string{id}, func(_, k, v string) { b.Metadata[k] = v })
	if err != nil {
		return nil, err
	}
	return b, nil
}

// backupFilter turns the filter fields of q into WHERE clauses (and the marker's scope).
func backupFilter(q BackupQuery) (where, scope cond) {
	where, scope = liveScope(q.ProjectID)
	where.addEq("volume_id", q.VolumeID, "display_name", q.Name, "status", q.Status, "service_metadata", q.ServiceMetadata)
	metadataFilter(&where, "backup_metadata", "backup_id", "backups", q.Metadata)
	return where, scope
}

// CountBackups counts the matching backups, ignoring Sort/Limit/Marker/Offset.
func (s *Store) CountBackups(ctx context.Context, q BackupQuery) (int, error) {
	where, _ := backupFilter(q)
	return s.count(ctx, "backups", where)
}

// ListBackups returns the matching backups with metadata. Sorting, marker and paging work as in
// ListVolumes.
func (s *Store) ListBackups(ctx context.Context, q BackupQuery) ([]*model.Backup, error) {
	where, scope := backupFilter(q)
	query, args, err := s.selectPage(ctx, page{table: "backups", what: "Backup", columns: backupSortColumns,
		sort: q.Sort, marker: q.Marker, scope: scope, limit: q.Limit, offset: q.Offset}, backupCols, where)
	if err != nil {
		return nil, err
	}
	out, byID, err := queryAll(ctx, s.q, "list backups", query, args,
		scanBackup, func(r *model.Backup) string { return r.ID })
	if err != nil {
		return nil, err
	}
	err = loadMetadata(ctx, s.q, "backup_metadata", "backup_id", slices.Collect(maps.Keys(byID)), func(id, k, v string) { byID[id].Metadata[k] = v })
	if err != nil {
		return nil, err
	}
	return out, nil
}

// UpdateBackup writes every column except ID, ProjectID, VolumeID, SnapshotID, CreatedAt and
// Metadata, and sets UpdatedAt. ErrNotFound if missing or deleted.
func (s *Store) UpdateBackup(ctx context.Context, b *model.Backup) error {
	t := now()
	res, err := s.q.ExecContext(ctx, `UPDATE backups SET user_id = ?, display_name = ?, display_description = ?,
		container = ?, size = ?, status = ?, fail_reason = ?, availability_zone = ?, object_count = ?,
		service_metadata = ?, service = ?, data_timestamp = ?, updated_at = ?
		WHERE id = ? AND deleted = 0`,
		b.UserID, b.Name, b.Description, b.Container, b.Size, b.Status, b.FailReason, b.AvailabilityZone,
		b.ObjectCount, b.ServiceMetadata, b.Service, s.tvz(b.DataTimestamp), s.tv(t), b.ID)
	if err != nil {
		return dbErr("update backup", err)
	}
	n, err := affected(res)
	if err != nil {
		return err
	}
	if n == 0 {
		return notFound("Backup", b.ID)
	}
	b.UpdatedAt = t
	return nil
}

// SetBackupStatus moves a backup's status from one of from (any, when empty) to to;
// ErrConflict when it is in another status, ErrNotFound when missing.
func (s *Store) SetBackupStatus(ctx context.Context, id string, from []string, to string) error {
	return s.setStatus(ctx, "backups", "Backup", id, from, to, "")
}

// SetBackupMetadata merges (or replaces) metadata. ErrNotFound if the backup is missing.
func (s *Store) SetBackupMetadata(ctx context.Context, id string, md map[string]string, replace bool) error {
	return s.write(ctx, func(s *Store) error {
		ok, err := s.exists(ctx, "backups", id)
		if err != nil {
			return err
		}
		if !ok {
			return notFound("Backup", id)
		}
		return s.setMetadata(ctx, "backup_metadata", "backup_id", id, md, replace)
	})
}

// BackupIDTaken reports whether any backup row, deleted or not, has the id.
func (s *Store) BackupIDTaken(ctx context.Context, id string) (bool, error) {
	var one int
	err := s.q.QueryRowContext(ctx, `SELECT 1 FROM backups WHERE id = ?`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, dbErr("backup id", err)
}

// DeleteBackup soft-deletes (status deleted, deleted_at set). Idempotent.
func (s *Store) DeleteBackup(ctx context.Context, id string) error {
	t := s.tv(now())
	_, err := s.q.ExecContext(ctx, `UPDATE backups SET deleted = 1, deleted_at = ?, updated_at = ?, status = ?
		WHERE id = ? AND deleted = 0`, t, t, model.BackupDeleted, id)
	return dbErr("delete backup", err)
}
