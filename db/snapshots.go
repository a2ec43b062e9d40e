package db

import (
	"context"
	"maps"
	"slices"

	"github.com/dlvm-project/dlvm/model"
)

const snapshotCols = `id, project_id, user_id, volume_id, display_name, display_description, volume_size,
	status, progress, error_reason, created_at, updated_at, group_snapshot_id`

// snapshotSortColumns maps API sort keys to columns (the whitelist).
var snapshotSortColumns = map[string]string{
	"created_at":   "created_at",
	"updated_at":   "updated_at",
	"id":           "id",
	"name":         "display_name",
	"display_name": "display_name",
	"size":         "volume_size",
	"status":       "status",
	"volume_id":    "volume_id",
}

func scanSnapshot(r rowScanner) (*model.Snapshot, error) {
	var (
		sn               model.Snapshot
		created, updated scanTime
	)
	err := r.Scan(&sn.ID, &sn.ProjectID, &sn.UserID, &sn.VolumeID, &sn.Name, &sn.Description, &sn.Size,
		&sn.Status, &sn.Progress, &sn.ErrorReason, &created, &updated, &sn.GroupSnapshotID)
	if err != nil {
		return nil, err
	}
	sn.CreatedAt, sn.UpdatedAt = created.T, updated.T
	sn.Metadata = map[string]string{}
	return &sn, nil
}

// CreateSnapshot inserts sn with its metadata. CreatedAt/UpdatedAt are set if zero.
// ErrConflict if the id exists.
func (s *Store) CreateSnapshot(ctx context.Context, sn *model.Snapshot) error {
	if sn.CreatedAt.IsZero() {
		sn.CreatedAt = now()
	}
	if sn.UpdatedAt.IsZero() {
		sn.UpdatedAt = sn.CreatedAt
	}
	sn.CreatedAt, sn.UpdatedAt = norm(sn.CreatedAt), norm(sn.UpdatedAt)
	return s.write(ctx, func(s *Store) error {
		_, err := s.q.ExecContext(ctx, `INSERT INTO snapshots (`+snapshotCols+`, deleted) VALUES (`+placeholders(13)+`, 0)`,
			sn.ID, sn.ProjectID, sn.UserID, sn.VolumeID, sn.Name, sn.Description, sn.Size,
			sn.Status, sn.Progress, sn.ErrorReason, s.tv(sn.CreatedAt), s.tv(sn.UpdatedAt), sn.GroupSnapshotID)
		if isDuplicate(err) {
			return model.Errorf(model.ErrConflict, "Snapshot %s already exists.", sn.ID)
		}
		if err != nil {
			return dbErr("create snapshot", err)
		}
		return s.setMetadata(ctx, "snapshot_metadata", "snapshot_id", sn.ID, sn.Metadata, false)
	})
}

// GetSnapshot returns the snapshot; ErrNotFound if missing or deleted.
func (s *Store) GetSnapshot(ctx context.Context, id string) (*model.Snapshot, error) {
	sn, err := getLive(ctx, s.q, "snapshots", "Snapshot", snapshotCols, id, scanSnapshot)
	if err != nil {
		return nil, err
	}
	err = loadMetadata(ctx, s.q, "snapshot_metadata", "snapshot_id", []string{id}, func(_, k, v string) { sn.Metadata[k] = v })
	if err != nil {
		return nil, err
	}
	return sn, nil
}

// snapshotFilter turns the filter fields of q into WHERE clauses (and the marker's scope).
func snapshotFilter(q SnapshotQuery) (where, scope cond) {
	where, scope = liveScope(q.ProjectID)
	where.addEq("volume_id", q.VolumeID, "group_snapshot_id", q.GroupSnapshotID, "display_name", q.Name, "status", q.Status)
	metadataFilter(&where, "snapshot_metadata", "snapshot_id", "snapshots", q.Metadata)
	return where, scope
}

// CountSnapshots counts the matching snapshots, ignoring Sort/Limit/Marker/Offset.
func (s *Store) CountSnapshots(ctx context.Context, q SnapshotQuery) (int, error) {
	where, _ := snapshotFilter(q)
	return s.count(ctx, "snapshots", where)
}

// ListSnapshots returns the matching snapshots with metadata (no N+1 queries). Sorting, marker
// and paging work as in ListVolumes.
func (s *Store) ListSnapshots(ctx context.Context, q SnapshotQuery) ([]*model.Snapshot, error) {
	where, scope := snapshotFilter(q)
	query, args, err := s.selectPage(ctx, page{table: "snapshots", what: "Snapshot", columns: snapshotSortColumns,
		sort: q.Sort, marker: q.Marker, scope: scope, limit: q.Limit, offset: q.Offset}, snapshotCols, where)
	if err != nil {
		return nil, err
	}
	out, byID, err := queryAll(ctx, s.q, "list snapshots", query, args,
		scanSnapshot, func(r *model.Snapshot) string { return r.ID })
	if err != nil {
		return nil, err
	}
	err = loadMetadata(ctx, s.q, "snapshot_metadata", "snapshot_id", slices.Collect(maps.Keys(byID)), func(id, k, v string) { byID[id].Metadata[k] = v })
	if err != nil {
		return nil, err
	}
	return out, nil
}

// UpdateSnapshot writes every column except ID, ProjectID, VolumeID, CreatedAt and Metadata,
// and sets UpdatedAt. ErrNotFound if missing or deleted.
func (s *Store) UpdateSnapshot(ctx context.Context, sn *model.Snapshot) error {
	t := now()
	res, err := s.q.ExecContext(ctx, `UPDATE snapshots SET user_id = ?, display_name = ?, display_description = ?,
		volume_size = ?, status = ?, progress = ?, error_reason = ?, updated_at = ?
		WHERE id = ? AND deleted = 0`,
		sn.UserID, sn.Name, sn.Description, sn.Size, sn.Status, sn.Progress, sn.ErrorReason, s.tv(t), sn.ID)
	if err != nil {
		return dbErr("update snapshot", err)
	}
	n, err := affected(res)
	if err != nil {
		return err
	}
	if n == 0 {
		return notFound("Snapshot", sn.ID)
	}
	sn.UpdatedAt = t
	return nil
}

// SetSnapshotStatus is SetVolumeStatus for snapshots.
func (s *Store) SetSnapshotStatus(ctx context.Context, id string, from []string, to string) error {
	return s.setStatus(ctx, "snapshots", "Snapshot", id, from, to, "")
}

// SetSnapshotMetadata merges (or replaces) metadata. ErrNotFound if the snapshot is missing.
func (s *Store) SetSnapshotMetadata(ctx context.Context, id string, md map[string]string, replace bool) error {
	return s.write(ctx, func(s *Store) error {
		ok, err := s.exists(ctx, "snapshots", id)
		if err != nil {
			return err
		}
		if !ok {
			return notFound("Snapshot", id)
		}
		return s.setMetadata(ctx, "snapshot_metadata", "snapshot_id", id, md, replace)
	})
}

// DeleteSnapshotMetadata removes one key; ErrNotFound if absent.
func (s *Store) DeleteSnapshotMetadata(ctx context.Context, id, key string) error {
	ok, err := s.exists(ctx, "snapshots", id)
	if err != nil {
		return err
	}
	if !ok {
		return notFound("Snapshot", id)
	}
	return s.deleteMetadataKey(ctx, "snapshot_metadata", "snapshot_id", id, key)
}

// DeleteSnapshot soft-deletes (status deleted, deleted_at set). Idempotent.
func (s *Store) DeleteSnapshot(ctx context.Context, id string) error {
	t := s.tv(now())
	_, err := s.q.ExecContext(ctx, `UPDATE snapshots SET deleted = 1, deleted_at = ?, updated_at = ?, status = ?
		WHERE id = ? AND deleted = 0`, t, t, model.StatusDeleted, id)
	return dbErr("delete snapshot", err)
}
