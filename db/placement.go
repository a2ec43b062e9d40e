package db

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/dlvm-project/dlvm/model"
)

// ---- dvgs ----

const dvgCols = `id, name, backend_name, availability_zone, over_subscription, reserved_percentage, created_at, updated_at`

// UpsertDVG inserts or updates a dvg by ID. CreatedAt is kept on update; UpdatedAt is set.
func (s *Store) UpsertDVG(ctx context.Context, g *model.DVG) error {
	t := now()
	if g.CreatedAt.IsZero() {
		g.CreatedAt = t
	}
	stmt := s.upsertSQL("dvgs", []string{"id"},
		[]string{"name", "backend_name", "availability_zone", "over_subscription", "reserved_percentage", "updated_at"}, "created_at")
	_, err := s.q.ExecContext(ctx, stmt, g.ID, g.Name, g.BackendName, g.AvailabilityZone, g.OverSubscription,
		g.ReservedPercentage, s.tv(t), s.tv(g.CreatedAt))
	if err != nil {
		return dbErr("upsert dvg", err)
	}
	g.UpdatedAt = t
	return nil
}

// ListDVGs returns all dvgs ordered by name.
func (s *Store) ListDVGs(ctx context.Context) ([]*model.DVG, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT `+dvgCols+` FROM dvgs ORDER BY name, id`)
	if err != nil {
		return nil, dbErr("list dvgs", err)
	}
	defer rows.Close()
	out := []*model.DVG{}
	for rows.Next() {
		var (
			g                model.DVG
			created, updated scanTime
		)
		if err := rows.Scan(&g.ID, &g.Name, &g.BackendName, &g.AvailabilityZone, &g.OverSubscription,
			&g.ReservedPercentage, &created, &updated); err != nil {
			return nil, dbErr("scan dvg", err)
		}
		g.CreatedAt, g.UpdatedAt = created.T, updated.T
		out = append(out, &g)
	}
	return out, dbErr("list dvgs", rows.Err())
}

// ---- dpvs ----

const dpvCols = `id, name, dvg_id, url, location, pool_type, target_portal, total_bytes, free_bytes,
	provisioned_bytes, state, heartbeat_at, created_at`

func scanDPV(r rowScanner) (*model.DPV, error) {
	var (
		p           model.DPV
		hb, created scanTime
	)
	if err := r.Scan(&p.ID, &p.Name, &p.DVGID, &p.URL, &p.Location, &p.PoolType, &p.TargetPortal, &p.TotalBytes,
		&p.FreeBytes, &p.ProvisionedBytes, &p.State, &hb, &created); err != nil {
		return nil, err
	}
	p.HeartbeatAt, p.CreatedAt = hb.T, created.T
	return &p, nil
}

// UpsertDPV inserts or updates a dpv by ID (heartbeats call this). CreatedAt is kept on update;
// a zero HeartbeatAt is stored as NULL and read back as the zero time.
func (s *Store) UpsertDPV(ctx context.Context, p *model.DPV) error {
	if p.CreatedAt.IsZero() {
		p.CreatedAt = now()
	}
	stmt := s.upsertSQL("dpvs", []string{"id"},
		[]string{"name", "dvg_id", "url", "location", "pool_type", "target_portal", "total_bytes", "free_bytes",
			"provisioned_bytes", "state", "heartbeat_at"}, "created_at")
	_, err := s.q.ExecContext(ctx, stmt, p.ID, p.Name, p.DVGID, p.URL, p.Location, p.PoolType, p.TargetPortal,
		p.TotalBytes, p.FreeBytes, p.ProvisionedBytes, p.State, s.tvz(p.HeartbeatAt), s.tv(p.CreatedAt))
	return dbErr("upsert dpv", err)
}

// SetDPVState sets a dpv's state ("up", "draining"); heartbeats keep "draining". ErrNotFound if
// the dpv is unknown.
func (s *Store) SetDPVState(ctx context.Context, id, state string) error {
	res, err := s.q.ExecContext(ctx, `UPDATE dpvs SET state = ? WHERE id = ? OR name = ?`, state, id, id)
	if err != nil {
		return dbErr("set dpv state", err)
	}
	n, err := affected(res)
	if err != nil {
		return err
	}
	if n == 0 {
		if _, err := s.GetDPV(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// GetDPV returns one dpv; ErrNotFound if missing.
func (s *Store) GetDPV(ctx context.Context, id string) (*model.DPV, error) {
	p, err := scanDPV(s.q.QueryRowContext(ctx, `SELECT `+dpvCols+` FROM dpvs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("DPV", id)
	}
	if err != nil {
		return nil, dbErr("get dpv", err)
	}
	return p, nil
}

// GetDPVs returns the dpvs of ids that exist, by id, in one query.
func (s *Store) GetDPVs(ctx context.Context, ids []string) (map[string]*model.DPV, error) {
	out := make(map[string]*model.DPV, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := s.q.QueryContext(ctx, `SELECT `+dpvCols+` FROM dpvs WHERE id IN (`+placeholders(len(ids))+`)`, args...)
	if err != nil {
		return nil, dbErr("get dpvs", err)
	}
	defer rows.Close()
	for rows.Next() {
		p, err := scanDPV(rows)
		if err != nil {
			return nil, dbErr("scan dpv", err)
		}
		out[p.ID] = p
	}
	return out, dbErr("get dpvs", rows.Err())
}

// ListDPVs returns dpvs of a dvg ("" = all) ordered by name.
func (s *Store) ListDPVs(ctx context.Context, dvgID string) ([]*model.DPV, error) {
	var c cond
	if dvgID != "" {
		c.add("dvg_id = ?", dvgID)
	}
	rows, err := s.q.QueryContext(ctx, `SELECT `+dpvCols+` FROM dpvs WHERE `+c.sql()+` ORDER BY name, id`, c.args...)
	if err != nil {
		return nil, dbErr("list dpvs", err)
	}
	defer rows.Close()
	out := []*model.DPV{}
	for rows.Next() {
		p, err := scanDPV(rows)
		if err != nil {
			return nil, dbErr("scan dpv", err)
		}
		out = append(out, p)
	}
	return out, dbErr("list dpvs", rows.Err())
}

// ---- legs ----

const legCols = `id, owner_kind, owner_id, group_idx, mirror_idx, dpv_id, size_bytes, source_leg_id, status,
	created_at, updated_at`

// CreateLegs inserts legs (all or none: it runs in one transaction, the caller's inside InTx).
// CreatedAt/UpdatedAt are set if zero. ErrConflict if a leg id exists.
func (s *Store) CreateLegs(ctx context.Context, legs []*model.Leg) error {
	if len(legs) == 0 {
		return nil
	}
	// one multi-row INSERT: one round trip for all the legs of a volume
	args := make([]any, 0, 11*len(legs))
	for _, l := range legs {
		if l.CreatedAt.IsZero() {
			l.CreatedAt = now()
		}
		if l.UpdatedAt.IsZero() {
			l.UpdatedAt = l.CreatedAt
		}
		l.CreatedAt, l.UpdatedAt = norm(l.CreatedAt), norm(l.UpdatedAt)
		args = append(args, l.ID, l.OwnerKind, l.OwnerID, l.Group, l.Mirror, l.DPVID, l.SizeBytes, l.SourceLegID,
			l.Status, s.tv(l.CreatedAt), s.tv(l.UpdatedAt))
	}
	rows := strings.TrimSuffix(strings.Repeat("("+placeholders(11)+"), ", len(legs)), ", ")
	_, err := s.q.ExecContext(ctx, `INSERT INTO legs (`+legCols+`) VALUES `+rows, args...)
	if isDuplicate(err) {
		ids := make([]string, len(legs))
		for i, l := range legs {
			ids[i] = l.ID
		}
		return model.Errorf(model.ErrConflict, "Leg %s already exists.", strings.Join(ids, " or "))
	}
	return dbErr("create leg", err)
}

// SetLegStatuses sets the status of legs (one statement) and their UpdatedAt. ErrNotFound, and
// nothing written inside a transaction, unless every leg exists.
func (s *Store) SetLegStatuses(ctx context.Context, legs []*model.Leg, status string) error {
	if len(legs) == 0 {
		return nil
	}
	t := now()
	args := []any{status, s.tv(t)}
	for _, l := range legs {
		args = append(args, l.ID)
	}
	return s.write(ctx, func(tx *Store) error {
		res, err := tx.q.ExecContext(ctx, `UPDATE legs SET status = ?, updated_at = ? WHERE id IN (`+placeholders(len(legs))+`)`, args...)
		if err != nil {
			return dbErr("update legs", err)
		}
		n, err := affected(res)
		if err != nil {
			return err
		}
		if n != int64(len(legs)) {
			return notFound("Leg", legs[0].ID)
		}
		for _, l := range legs {
			l.Status, l.UpdatedAt = status, t
		}
		return nil
	})
}

// PlaceVolume records where a new volume lives (its dvg and Cinder host), only while it is
// still creating and unplaced: one conditional UPDATE that writes no other column. It reports
// whether it did; false when the volume is missing, deleted, left creating, has a dvg, or has
// legs (not deleted) already.
func (s *Store) PlaceVolume(ctx context.Context, id, dvgID, host string) (bool, error) {
	res, err := s.q.ExecContext(ctx, `UPDATE volumes SET dvg_id = ?, host = ?, updated_at = ?, rev = rev + 1
		WHERE id = ? AND deleted = 0 AND status = ? AND dvg_id = ''
		AND NOT EXISTS (SELECT 1 FROM legs WHERE owner_id = ? AND status <> ?)`,
		dvgID, host, s.tv(now()), id, model.StatusCreating, id, model.LegDeleted)
	if err != nil {
		return false, dbErr("place volume", err)
	}
	n, err := affected(res)
	return n == 1, err
}

func (s *Store) listLegs(ctx context.Context, where string, arg any) ([]*model.Leg, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT `+legCols+` FROM legs WHERE `+where+` AND status <> ?
		ORDER BY group_idx, mirror_idx, id`, arg, model.LegDeleted)
	if err != nil {
		return nil, dbErr("list legs", err)
	}
	defer rows.Close()
	out := []*model.Leg{}
	for rows.Next() {
		l, err := scanLeg(rows)
		if err != nil {
			return nil, dbErr("scan leg", err)
		}
		out = append(out, l)
	}
	return out, dbErr("list legs", rows.Err())
}

func scanLeg(r rowScanner) (*model.Leg, error) {
	var (
		l                model.Leg
		created, updated scanTime
	)
	if err := r.Scan(&l.ID, &l.OwnerKind, &l.OwnerID, &l.Group, &l.Mirror, &l.DPVID, &l.SizeBytes,
		&l.SourceLegID, &l.Status, &created, &updated); err != nil {
		return nil, err
	}
	l.CreatedAt, l.UpdatedAt = created.T, updated.T
	return &l, nil
}

// ListLegs returns the non-deleted legs (status not "deleted") of a volume or snapshot, ordered
// by group, mirror.
func (s *Store) ListLegs(ctx context.Context, ownerID string) ([]*model.Leg, error) {
	return s.listLegs(ctx, "owner_id = ?", ownerID)
}

// ListLegsOnDPV returns the non-deleted legs on one dpv.
func (s *Store) ListLegsOnDPV(ctx context.Context, dpvID string) ([]*model.Leg, error) {
	return s.listLegs(ctx, "dpv_id = ?", dpvID)
}

// UpdateLeg writes status, size, dpv of a leg and sets UpdatedAt. ErrNotFound if missing.
// Setting status "deleted" removes the leg from every list.
func (s *Store) UpdateLeg(ctx context.Context, l *model.Leg) error {
	t := now()
	res, err := s.q.ExecContext(ctx, `UPDATE legs SET status = ?, size_bytes = ?, dpv_id = ?, updated_at = ? WHERE id = ?`,
		l.Status, l.SizeBytes, l.DPVID, s.tv(t), l.ID)
	if err != nil {
		return dbErr("update leg", err)
	}
	n, err := affected(res)
	if err != nil {
		return err
	}
	if n == 0 {
		return notFound("Leg", l.ID)
	}
	l.UpdatedAt = t
	return nil
}

// ProvisionedBytesByDPV returns dpv id -> sum of SizeBytes of its non-deleted legs.
func (s *Store) ProvisionedBytesByDPV(ctx context.Context) (map[string]int64, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT dpv_id, SUM(size_bytes) FROM legs WHERE status <> ? GROUP BY dpv_id`, model.LegDeleted)
	if err != nil {
		return nil, dbErr("provisioned bytes", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var (
			id string
			n  int64
		)
		if err := rows.Scan(&id, &n); err != nil {
			return nil, dbErr("scan provisioned bytes", err)
		}
		out[id] = n
	}
	return out, dbErr("provisioned bytes", rows.Err())
}
