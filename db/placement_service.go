package db

import (
	"context"
	"database/sql"

	"github.com/dlvm-project/dlvm/model"
)

// ListDVGsWithService is ListDVGs and GetService(host, binary) in one query: every dvg ordered
// by name, and the service of exactly host and binary, nil when there is none. Of the service
// only Host, Binary, Disabled, DisabledReason, Frozen and UpdatedAt are read (what gates a
// placement).
//
// The query starts from a one-row table, so the service comes back when there are no dvgs and
// the dvgs when there is no service.
func (s *Store) ListDVGsWithService(ctx context.Context, host, binary string) ([]*model.DVG, *model.Service, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT s.host, s.binary_name, s.disabled, s.disabled_reason, s.frozen, s.updated_at,
		`+qualify("g", dvgCols)+`
		FROM (SELECT 1 AS one) o
		LEFT JOIN services s ON s.host = ? AND s.binary_name = ?
		LEFT JOIN dvgs g ON 1 = 1
		ORDER BY g.name, g.id`, host, binary)
	if err != nil {
		return nil, nil, dbErr("list dvgs", err)
	}
	defer rows.Close()
	var (
		out = []*model.DVG{}
		svc *model.Service
	)
	for rows.Next() {
		var (
			sHost, sBinary, sReason sql.NullString
			sDisabled, sFrozen      sql.NullBool
			sUpdated                scanTime
			gID, gName, gBackend    sql.NullString
			gZone                   sql.NullString
			gOver                   sql.NullFloat64
			gReserved               sql.NullInt64
			created, updated        scanTime
		)
		if err := rows.Scan(&sHost, &sBinary, &sDisabled, &sReason, &sFrozen, &sUpdated,
			&gID, &gName, &gBackend, &gZone, &gOver, &gReserved, &created, &updated); err != nil {
			return nil, nil, dbErr("scan dvg", err)
		}
		if svc == nil && sHost.Valid {
			svc = &model.Service{Host: sHost.String, Binary: sBinary.String, Disabled: sDisabled.Bool,
				DisabledReason: sReason.String, Frozen: sFrozen.Bool, UpdatedAt: sUpdated.T}
		}
		if !gID.Valid {
			continue // no dvgs: the one row carries the service alone
		}
		out = append(out, &model.DVG{ID: gID.String, Name: gName.String, BackendName: gBackend.String,
			AvailabilityZone: gZone.String, OverSubscription: gOver.Float64, ReservedPercentage: int(gReserved.Int64),
			CreatedAt: created.T, UpdatedAt: updated.T})
	}
	return out, svc, dbErr("list dvgs", rows.Err())
}
