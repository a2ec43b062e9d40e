package db

import (
	"context"
	"database/sql"
	"errors"

	"github.com/dlvm-project/dlvm/model"
)

const typeCols = `id, name, description, is_public, qos_specs_id, created_at, updated_at`

// typeColsT is typeCols of the volume_types table aliased t (in joins).
var typeColsT = qualify("t", typeCols)

func scanType(r rowScanner) (*model.VolumeType, error) {
	var (
		t                model.VolumeType
		created, updated scanTime
	)
	if err := r.Scan(&t.ID, &t.Name, &t.Description, &t.IsPublic, &t.QosSpecsID, &created, &updated); err != nil {
		return nil, err
	}
	t.CreatedAt, t.UpdatedAt = created.T, updated.T
	t.ExtraSpecs = map[string]string{}
	return &t, nil
}

func typeExists(name string) error {
	return model.Errorf(model.ErrConflict, "Volume Type %s already exists.", name)
}

// nameTaken reports whether a live type other than exceptID is called name.
func (s *Store) nameTaken(ctx context.Context, name, exceptID string) (bool, error) {
	var id string
	err := s.q.QueryRowContext(ctx, `SELECT id FROM volume_types WHERE name = ? AND deleted = 0 AND id <> ?`, name, exceptID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, dbErr("volume type name", err)
	}
	return true, nil
}

// CreateType inserts t with its extra specs; ErrConflict if the name (or id) exists.
// Names are unique among non-deleted types (a unique index on name + deleted_key backs this).
func (s *Store) CreateType(ctx context.Context, t *model.VolumeType) error {
	if t.CreatedAt.IsZero() {
		t.CreatedAt = now()
	}
	if t.UpdatedAt.IsZero() {
		t.UpdatedAt = t.CreatedAt
	}
	t.CreatedAt, t.UpdatedAt = norm(t.CreatedAt), norm(t.UpdatedAt)
	return s.write(ctx, func(s *Store) error {
		taken, err := s.nameTaken(ctx, t.Name, t.ID)
		if err != nil {
			return err
		}
		if taken {
			return typeExists(t.Name)
		}
		_, err = s.q.ExecContext(ctx, `INSERT INTO volume_types (`+typeCols+`, deleted, deleted_key)
			VALUES (?, ?, ?, ?, ?, ?, ?, 0, '')`,
			t.ID, t.Name, t.Description, t.IsPublic, t.QosSpecsID, s.tv(t.CreatedAt), s.tv(t.UpdatedAt))
		if isDuplicate(err) {
			return typeExists(t.Name + " (" + t.ID + ")")
		}
		if err != nil {
			return dbErr("create volume type", err)
		}
		return s.setSpecs(ctx, t.ID, t.ExtraSpecs)
	})
}

// GetType returns a type by id with extra specs; ErrNotFound if missing or deleted.
func (s *Store) GetType(ctx context.Context, id string) (*model.VolumeType, error) {
	return s.getType(ctx, "id", id)
}

// GetTypeByName returns a type by exact name (MySQL compares in its default, case-insensitive
// collation, as Cinder does); ErrNotFound if missing or deleted.
func (s *Store) GetTypeByName(ctx context.Context, name string) (*model.VolumeType, error) {
	return s.getType(ctx, "name", name)
}

// getType reads the type, its extra specs and whether it has an encryption spec in one query
// (one row per spec, or one row with NULL spec columns when it has none).
func (s *Store) getType(ctx context.Context, col, val string) (*model.VolumeType, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT `+typeColsT+`, x.spec_key, x.spec_value, e.volume_type_id IS NOT NULL FROM volume_types t
		LEFT JOIN volume_type_extra_specs x ON x.volume_type_id = t.id
		LEFT JOIN volume_type_encryption e ON e.volume_type_id = t.id
		WHERE t.`+col+` = ? AND t.deleted = 0 ORDER BY t.id`, val)
	if err != nil {
		return nil, dbErr("get volume type", err)
	}
	defer rows.Close()
	var t *model.VolumeType
	for rows.Next() {
		var k, v sql.NullString
		var enc bool
		r, err := scanType(withExtra(rows, &k, &v, &enc))
		if err != nil {
			return nil, dbErr("get volume type", err)
		}
		if t == nil {
			t = r
			t.Encrypted = enc
		} else if r.ID != t.ID {
			break // a name matches one live type; stay with the first should two ever match
		}
		if k.Valid {
			t.ExtraSpecs[k.String] = v.String
		}
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("get volume type", err)
	}
	if t == nil {
		return nil, notFound("Volume type", val)
	}
	return t, nil
}

func (s *Store) loadSpecs(ctx context.Context, query string, args []any, byID map[string]*model.VolumeType) error {
	rows, err := s.q.QueryContext(ctx, query, args...)
	if err != nil {
		return dbErr("load extra specs", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, k, v string
		if err := rows.Scan(&id, &k, &v); err != nil {
			return dbErr("scan extra spec", err)
		}
		if t := byID[id]; t != nil {
			t.ExtraSpecs[k] = v
		}
	}
	return dbErr("load extra specs", rows.Err())
}

// ListTypes returns types, with extra specs, ordered by name. isPublic nil = all.
func (s *Store) ListTypes(ctx context.Context, isPublic *bool) ([]*model.VolumeType, error) {
	var c cond
	c.add("t.deleted = 0")
	if isPublic != nil {
		c.add("t.is_public = ?", *isPublic)
	}
	return s.listTypes(ctx, c)
}

// ListTypesVisible returns the types project may use: the public ones and the private ones
// it has access to (AddTypeAccess), with extra specs, ordered by name.
func (s *Store) ListTypesVisible(ctx context.Context, project string) ([]*model.VolumeType, error) {
	var c cond
	c.add("t.deleted = 0")
	c.add("(t.is_public = ? OR t.id IN (SELECT a.volume_type_id FROM volume_type_projects a WHERE a.project_id = ?))", true, project)
	return s.listTypes(ctx, c)
}

func (s *Store) listTypes(ctx context.Context, c cond) ([]*model.VolumeType, error) {
	out, byID, err := queryAll(ctx, s.q, "list volume types",
		`SELECT `+typeCols+` FROM volume_types t WHERE `+c.sql()+` ORDER BY name, id`, c.args,
		scanType, func(r *model.VolumeType) string { return r.ID })
	if err != nil {
		return nil, err
	}
	err = s.loadSpecs(ctx, `SELECT e.volume_type_id, e.spec_key, e.spec_value FROM volume_type_extra_specs e
		JOIN volume_types t ON t.id = e.volume_type_id WHERE `+c.sql(), c.args, byID)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// UpdateType writes name, description, is_public and sets UpdatedAt; ErrConflict on a duplicate
// name, ErrNotFound if missing or deleted.
func (s *Store) UpdateType(ctx context.Context, t *model.VolumeType) error {
	tm := now()
	return s.write(ctx, func(s *Store) error {
		taken, err := s.nameTaken(ctx, t.Name, t.ID)
		if err != nil {
			return err
		}
		if taken {
			return typeExists(t.Name)
		}
		res, err := s.q.ExecContext(ctx, `UPDATE volume_types SET name = ?, description = ?, is_public = ?, updated_at = ?
			WHERE id = ? AND deleted = 0`, t.Name, t.Description, t.IsPublic, s.tv(tm), t.ID)
		if isDuplicate(err) {
			return typeExists(t.Name)
		}
		if err != nil {
			return dbErr("update volume type", err)
		}
		n, err := affected(res)
		if err != nil {
			return err
		}
		if n == 0 {
			return notFound("Volume type", t.ID)
		}
		t.UpdatedAt = tm
		return s.bumpVolumeRev(ctx, "volume_type_id = ? AND deleted = 0", t.ID) // views show the type's name
	})
}

// DeleteType soft-deletes a type. ErrConflict if a non-deleted volume uses it; ErrNotFound if
// the type is missing or already deleted (Cinder answers 404 there).
func (s *Store) DeleteType(ctx context.Context, id string) error {
	return s.write(ctx, func(s *Store) error {
		ok, err := s.exists(ctx, "volume_types", id)
		if err != nil {
			return err
		}
		if !ok {
			return notFound("Volume type", id)
		}
		var n int
		if err := s.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM volumes WHERE volume_type_id = ? AND deleted = 0`, id).Scan(&n); err != nil {
			return dbErr("volume type in use", err)
		}
		if n > 0 {
			return model.Errorf(model.ErrConflict, "Target volume type %s is still in use.", id)
		}
		t := s.tv(now())
		_, err = s.q.ExecContext(ctx, `UPDATE volume_types SET deleted = 1, deleted_key = id, deleted_at = ?, updated_at = ?
			WHERE id = ? AND deleted = 0`, t, t, id)
		return dbErr("delete volume type", err)
	})
}

// SetExtraSpecs merges specs into the type's extra specs; ErrNotFound if the type is missing.
func (s *Store) SetExtraSpecs(ctx context.Context, typeID string, specs map[string]string) error {
	return s.write(ctx, func(s *Store) error {
		ok, err := s.exists(ctx, "volume_types", typeID)
		if err != nil {
			return err
		}
		if !ok {
			return notFound("Volume type", typeID)
		}
		return s.setSpecs(ctx, typeID, specs)
	})
}

func (s *Store) setSpecs(ctx context.Context, typeID string, specs map[string]string) error {
	stmt := s.upsertSQL("volume_type_extra_specs", []string{"volume_type_id", "spec_key"}, []string{"spec_value"})
	for _, k := range sortedKeys(specs) {
		if _, err := s.q.ExecContext(ctx, stmt, typeID, k, specs[k]); err != nil {
			return dbErr("set extra spec", err)
		}
	}
	return nil
}

// DeleteExtraSpec removes one key; ErrNotFound if absent (or the type is missing).
func (s *Store) DeleteExtraSpec(ctx context.Context, typeID, key string) error {
	ok, err := s.exists(ctx, "volume_types", typeID)
	if err != nil {
		return err
	}
	if !ok {
		return notFound("Volume type", typeID)
	}
	res, err := s.q.ExecContext(ctx, `DELETE FROM volume_type_extra_specs WHERE volume_type_id = ? AND spec_key = ?`, typeID, key)
	if err != nil {
		return dbErr("delete extra spec", err)
	}
	n, err := affected(res)
	if err != nil {
		return err
	}
	if n == 0 {
		return model.Errorf(model.ErrNotFound, "Volume Type %s has no extra specs with key %s.", typeID, key)
	}
	return nil
}
