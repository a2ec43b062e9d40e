package db

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/dlvm-project/dlvm/model"
)

const workflowCols = `id, kind, volume_id, snapshot_id, state, step, params, owner, attempts, error, created_at, updated_at`

func scanWorkflow(r rowScanner) (*model.Workflow, error) {
	var (
		w                model.Workflow
		created, updated scanTime
	)
	if err := r.Scan(&w.ID, &w.Kind, &w.VolumeID, &w.SnapshotID, &w.State, &w.Step, &w.Params, &w.Owner,
		&w.Attempts, &w.Error, &created, &updated); err != nil {
		return nil, err
	}
	w.CreatedAt, w.UpdatedAt = created.T, updated.T
	return &w, nil
}

// CreateWorkflow inserts w (State pending if empty; CreatedAt/UpdatedAt set if zero).
// ErrConflict if the id exists.
func (s *Store) CreateWorkflow(ctx context.Context, w *model.Workflow) error {
	if w.State == "" {
		w.State = model.WfPending
	}
	if w.CreatedAt.IsZero() {
		w.CreatedAt = now()
	}
	if w.UpdatedAt.IsZero() {
		w.UpdatedAt = w.CreatedAt
	}
	w.CreatedAt, w.UpdatedAt = norm(w.CreatedAt), norm(w.UpdatedAt)
	_, err := s.q.ExecContext(ctx, `INSERT INTO workflows (`+workflowCols+`) VALUES (`+placeholders(12)+`)`,
		w.ID, w.Kind, w.VolumeID, w.SnapshotID, w.State, w.Step, w.Params, w.Owner, w.Attempts, w.Error,
		s.tv(w.CreatedAt), s.tv(w.UpdatedAt))
	if isDuplicate(err) {
		return model.Errorf(model.ErrConflict, "Workflow %s already exists.", w.ID)
	}
	return dbErr("create workflow", err)
}

// GetWorkflow returns one workflow; ErrNotFound if missing.
func (s *Store) GetWorkflow(ctx context.Context, id string) (*model.Workflow, error) {
	w, err := scanWorkflow(s.q.QueryRowContext(ctx, `SELECT `+workflowCols+` FROM workflows WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("Workflow", id)
	}
	if err != nil {
		return nil, dbErr("get workflow", err)
	}
	return w, nil
}

// UpdateWorkflow writes State, Step, Params, Owner, Attempts, Error and sets UpdatedAt.
// ErrNotFound if missing.
func (s *Store) UpdateWorkflow(ctx context.Context, w *model.Workflow) error {
	t := now()
	res, err := s.q.ExecContext(ctx, `UPDATE workflows SET state = ?, step = ?, params = ?, owner = ?, attempts = ?,
		error = ?, updated_at = ? WHERE id = ?`, w.State, w.Step, w.Params, w.Owner, w.Attempts, w.Error, s.tv(t), w.ID)
	if err != nil {
		return dbErr("update workflow", err)
	}
	n, err := affected(res)
	if err != nil {
		return err
	}
	if n == 0 {
		return notFound("Workflow", w.ID)
	}
	w.UpdatedAt = t
	return nil
}

// ListUnfinishedWorkflows returns workflows not done/failed, oldest first.
func (s *Store) ListUnfinishedWorkflows(ctx context.Context) ([]*model.Workflow, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT `+workflowCols+` FROM workflows WHERE state NOT IN (?, ?)
		ORDER BY created_at, id`, model.WfDone, model.WfFailed)
	if err != nil {
		return nil, dbErr("list workflows", err)
	}
	defer rows.Close()
	out := []*model.Workflow{}
	for rows.Next() {
		w, err := scanWorkflow(rows)
		if err != nil {
			return nil, dbErr("scan workflow", err)
		}
		out = append(out, w)
	}
	return out, dbErr("list workflows", rows.Err())
}

// HasUnfinishedWorkflow reports whether a workflow of kind on snapshotID (or, when snapshotID is
// "", on volumeID) is not yet done or failed.
func (s *Store) HasUnfinishedWorkflow(ctx context.Context, kind, volumeID, snapshotID string) (bool, error) {
	col, id := "snapshot_id", snapshotID
	if snapshotID == "" {
		col, id = "volume_id", volumeID
	}
	var n int
	err := s.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM workflows WHERE kind = ? AND `+col+` = ?
		AND state NOT IN (?, ?)`, kind, id, model.WfDone, model.WfFailed).Scan(&n)
	return n > 0, dbErr("find workflow", err)
}

// StartWorkflow is ClaimWorkflow for a manager about to run the workflow: the same conditional
// UPDATE also sets State to running and adds one to Attempts, so claiming and starting a run is
// one statement (one commit) instead of two. A finished (done or failed) workflow, and a pending
// create_volume or retype_volume one (it waits for the scheduler's placement), is neither claimed
// nor changed: false. ErrNotFound if the workflow is missing.
func (s *Store) StartWorkflow(ctx context.Context, id, owner string, staleBefore time.Time) (bool, error) {
	res, err := s.q.ExecContext(ctx, `UPDATE workflows SET owner = ?, state = ?, attempts = attempts + 1,
		updated_at = ? WHERE id = ? AND (owner = '' OR owner = ? OR updated_at < ?) AND state NOT IN (?, ?)
		AND NOT (state = ? AND kind IN (?, ?))`,
		owner, model.WfRunning, s.tv(now()), id, owner, s.tv(staleBefore), model.WfDone, model.WfFailed,
		model.WfPending, model.WfCreateVolume, model.WfRetypeVolume)
	return s.claimed(ctx, "start workflow", id, res, err)
}

// ClaimWorkflow sets Owner to owner if the workflow is unowned, already owned by owner, or its
// UpdatedAt is older than staleBefore; it reports whether the claim succeeded. Atomic: one
// conditional UPDATE, which also sets UpdatedAt (a successful claim renews the lease).
// ErrNotFound if the workflow is missing.
func (s *Store) ClaimWorkflow(ctx context.Context, id, owner string, staleBefore time.Time) (bool, error) {
	res, err := s.q.ExecContext(ctx, `UPDATE workflows SET owner = ?, updated_at = ?
		WHERE id = ? AND (owner = '' OR owner = ? OR updated_at < ?)`, owner, s.tv(now()), id, owner, s.tv(staleBefore))
	return s.claimed(ctx, "claim workflow", id, res, err)
}

// claimed reads the result of a conditional claim UPDATE of workflow id: true when it matched,
// false when it did not, ErrNotFound when the workflow is missing.
func (s *Store) claimed(ctx context.Context, what, id string, res sql.Result, err error) (bool, error) {
	if err != nil {
		return false, dbErr(what, err)
	}
	n, err := affected(res)
	if err != nil {
		return false, err
	}
	if n > 0 {
		return true, nil
	}
	var one int
	err = s.q.QueryRowContext(ctx, `SELECT 1 FROM workflows WHERE id = ?`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, notFound("Workflow", id)
	}
	return false, dbErr(what, err)
}
