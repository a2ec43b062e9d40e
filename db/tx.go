package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/go-sql-driver/mysql"
	"modernc.org/sqlite"

	"github.com/dlvm-project/dlvm/model"
)

// txAttempts is how many times InTx runs fn when the database reports a deadlock or lock timeout.
const txAttempts = 6

// querier is what repositories need from a pool or a transaction.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Store offers every repository method, over the pool or inside a transaction.
// Missing rows give an error wrapping model.ErrNotFound; soft-deleted rows count as missing.
type Store struct {
	d  *DB
	q  querier
	tx bool // q is a transaction
}

// InTx runs fn in one transaction; fn's error (or a panic) rolls it back. On MySQL a deadlock or
// lock-wait timeout is retried a few times, so fn must be safe to re-run.
//
// On SQLite the transaction starts with BEGIN IMMEDIATE (it holds the write lock from the start)
// and write transactions of one process are serialized. fn must use the Store it is given: a
// write through d.Store() or a nested d.InTx inside fn waits for the outer transaction and fails
// after the busy timeout.
func (d *DB) InTx(ctx context.Context, fn func(s *Store) error) error {
	var err error
	for attempt := 1; ; attempt++ {
		err = d.runTx(ctx, fn)
		if err == nil || !retryable(err) || attempt == txAttempts {
			return err
		}
		backoff := time.Duration(attempt*attempt)*5*time.Millisecond +
			time.Duration(rand.Int64N(int64(10*time.Millisecond)))
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(backoff):
		}
	}
}

func (d *DB) runTx(ctx context.Context, fn func(s *Store) error) (err error) {
	if d.writer != nil {
		wait := time.NewTimer(sqliteBusyTimeout)
		defer wait.Stop()
		select {
		case d.writer <- struct{}{}:
			defer func() { <-d.writer }()
		case <-ctx.Done():
			return ctx.Err()
		case <-wait.C:
			return model.Wrap(model.ErrUnavailable, errors.New("sqlite: write transaction slot busy (InTx called inside InTx?)"),
				"The database is busy.")
		}
	}
	tx, err := d.sql.BeginTx(ctx, nil)
	if err != nil {
		return lostBeforeCommit(fmt.Errorf("db: begin: %w", err))
	}
	done := false
	defer func() {
		if !done {
			_ = tx.Rollback()
		}
	}()
	if err := fn(&Store{d: d, q: tx, tx: true}); err != nil {
		return lostBeforeCommit(err)
	}
	done = true
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("db: commit: %w", err)
	}
	return nil
}

// write runs fn in the current transaction, or in a new one when s is not transactional.
func (s *Store) write(ctx context.Context, fn func(s *Store) error) error {
	if s.tx {
		return fn(s)
	}
	return s.d.InTx(ctx, fn)
}

// retryable reports whether err is a transient lock conflict, or a connection lost before
// the commit (the server rolled the transaction back), worth re-running the transaction.
func retryable(err error) bool {
	var lc *lostConnError
	if errors.As(err, &lc) {
		return true
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1213 || me.Number == 1205
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		c := se.Code() & 0xff
		return c == 5 || c == 6 // SQLITE_BUSY, SQLITE_LOCKED
	}
	return false
}

// isDuplicate reports whether err is a unique or primary key violation.
func isDuplicate(err error) bool {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1062
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == 2067 || se.Code() == 1555 // CONSTRAINT_UNIQUE, CONSTRAINT_PRIMARYKEY
	}
	return false
}

// dbErr wraps a driver error with what was being done. Messages of driver errors stay internal:
// the API edge shows only model.UserMessage.
func dbErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if lostConn(err) {
		// The connection died under the statement: transient (model.ErrUnavailable), so
		// workflows retry it and the API answers 503 rather than 500.
		return model.Wrap(model.ErrUnavailable, fmt.Errorf("db: %s: %w", op, err), "The database connection was lost; retry.")
	}
	return fmt.Errorf("db: %s: %w", op, err)
}

// notFound returns a user-safe ErrNotFound.
func notFound(what, id string) error {
	return model.Errorf(model.ErrNotFound, "%s %s could not be found.", what, id)
}

// affected returns the rows a statement matched (clientFoundRows on MySQL).
func affected(res sql.Result) (int64, error) {
	n, err := res.RowsAffected()
	if err != nil {
		return 0, dbErr("rows affected", err)
	}
	return n, nil
}

// ---- time values ----

// sqliteTime is the fixed-width format used for SQLite TEXT times, so that text order is time order.
const sqliteTime = "2006-01-02 15:04:05.000000"

// now returns the current time as stored: UTC, microseconds.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// norm returns t as stored: UTC, microseconds.
func norm(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// tv converts a time to a query argument of the dialect.
func (s *Store) tv(t time.Time) any {
	t = norm(t)
	if s.d.dialect == DialectSQLite {
		return t.Format(sqliteTime)
	}
	return t
}

// tvp converts an optional time; nil and the zero time become NULL.
func (s *Store) tvp(t *time.Time) any {
	if t == nil || t.IsZero() {
		return nil
	}
	return s.tv(*t)
}

// tvz is tvp for a value: the zero time becomes NULL.
func (s *Store) tvz(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return s.tv(t)
}

// scanTime reads a DATETIME (MySQL) or TEXT (SQLite) column; NULL leaves a zero time.
type scanTime struct {
	T     time.Time
	Valid bool
}

// Scan implements sql.Scanner.
func (st *scanTime) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		st.T, st.Valid = time.Time{}, false
		return nil
	case time.Time:
		st.T, st.Valid = v.UTC(), true
		return nil
	case string:
		return st.parse(v)
	case []byte:
		return st.parse(string(v))
	}
	return fmt.Errorf("db: cannot scan %T into a time", src)
}

func (st *scanTime) parse(v string) error {
	for _, layout := range []string{sqliteTime, "2006-01-02 15:04:05.999999999", time.RFC3339Nano} {
		if t, err := time.Parse(layout, v); err == nil {
			st.T, st.Valid = t.UTC(), true
			return nil
		}
	}
	return fmt.Errorf("db: bad time value %q", v)
}

// ptr returns the time as a pointer, nil when NULL.
func (st scanTime) ptr() *time.Time {
	if !st.Valid {
		return nil
	}
	t := st.T
	return &t
}
