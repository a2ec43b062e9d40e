package db

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/golang-migrate/migrate/v4"
	"github.com/golang-migrate/migrate/v4/database"
	migratemysql "github.com/golang-migrate/migrate/v4/database/mysql"
	migratesqlite "github.com/golang-migrate/migrate/v4/database/sqlite"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"golang.org/x/sys/unix"
)

//go:embed migrations/mysql/*.sql migrations/sqlite/*.sql
var migrationFiles embed.FS

// migrateAttempts bounds how often Migrate retries when another process holds the MySQL
// migration lock (golang-migrate waits 10 s for GET_LOCK each time).
const migrateAttempts = 6

// Migrate brings the schema to the newest version (dlvm db sync). Idempotent.
//
// Concurrent runs are safe: MySQL uses golang-migrate's advisory lock (GET_LOCK); SQLite files
// are guarded by an flock on "<path>.migrate-lock", and in-process runs are serialized.
func (d *DB) Migrate(ctx context.Context) error {
	d.migMu.Lock()
	defer d.migMu.Unlock()
	if d.target.sqlitePath != "" {
		unlock, err := flockFile(ctx, d.target.sqlitePath+".migrate-lock")
		if err != nil {
			return err
		}
		defer unlock()
	}
	var err error
	for attempt := 1; attempt <= migrateAttempts; attempt++ {
		if err = d.migrateOnce(); !errors.Is(err, database.ErrLocked) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt) * 100 * time.Millisecond):
		}
	}
	return err
}

func (d *DB) migrateOnce() error {
	src, err := iofs.New(migrationFiles, "migrations/"+d.dialect)
	if err != nil {
		return fmt.Errorf("db: migrations: %w", err)
	}
	// A separate pool: golang-migrate closes it, and MySQL needs multiStatements for the files.
	pool, err := sql.Open(d.dialect, d.target.migrateDSN)
	if err != nil {
		return fmt.Errorf("db: migrate: open: %w", err)
	}
	var drv database.Driver
	switch d.dialect {
	case DialectMySQL:
		drv, err = migratemysql.WithInstance(pool, &migratemysql.Config{})
	default:
		pool.SetMaxOpenConns(1)
		drv, err = migratesqlite.WithInstance(pool, &migratesqlite.Config{})
	}
	if err != nil {
		pool.Close()
		return fmt.Errorf("db: migrate: %w", err)
	}
	m, err := migrate.NewWithInstance("iofs", src, d.dialect, drv)
	if err != nil {
		drv.Close()
		return fmt.Errorf("db: migrate: %w", err)
	}
	defer m.Close()
	m.LockTimeout = 30 * time.Second
	if err := m.Up(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		var dirty migrate.ErrDirty
		if errors.As(err, &dirty) {
			return fmt.Errorf("db: schema is dirty at version %d (a migration failed half-way; fix it by hand and force the version): %w", dirty.Version, err)
		}
		return fmt.Errorf("db: migrate: %w", err)
	}
	return nil
}

// SchemaVersion returns the applied migration version (0 when none) and whether it is dirty.
func (d *DB) SchemaVersion(ctx context.Context) (uint, bool, error) {
	var (
		v     sql.NullInt64
		dirty sql.NullBool
	)
	err := d.sql.QueryRowContext(ctx, "SELECT version, dirty FROM schema_migrations LIMIT 1").Scan(&v, &dirty)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, dbErr("schema version", err)
	}
	return uint(v.Int64), dirty.Bool, nil
}

// flockFile takes an exclusive flock on path, waiting until ctx is done.
func flockFile(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("db: migration lock: %w", err)
	}
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() {
				_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
				f.Close()
			}, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("db: migration lock: %w", err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
