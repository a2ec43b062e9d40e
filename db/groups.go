package db

import (
	"context"
	"strings"

	"github.com/dlvm-project/dlvm/model"
)

const groupCols = `id, project_id, user_id, name, description, status, availability_zone, group_type_id,
	group_snapshot_id, source_group_id, volume_type_ids, created_at, updated_at`

// GroupQuery selects groups. Zero fields do not filter.
type GroupQuery struct {
	ProjectID string // "" = all projects
	Name      string
	Status    string
	Sort      []SortKey
	Limit     int
	Marker    string
	Offset    int
}

var groupSortColumns = map[string]string{
	"created_at": "created_at", "updated_at": "updated_at", "id": "id", "name": "name", "status": "status",
}

func scanGroup(r rowScanner) (*model.Group, error) {
	var (
		g                model.Group
		types            string
		created, updated scanTime
	)
	err := r.Scan(&g.ID, &g.ProjectID, &g.UserID, &g.Name, &g.Description, &g.Status, &g.AvailabilityZone,
		&g.GroupTypeID, &g.GroupSnapshotID, &g.SourceGroupID, &types, &created, &updated)
	if err != nil {
		return nil, err
	}
	g.VolumeTypeIDs = []string{}
	if types != "" {
		g.VolumeTypeIDs = strings.Split(types, ",")
	}
	g.CreatedAt, g.UpdatedAt = created.T, updated.T
	return &g, nil
}

// CreateGroup inserts g; ErrConflict if the id exists.
func (s *Store) CreateGroup(ctx context.Context, g *model.Group) error {
	if g.CreatedAt.IsZero() {
		g.CreatedAt = now()
	}
	g.CreatedAt = norm(g.CreatedAt)
	g.UpdatedAt = g.CreatedAt
	_, err := s.q.ExecContext(ctx, `INSERT INTO volume_groups (`+groupCols+`, deleted) VALUES (`+placeholders(13)+`, 0)`,
		g.ID, g.ProjectID, g.UserID, g.Name, g.Description, g.Status, g.AvailabilityZone, g.GroupTypeID,
		g.GroupSnapshotID, g.SourceGroupID, strings.Join(g.VolumeTypeIDs, ","), s.tv(g.CreatedAt), s.tv(g.UpdatedAt))
	if isDuplicate(err) {
		return model.Errorf(model.ErrConflict, "Group %s already exists.", g.ID)
	}
	return dbErr("create group", err)
}

// GetGroup returns a live group; ErrNotFound otherwise.
func (s *Store) GetGroup(ctx context.Context, id string) (*model.Group, error) {
	return getLive(ctx, s.q, "volume_groups", "Group", groupCols, id, scanGroup)
}

// ListGroups returns the live groups q selects (default order created_at desc).
func (s *Store) ListGroups(ctx context.Context, q GroupQuery) ([]*model.Group, error) {
	where, scope := liveScope(q.ProjectID)
	where.addEq("name", q.Name, "status", q.Status)
	query, args, err := s.selectPage(ctx, page{table: "volume_groups", what: "Group", columns: groupSortColumns,
		sort: q.Sort, marker: q.Marker, scope: scope, limit: q.Limit, offset: q.Offset}, groupCols, where)
	if err != nil {
		return nil, err
	}
	return queryRows(ctx, s.q, "list groups", query, args, scanGroup)
}

// UpdateGroup writes name, description and status; ErrNotFound if missing.
func (s *Store) UpdateGroup(ctx context.Context, g *model.Group) error {
	t := now()
	res, err := s.q.ExecContext(ctx, `UPDATE volume_groups SET name = ?, description = ?, status = ?, updated_at = ?
		WHERE id = ? AND deleted = 0`, g.Name, g.Description, g.Status, s.tv(t), g.ID)
	if err != nil {
		return dbErr("update group", err)
	}
	if n, err := affected(res); err != nil || n == 0 {
		if err != nil {
			return err
		}
		return notFound("Group", g.ID)
	}
	g.UpdatedAt = t
	return nil
}

// SetGroupStatus moves a group's status as SetVolumeStatus does.
func (s *Store) SetGroupStatus(ctx context.Context, id string, from []string, to string) error {
	return s.setStatus(ctx, "volume_groups", "Group", id, from, to, "")
}

// DeleteGroup soft-deletes a group. Idempotent.
func (s *Store) DeleteGroup(ctx context.Context, id string) error {
	t := s.tv(now())
	_, err := s.q.ExecContext(ctx, `UPDATE volume_groups SET deleted = 1, deleted_at = ?, updated_at = ?, status = ?
		WHERE id = ? AND deleted = 0`, t, t, model.StatusDeleted, id)
	return dbErr("delete group", err)
}

// SetVolumeGroup sets (groupID != "") or clears a live volume's group; ErrNotFound if missing.
func (s *Store) SetVolumeGroup(ctx context.Context, volumeID, groupID string) error {
	res, err := s.q.ExecContext(ctx, `UPDATE volumes SET group_id = ?, updated_at = ?, rev = rev + 1 WHERE id = ? AND deleted = 0`,
		groupID, s.tv(now()), volumeID)
	if err != nil {
		return dbErr("set volume group", err)
	}
	if n, err := affected(res); err != nil || n == 0 {
		if err != nil {
			return err
		}
		return notFound("Volume", volumeID)
	}
	return nil
}

// CompleteGroupCreate moves a creating group to available once every live volume of it is
// available, or to error once any is in error. Nothing happens while volumes are still being
// made or when the group is not creating.
func (s *Store) CompleteGroupCreate(ctx context.Context, groupID string) error {
	return s.completeCreate(ctx, "volume_groups", "volumes", "group_id", groupID)
}

// CompleteGroupSnapshotCreate does for a group snapshot and its snapshots what
// CompleteGroupCreate does for a group and its volumes.
func (s *Store) CompleteGroupSnapshotCreate(ctx context.Context, groupSnapshotID string) error {
	return s.completeCreate(ctx, "group_snapshots", "snapshots", "group_snapshot_id", groupSnapshotID)
}

// lockingRead makes a read inside a MySQL transaction see the latest committed rows (and lock
// them) instead of the transaction's snapshot. Two members finishing together then cannot both
// miss each other (InnoDB breaks the lock cycle as a deadlock, which InTx retries); SQLite
// serializes write transactions anyway.
func (s *Store) lockingRead() string {
	if s.tx && s.d.dialect == DialectMySQL {
		return " FOR UPDATE"
	}
	return ""
}

func (s *Store) completeCreate(ctx context.Context, table, members, fk, id string) error {
	var total, avail, failed int
	err := s.q.QueryRowContext(ctx, `SELECT COUNT(*),
		COALESCE(SUM(CASE WHEN status = ? THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN status = ? THEN 1 ELSE 0 END), 0)
		FROM `+members+` WHERE `+fk+` = ? AND deleted = 0`+s.lockingRead(), model.StatusAvailable, model.StatusError, id).Scan(&total, &avail, &failed)
	if err != nil {
		return dbErr("count "+members, err)
	}
	to := ""
	switch {
	case failed > 0:
		to = model.StatusError
	case avail == total:
		to = model.StatusAvailable
	default:
		return nil
	}
	_, err = s.q.ExecContext(ctx, `UPDATE `+table+` SET status = ?, updated_at = ? WHERE id = ? AND deleted = 0 AND status = ?`,
		to, s.tv(now()), id, model.StatusCreating)
	return dbErr("complete "+table, err)
}

const groupSnapshotCols = `id, project_id, user_id, group_id, group_type_id, name, description, status, created_at, updated_at`

// GroupSnapshotQuery selects group snapshots. Zero fields do not filter.
type GroupSnapshotQuery struct {
	ProjectID string
	GroupID   string
	Name      string
	Status    string
	Sort      []SortKey
	Limit     int
	Marker    string
	Offset    int
}

func scanGroupSnapshot(r rowScanner) (*model.GroupSnapshot, error) {
	var (
		g                model.GroupSnapshot
		created, updated scanTime
	)
	err := r.Scan(&g.ID, &g.ProjectID, &g.UserID, &g.GroupID, &g.GroupTypeID, &g.Name, &g.Description, &g.Status, &created, &updated)
	if err != nil {
		return nil, err
	}
	g.CreatedAt, g.UpdatedAt = created.T, updated.T
	return &g, nil
}

// CreateGroupSnapshot inserts g; ErrConflict if the id exists.
func (s *Store) CreateGroupSnapshot(ctx context.Context, g *model.GroupSnapshot) error {
	if g.CreatedAt.IsZero() {
		g.CreatedAt = now()
	}
	g.CreatedAt = norm(g.CreatedAt)
	g.UpdatedAt = g.CreatedAt
	_, err := s.q.ExecContext(ctx, `INSERT INTO group_snapshots (`+groupSnapshotCols+`, deleted) VALUES (`+placeholders(10)+`, 0)`,
		g.ID, g.ProjectID, g.UserID, g.GroupID, g.GroupTypeID, g.Name, g.Description, g.Status, s.tv(g.CreatedAt), s.tv(g.UpdatedAt))
	if isDuplicate(err) {
		return model.Errorf(model.ErrConflict, "Group snapshot %s already exists.", g.ID)
	}
	return dbErr("create group snapshot", err)
}

// GetGroupSnapshot returns a live group snapshot; ErrNotFound otherwise.
func (s *Store) GetGroupSnapshot(ctx context.Context, id string) (*model.GroupSnapshot, error) {
	return getLive(ctx, s.q, "group_snapshots", "Group snapshot", groupSnapshotCols, id, scanGroupSnapshot)
}

// ListGroupSnapshots returns the live group snapshots q selects.
func (s *Store) ListGroupSnapshots(ctx context.Context, q GroupSnapshotQuery) ([]*model.GroupSnapshot, error) {
	where, scope := liveScope(q.ProjectID)
	where.addEq("group_id", q.GroupID, "name", q.Name, "status", q.Status)
	query, args, err := s.selectPage(ctx, page{table: "group_snapshots", what: "Group snapshot", columns: groupSortColumns,
		sort: q.Sort, marker: q.Marker, scope: scope, limit: q.Limit, offset: q.Offset}, groupSnapshotCols, where)
	if err != nil {
		return nil, err
	}
	return queryRows(ctx, s.q, "list group snapshots", query, args, scanGroupSnapshot)
}

// SetGroupSnapshotStatus moves a group snapshot's status as SetVolumeStatus does.
func (s *Store) SetGroupSnapshotStatus(ctx context.Context, id string, from []string, to string) error {
	return s.setStatus(ctx, "group_snapshots", "Group snapshot", id, from, to, "")
}

// DeleteGroupSnapshot soft-deletes a group snapshot. Idempotent.
func (s *Store) DeleteGroupSnapshot(ctx context.Context, id string) error {
	t := s.tv(now())
	_, err := s.q.ExecContext(ctx, `UPDATE group_snapshots SET deleted = 1, deleted_at = ?, updated_at = ?, status = ?
		WHERE id = ? AND deleted = 0`, t, t, model.StatusDeleted, id)
	return dbErr("delete group snapshot", err)
}

// CompleteGroupSnapshotDelete soft-deletes a deleting group snapshot once none of its snapshots
// is left.
func (s *Store) CompleteGroupSnapshotDelete(ctx context.Context, id string) error {
	return s.completeDelete(ctx, "group_snapshots", "snapshots", "group_snapshot_id", id)
}

// CompleteGroupDelete soft-deletes a deleting group once none of its volumes is left.
func (s *Store) CompleteGroupDelete(ctx context.Context, id string) error {
	return s.completeDelete(ctx, "volume_groups", "volumes", "group_id", id)
}

func (s *Store) completeDelete(ctx context.Context, table, members, fk, id string) error {
	var n int
	if err := s.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+members+` WHERE `+fk+` = ? AND deleted = 0`+s.lockingRead(), id).Scan(&n); err != nil {
		return dbErr("count "+members, err)
	}
	if n > 0 {
		return nil
	}
	t := s.tv(now())
	_, err := s.q.ExecContext(ctx, `UPDATE `+table+` SET deleted = 1, deleted_at = ?, updated_at = ?, status = ?
		WHERE id = ? AND deleted = 0 AND status = ?`, t, t, model.StatusDeleted, id, model.StatusDeleting)
	return dbErr("complete "+table+" delete", err)
}
