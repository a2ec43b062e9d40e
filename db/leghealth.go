package db

import (
	"context"

	"github.com/dlvm-project/dlvm/model"
)

const legHealthCols = `leg_id, host, volume_id, state, dirty_regions, message, since, reported_at`

// SetHostLegHealth replaces everything host reported before with rows (its full report: every
// leg of every volume it assembles now). A leg whose state did not change keeps its Since; the
// others start theirs now. Rows' Host and ReportedAt are set here.
func (s *Store) SetHostLegHealth(ctx context.Context, host string, rows []*model.LegHealth) error {
	if host == "" {
		return model.Errorf(model.ErrInvalid, "A leg health report needs a host.")
	}
	return s.write(ctx, func(s *Store) error {
		old, err := s.listLegHealth(ctx, `host = ?`, host)
		if err != nil {
			return err
		}
		prev := map[string]*model.LegHealth{}
		for _, o := range old {
			prev[o.LegID] = o
		}
		if _, err := s.q.ExecContext(ctx, `DELETE FROM leg_health WHERE host = ?`, host); err != nil {
			return dbErr("delete leg health", err)
		}
		t := now()
		for _, r := range rows {
			r.Host, r.ReportedAt, r.Since = host, t, t
			if o := prev[r.LegID]; o != nil && o.State == r.State && o.VolumeID == r.VolumeID {
				r.Since = o.Since
			}
			if _, err := s.q.ExecContext(ctx, `INSERT INTO leg_health (`+legHealthCols+`) VALUES (`+placeholders(8)+`)`,
				r.LegID, r.Host, r.VolumeID, r.State, r.DirtyRegions, r.Message, s.tv(r.Since), s.tv(r.ReportedAt)); err != nil {
				if isDuplicate(err) {
					return model.Errorf(model.ErrInvalid, "Leg %s is reported twice.", r.LegID)
				}
				return dbErr("insert leg health", err)
			}
		}
		return nil
	})
}

// ListLegHealth returns what every host reports about the volume's legs, by leg then host.
func (s *Store) ListLegHealth(ctx context.Context, volumeID string) ([]*model.LegHealth, error) {
	return s.listLegHealth(ctx, `volume_id = ?`, volumeID)
}

// DeleteLegHealth forgets the reports about one leg (a leg replaced or deleted).
func (s *Store) DeleteLegHealth(ctx context.Context, legID string) error {
	_, err := s.q.ExecContext(ctx, `DELETE FROM leg_health WHERE leg_id = ?`, legID)
	return dbErr("delete leg health", err)
}

func (s *Store) listLegHealth(ctx context.Context, where string, arg any) ([]*model.LegHealth, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT `+legHealthCols+` FROM leg_health WHERE `+where+` ORDER BY leg_id, host`, arg)
	if err != nil {
		return nil, dbErr("list leg health", err)
	}
	defer rows.Close()
	var out []*model.LegHealth
	for rows.Next() {
		var (
			h               model.LegHealth
			since, reported scanTime
		)
		if err := rows.Scan(&h.LegID, &h.Host, &h.VolumeID, &h.State, &h.DirtyRegions, &h.Message, &since, &reported); err != nil {
			return nil, dbErr("scan leg health", err)
		}
		h.Since, h.ReportedAt = since.T, reported.T
		out = append(out, &h)
	}
	return out, dbErr("list leg health", rows.Err())
}
