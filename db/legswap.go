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
