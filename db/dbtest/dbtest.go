// Package dbtest gives tests a freshly migrated database of either dialect: a temporary SQLite
// file, or a throw-away database on the MariaDB named by DLVM_TEST_MYSQL_URL (default
// mysql+pymysql://root@127.0.0.1:3306/). Set DLVM_TEST_MYSQL=off to run SQLite only.
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dlvm-project/dlvm/db"
)

// DefaultMySQLURL is the server used when DLVM_TEST_MYSQL_URL is unset (no database name).
const DefaultMySQLURL = "mysql+pymysql://root@127.0.0.1:3306/"

// MySQLURL returns the server URL tests use for MySQL (DLVM_TEST_MYSQL_URL or the default).
func MySQLURL() string {
	if u := os.Getenv("DLVM_TEST_MYSQL_URL"); u != "" {
		return u
	}
	return DefaultMySQLURL
}

// MySQLOff reports whether DLVM_TEST_MYSQL=off asks to skip MySQL.
func MySQLOff() bool {
	v := strings.ToLower(os.Getenv("DLVM_TEST_MYSQL"))
	return v == "off" || v == "0" || v == "false" || v == "no"
}

var (
	probeOnce sync.Once
	probeErr  error
)

// probeMySQL checks once per test binary that the MySQL server answers.
func probeMySQL() error {
	probeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		d, err := db.Open(ctx, MySQLURL(), db.Options{MaxOpenConns: 1})
		if err != nil {
			probeErr = err
			return
		}
		probeErr = d.Close()
	})
	return probeErr
}

// Dialects returns the dialects to run a test against: ["sqlite", "mysql"], or only ["sqlite"]
// when DLVM_TEST_MYSQL=off. It fails the test when MySQL is wanted but unreachable.
func Dialects(t testing.TB) []string {
	t.Helper()
	if MySQLOff() {
		return []string{db.DialectSQLite}
	}
	if err := probeMySQL(); err != nil {
		t.Fatalf("dbtest: MariaDB/MySQL is unreachable (%v); start it, point DLVM_TEST_MYSQL_URL at one, "+
			"or set DLVM_TEST_MYSQL=off to run SQLite only", err)
	}
	return []string{db.DialectSQLite, db.DialectMySQL}
}

// Open returns a freshly migrated database of the dialect ("sqlite" or "mysql"), closed (and for
// MySQL dropped) when the test ends.
func Open(t testing.TB, dialect string) *db.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d, err := db.Open(ctx, NewURL(t, dialect), db.Options{})
	if err != nil {
		t.Fatalf("dbtest: open %s: %v", dialect, err)
	}
	t.Cleanup(func() { _ = d.Close() }) // runs before the DROP registered by NewURL
	if err := d.Migrate(ctx); err != nil {
		t.Fatalf("dbtest: migrate %s: %v", dialect, err)
	}
	return d
}

// NewURL returns the URL of a new, empty (unmigrated) database of the dialect: a file under
// t.TempDir() for "sqlite", a new database dlvm_t_<random> for "mysql", dropped when the test ends.
func NewURL(t testing.TB, dialect string) string {
	t.Helper()
	switch dialect {
	case db.DialectSQLite:
		return "sqlite://" + filepath.Join(t.TempDir(), "dlvm.db")
	case db.DialectMySQL:
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		return createMySQLDatabase(ctx, t)
	}
	t.Fatalf("dbtest: unknown dialect %q", dialect)
	return ""
}

// createMySQLDatabase creates dlvm_t_<random> on the test server, registers its DROP, and returns
// its URL.
func createMySQLDatabase(ctx context.Context, t testing.TB) string {
	t.Helper()
	if MySQLOff() {
		t.Fatalf("dbtest: mysql requested but DLVM_TEST_MYSQL=off")
	}
	admin, err := db.Open(ctx, MySQLURL(), db.Options{MaxOpenConns: 2})
	if err != nil {
		t.Fatalf("dbtest: %v (set DLVM_TEST_MYSQL=off to run SQLite only)", err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "dlvm_t_" + hex.EncodeToString(b[:])
	if _, err := admin.SQL().ExecContext(ctx, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4"); err != nil {
		admin.Close()
		t.Fatalf("dbtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.SQL().ExecContext(ctx, "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
			t.Errorf("dbtest: drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(MySQLURL())
	if err != nil {
		t.Fatalf("dbtest: bad DLVM_TEST_MYSQL_URL")
	}
	u.Path = "/" + name
	return u.String()
}

// ForEach runs fn as a subtest per dialect (t.Run(dialect)), each with its own fresh database.
func ForEach(t *testing.T, fn func(t *testing.T, d *db.DB)) {
	t.Helper()
	for _, dialect := range Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			fn(t, Open(t, dialect))
		})
	}
}
