package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"

	"github.com/go-sql-driver/mysql"
)

// readRetry is the querier of a Store outside a transaction: a read (QueryContext,
// QueryRowContext) that fails because its pooled connection died under it — the server
// restarted, a proxy or the network cut it — is sent again, up to readAttempts in all (a cut
// can kill several pooled connections, and the next one handed out may be one of them). Reads
// are safe to repeat. Writes (ExecContext) are not retried: the statement may have been applied.
type readRetry struct{ db querier }

const readAttempts = 3

// lostConn says the connection broke during the call (go-sql-driver reports ErrInvalidConn
// when the statement may have been sent, database/sql ErrBadConn when it was not).
func lostConn(err error) bool {
	return errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, driver.ErrBadConn)
}

func (r readRetry) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return r.db.ExecContext(ctx, query, args...)
}

func (r readRetry) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	rows, err := r.db.QueryContext(ctx, query, args...)
	for i := 1; i < readAttempts && lostConn(err) && ctx.Err() == nil; i++ {
		rows, err = r.db.QueryContext(ctx, query, args...)
	}
	return rows, err
}

func (r readRetry) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	row := r.db.QueryRowContext(ctx, query, args...)
	for i := 1; i < readAttempts && lostConn(row.Err()) && ctx.Err() == nil; i++ {
		row = r.db.QueryRowContext(ctx, query, args...)
	}
	return row
}

// lostConnError marks a transaction whose connection died before its commit: the server rolled
// it back, so InTx may run it again. A connection lost during the commit itself is not marked
// (the commit may have happened).
type lostConnError struct{ err error }

func (e *lostConnError) Error() string { return e.err.Error() }
func (e *lostConnError) Unwrap() error { return e.err }

// lostBeforeCommit marks err when it is a lost connection; other errors pass unchanged.
func lostBeforeCommit(err error) error {
	if lostConn(err) {
		return &lostConnError{err: err}
	}
	return err
}
