package db

import (
	"context"

	"github.com/dlvm-project/dlvm/model"
)

// SwapLegOwners exchanges the non-deleted legs of owners a and b in one statement: a's legs
// become b's and b's become a's. A migration builds the new legs under its workflow id and swaps
// them with the volume's at the end; the old legs, now the workflow's, are deleted after. Running
// it twice swaps back, so callers record the swap in the same transaction.
func (s *Store) SwapLegOwners(ctx context.Context, a, b string) error {
	t := now()
	_, err := s.q.ExecContext(ctx, `UPDATE legs SET owner_id = CASE WHEN owner_id = ? THEN ? ELSE ? END, updated_at = ?
		WHERE owner_id IN (?, ?) AND status <> ?`, a, b, a, s.tv(t), a, b, model.LegDeleted)
	return dbErr("swap leg owners", err)
}

// SwapLeg makes leg newID (a filled replacement) a leg of volumeID in the place of oldID, in one
// transaction: the new leg becomes OwnerVolume and available; the old one OwnerRetired and
// LegDeleting with the new leg as its owner (its dpv deletes it when it answers again), and
// the hosts' reports about it are
// forgotten. Swapping again is a no-op. ErrNotFound when either leg is missing.
func (s *Store) SwapLeg(ctx context.Context, volumeID, oldID, newID string) error {
	return s.write(ctx, func(s *Store) error {
		t := s.tv(now())
		res, err := s.q.ExecContext(ctx, `UPDATE legs SET owner_kind = ?, owner_id = ?, status = ?, updated_at = ? WHERE id = ? AND status <> ?`,
			model.OwnerVolume, volumeID, model.LegAvailable, t, newID, model.LegDeleted)
		if err != nil {
			return dbErr("swap leg in", err)
		}
		if n, err := affected(res); err != nil {
			return err
		} else if n == 0 {
			return notFound("Leg", newID)
		}
		res, err = s.q.ExecContext(ctx, `UPDATE legs SET owner_kind = ?, owner_id = ?, status = CASE WHEN status = ? THEN status ELSE ? END, updated_at = ? WHERE id = ?`,
			model.OwnerRetired, newID, model.LegDeleted, model.LegDeleting, t, oldID)
		if err != nil {
			return dbErr("swap leg out", err)
		}
		if n, err := affected(res); err != nil {
			return err
		} else if n == 0 {
			return notFound("Leg", oldID)
		}
		return s.DeleteLegHealth(ctx, oldID)
	})
}

// ListLegsByKind returns the non-deleted legs of one owner kind (replacements, retired legs).
func (s *Store) ListLegsByKind(ctx context.Context, ownerKind string) ([]*model.Leg, error) {
	return s.listLegs(ctx, "owner_kind = ?", ownerKind)
}

// ListVolumeLegsWithReplacements returns a volume's legs followed by the replacement legs being
// filled for them (owner kind replacement, SourceLegID one of the volume's legs).
func (s *Store) ListVolumeLegsWithReplacements(ctx context.Context, volumeID string) ([]*model.Leg, error) {
	legs, err := s.ListLegs(ctx, volumeID)
	if err != nil {
		return nil, err
	}
	repl, err := s.ListLegsByKind(ctx, model.OwnerReplacement)
	if err != nil {
		return nil, err
	}
	mine := map[string]bool{}
	for _, l := range legs {
		mine[l.ID] = true
	}
	for _, r := range repl {
		if mine[r.SourceLegID] {
			legs = append(legs, r)
		}
	}
	return legs, nil
}
