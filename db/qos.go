package db

import (
	"context"
	"database/sql"
	"errors"

	"github.com/dlvm-project/dlvm/model"
)

const qosCols = `id, name, consumer, created_at, updated_at`

func scanQos(r rowScanner) (*model.QosSpecs, error) {
	var (
		q                model.QosSpecs
		created, updated scanTime
	)
	if err := r.Scan(&q.ID, &q.Name, &q.Consumer, &created, &updated); err != nil {
		return nil, err
	}
	q.CreatedAt, q.UpdatedAt = created.T, updated.T
	q.Specs = map[string]string{}
	return &q, nil
}

func qosExists(name string) error {
	return model.Errorf(model.ErrConflict, "QoS Specs %s already exists.", name)
}

// CreateQos inserts q with its keys; ErrConflict if a live QoS specs has the name (or the id
// exists). Names are unique among live specs (a unique index on name + deleted_key backs this).
func (s *Store) CreateQos(ctx context.Context, q *model.QosSpecs) error {
	if q.CreatedAt.IsZero() {
		q.CreatedAt = now()
	}
	q.CreatedAt = norm(q.CreatedAt)
	q.UpdatedAt = q.CreatedAt
	return s.write(ctx, func(s *Store) error {
		var id string
		err := s.q.QueryRowContext(ctx, `SELECT id FROM qos_specs WHERE name = ? AND deleted = 0`, q.Name).Scan(&id)
		if err == nil {
			return qosExists(q.Name)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return dbErr("qos specs name", err)
		}
		_, err = s.q.ExecContext(ctx, `INSERT INTO qos_specs (`+qosCols+`, deleted, deleted_key) VALUES (?, ?, ?, ?, ?, 0, '')`,
			q.ID, q.Name, q.Consumer, s.tv(q.CreatedAt), s.tv(q.UpdatedAt))
		if isDuplicate(err) {
			return qosExists(q.Name)
		}
		if err != nil {
			return dbErr("create qos specs", err)
		}
		return s.setQosKeys(ctx, q.ID, q.Specs)
	})
}

func (s *Store) setQosKeys(ctx context.Context, id string, specs map[string]string) error {
	stmt := s.upsertSQL("qos_spec_keys", []string{"qos_specs_id", "spec_key"}, []string{"spec_value"})
	for _, k := range sortedKeys(specs) {
		if _, err := s.q.ExecContext(ctx, stmt, id, k, specs[k]); err != nil {
			return dbErr("set qos key", err)
		}
	}
	return nil
}

// GetQos returns live QoS specs with their keys; ErrNotFound if missing or deleted.
func (s *Store) GetQos(ctx context.Context, id string) (*model.QosSpecs, error) {
	q, err := scanQos(s.q.QueryRowContext(ctx, `SELECT `+qosCols+` FROM qos_specs WHERE id = ? AND deleted = 0`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, model.Errorf(model.ErrNotFound, "QoS Specs %s could not be found.", id)
	}
	if err != nil {
		return nil, dbErr("get qos specs", err)
	}
	if err := s.loadQosKeys(ctx, map[string]*model.QosSpecs{q.ID: q}, `WHERE k.qos_specs_id = ?`, q.ID); err != nil {
		return nil, err
	}
	return q, nil
}

func (s *Store) loadQosKeys(ctx context.Context, byID map[string]*model.QosSpecs, where string, args ...any) error {
	rows, err := s.q.QueryContext(ctx, `SELECT k.qos_specs_id, k.spec_key, k.spec_value FROM qos_spec_keys k
		JOIN qos_specs q ON q.id = k.qos_specs_id `+where, args...)
	if err != nil {
		return dbErr("load qos keys", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, k, v string
		if err := rows.Scan(&id, &k, &v); err != nil {
			return dbErr("scan qos key", err)
		}
		if q := byID[id]; q != nil {
			q.Specs[k] = v
		}
	}
	return dbErr("load qos keys", rows.Err())
}

// ListQos returns every live QoS specs with keys, newest first.
func (s *Store) ListQos(ctx context.Context) ([]*model.QosSpecs, error) {
	out, byID, err := queryAll(ctx, s.q, "list qos specs",
		`SELECT `+qosCols+` FROM qos_specs WHERE deleted = 0 ORDER BY created_at DESC, id DESC`, nil,
		scanQos, func(r *model.QosSpecs) string { return r.ID })
	if err != nil {
		return nil, err
	}
	if err := s.loadQosKeys(ctx, byID, `WHERE q.deleted = 0`); err != nil {
		return nil, err
	}
	return out, nil
}

// UpdateQos merges specs into the keys and, when consumer is not empty, sets the consumer;
// ErrNotFound if the specs are missing.
func (s *Store) UpdateQos(ctx context.Context, id, consumer string, specs map[string]string) error {
	return s.write(ctx, func(s *Store) error {
		res, err := s.q.ExecContext(ctx, `UPDATE qos_specs SET consumer = CASE WHEN ? = '' THEN consumer ELSE ? END,
			updated_at = ? WHERE id = ? AND deleted = 0`, consumer, consumer, s.tv(now()), id)
		if err != nil {
			return dbErr("update qos specs", err)
		}
		if n, err := affected(res); err != nil {
			return err
		} else if n == 0 {
			return model.Errorf(model.ErrNotFound, "QoS Specs %s could not be found.", id)
		}
		return s.setQosKeys(ctx, id, specs)
	})
}

// DeleteQosKeys removes keys, all or nothing: ErrNotFound if the specs are missing or lack one
// of the keys (the message names it).
func (s *Store) DeleteQosKeys(ctx context.Context, id string, keys []string) error {
	return s.write(ctx, func(s *Store) error {
		q, err := s.GetQos(ctx, id)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if _, ok := q.Specs[k]; !ok {
				return model.Errorf(model.ErrNotFound, "QoS spec %s has no key %s.", id, k)
			}
		}
		for _, k := range keys {
			if _, err := s.q.ExecContext(ctx, `DELETE FROM qos_spec_keys WHERE qos_specs_id = ? AND spec_key = ?`, id, k); err != nil {
				return dbErr("delete qos key", err)
			}
		}
		return nil
	})
}

// DeleteQos soft-deletes QoS specs. ErrNotFound if missing; ErrConflict while live volume types
// use them, unless force, which first disassociates them.
func (s *Store) DeleteQos(ctx context.Context, id string, force bool) error {
	return s.write(ctx, func(s *Store) error {
		if _, err := s.GetQos(ctx, id); err != nil {
			return err
		}
		assoc, err := s.QosAssociations(ctx, id)
		if err != nil {
			return err
		}
		if len(assoc) > 0 && !force {
			return model.Errorf(model.ErrConflict, "QoS Specs %s is still associated with entities.", id)
		}
		if err := s.DisassociateAllQos(ctx, id); err != nil {
			return err
		}
		t := s.tv(now())
		_, err = s.q.ExecContext(ctx, `UPDATE qos_specs SET deleted = 1, deleted_key = id, deleted_at = ?, updated_at = ?
			WHERE id = ? AND deleted = 0`, t, t, id)
		return dbErr("delete qos specs", err)
	})
}

// QosAssociations returns the live volume types (without extra specs) using the specs, by name.
func (s *Store) QosAssociations(ctx context.Context, id string) ([]*model.VolumeType, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT `+typeCols+` FROM volume_types WHERE qos_specs_id = ? AND deleted = 0 ORDER BY name, id`, id)
	if err != nil {
		return nil, dbErr("qos associations", err)
	}
	defer rows.Close()
	out := []*model.VolumeType{}
	for rows.Next() {
		t, err := scanType(rows)
		if err != nil {
			return nil, dbErr("scan volume type", err)
		}
		out = append(out, t)
	}
	return out, dbErr("qos associations", rows.Err())
}

// AssociateQos makes a live type use the specs. Idempotent; ErrNotFound if either is missing,
// ErrConflict if the type already uses other specs.
func (s *Store) AssociateQos(ctx context.Context, qosID, typeID string) error {
	return s.write(ctx, func(s *Store) error {
		if _, err := s.GetQos(ctx, qosID); err != nil {
			return err
		}
		t, err := s.getType(ctx, "id", typeID)
		if err != nil {
			return err
		}
		if t.QosSpecsID == qosID {
			return nil
		}
		if t.QosSpecsID != "" {
			return model.Errorf(model.ErrConflict, "Type %s is already associated with another qos specs: %s", typeID, t.QosSpecsID)
		}
		_, err = s.q.ExecContext(ctx, `UPDATE volume_types SET qos_specs_id = ?, updated_at = ? WHERE id = ? AND deleted = 0`,
			qosID, s.tv(now()), typeID)
		return dbErr("associate qos specs", err)
	})
}

// DisassociateQos detaches the specs from a type. Idempotent (a type using other specs or none
// is left alone); ErrNotFound if the specs or the type are missing.
func (s *Store) DisassociateQos(ctx context.Context, qosID, typeID string) error {
	return s.write(ctx, func(s *Store) error {
		if _, err := s.GetQos(ctx, qosID); err != nil {
			return err
		}
		if _, err := s.getType(ctx, "id", typeID); err != nil {
			return err
		}
		_, err := s.q.ExecContext(ctx, `UPDATE volume_types SET qos_specs_id = '', updated_at = ? WHERE id = ? AND qos_specs_id = ?`,
			s.tv(now()), typeID, qosID)
		return dbErr("disassociate qos specs", err)
	})
}

// DisassociateAllQos detaches the specs from every type (deleted ones included).
func (s *Store) DisassociateAllQos(ctx context.Context, qosID string) error {
	_, err := s.q.ExecContext(ctx, `UPDATE volume_types SET qos_specs_id = '', updated_at = ? WHERE qos_specs_id = ?`,
		s.tv(now()), qosID)
	return dbErr("disassociate qos specs", err)
}
