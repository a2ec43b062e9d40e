package db

import (
	"context"
	"database/sql"
	"errors"

	"github.com/dlvm-project/dlvm/model"
)

const transferCols = `id, volume_id, display_name, salt, crypt_hash, no_snapshots, source_project_id,
	destination_project_id, accepted, created_at, updated_at`

func scanTransfer(r rowScanner) (*model.Transfer, error) {
	var (
		t                model.Transfer
		created, updated scanTime
	)
	err := r.Scan(&t.ID, &t.VolumeID, &t.Name, &t.Salt, &t.CryptHash, &t.NoSnapshots, &t.SourceProjectID,
		&t.DestinationProjectID, &t.Accepted, &created, &updated)
	if err != nil {
		return nil, err
	}
	t.CreatedAt, t.UpdatedAt = created.T, updated.T
	return &t, nil
}

// CreateTransfer inserts t; ErrConflict if the id exists.
func (s *Store) CreateTransfer(ctx context.Context, t *model.Transfer) error {
	if t.CreatedAt.IsZero() {
		t.CreatedAt = now()
	}
	t.CreatedAt = norm(t.CreatedAt)
	t.UpdatedAt = t.CreatedAt
	_, err := s.q.ExecContext(ctx, `INSERT INTO transfers (`+transferCols+`, deleted) VALUES (`+placeholders(11)+`, 0)`,
		t.ID, t.VolumeID, t.Name, t.Salt, t.CryptHash, t.NoSnapshots, t.SourceProjectID,
		t.DestinationProjectID, t.Accepted, s.tv(t.CreatedAt), s.tv(t.UpdatedAt))
	if isDuplicate(err) {
		return model.Errorf(model.ErrConflict, "Transfer %s already exists.", t.ID)
	}
	return dbErr("create transfer", err)
}

// GetTransfer returns a live (not deleted, not accepted) transfer; ErrNotFound otherwise.
func (s *Store) GetTransfer(ctx context.Context, id string) (*model.Transfer, error) {
	t, err := scanTransfer(s.q.QueryRowContext(ctx, `SELECT `+transferCols+` FROM transfers WHERE id = ? AND deleted = 0`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("Transfer", id)
	}
	return t, dbErr("get transfer", err)
}

// ListTransfers returns live transfers, newest first; projectID "" lists every project's.
func (s *Store) ListTransfers(ctx context.Context, projectID string) ([]*model.Transfer, error) {
	var c cond
	c.add("deleted = 0")
	if projectID != "" {
		c.add("source_project_id = ?", projectID)
	}
	rows, err := s.q.QueryContext(ctx, `SELECT `+transferCols+` FROM transfers WHERE `+c.sql()+` ORDER BY created_at DESC, id DESC`, c.args...)
	if err != nil {
		return nil, dbErr("list transfers", err)
	}
	defer rows.Close()
	out := []*model.Transfer{}
	for rows.Next() {
		t, err := scanTransfer(rows)
		if err != nil {
			return nil, dbErr("scan transfer", err)
		}
		out = append(out, t)
	}
	return out, dbErr("list transfers", rows.Err())
}

// TransferForVolume returns the live transfer of a volume; ErrNotFound if none.
func (s *Store) TransferForVolume(ctx context.Context, volumeID string) (*model.Transfer, error) {
	t, err := scanTransfer(s.q.QueryRowContext(ctx, `SELECT `+transferCols+` FROM transfers WHERE volume_id = ? AND deleted = 0`, volumeID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("Transfer for volume", volumeID)
	}
	return t, dbErr("get transfer", err)
}

// DeleteTransfer soft-deletes a transfer; accepted records who took it. Idempotent.
func (s *Store) DeleteTransfer(ctx context.Context, id string, accepted bool, destProjectID string) error {
	t := s.tv(now())
	_, err := s.q.ExecContext(ctx, `UPDATE transfers SET deleted = 1, deleted_at = ?, updated_at = ?, accepted = ?,
		destination_project_id = ? WHERE id = ? AND deleted = 0`, t, t, accepted, destProjectID, id)
	return dbErr("delete transfer", err)
}

// MoveVolume gives a live volume (and, with snapshots, its live snapshots) to another project
// and user. It moves rows only; quota usage is the caller's to move in the same transaction.
func (s *Store) MoveVolume(ctx context.Context, volumeID, projectID, userID string, snapshots bool) error {
	t := s.tv(now())
	res, err := s.q.ExecContext(ctx, `UPDATE volumes SET project_id = ?, user_id = ?, updated_at = ?, rev = rev + 1 WHERE id = ? AND deleted = 0`,
		projectID, userID, t, volumeID)
	if err != nil {
		return dbErr("move volume", err)
	}
	if n, err := affected(res); err != nil || n == 0 {
		if err != nil {
			return err
		}
		return notFound("Volume", volumeID)
	}
	if !snapshots {
		return nil
	}
	_, err = s.q.ExecContext(ctx, `UPDATE snapshots SET project_id = ?, user_id = ?, updated_at = ? WHERE volume_id = ? AND deleted = 0`,
		projectID, userID, t, volumeID)
	return dbErr("move snapshots", err)
}
