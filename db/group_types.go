package db

import (
	"context"
	"database/sql"
	"errors"

	"github.com/dlvm-project/dlvm/model"
)

const groupTypeCols = `id, name, description, is_public, created_at, updated_at`

func scanGroupType(r rowScanner) (*model.GroupType, error) {
	var (
		t                model.GroupType
		created, updated scanTime
	)
	if err := r.Scan(&t.ID, &t.Name, &t.Description, &t.IsPublic, &created, &updated); err != nil {
		return nil, err
	}
	t.CreatedAt, t.UpdatedAt = created.T, updated.T
	t.GroupSpecs = map[string]string{}
	return &t, nil
}

func groupTypeExists(name string) error {
	return model.Errorf(model.ErrConflict, "Group Type %s already exists.", name)
}

func (s *Store) groupTypeNameTaken(ctx context.Context, name, exceptID string) (bool, error) {
	var id string
	err := s.q.QueryRowContext(ctx, `SELECT id FROM group_types WHERE name = ? AND deleted = 0 AND id <> ?`, name, exceptID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, dbErr("group type name", err)
}

// CreateGroupType inserts t with its group specs; ErrConflict if a live type has the name.
func (s *Store) CreateGroupType(ctx context.Context, t *model.GroupType) error {
	if t.CreatedAt.IsZero() {
		t.CreatedAt = now()
	}
	t.CreatedAt = norm(t.CreatedAt)
	t.UpdatedAt = t.CreatedAt
	return s.write(ctx, func(s *Store) error {
		taken, err := s.groupTypeNameTaken(ctx, t.Name, t.ID)
		if err != nil {
			return err
		}
		if taken {
			return groupTypeExists(t.Name)
		}
		_, err = s.q.ExecContext(ctx, `INSERT INTO group_types (`+groupTypeCols+`, deleted, deleted_key)
			VALUES (?, ?, ?, ?, ?, ?, 0, '')`, t.ID, t.Name, t.Description, t.IsPublic, s.tv(t.CreatedAt), s.tv(t.UpdatedAt))
		if isDuplicate(err) {
			return groupTypeExists(t.Name)
		}
		if err != nil {
			return dbErr("create group type", err)
		}
		return s.setGroupSpecs(ctx, t.ID, t.GroupSpecs)
	})
}

// GetGroupType returns a live group type by id with its specs; ErrNotFound otherwise.
func (s *Store) GetGroupType(ctx context.Context, id string) (*model.GroupType, error) {
	return s.getGroupType(ctx, "id", id)
}

// GetGroupTypeByName returns a live group type by name; ErrNotFound otherwise.
func (s *Store) GetGroupTypeByName(ctx context.Context, name string) (*model.GroupType, error) {
	return s.getGroupType(ctx, "name", name)
}

func (s *Store) getGroupType(ctx context.Context, col, val string) (*model.GroupType, error) {
	t, err := scanGroupType(s.q.QueryRowContext(ctx, `SELECT `+groupTypeCols+` FROM group_types WHERE `+col+` = ? AND deleted = 0`, val))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("Group type", val)
	}
	if err != nil {
		return nil, dbErr("get group type", err)
	}
	if err := s.loadGroupSpecs(ctx, map[string]*model.GroupType{t.ID: t}, "s.group_type_id = ?", t.ID); err != nil {
		return nil, err
	}
	return t, nil
}

func (s *Store) loadGroupSpecs(ctx context.Context, byID map[string]*model.GroupType, where string, args ...any) error {
	rows, err := s.q.QueryContext(ctx, `SELECT s.group_type_id, s.spec_key, s.spec_value FROM group_type_specs s
		JOIN group_types t ON t.id = s.group_type_id WHERE `+where, args...)
	if err != nil {
		return dbErr("load group specs", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, k, v string
		if err := rows.Scan(&id, &k, &v); err != nil {
			return dbErr("scan group spec", err)
		}
		if t := byID[id]; t != nil {
			t.GroupSpecs[k] = v
		}
	}
	return dbErr("load group specs", rows.Err())
}

var groupTypeSortColumns = map[string]string{
	"name": "name", "id": "id", "created_at": "created_at", "updated_at": "updated_at",
}

// ListGroupTypes returns live group types with their specs, ordered by sort (default name
// ascending; ErrInvalid for an unknown key). isPublic nil = all.
func (s *Store) ListGroupTypes(ctx context.Context, isPublic *bool, sort []SortKey) ([]*model.GroupType, error) {
	var c cond
	c.add("t.deleted = 0")
	if isPublic != nil {
		c.add("t.is_public = ?", *isPublic)
	}
	if len(sort) == 0 {
		sort = []SortKey{{Key: "name"}}
	}
	p := page{columns: groupTypeSortColumns, sort: sort}
	cols, err := p.order()
	if err != nil {
		return nil, err
	}
	order := ""
	for i, oc := range cols {
		if i > 0 {
			order += ", "
		}
		order += oc.col
		if oc.desc {
			order += " DESC"
		}
	}
	out, byID, err := queryAll(ctx, s.q, "list group types",
		`SELECT `+groupTypeCols+` FROM group_types t WHERE `+c.sql()+` ORDER BY `+order, c.args,
		scanGroupType, func(r *model.GroupType) string { return r.ID })
	if err != nil {
		return nil, err
	}
	if err := s.loadGroupSpecs(ctx, byID, c.sql(), c.args...); err != nil {
		return nil, err
	}
	return out, nil
}

// UpdateGroupType writes name, description and is_public; ErrConflict on a duplicate name,
// ErrNotFound if missing.
func (s *Store) UpdateGroupType(ctx context.Context, t *model.GroupType) error {
	tm := now()
	return s.write(ctx, func(s *Store) error {
		taken, err := s.groupTypeNameTaken(ctx, t.Name, t.ID)
		if err != nil {
			return err
		}
		if taken {
			return groupTypeExists(t.Name)
		}
		res, err := s.q.ExecContext(ctx, `UPDATE group_types SET name = ?, description = ?, is_public = ?, updated_at = ?
			WHERE id = ? AND deleted = 0`, t.Name, t.Description, t.IsPublic, s.tv(tm), t.ID)
		if isDuplicate(err) {
			return groupTypeExists(t.Name)
		}
		if err != nil {
			return dbErr("update group type", err)
		}
		if n, err := affected(res); err != nil || n == 0 {
			if err != nil {
				return err
			}
			return notFound("Group type", t.ID)
		}
		t.UpdatedAt = tm
		return nil
	})
}

// DeleteGroupType soft-deletes a group type; ErrConflict while a live group uses it,
// ErrNotFound if missing.
func (s *Store) DeleteGroupType(ctx context.Context, id string) error {
	return s.write(ctx, func(s *Store) error {
		ok, err := s.exists(ctx, "group_types", id)
		if err != nil {
			return err
		}
		if !ok {
			return notFound("Group type", id)
		}
		var n int
		if err := s.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM volume_groups WHERE group_type_id = ? AND deleted = 0`, id).Scan(&n); err != nil {
			return dbErr("group type in use", err)
		}
		if n > 0 {
			return model.Errorf(model.ErrConflict, "Group Type %s deletion is not allowed with groups present with the type.", id)
		}
		t := s.tv(now())
		_, err = s.q.ExecContext(ctx, `UPDATE group_types SET deleted = 1, deleted_key = id, deleted_at = ?, updated_at = ?
			WHERE id = ? AND deleted = 0`, t, t, id)
		return dbErr("delete group type", err)
	})
}

// SetGroupSpecs merges specs into the type's group specs; ErrNotFound if the type is missing.
func (s *Store) SetGroupSpecs(ctx context.Context, typeID string, specs map[string]string) error {
	return s.write(ctx, func(s *Store) error {
		ok, err := s.exists(ctx, "group_types", typeID)
		if err != nil {
			return err
		}
		if !ok {
			return notFound("Group type", typeID)
		}
		return s.setGroupSpecs(ctx, typeID, specs)
	})
}

func (s *Store) setGroupSpecs(ctx context.Context, typeID string, specs map[string]string) error {
	stmt := s.upsertSQL("group_type_specs", []string{"group_type_id", "spec_key"}, []string{"spec_value"})
	for _, k := range sortedKeys(specs) {
		if _, err := s.q.ExecContext(ctx, stmt, typeID, k, specs[k]); err != nil {
			return dbErr("set group spec", err)
		}
	}
	return nil
}

// DeleteGroupSpec removes one key; ErrNotFound if the key (or the type) is absent.
func (s *Store) DeleteGroupSpec(ctx context.Context, typeID, key string) error {
	ok, err := s.exists(ctx, "group_types", typeID)
	if err != nil {
		return err
	}
	if !ok {
		return notFound("Group type", typeID)
	}
	res, err := s.q.ExecContext(ctx, `DELETE FROM group_type_specs WHERE group_type_id = ? AND spec_key = ?`, typeID, key)
	if err != nil {
		return dbErr("delete group spec", err)
	}
	if n, err := affected(res); err != nil || n == 0 {
		if err != nil {
			return err
		}
		return model.Errorf(model.ErrNotFound, "Group Type %s has no specs with key %s.", typeID, key)
	}
	return nil
}
