package db

import (
	"context"
	"database/sql"
	"errors"

	"github.com/dlvm-project/dlvm/model"
)

// ErrLostClaim is a write of a workflow's owner that no longer holds it: another manager took
// the workflow over (its owner went silent past the stale time). The writer must stop.
var ErrLostClaim = errors.New("workflow claim lost")

// BumpVolumeEpoch raises the fencing epoch of a volume by one and returns the new value, if
// and only if workflow workflowID is still owned by owner (checked in the same statement, so a
// manager that lost its claim cannot raise the epoch above its successor's). A manager calls
// it after claiming work on the volume; agents refuse calls carrying a lower epoch afterwards.
// When owner already raised the current epoch, it is returned unchanged: one manager's
// concurrent workflows on a volume (a cascade delete's snapshots and volume) share it and do not
// fence each other; only another manager's claim fences them.
// Soft-deleted volumes count (their delete workflow may still be running). ErrNotFound if the
// volume does not exist, ErrLostClaim if the claim is gone.
func (s *Store) BumpVolumeEpoch(ctx context.Context, volumeID, workflowID, owner string) (int64, error) {
	if s.d.dialect == DialectMySQL {
		return s.bumpEpochMySQL(ctx, volumeID, workflowID, owner)
	}
	var epoch int64
	err := s.write(ctx, func(tx *Store) error {
		res, err := tx.q.ExecContext(ctx, `UPDATE volumes SET epoch = `+epochNext+`, epoch_owner = ?,
			epoch_claims = epoch_claims + 1 WHERE id = ? AND EXISTS (SELECT 1 FROM workflows WHERE id = ? AND owner = ?)`,
			owner, owner, volumeID, workflowID, owner)
		if err != nil {
			return dbErr("bump volume epoch", err)
		}
		n, err := affected(res)
		if err != nil {
			return err
		}
		err = tx.q.QueryRowContext(ctx, `SELECT epoch FROM volumes WHERE id = ?`, volumeID).Scan(&epoch)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("Volume", volumeID)
		}
		if err != nil {
			return dbErr("read volume epoch", err)
		}
		if n == 0 {
			return ErrLostClaim
		}
		return nil
	})
	return epoch, err
}

// epochNext is the epoch a claim by owner (the statement's first argument) leaves: unchanged
// when owner raised it last, one more otherwise.
const epochNext = `CASE WHEN epoch_owner = ? AND epoch > 0 THEN epoch ELSE epoch + 1 END`

// UpdateOwnedWorkflow is UpdateWorkflow for the manager that owns w (w.Owner): it writes only
// while the row is still owned by w.Owner, else ErrLostClaim and nothing written (inside a
// transaction, the caller's other writes roll back with it).
func (s *Store) UpdateOwnedWorkflow(ctx context.Context, w *model.Workflow) error {
	t := now()
	res, err := s.q.ExecContext(ctx, `UPDATE workflows SET state = ?, step = ?, params = ?, attempts = ?,
		error = ?, updated_at = ? WHERE id = ? AND owner = ?`, w.State, w.Step, w.Params, w.Attempts, w.Error,
		s.tv(t), w.ID, w.Owner)
	if err != nil {
		return dbErr("update workflow", err)
	}
	n, err := affected(res)
	if err != nil {
		return err
	}
	if n == 0 {
		if _, err := s.GetWorkflow(ctx, w.ID); err != nil {
			return err
		}
		return ErrLostClaim
	}
	w.UpdatedAt = t
	return nil
}

// bumpEpochMySQL bumps in one autocommit statement that hands back the new value
// (LAST_INSERT_ID(expr), per connection), so no transaction stays open between the bump and
// the read: a manager frozen there (a pause, SIGSTOP) holds no lock that would stop another
// manager from taking its workflow over.
func (s *Store) bumpEpochMySQL(ctx context.Context, volumeID, workflowID, owner string) (int64, error) {
	// MySQL evaluates SET left to right: epochNext still sees the old epoch_owner.
	res, err := s.q.ExecContext(ctx, `UPDATE volumes SET epoch = LAST_INSERT_ID(`+epochNext+`), epoch_owner = ?,
		epoch_claims = epoch_claims + 1 WHERE id = ? AND EXISTS (SELECT 1 FROM workflows WHERE id = ? AND owner = ?)`,
		owner, owner, volumeID, workflowID, owner)
	if err != nil {
		return 0, dbErr("bump volume epoch", err)
	}
	n, err := affected(res)
	if err != nil {
		return 0, err
	}
	if n == 1 {
		epoch, err := res.LastInsertId()
		return epoch, dbErr("read volume epoch", err)
	}
	var one int
	err = s.q.QueryRowContext(ctx, `SELECT 1 FROM volumes WHERE id = ?`, volumeID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, notFound("Volume", volumeID)
	}
	if err != nil {
		return 0, dbErr("read volume", err)
	}
	return 0, ErrLostClaim
}
