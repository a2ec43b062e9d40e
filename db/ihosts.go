package db

import (
	"context"
	"database/sql"
	"errors"

	"github.com/dlvm-project/dlvm/model"
)

const ihostCols = `host, url, initiator, chap_user, chap_secret, heartbeat_at, created_at, updated_at`

// UpsertIHost inserts the host or updates its URL, Initiator and HeartbeatAt. The CHAP
// credentials are written only when the row is new: once generated they never change, so
// every export to the host keeps working. h is refreshed from the stored row (h.CHAPUser and
// h.CHAPSecret then hold the host's real credentials). Empty URL or Initiator keep the stored
// ones (an os-brick connector dict carries no daemon URL).
func (s *Store) UpsertIHost(ctx context.Context, h *model.IHost) error {
	if h.Host == "" {
		return model.Errorf(model.ErrInvalid, "The connector has no host.")
	}
	return s.write(ctx, func(s *Store) error {
		t := now()
		if h.CreatedAt.IsZero() {
			h.CreatedAt = t
		}
		_, err := s.q.ExecContext(ctx, s.insertIgnore()+` INTO ihosts (`+ihostCols+`) VALUES (`+placeholders(8)+`)`,
			h.Host, h.URL, h.Initiator, h.CHAPUser, h.CHAPSecret, s.tvz(h.HeartbeatAt), s.tv(h.CreatedAt), s.tv(t))
		if err != nil {
			return dbErr("insert ihost", err)
		}
		_, err = s.q.ExecContext(ctx, `UPDATE ihosts SET
			url = CASE WHEN ? = '' THEN url ELSE ? END,
			initiator = CASE WHEN ? = '' THEN initiator ELSE ? END,
			heartbeat_at = CASE WHEN ? IS NULL THEN heartbeat_at ELSE ? END,
			updated_at = ? WHERE host = ?`,
			h.URL, h.URL, h.Initiator, h.Initiator, s.tvz(h.HeartbeatAt), s.tvz(h.HeartbeatAt), s.tv(t), h.Host)
		if err != nil {
			return dbErr("update ihost", err)
		}
		got, err := s.GetIHost(ctx, h.Host)
		if err != nil {
			return err
		}
		*h = *got
		return nil
	})
}

// GetIHost returns one ihost; ErrNotFound if unknown.
func (s *Store) GetIHost(ctx context.Context, host string) (*model.IHost, error) {
	var (
		h                    model.IHost
		hb, created, updated scanTime
	)
	err := s.q.QueryRowContext(ctx, `SELECT `+ihostCols+` FROM ihosts WHERE host = ?`, host).Scan(
		&h.Host, &h.URL, &h.Initiator, &h.CHAPUser, &h.CHAPSecret, &hb, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("Host", host)
	}
	if err != nil {
		return nil, dbErr("get ihost", err)
	}
	h.HeartbeatAt, h.CreatedAt, h.UpdatedAt = hb.T, created.T, updated.T
	return &h, nil
}
