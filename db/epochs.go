package db

import (
	"context"
	"database/sql"
	"errors"
)

// BumpVolumeEpoch raises the fencing epoch of a volume by one and returns the new value; a
// manager calls it when it claims work on the volume, and agents refuse calls carrying a lower
// epoch afterwards. Soft-deleted volumes count (their delete workflow may still be running).
// ErrNotFound if the volume does not exist at all.
func (s *Store) BumpVolumeEpoch(ctx context.Context, volumeID string) (int64, error) {
	var epoch int64
	err := s.write(ctx, func(tx *Store) error {
		res, err := tx.q.ExecContext(ctx, `UPDATE volumes SET epoch = epoch + 1 WHERE id = ?`, volumeID)
		if err != nil {
			return dbErr("bump volume epoch", err)
		}
		n, err := affected(res)
		if err != nil {
			return err
		}
		if n == 0 {
			return notFound("Volume", volumeID)
		}
		err = tx.q.QueryRowContext(ctx, `SELECT epoch FROM volumes WHERE id = ?`, volumeID).Scan(&epoch)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("Volume", volumeID)
		}
		return dbErr("read volume epoch", err)
	})
	return epoch, err
}
