package db

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "modernc.org/sqlite" // registers driver "sqlite"
)

// Dialect names returned by (*DB).Dialect.
const (
	DialectMySQL  = "mysql"
	DialectSQLite = "sqlite"
)

// sqliteBusyTimeout is how long a SQLite connection waits for another writer before giving up.
const sqliteBusyTimeout = 30 * time.Second

// target is a parsed database URL: the driver name and DSN for the pool, the DSN for migrations,
// and a password-free description for error messages.
type target struct {
	dialect    string
	dsn        string // for sql.Open
	migrateDSN string // for the migration pool (mysql: multiStatements)
	redacted   string // the URL without password, for messages
	sqlitePath string // sqlite file path; "" when in memory
	memory     bool
}

// parseURL turns a Cinder-style URL into a target. It never puts the password in an error.
func parseURL(raw string) (*target, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return nil, fmt.Errorf("db: connection URL has no scheme (want mysql+pymysql://... or sqlite:///path)")
	}
	base, _, _ := strings.Cut(strings.ToLower(scheme), "+")
	switch base {
	case "mysql", "mariadb":
		return parseMySQL(raw)
	case "sqlite":
		return parseSQLite(rest)
	default:
		return nil, fmt.Errorf("db: unsupported database scheme %q (want mysql, mysql+pymysql or sqlite)", scheme)
	}
}

func parseMySQL(raw string) (*target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse errors quote the input, which may hold a password.
		return nil, fmt.Errorf("db: malformed mysql connection URL")
	}
	cfg := mysql.NewConfig()
	if u.User != nil {
		cfg.User = u.User.Username()
		cfg.Passwd, _ = u.User.Password()
	}
	q := u.Query()
	if sock := q.Get("unix_socket"); sock != "" {
		cfg.Net, cfg.Addr = "unix", sock
	} else {
		host, port := u.Hostname(), u.Port()
		if host == "" {
			host = "127.0.0.1"
		}
		if port == "" {
			port = "3306"
		}
		cfg.Net, cfg.Addr = "tcp", net.JoinHostPort(host, port)
	}
	name := strings.TrimPrefix(u.Path, "/")
	if strings.Contains(name, "/") {
		return nil, fmt.Errorf("db: mysql database name %q contains '/'", name)
	}
	cfg.DBName = name
	cfg.Loc = time.UTC
	cfg.ParseTime = true
	cfg.ClientFoundRows = true // RowsAffected counts matched rows, so "no change" is not "missing"
	cfg.Timeout = 10 * time.Second
	// Statements run in a transaction (the pool's own go through prepared statements, see
	// stmtCache) are sent with their arguments in place: one round trip each, where the
	// driver would otherwise prepare, execute and close a server-side statement around every
	// one. Safe with the utf8mb4 connection charset set below (the driver refuses to
	// interpolate for charsets where escaping is ambiguous).
	cfg.InterpolateParams = true
	cfg.Params = map[string]string{
		"time_zone":                "'+00:00'",
		"innodb_lock_wait_timeout": "20",
	}
	// pymysql's charset=utf8 means "unicode"; MariaDB's utf8 is 3-byte, so always use utf8mb4.
	if err := cfg.Apply(mysql.Charset("utf8mb4", "utf8mb4_general_ci")); err != nil {
		return nil, fmt.Errorf("db: mysql charset: %w", err)
	}
	mcfg := cfg.Clone()
	mcfg.MultiStatements = true
	return &target{
		dialect:    DialectMySQL,
		dsn:        cfg.FormatDSN(),
		migrateDSN: mcfg.FormatDSN(),
		redacted:   u.Redacted(),
	}, nil
}

func parseSQLite(rest string) (*target, error) {
	path, _, _ := strings.Cut(rest, "?")
	switch {
	case path == "" || path == "/" || path == "/:memory:":
		var b [8]byte
		_, _ = rand.Read(b[:])
		// memdb VFS: a named in-memory database shared by every connection of this process,
		// with ordinary (not shared-cache) locking so busy_timeout applies.
		name := "/dlvm-mem-" + hex.EncodeToString(b[:])
		dsn := "file:" + name + "?vfs=memdb&" + sqliteParams(false)
		return &target{dialect: DialectSQLite, dsn: dsn, migrateDSN: dsn, redacted: "sqlite://", memory: true}, nil
	case !strings.HasPrefix(path, "/"):
		return nil, fmt.Errorf("db: sqlite URL needs an absolute path (sqlite:///abs/path.db)")
	}
	// sqlite:///abs and Cinder's sqlite:////abs both name /abs.
	p := filepath.Clean("/" + strings.TrimLeft(path, "/"))
	dsn := "file:" + p + "?" + sqliteParams(true)
	return &target{dialect: DialectSQLite, dsn: dsn, migrateDSN: dsn, redacted: "sqlite://" + p, sqlitePath: p}, nil
}

func sqliteParams(wal bool) string {
	v := url.Values{}
	v.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", sqliteBusyTimeout.Milliseconds()))
	if wal {
		v.Add("_pragma", "journal_mode(WAL)")
		v.Add("_pragma", "synchronous(NORMAL)")
	}
	v.Add("_pragma", "foreign_keys(1)")
	v.Set("_txlock", "immediate")
	return v.Encode()
}

// Open connects to a Cinder-style URL: "mysql+pymysql://user:pass@host[:port]/db[?...]",
// "mysql://...", "sqlite:///abs/path.db", "sqlite://" (in memory). It does not migrate.
func Open(ctx context.Context, url string, opts Options) (*DB, error) {
	t, err := parseURL(url)
	if err != nil {
		return nil, err
	}
	pool, err := sql.Open(t.dialect, t.dsn)
	if err != nil {
		return nil, fmt.Errorf("db: open %s: %w", t.redacted, err)
	}
	d := &DB{sql: pool, dialect: t.dialect, target: t, stmts: newStmtCache(pool)}
	maxOpen, maxIdle := opts.MaxOpenConns, opts.MaxIdleConns
	switch t.dialect {
	case DialectMySQL:
		if maxOpen == 0 {
			maxOpen = 4 * runtime.NumCPU()
			if maxOpen < 8 {
				maxOpen = 8
			}
		}
		if maxIdle == 0 {
			// every open connection may stay idle: with fewer, a burst larger than the idle
			// pool closes connections only to dial them again (TCP, auth, session variables)
			// a moment later, and re-prepare the cached statements on them; idle ones still
			// go after ConnMaxIdleTime
			maxIdle = maxOpen
		}
		pool.SetConnMaxLifetime(30 * time.Minute)
		pool.SetConnMaxIdleTime(5 * time.Minute)
	case DialectSQLite:
		if maxOpen == 0 {
			maxOpen = 2*runtime.NumCPU() + 2
		}
		if maxIdle == 0 {
			maxIdle = maxOpen
		}
		d.writer = make(chan struct{}, 1)
	}
	pool.SetMaxOpenConns(maxOpen)
	pool.SetMaxIdleConns(maxIdle)

	if err := pool.PingContext(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("db: cannot reach %s database at %s: %w", t.dialect, t.redacted, err)
	}
	if t.memory {
		// The in-memory database lives as long as one connection to it is open.
		if d.pin, err = pool.Conn(ctx); err != nil {
			pool.Close()
			return nil, fmt.Errorf("db: in-memory sqlite: %w", err)
		}
	}
	return d, nil
}

// DB is an open database with its dialect. Safe for concurrent use.
type DB struct {
	sql     *sql.DB
	dialect string
	target  *target
	pin     *sql.Conn     // keeps an in-memory sqlite database alive
	writer  chan struct{} // sqlite: serializes this process's write transactions
	stmts   *stmtCache    // prepared statements of the pool's Store
	migMu   sync.Mutex    // serializes Migrate within the process
}

// Close closes the pool.
func (d *DB) Close() error {
	var errs []error
	if d.stmts != nil {
		errs = append(errs, d.stmts.close())
	}
	if d.pin != nil {
		errs = append(errs, d.pin.Close())
	}
	errs = append(errs, d.sql.Close())
	return errors.Join(errs...)
}

// Dialect is "mysql" or "sqlite".
func (d *DB) Dialect() string { return d.dialect }

// SQL returns the underlying pool, for tools and tests that need raw access.
func (d *DB) SQL() *sql.DB { return d.sql }

// Store returns the repositories, each call its own statement (no transaction).
func (d *DB) Store() *Store { return &Store{d: d, q: readRetry{d.stmts}} }
