package db

import (
	"context"
	"database/sql"
	"errors"
	"maps"
	"slices"

	"github.com/dlvm-project/dlvm/model"
)

const volumeCols = `id, project_id, user_id, display_name, display_description, size, status,
	attach_status, migration_status, availability_zone, volume_type_id, snapshot_id, source_volid,
	bootable, read_only, read_only_set, multiattach, host, dvg_id, layout_mirrors, layout_stripes, layout_chunk_kib,
	epoch, error_reason, created_at, updated_at, launched_at, terminated_at, group_id`

// volumeSelect is what scanVolume reads: volumeCols and the revision (which inserts leave at 0).
const volumeSelect = volumeCols + `, rev`

// volumeSelectV is volumeSelect of the volumes table aliased v (in joins).
var volumeSelectV = qualify("v", volumeSelect)

// volumeSortColumns maps API sort keys to columns (the whitelist).
var volumeSortColumns = map[string]string{
	"created_at":        "created_at",
	"updated_at":        "updated_at",
	"id":                "id",
	"name":              "display_name",
	"display_name":      "display_name",
	"size":              "size",
	"status":            "status",
	"availability_zone": "availability_zone",
	"bootable":          "bootable",
}

type rowScanner interface{ Scan(dest ...any) error }

func scanVolume(r rowScanner) (*model.Volume, error) {
	var (
		v                  model.Volume
		created, updated   scanTime
		launched, terminal scanTime
	)
	err := r.Scan(&v.ID, &v.ProjectID, &v.UserID, &v.Name, &v.Description, &v.Size, &v.Status,
		&v.AttachStatus, &v.MigrationStatus, &v.AvailabilityZone, &v.VolumeTypeID, &v.SnapshotID, &v.SourceVolID,
		&v.Bootable, &v.ReadOnly, &v.ReadOnlySet, &v.Multiattach, &v.Host, &v.DVGID, &v.Layout.Mirrors, &v.Layout.Stripes, &v.Layout.ChunkKiB,
		&v.Epoch, &v.ErrorReason, &created, &updated, &launched, &terminal, &v.GroupID, &v.Rev)
	if err != nil {
		return nil, err
	}
	v.CreatedAt, v.UpdatedAt = created.T, updated.T
	v.LaunchedAt, v.TerminatedAt = launched.ptr(), terminal.ptr()
	v.Metadata = map[string]string{}
	return &v, nil
}

// CreateVolume inserts v with its metadata. CreatedAt/UpdatedAt are set if zero.
// ErrConflict if the id exists.
func (s *Store) CreateVolume(ctx context.Context, v *model.Volume) error {
	t := now()
	if v.CreatedAt.IsZero() {
		v.CreatedAt = t
	}
	if v.UpdatedAt.IsZero() {
		v.UpdatedAt = v.CreatedAt
	}
	v.CreatedAt, v.UpdatedAt = norm(v.CreatedAt), norm(v.UpdatedAt)
	return s.write(ctx, func(s *Store) error {
		_, err := s.q.ExecContext(ctx, `INSERT INTO volumes (`+volumeCols+`, deleted)
			VALUES (`+placeholders(29)+`, 0)`,
			v.ID, v.ProjectID, v.UserID, v.Name, v.Description, v.Size, v.Status,
			v.AttachStatus, v.MigrationStatus, v.AvailabilityZone, v.VolumeTypeID, v.SnapshotID, v.SourceVolID,
			v.Bootable, v.ReadOnly, v.ReadOnlySet, v.Multiattach, v.Host, v.DVGID, v.Layout.Mirrors, v.Layout.Stripes, v.Layout.ChunkKiB,
			v.Epoch, v.ErrorReason, s.tv(v.CreatedAt), s.tv(v.UpdatedAt), s.tvp(v.LaunchedAt), s.tvp(v.TerminatedAt), v.GroupID)
		if isDuplicate(err) {
			return model.Errorf(model.ErrConflict, "Volume %s already exists.", v.ID)
		}
		if err != nil {
			return dbErr("create volume", err)
		}
		return s.setMetadata(ctx, "volume_metadata", "volume_id", v.ID, v.Metadata, false)
	})
}

// GetVolume returns the volume with its metadata; ErrNotFound if missing or deleted. One query:
// the row joined with its metadata (one row per key, or one with NULL key columns).
func (s *Store) GetVolume(ctx context.Context, id string) (*model.Volume, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT `+volumeSelectV+`, m.meta_key, m.meta_value FROM volumes v
		LEFT JOIN volume_metadata m ON m.volume_id = v.id WHERE v.id = ? AND v.deleted = 0`, id)
	if err != nil {
		return nil, dbErr("get volume", err)
	}
	defer rows.Close()
	var v *model.Volume
	for rows.Next() {
		var k, val sql.NullString
		r, err := scanVolume(withExtra(rows, &k, &val))
		if err != nil {
			return nil, dbErr("get volume", err)
		}
		if v == nil {
			v = r
		}
		if k.Valid {
			v.Metadata[k.String] = val.String
		}
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("get volume", err)
	}
	if v == nil {
		return nil, notFound("Volume", id)
	}
	return v, nil
}

// volumeFilter turns the filter fields of q into WHERE clauses.
func volumeFilter(q VolumeQuery) (where, scope cond) {
	where, scope = liveScope(q.ProjectID)
	where.addEq("display_name", q.Name, "status", q.Status, "availability_zone", q.AvailabilityZone,
		"volume_type_id", q.VolumeTypeID, "group_id", q.GroupID)
	if q.NameLike != "" {
		where.add("display_name LIKE ? ESCAPE '!'", likeEscape(q.NameLike))
	}
	if q.Bootable != nil {
		where.add("bootable = ?", *q.Bootable)
	}
	if len(q.IDs) > 0 {
		args := make([]any, len(q.IDs))
		for i, id := range q.IDs {
			args[i] = id
		}
		where.add("id IN ("+placeholders(len(q.IDs))+")", args...)
	}
	metadataFilter(&where, "volume_metadata", "volume_id", "volumes", q.Metadata)
	return where, scope
}

// volumePage is the query of cols of the page of volumes q selects (selectPage).
func (s *Store) volumePage(ctx context.Context, q VolumeQuery, cols string) (string, []any, error) {
	where, scope := volumeFilter(q)
	return s.selectPage(ctx, page{table: "volumes", what: "Volume", columns: volumeSortColumns, sort: q.Sort,
		marker: q.Marker, scope: scope, limit: q.Limit, offset: q.Offset}, cols, where)
}

// ListVolumes returns the matching volumes with their metadata (no N+1 queries).
func (s *Store) ListVolumes(ctx context.Context, q VolumeQuery) ([]*model.Volume, error) {
	query, args, err := s.volumePage(ctx, q, volumeSelect)
	if err != nil {
		return nil, err
	}
	out, byID, err := queryAll(ctx, s.q, "list volumes", query, args,
		scanVolume, func(r *model.Volume) string { return r.ID })
	if err != nil {
		return nil, err
	}
	err = loadMetadata(ctx, s.q, "volume_metadata", "volume_id", slices.Collect(maps.Keys(byID)), func(id, k, val string) { byID[id].Metadata[k] = val })
	if err != nil {
		return nil, err
	}
	return out, nil
}

// VolumeRev is a volume's id, project and revision (model.Volume.Rev).
type VolumeRev struct {
	ID, ProjectID string
	Rev           int64
}

// ListVolumeRevs returns the id, project and revision of each volume ListVolumes(q) returns, in
// the same order: one query over the list index, no metadata.
func (s *Store) ListVolumeRevs(ctx context.Context, q VolumeQuery) ([]VolumeRev, error) {
	query, args, err := s.volumePage(ctx, q, "id, project_id, rev")
	if err != nil {
		return nil, err
	}
	return queryRows(ctx, s.q, "list volume revisions", query, args, func(r rowScanner) (VolumeRev, error) {
		var v VolumeRev
		return v, r.Scan(&v.ID, &v.ProjectID, &v.Rev)
	})
}

// GetVolumeRev returns one volume's project and revision; ErrNotFound if missing or deleted.
func (s *Store) GetVolumeRev(ctx context.Context, id string) (VolumeRev, error) {
	r := VolumeRev{ID: id}
	err := s.q.QueryRowContext(ctx, `SELECT project_id, rev FROM volumes WHERE id = ? AND deleted = 0`, id).Scan(&r.ProjectID, &r.Rev)
	if errors.Is(err, sql.ErrNoRows) {
		return r, notFound("Volume", id)
	}
	return r, dbErr("get volume revision", err)
}

// CountVolumes counts the matching volumes, ignoring Sort/Limit/Marker/Offset.
func (s *Store) CountVolumes(ctx context.Context, q VolumeQuery) (int, error) {
	where, _ := volumeFilter(q)
	return s.count(ctx, "volumes", where)
}

// UpdateVolume writes every column of v except ID, ProjectID, CreatedAt, Metadata and Epoch
// (which only BumpVolumeEpoch moves, so a stale copy of the row never lowers it), and sets
// UpdatedAt. ErrNotFound if missing or deleted.
func (s *Store) UpdateVolume(ctx context.Context, v *model.Volume) error {
	t := now()
	res, err := s.q.ExecContext(ctx, `UPDATE volumes SET user_id = ?, display_name = ?, display_description = ?,
		size = ?, status = ?, attach_status = ?, migration_status = ?, availability_zone = ?, volume_type_id = ?,
		snapshot_id = ?, source_volid = ?, bootable = ?, read_only = ?, read_only_set = ?, multiattach = ?, host = ?, dvg_id = ?,
		layout_mirrors = ?, layout_stripes = ?, layout_chunk_kib = ?, error_reason = ?,
		updated_at = ?, launched_at = ?, terminated_at = ?, group_id = ?, rev = rev + 1
		WHERE id = ? AND deleted = 0`,
		v.UserID, v.Name, v.Description, v.Size, v.Status, v.AttachStatus, v.MigrationStatus, v.AvailabilityZone,
		v.VolumeTypeID, v.SnapshotID, v.SourceVolID, v.Bootable, v.ReadOnly, v.ReadOnlySet, v.Multiattach, v.Host, v.DVGID,
		v.Layout.Mirrors, v.Layout.Stripes, v.Layout.ChunkKiB, v.ErrorReason,
		s.tv(t), s.tvp(v.LaunchedAt), s.tvp(v.TerminatedAt), v.GroupID, v.ID)
	if err != nil {
		return dbErr("update volume", err)
	}
	n, err := affected(res)
	if err != nil {
		return err
	}
	if n == 0 {
		return notFound("Volume", v.ID)
	}
	v.UpdatedAt = t
	return nil
}

// SetVolumeStatus moves the volume to status `to` only if its status is one of `from` (any
// status when from is empty). It returns ErrConflict (naming the current status in the message)
// when the status is not in from, ErrNotFound if missing. Atomic: two racing callers cannot both
// succeed from the same state.
func (s *Store) SetVolumeStatus(ctx context.Context, id string, from []string, to string) error {
	return s.setStatus(ctx, "volumes", "Volume", id, from, to, "rev = rev + 1") // views are cached by revision
}

// SetVolumeMetadata merges md into the volume's metadata, or replaces it when replace is true.
// ErrNotFound if the volume is missing or deleted.
func (s *Store) SetVolumeMetadata(ctx context.Context, id string, md map[string]string, replace bool) error {
	return s.changeVolumeMetadata(ctx, id, func(s *Store) error {
		return s.setMetadata(ctx, "volume_metadata", "volume_id", id, md, replace)
	})
}

// DeleteVolumeMetadata removes one key; ErrNotFound if the key is absent.
func (s *Store) DeleteVolumeMetadata(ctx context.Context, id, key string) error {
	return s.changeVolumeMetadata(ctx, id, func(s *Store) error {
		return s.deleteMetadataKey(ctx, "volume_metadata", "volume_id", id, key)
	})
}

// changeVolumeMetadata runs fn on a live volume's metadata and moves its revision, in one
// transaction. ErrNotFound if the volume is missing or deleted.
func (s *Store) changeVolumeMetadata(ctx context.Context, id string, fn func(s *Store) error) error {
	return s.write(ctx, func(s *Store) error {
		ok, err := s.exists(ctx, "volumes", id)
		if err != nil {
			return err
		}
		if !ok {
			return notFound("Volume", id)
		}
		if err := fn(s); err != nil {
			return err
		}
		return s.bumpVolumeRev(ctx, "id = ?", id)
	})
}

// bumpVolumeRev moves the revision of the volumes matching where (a WHERE clause over volumes):
// writes that change a volume's views without updating its row (metadata, attachments, its
// type) call it in their transaction, so a cached view keyed by the old revision is never served
// again once they commit.
func (s *Store) bumpVolumeRev(ctx context.Context, where string, args ...any) error {
	_, err := s.q.ExecContext(ctx, `UPDATE volumes SET rev = rev + 1 WHERE `+where, args...)
	return dbErr("move volume revision", err)
}

// DeleteVolume soft-deletes the volume (status deleted, deleted_at set). Idempotent.
func (s *Store) DeleteVolume(ctx context.Context, id string) error {
	t := s.tv(now())
	_, err := s.q.ExecContext(ctx, `UPDATE volumes SET deleted = 1, deleted_at = ?, updated_at = ?, status = ?, rev = rev + 1
		WHERE id = ? AND deleted = 0`, t, t, model.StatusDeleted, id)
	return dbErr("delete volume", err)
}
