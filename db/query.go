package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/dlvm-project/dlvm/model"
)

// maxRows stands in for "no limit" when only an offset is given (valid on both dialects).
const maxRows = "9223372036854775807"

// inChunk bounds the number of placeholders of one IN list.
const inChunk = 1000

// cond collects WHERE clauses and their arguments.
type cond struct {
	where []string
	args  []any
}

func (c *cond) add(clause string, args ...any) {
	c.where = append(c.where, clause)
	c.args = append(c.args, args...)
}

func (c *cond) sql() string {
	if len(c.where) == 0 {
		return "1 = 1"
	}
	return strings.Join(c.where, " AND ")
}

// placeholders returns "?, ?, ..." with n marks.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// likeEscape escapes a substring for LIKE ... ESCAPE '!'.
func likeEscape(s string) string {
	r := strings.NewReplacer("!", "!!", "%", "!%", "_", "!_")
	return "%" + r.Replace(s) + "%"
}

// metadataFilter adds one EXISTS clause per pair (in key order, so queries are stable).
func metadataFilter(c *cond, mdTable, fk, outer string, md map[string]string) {
	for _, k := range sortedKeys(md) {
		c.add(fmt.Sprintf("EXISTS (SELECT 1 FROM %s m WHERE m.%s = %s.id AND m.meta_key = ? AND m.meta_value = ?)",
			mdTable, fk, outer), k, md[k])
	}
}

// page describes sorting and paging of a list query.
type page struct {
	table   string
	what    string            // "Volume", "Snapshot": for the marker's not-found message
	columns map[string]string // API sort key -> column
	sort    []SortKey
	marker  string
	scope   cond // what the marker row must satisfy (not deleted, project)
	limit   int
	offset  int
}

type orderCol struct {
	col  string
	desc bool
}

// order resolves sort keys through the whitelist; default created_at desc; id always breaks ties.
func (p *page) order() ([]orderCol, error) {
	keys := p.sort
	if len(keys) == 0 {
		keys = []SortKey{{Key: "created_at", Desc: true}}
	}
	var out []orderCol
	seen := map[string]bool{}
	for _, k := range keys {
		col, ok := p.columns[k.Key]
		if !ok {
			return nil, model.Errorf(model.ErrInvalid, "Invalid sort key %q.", k.Key)
		}
		if seen[col] {
			continue
		}
		seen[col] = true
		out = append(out, orderCol{col: col, desc: k.Desc})
	}
	if !seen["id"] {
		out = append(out, orderCol{col: "id", desc: out[len(out)-1].desc})
	}
	return out, nil
}

// apply appends the marker condition to c and returns the ORDER BY / LIMIT / OFFSET tail.
func (p *page) apply(ctx context.Context, q querier, c *cond) (string, error) {
	if p.limit < 0 || p.offset < 0 {
		return "", model.Errorf(model.ErrInvalid, "limit and offset must not be negative.")
	}
	cols, err := p.order()
	if err != nil {
		return "", err
	}
	if p.marker != "" {
		if err := p.markerCond(ctx, q, cols, c); err != nil {
			return "", err
		}
	}
	var b strings.Builder
	b.WriteString(" ORDER BY ")
	for i, oc := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(oc.col)
		if oc.desc {
			b.WriteString(" DESC")
		} else {
			b.WriteString(" ASC")
		}
	}
	switch {
	case p.limit > 0:
		fmt.Fprintf(&b, " LIMIT %d", p.limit)
	case p.offset > 0:
		b.WriteString(" LIMIT " + maxRows)
	}
	if p.offset > 0 {
		fmt.Fprintf(&b, " OFFSET %d", p.offset)
	}
	return b.String(), nil
}

// markerCond adds "after the marker row in sort order":
// (c1 > v1) OR (c1 = v1 AND c2 > v2) OR ... with < for descending columns.
func (p *page) markerCond(ctx context.Context, q querier, cols []orderCol, c *cond) error {
	names := make([]string, len(cols))
	for i, oc := range cols {
		names[i] = oc.col
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	scope := cond{where: append([]string{"id = ?"}, p.scope.where...), args: append([]any{p.marker}, p.scope.args...)}
	query := fmt.Sprintf("SELECT %s FROM %s WHERE %s", strings.Join(names, ", "), p.table, scope.sql())
	err := q.QueryRowContext(ctx, query, scope.args...).Scan(ptrs...)
	if errors.Is(err, sql.ErrNoRows) {
		return model.Errorf(model.ErrNotFound, "Marker %s could not be found.", p.marker)
	}
	if err != nil {
		return dbErr("list marker", err)
	}
	for i, v := range vals {
		if b, ok := v.([]byte); ok { // compare as text, in the column's collation
			vals[i] = string(b)
		}
	}
	var ors []string
	var args []any
	for i := range cols {
		var ands []string
		for j := 0; j < i; j++ {
			ands = append(ands, cols[j].col+" = ?")
			args = append(args, vals[j])
		}
		op := " > ?"
		if cols[i].desc {
			op = " < ?"
		}
		ands = append(ands, cols[i].col+op)
		args = append(args, vals[i])
		ors = append(ors, "("+strings.Join(ands, " AND ")+")")
	}
	c.add("("+strings.Join(ors, " OR ")+")", args...)
	return nil
}

// queryAll runs a SELECT and scans every row with scan; what names the rows in errors ("list
// volumes"). Besides the rows in order, it returns them by id (id gives a row's id), for loading
// their metadata or specs afterwards. The rows are closed before it returns.
func queryAll[T any](ctx context.Context, q querier, what, query string, args []any,
	scan func(rowScanner) (T, error), id func(T) string) ([]T, map[string]T, error) {
	out, err := queryRows(ctx, q, what, query, args, scan)
	if err != nil {
		return nil, nil, err
	}
	byID := make(map[string]T, len(out))
	for _, r := range out {
		byID[id(r)] = r
	}
	return out, byID, nil
}

// queryRows runs query and scans every row; what names the query in errors.
func queryRows[T any](ctx context.Context, q querier, what, query string, args []any, scan func(rowScanner) (T, error)) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, dbErr(what, err)
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		r, err := scan(rows)
		if err != nil {
			return nil, dbErr(what, err)
		}
		out = append(out, r)
	}
	return out, dbErr(what, rows.Err())
}

// loadMetadata reads key/value rows of table for the given owner ids (chunked IN lists: one
// query per page of up to inChunk rows) and calls set for each.
func loadMetadata(ctx context.Context, q querier, table, fk string, ids []string, set func(id, k, v string)) error {
	for start := 0; start < len(ids); start += inChunk {
		end := min(start+inChunk, len(ids))
		chunk := ids[start:end]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		query := fmt.Sprintf("SELECT %s, meta_key, meta_value FROM %s WHERE %s IN (%s)", fk, table, fk, placeholders(len(chunk)))
		rows, err := q.QueryContext(ctx, query, args...)
		if err != nil {
			return dbErr("load "+table, err)
		}
		for rows.Next() {
			var id, k, v string
			if err := rows.Scan(&id, &k, &v); err != nil {
				rows.Close()
				return dbErr("scan "+table, err)
			}
			set(id, k, v)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return dbErr("load "+table, err)
		}
	}
	return nil
}

// upsertSQL returns an INSERT of keys, cols and insertOnly (arguments in that order) that, when
// the key exists, updates cols only.
func (s *Store) upsertSQL(table string, keys, cols []string, insertOnly ...string) string {
	all := append(append(append([]string{}, keys...), cols...), insertOnly...)
	ins := fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s)", table, strings.Join(all, ", "), placeholders(len(all)))
	sets := make([]string, len(cols))
	if s.d.dialect == DialectMySQL {
		for i, c := range cols {
			sets[i] = fmt.Sprintf("%s = VALUES(%s)", c, c)
		}
		return ins + " ON DUPLICATE KEY UPDATE " + strings.Join(sets, ", ")
	}
	for i, c := range cols {
		sets[i] = fmt.Sprintf("%s = excluded.%s", c, c)
	}
	return ins + fmt.Sprintf(" ON CONFLICT (%s) DO UPDATE SET %s", strings.Join(keys, ", "), strings.Join(sets, ", "))
}

// insertIgnore returns the dialect's INSERT that skips rows whose key exists.
func (s *Store) insertIgnore() string {
	if s.d.dialect == DialectMySQL {
		return "INSERT IGNORE"
	}
	return "INSERT OR IGNORE"
}

// setMetadata merges or replaces key/value rows of one owner. Run inside a transaction.
func (s *Store) setMetadata(ctx context.Context, table, fk, id string, md map[string]string, replace bool) error {
	if replace {
		if _, err := s.q.ExecContext(ctx, fmt.Sprintf("DELETE FROM %s WHERE %s = ?", table, fk), id); err != nil {
			return dbErr("clear "+table, err)
		}
	}
	if len(md) == 0 {
		return nil
	}
	stmt := s.upsertSQL(table, []string{fk, "meta_key"}, []string{"meta_value"})
	for _, k := range sortedKeys(md) { // a fixed lock order
		if _, err := s.q.ExecContext(ctx, stmt, id, k, md[k]); err != nil {
			return dbErr("set "+table, err)
		}
	}
	return nil
}

// deleteMetadataKey removes one key; ErrNotFound when absent.
func (s *Store) deleteMetadataKey(ctx context.Context, table, fk, id, key string) error {
	res, err := s.q.ExecContext(ctx, fmt.Sprintf("DELETE FROM %s WHERE %s = ? AND meta_key = ?", table, fk), id, key)
	if err != nil {
		return dbErr("delete "+table, err)
	}
	n, err := affected(res)
	if err != nil {
		return err
	}
	if n == 0 {
		return model.Errorf(model.ErrNotFound, "Metadata key %s could not be found for %s.", key, id)
	}
	return nil
}

// exists reports whether a non-deleted row with id exists in table.
func (s *Store) exists(ctx context.Context, table, id string) (bool, error) {
	var one int
	err := s.q.QueryRowContext(ctx, fmt.Sprintf("SELECT 1 FROM %s WHERE id = ? AND deleted = 0", table), id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, dbErr("exists "+table, err)
	}
	return true, nil
}

// setStatus is the conditional status move shared by volumes, snapshots, backups and groups;
// alsoSet adds assignments to the same UPDATE ("" for none).
func (s *Store) setStatus(ctx context.Context, table, what, id string, from []string, to, alsoSet string) error {
	c := cond{}
	c.add("id = ?", id)
	c.add("deleted = 0")
	if len(from) > 0 {
		args := make([]any, len(from))
		for i, f := range from {
			args[i] = f
		}
		c.add("status IN ("+placeholders(len(from))+")", args...)
	}
	args := append([]any{to, s.tv(now())}, c.args...)
	set := "status = ?, updated_at = ?"
	if alsoSet != "" {
		set += ", " + alsoSet
	}
	res, err := s.q.ExecContext(ctx, fmt.Sprintf("UPDATE %s SET %s WHERE %s", table, set, c.sql()), args...)
	if err != nil {
		return dbErr("set "+table+" status", err)
	}
	n, err := affected(res)
	if err != nil || n > 0 {
		return err
	}
	var cur string
	err = s.q.QueryRowContext(ctx, fmt.Sprintf("SELECT status FROM %s WHERE id = ? AND deleted = 0", table), id).Scan(&cur)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound(what, id)
	}
	if err != nil {
		return dbErr("read "+table+" status", err)
	}
	return model.Errorf(model.ErrConflict, "%s %s status must be %s, is %s.", what, id, strings.Join(from, " or "), cur)
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// liveScope starts the filter of a list of live (not deleted) rows, of one project when project
// is set: where takes the list's own filters too, scope is what its marker is looked up in
// (page.scope).
func liveScope(project string) (where, scope cond) {
	where.add("deleted = 0")
	scope.add("deleted = 0")
	if project != "" {
		where.add("project_id = ?", project)
		scope.add("project_id = ?", project)
	}
	return where, scope
}

// addEq adds "col = ?" for each col, value pair whose value is not empty.
func (c *cond) addEq(colValues ...string) {
	for i := 0; i+1 < len(colValues); i += 2 {
		if colValues[i+1] != "" {
			c.add(colValues[i]+" = ?", colValues[i+1])
		}
	}
}

// selectPage is the query of one page of p.table: cols of the rows matching where, after p's
// marker, in p's order, limited and offset; with its arguments.
func (s *Store) selectPage(ctx context.Context, p page, cols string, where cond) (string, []any, error) {
	tail, err := p.apply(ctx, s.q, &where)
	if err != nil {
		return "", nil, err
	}
	return `SELECT ` + cols + ` FROM ` + p.table + ` WHERE ` + where.sql() + tail, where.args, nil
}

// getLive reads the live row id of table (cols, through scan); ErrNotFound naming what when it
// is missing or deleted.
func getLive[T any](ctx context.Context, q querier, table, what, cols, id string, scan func(rowScanner) (T, error)) (T, error) {
	r, err := scan(q.QueryRowContext(ctx, `SELECT `+cols+` FROM `+table+` WHERE id = ? AND deleted = 0`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, notFound(what, id)
	}
	if err != nil {
		return r, dbErr("get "+strings.ToLower(what), err)
	}
	return r, nil
}

// count counts the rows of table matching where (a list's with_count).
func (s *Store) count(ctx context.Context, table string, where cond) (int, error) {
	var n int
	if err := s.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table+` WHERE `+where.sql(), where.args...).Scan(&n); err != nil {
		return 0, dbErr("count "+table, err)
	}
	return n, nil
}

// qualify prefixes each column of the comma-separated list cols with alias, for joins.
func qualify(alias, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = alias + "." + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}

// scanFunc is a rowScanner made of a function.
type scanFunc func(dest ...any) error

func (f scanFunc) Scan(dest ...any) error { return f(dest...) }

// withExtra scans a row whose first columns are what a scan function reads and whose last
// ones go to extra (a joined table's columns).
func withExtra(r rowScanner, extra ...any) rowScanner {
	return scanFunc(func(dest ...any) error { return r.Scan(append(dest, extra...)...) })
}

// scanJoined scans one row of r into several scan functions in turn (each gets the next
// columns, in order) and then extra: a row of a join, each table read by its own scan
// function. Each scan runs around the one r.Scan, so what it does after its Scan sees the
// values.
func scanJoined(r rowScanner, extra []any, scans ...func(rowScanner) error) error {
	var dest []any
	var step func(i int) error
	step = func(i int) error {
		if i == len(scans) {
			return r.Scan(append(dest, extra...)...)
		}
		return scans[i](scanFunc(func(d ...any) error {
			dest = append(dest, d...)
			return step(i + 1)
		}))
	}
	return step(0)
}
