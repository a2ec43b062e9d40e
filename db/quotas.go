package db

import (
	"context"
	"database/sql"
	"errors"

	"github.com/dlvm-project/dlvm/model"
)

// QuotaLimits returns the project's explicit limits (resource -> limit, -1 unlimited). Resources
// with no row are absent: the caller merges defaults (the "default" quota class, then config).
func (s *Store) QuotaLimits(ctx context.Context, projectID string) (map[string]int64, error) {
	all, err := s.QuotaLimitsOf(ctx, projectID)
	if err != nil {
		return nil, err
	}
	return all[projectID], nil
}

// QuotaLimitsOf is QuotaLimits of several projects (or classes) in one query: project id ->
// resource -> hard limit; an id with no rows maps to an empty map.
func (s *Store) QuotaLimitsOf(ctx context.Context, ids ...string) (map[string]map[string]int64, error) {
	out := make(map[string]map[string]int64, len(ids))
	args := make([]any, len(ids))
	for i, id := range ids {
		out[id] = map[string]int64{}
		args[i] = id
	}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.q.QueryContext(ctx, `SELECT project_id, resource, hard_limit FROM quotas WHERE project_id IN (`+placeholders(len(ids))+`)`, args...)
	if err != nil {
		return nil, dbErr("quota limits", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			p, r string
			l    int64
		)
		if err := rows.Scan(&p, &r, &l); err != nil {
			return nil, dbErr("scan quota limit", err)
		}
		if m, ok := out[p]; ok {
			m[r] = l
		}
	}
	return out, dbErr("quota limits", rows.Err())
}

// SetQuotaLimits upserts limits for a project. Use projectID "class:default" for the default class.
func (s *Store) SetQuotaLimits(ctx context.Context, projectID string, limits map[string]int64) error {
	if len(limits) == 0 {
		return nil
	}
	return s.write(ctx, func(s *Store) error {
		t := s.tv(now())
		stmt := s.upsertSQL("quotas", []string{"project_id", "resource"}, []string{"hard_limit", "updated_at"}, "created_at")
		for _, r := range sortedKeys(limits) {
			if _, err := s.q.ExecContext(ctx, stmt, projectID, r, limits[r], t, t); err != nil {
				return dbErr("set quota limit", err)
			}
		}
		return nil
	})
}

// DeleteQuotaLimits removes all explicit limits of a project (back to defaults). Idempotent.
func (s *Store) DeleteQuotaLimits(ctx context.Context, projectID string) error {
	_, err := s.q.ExecContext(ctx, `DELETE FROM quotas WHERE project_id = ?`, projectID)
	return dbErr("delete quota limits", err)
}

// QuotaUsages returns resource -> usage for a project (absent = zero).
func (s *Store) QuotaUsages(ctx context.Context, projectID string) (map[string]model.Usage, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT resource, in_use, reserved FROM quota_usages WHERE project_id = ?`, projectID)
	if err != nil {
		return nil, dbErr("quota usages", err)
	}
	defer rows.Close()
	out := map[string]model.Usage{}
	for rows.Next() {
		var (
			r string
			u model.Usage
		)
		if err := rows.Scan(&r, &u.InUse, &u.Reserved); err != nil {
			return nil, dbErr("scan quota usage", err)
		}
		out[r] = u
	}
	return out, dbErr("quota usages", rows.Err())
}

// Reserve atomically adds deltas to the project's in-use counts. A positive delta fails with a
// *model.QuotaError (nothing changed) when in_use+delta would exceed limits[resource] (a resource
// absent from limits, or with limit -1, is unlimited). A negative delta releases and never takes a
// count below zero. Safe under concurrency on both dialects: two racing reservations can never
// together exceed a limit.
//
// Each positive delta is one conditional UPDATE whose WHERE clause checks the limit, so the check
// and the increment are one atomic step; all resources run in one transaction (the caller's when
// s comes from InTx), and on a refusal the increments already made are undone.
func (s *Store) Reserve(ctx context.Context, projectID string, deltas map[string]int64, limits map[string]int64) error {
	var pos, neg []string
	for _, r := range sortedKeys(deltas) { // a fixed lock order across callers
		switch d := deltas[r]; {
		case d > 0:
			pos = append(pos, r)
		case d < 0:
			neg = append(neg, r)
		}
	}
	if len(pos)+len(neg) == 0 {
		return nil
	}
	if !s.tx {
		// Create missing usage rows in their own short statements, before the transaction, so that
		// racing first reservations do not deadlock on the insert.
		for _, r := range pos {
			if err := s.ensureUsage(ctx, projectID, r); err != nil {
				return err
			}
		}
	}
	return s.write(ctx, func(s *Store) error {
		return s.reserve(ctx, projectID, deltas, limits, pos, neg)
	})
}

func (s *Store) reserve(ctx context.Context, projectID string, deltas, limits map[string]int64, pos, neg []string) error {
	t := s.tv(now())
	var applied []string
	undo := func() error {
		for _, r := range applied {
			if _, err := s.q.ExecContext(ctx, `UPDATE quota_usages SET in_use = in_use - ? WHERE project_id = ? AND resource = ?`,
				deltas[r], projectID, r); err != nil {
				return dbErr("undo quota reservation", err)
			}
		}
		return nil
	}
	for _, r := range pos {
		d := deltas[r]
		lim, limited := limits[r]
		limited = limited && lim >= 0
		add := func() (int64, error) {
			var (
				res sql.Result
				err error
			)
			if limited {
				res, err = s.q.ExecContext(ctx, `UPDATE quota_usages SET in_use = in_use + ?, updated_at = ?
					WHERE project_id = ? AND resource = ? AND in_use + reserved + ? <= ?`, d, t, projectID, r, d, lim)
			} else {
				res, err = s.q.ExecContext(ctx, `UPDATE quota_usages SET in_use = in_use + ?, updated_at = ?
					WHERE project_id = ? AND resource = ?`, d, t, projectID, r)
			}
			if err != nil {
				return 0, dbErr("reserve quota", err)
			}
			return affected(res)
		}
		// The usage row exists but for a project's first reservation of r: update first, and
		// only when nothing matched make sure the row exists and try once more.
		n, err := add()
		if err == nil && n == 0 {
			if err = s.ensureUsage(ctx, projectID, r); err == nil {
				n, err = add()
			}
		}
		if err != nil {
			return errors.Join(err, undo())
		}
		if n == 1 {
			applied = append(applied, r)
			continue
		}
		u, err := s.usage(ctx, projectID, r)
		if err != nil {
			return errors.Join(err, undo())
		}
		qe := &model.QuotaError{Resource: r, Requested: d, InUse: u.InUse + u.Reserved, Limit: lim}
		if err := undo(); err != nil {
			return errors.Join(qe, err)
		}
		return qe
	}
	for _, r := range neg {
		d := deltas[r]
		if _, err := s.q.ExecContext(ctx, `UPDATE quota_usages
			SET in_use = CASE WHEN in_use + ? < 0 THEN 0 ELSE in_use + ? END, updated_at = ?
			WHERE project_id = ? AND resource = ?`, d, d, t, projectID, r); err != nil {
			return errors.Join(dbErr("release quota", err), undo())
		}
	}
	return nil
}

// usage reads one usage row (locking it on MySQL, so the numbers are current); zero if absent.
func (s *Store) usage(ctx context.Context, projectID, resource string) (model.Usage, error) {
	q := `SELECT in_use, reserved FROM quota_usages WHERE project_id = ? AND resource = ?`
	if s.tx && s.d.dialect == DialectMySQL {
		q += " FOR UPDATE"
	}
	var u model.Usage
	err := s.q.QueryRowContext(ctx, q, projectID, resource).Scan(&u.InUse, &u.Reserved)
	if errors.Is(err, sql.ErrNoRows) {
		return model.Usage{}, nil
	}
	return u, dbErr("read quota usage", err)
}

// ensureUsage inserts a zero usage row when none exists. The plain read first keeps an
// existing row free of the shared lock that INSERT IGNORE would take on MySQL.
func (s *Store) ensureUsage(ctx context.Context, projectID, resource string) error {
	var one int
	err := s.q.QueryRowContext(ctx, `SELECT 1 FROM quota_usages WHERE project_id = ? AND resource = ?`, projectID, resource).Scan(&one)
	if err == nil {
		return nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return dbErr("read quota usage", err)
	}
	_, err = s.q.ExecContext(ctx, s.insertIgnore()+` INTO quota_usages (project_id, resource, in_use, reserved, updated_at)
		VALUES (?, ?, 0, 0, ?)`, projectID, resource, s.tv(now()))
	return dbErr("create quota usage", err)
}
