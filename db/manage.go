package db

import (
	"context"
	"database/sql"
	"errors"

	"github.com/dlvm-project/dlvm/model"
)

// SetLegsStatus sets the status of every non-deleted leg of an owner; it returns how many.
func (s *Store) SetLegsStatus(ctx context.Context, ownerID, status string) (int64, error) {
	res, err := s.q.ExecContext(ctx, `UPDATE legs SET status = ?, updated_at = ? WHERE owner_id = ? AND status <> ?`,
		status, s.tv(now()), ownerID, model.LegDeleted)
	if err != nil {
		return 0, dbErr("set legs status", err)
	}
	return affected(res)
}

// AdoptLegs gives every leg of owner from in status LegUnmanaged to a new owner (kind, id) as
// available legs; it returns how many.
func (s *Store) AdoptLegs(ctx context.Context, from, kind, to string) (int64, error) {
	res, err := s.q.ExecContext(ctx, `UPDATE legs SET owner_kind = ?, owner_id = ?, status = ?, updated_at = ?
		WHERE owner_id = ? AND status = ?`, kind, to, model.LegAvailable, s.tv(now()), from, model.LegUnmanaged)
	if err != nil {
		return 0, dbErr("adopt legs", err)
	}
	return affected(res)
}

// ListUnmanagedLegs returns the legs os-unmanage left behind, of one owner kind.
func (s *Store) ListUnmanagedLegs(ctx context.Context, kind string) ([]*model.Leg, error) {
	legs, err := s.listLegs(ctx, "status = '"+model.LegUnmanaged+"' AND owner_kind = ?", kind)
	return legs, err
}

// LegOwner returns the owner id of a leg (deleted ones included); ErrNotFound if unknown.
func (s *Store) LegOwner(ctx context.Context, legID string) (string, error) {
	var owner string
	err := s.q.QueryRowContext(ctx, `SELECT owner_id FROM legs WHERE id = ?`, legID).Scan(&owner)
	if errors.Is(err, sql.ErrNoRows) {
		return "", notFound("Leg", legID)
	}
	return owner, dbErr("leg owner", err)
}
