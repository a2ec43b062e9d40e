package db

import (
	"context"
	"database/sql"
	"errors"

	"github.com/dlvm-project/dlvm/model"
)

// AddTypeAccess lets project use the private type typeID. ErrNotFound if the type is missing,
// ErrConflict if the project already has access.
func (s *Store) AddTypeAccess(ctx context.Context, typeID, project string) error {
	return s.write(ctx, func(s *Store) error {
		if _, err := s.getType(ctx, "id", typeID); err != nil {
			return err
		}
		ok, err := s.HasTypeAccess(ctx, typeID, project)
		if err != nil {
			return err
		}
		if ok {
			return model.Errorf(model.ErrConflict, "Volume type access for %s / %s combination already exists.", typeID, project)
		}
		_, err = s.q.ExecContext(ctx, `INSERT INTO volume_type_projects (volume_type_id, project_id, created_at) VALUES (?, ?, ?)`,
			typeID, project, s.tv(now()))
		if isDuplicate(err) {
			return model.Errorf(model.ErrConflict, "Volume type access for %s / %s combination already exists.", typeID, project)
		}
		if err != nil {
			return dbErr("add type access", err)
		}
		return s.bumpVolumeRev(ctx, "volume_type_id = ? AND deleted = 0", typeID) // views name only types the caller may see
	})
}

// RemoveTypeAccess revokes a project's access. ErrNotFound if the type is missing or the
// project has no access.
func (s *Store) RemoveTypeAccess(ctx context.Context, typeID, project string) error {
	return s.write(ctx, func(s *Store) error {
		if _, err := s.getType(ctx, "id", typeID); err != nil {
			return err
		}
		res, err := s.q.ExecContext(ctx, `DELETE FROM volume_type_projects WHERE volume_type_id = ? AND project_id = ?`, typeID, project)
		if err != nil {
			return dbErr("remove type access", err)
		}
		n, err := affected(res)
		if err != nil {
			return err
		}
		if n == 0 {
			return model.Errorf(model.ErrNotFound, "Volume type access not found for %s / %s combination.", typeID, project)
		}
		return s.bumpVolumeRev(ctx, "volume_type_id = ? AND deleted = 0", typeID)
	})
}

// ListTypeAccess returns the projects with access to typeID, sorted (empty for an unknown type).
func (s *Store) ListTypeAccess(ctx context.Context, typeID string) ([]string, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT project_id FROM volume_type_projects WHERE volume_type_id = ? ORDER BY project_id`, typeID)
	if err != nil {
		return nil, dbErr("list type access", err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, dbErr("scan type access", err)
		}
		out = append(out, p)
	}
	return out, dbErr("list type access", rows.Err())
}

// HasTypeAccess reports whether project is on typeID's access list.
func (s *Store) HasTypeAccess(ctx context.Context, typeID, project string) (bool, error) {
	var n int
	err := s.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM volume_type_projects WHERE volume_type_id = ? AND project_id = ?`,
		typeID, project).Scan(&n)
	if err != nil {
		return false, dbErr("type access", err)
	}
	return n > 0, nil
}

const encCols = `volume_type_id, encryption_id, provider, cipher, key_size, control_location, created_at, updated_at`

// GetTypeEncryption returns a type's encryption spec; ErrNotFound when it has none.
func (s *Store) GetTypeEncryption(ctx context.Context, typeID string) (*model.TypeEncryption, error) {
	var (
		e                model.TypeEncryption
		keySize          sql.NullInt64
		created, updated scanTime
	)
	err := s.q.QueryRowContext(ctx, `SELECT `+encCols+` FROM volume_type_encryption WHERE volume_type_id = ?`, typeID).Scan(
		&e.VolumeTypeID, &e.EncryptionID, &e.Provider, &e.Cipher, &keySize, &e.ControlLocation, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, model.Errorf(model.ErrNotFound, "Volume type encryption for type %s does not exist.", typeID)
	}
	if err != nil {
		return nil, dbErr("get type encryption", err)
	}
	if keySize.Valid {
		n := int(keySize.Int64)
		e.KeySize = &n
	}
	e.CreatedAt, e.UpdatedAt = created.T, updated.T
	return &e, nil
}

func keySizeArg(k *int) any {
	if k == nil {
		return nil
	}
	return *k
}

// CreateTypeEncryption stores e. ErrNotFound if the type is missing, ErrConflict if it already
// has an encryption spec.
func (s *Store) CreateTypeEncryption(ctx context.Context, e *model.TypeEncryption) error {
	t := now()
	return s.write(ctx, func(s *Store) error {
		if _, err := s.getType(ctx, "id", e.VolumeTypeID); err != nil {
			return err
		}
		if _, err := s.GetTypeEncryption(ctx, e.VolumeTypeID); err == nil {
			return model.Errorf(model.ErrConflict, "Volume type encryption for type %s already exists.", e.VolumeTypeID)
		}
		_, err := s.q.ExecContext(ctx, `INSERT INTO volume_type_encryption (`+encCols+`) VALUES (`+placeholders(8)+`)`,
			e.VolumeTypeID, e.EncryptionID, e.Provider, e.Cipher, keySizeArg(e.KeySize), e.ControlLocation, s.tv(t), s.tv(t))
		if isDuplicate(err) {
			return model.Errorf(model.ErrConflict, "Volume type encryption for type %s already exists.", e.VolumeTypeID)
		}
		if err != nil {
			return dbErr("create type encryption", err)
		}
		e.CreatedAt, e.UpdatedAt = t, t
		return nil
	})
}

// UpdateTypeEncryption rewrites provider, cipher, key size and control location of an existing
// spec; ErrNotFound when the type has none.
func (s *Store) UpdateTypeEncryption(ctx context.Context, e *model.TypeEncryption) error {
	res, err := s.q.ExecContext(ctx, `UPDATE volume_type_encryption SET provider = ?, cipher = ?, key_size = ?,
		control_location = ?, updated_at = ? WHERE volume_type_id = ?`,
		e.Provider, e.Cipher, keySizeArg(e.KeySize), e.ControlLocation, s.tv(now()), e.VolumeTypeID)
	if err != nil {
		return dbErr("update type encryption", err)
	}
	n, err := affected(res)
	if err != nil {
		return err
	}
	if n == 0 {
		return model.Errorf(model.ErrNotFound, "Volume type encryption for type %s does not exist.", e.VolumeTypeID)
	}
	return nil
}

// DeleteTypeEncryption removes a type's encryption spec; ErrNotFound when it has none.
func (s *Store) DeleteTypeEncryption(ctx context.Context, typeID string) error {
	res, err := s.q.ExecContext(ctx, `DELETE FROM volume_type_encryption WHERE volume_type_id = ?`, typeID)
	if err != nil {
		return dbErr("delete type encryption", err)
	}
	n, err := affected(res)
	if err != nil {
		return err
	}
	if n == 0 {
		return model.Errorf(model.ErrNotFound, "Volume type encryption for type %s does not exist.", typeID)
	}
	return nil
}
