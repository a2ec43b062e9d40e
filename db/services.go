package db

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/dlvm-project/dlvm/model"
)

const serviceCols = `host, binary_name, availability_zone, disabled, disabled_reason, frozen, replication_status,
	active_backend_id, created_at, updated_at`

func scanService(r rowScanner) (*model.Service, error) {
	var (
		v                model.Service
		created, updated scanTime
	)
	if err := r.Scan(&v.Host, &v.Binary, &v.Zone, &v.Disabled, &v.DisabledReason, &v.Frozen, &v.ReplicationStatus,
		&v.ActiveBackendID, &created, &updated); err != nil {
		return nil, err
	}
	v.CreatedAt, v.UpdatedAt = created.T, updated.T
	return &v, nil
}

// hostMatch adds Cinder's host filter: host itself, or any backend or pool under it
// ("h" matches "h", "h@b", "h#p"; "h@b" matches "h@b" and "h@b#p").
func hostMatch(c *cond, col, host string) {
	e := strings.TrimSuffix(strings.TrimPrefix(likeEscape(host), "%"), "%")
	c.add("("+col+" = ? OR "+col+" LIKE ? ESCAPE '!' OR "+col+" LIKE ? ESCAPE '!')", host, e+"@%", e+"#%")
}

// HeartbeatService records a heartbeat at t: it creates the service row (enabled) when missing,
// otherwise sets its zone and updated_at. Disabled, frozen and the reason are left alone.
func (s *Store) HeartbeatService(ctx context.Context, host, binary, zone string, t time.Time) error {
	if host == "" || binary == "" {
		return model.Errorf(model.ErrInvalid, "A service needs a host and a binary.")
	}
	tv := s.tv(norm(t))
	return s.write(ctx, func(s *Store) error {
		res, err := s.q.ExecContext(ctx, `UPDATE services SET availability_zone = ?, updated_at = ? WHERE host = ? AND binary_name = ?`,
			zone, tv, host, binary)
		if err != nil {
			return dbErr("service heartbeat", err)
		}
		if n, err := affected(res); err != nil || n > 0 {
			return err
		}
		_, err = s.q.ExecContext(ctx, s.insertIgnore()+` INTO services (`+serviceCols+`) VALUES (?, ?, ?, 0, '', 0, 'disabled', '', ?, ?)`,
			host, binary, zone, tv, tv)
		return dbErr("register service", err)
	})
}

// ListServices returns services ordered by binary and host. host "" and binary "" do not
// filter; host matches as Cinder's filter does (see hostMatch).
func (s *Store) ListServices(ctx context.Context, host, binary string) ([]*model.Service, error) {
	var c cond
	c.add("1 = 1")
	if host != "" {
		hostMatch(&c, "host", host)
	}
	if binary != "" {
		c.add("binary_name = ?", binary)
	}
	rows, err := s.q.QueryContext(ctx, `SELECT `+serviceCols+` FROM services WHERE `+c.sql()+` ORDER BY binary_name, host`, c.args...)
	if err != nil {
		return nil, dbErr("list services", err)
	}
	defer rows.Close()
	out := []*model.Service{}
	for rows.Next() {
		v, err := scanService(rows)
		if err != nil {
			return nil, dbErr("scan service", err)
		}
		out = append(out, v)
	}
	return out, dbErr("list services", rows.Err())
}

// GetService returns the service of exactly host and binary; ErrNotFound if there is none.
func (s *Store) GetService(ctx context.Context, host, binary string) (*model.Service, error) {
	v, err := scanService(s.q.QueryRowContext(ctx, `SELECT `+serviceCols+` FROM services WHERE host = ? AND binary_name = ?`, host, binary))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, model.Errorf(model.ErrNotFound, "Service %s on host %s could not be found.", binary, host)
	}
	if err != nil {
		return nil, dbErr("get service", err)
	}
	return v, nil
}

// SetServiceDisabled enables or disables the service of exactly host and binary and sets the
// reason; ErrNotFound if there is none.
func (s *Store) SetServiceDisabled(ctx context.Context, host, binary string, disabled bool, reason string) error {
	res, err := s.q.ExecContext(ctx, `UPDATE services SET disabled = ?, disabled_reason = ? WHERE host = ? AND binary_name = ?`,
		disabled, reason, host, binary)
	if err != nil {
		return dbErr("update service", err)
	}
	n, err := affected(res)
	if err != nil {
		return err
	}
	if n == 0 {
		return model.Errorf(model.ErrNotFound, "Service %s on host %s could not be found.", binary, host)
	}
	return nil
}

// SetServicesFrozen freezes or thaws every service of binary under host (hostMatch) and returns
// how many rows matched.
func (s *Store) SetServicesFrozen(ctx context.Context, host, binary string, frozen bool) (int64, error) {
	var c cond
	hostMatch(&c, "host", host)
	c.add("binary_name = ?", binary)
	res, err := s.q.ExecContext(ctx, `UPDATE services SET frozen = ? WHERE `+c.sql(), append([]any{frozen}, c.args...)...)
	if err != nil {
		return 0, dbErr("freeze services", err)
	}
	return affected(res)
}

// HostUsage sums the live volumes (count, GiB) and their live snapshots (count, GiB) of each
// project on volume host host (hostMatch: every pool under it), ordered by project.
func (s *Store) HostUsage(ctx context.Context, host string) ([]model.HostUsage, error) {
	var c cond
	c.add("v.deleted = 0")
	hostMatch(&c, "v.host", host)
	byProject := map[string]*model.HostUsage{}
	var order []string
	get := func(p string) *model.HostUsage {
		u := byProject[p]
		if u == nil {
			u = &model.HostUsage{ProjectID: p}
			byProject[p] = u
			order = append(order, p)
		}
		return u
	}
	scan := func(query string, set func(u *model.HostUsage, n, gb int64)) error {
		rows, err := s.q.QueryContext(ctx, query, c.args...)
		if err != nil {
			return dbErr("host usage", err)
		}
		defer rows.Close()
		for rows.Next() {
			var (
				p     string
				n, gb int64
			)
			if err := rows.Scan(&p, &n, &gb); err != nil {
				return dbErr("scan host usage", err)
			}
			set(get(p), n, gb)
		}
		return dbErr("host usage", rows.Err())
	}
	err := scan(`SELECT v.project_id, COUNT(*), COALESCE(SUM(v.size), 0) FROM volumes v WHERE `+c.sql()+
		` GROUP BY v.project_id ORDER BY v.project_id`, func(u *model.HostUsage, n, gb int64) { u.Volumes, u.VolumeGB = n, gb })
	if err != nil {
		return nil, err
	}
	err = scan(`SELECT sn.project_id, COUNT(*), COALESCE(SUM(sn.volume_size), 0) FROM snapshots sn
		JOIN volumes v ON v.id = sn.volume_id WHERE sn.deleted = 0 AND `+c.sql()+` GROUP BY sn.project_id ORDER BY sn.project_id`,
		func(u *model.HostUsage, n, gb int64) { u.Snapshots, u.SnapshotGB = n, gb })
	if err != nil {
		return nil, err
	}
	out := make([]model.HostUsage, 0, len(order))
	for _, p := range order {
		out = append(out, *byProject[p])
	}
	return out, nil
}
