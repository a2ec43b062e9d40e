package db

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		name    string
		url     string
		dialect string
		dsn     []string // substrings the DSN must contain
		path    string   // sqlite file path
		memory  bool
		wantErr string
	}{
		{name: "pymysql with charset", url: "mysql+pymysql://cinder:s3cret@db.example:3307/cinder?charset=utf8",
			dialect: DialectMySQL, dsn: []string{"cinder:s3cret@tcp(db.example:3307)/cinder?", "parseTime=true", "clientFoundRows=true", "charset=utf8mb4"}},
		{name: "plain mysql, default port", url: "mysql://root@127.0.0.1/dlvm",
			dialect: DialectMySQL, dsn: []string{"root@tcp(127.0.0.1:3306)/dlvm"}},
		{name: "no database", url: "mysql+pymysql://root@127.0.0.1:3306/",
			dialect: DialectMySQL, dsn: []string{"root@tcp(127.0.0.1:3306)/?"}},
		{name: "escaped password", url: "mysql+pymysql://u:p%40ss%2Fw@h/d",
			dialect: DialectMySQL, dsn: []string{"u:p@ss/w@tcp(h:3306)/d"}},
		{name: "unix socket", url: "mysql+pymysql://root@/dlvm?unix_socket=/run/mysqld/mysqld.sock",
			dialect: DialectMySQL, dsn: []string{"root@unix(/run/mysqld/mysqld.sock)/dlvm"}},
		{name: "ipv6 host", url: "mysql://root@[::1]:3306/dlvm",
			dialect: DialectMySQL, dsn: []string{"tcp([::1]:3306)"}},
		{name: "sqlite three slashes", url: "sqlite:///var/lib/dlvm/dlvm.db",
			dialect: DialectSQLite, path: "/var/lib/dlvm/dlvm.db", dsn: []string{"file:/var/lib/dlvm/dlvm.db?", "_txlock=immediate", "journal_mode%28WAL%29", "busy_timeout", "foreign_keys"}},
		{name: "sqlite four slashes (Cinder absolute)", url: "sqlite:////var/lib/dlvm/dlvm.db",
			dialect: DialectSQLite, path: "/var/lib/dlvm/dlvm.db"},
		{name: "sqlite memory", url: "sqlite://", dialect: DialectSQLite, memory: true, dsn: []string{"vfs=memdb", "_txlock=immediate"}},
		{name: "sqlite :memory:", url: "sqlite:///:memory:", dialect: DialectSQLite, memory: true},
		{name: "no scheme", url: "/var/lib/dlvm.db", wantErr: "no scheme"},
		{name: "unknown scheme", url: "postgresql://u:pw@h/d", wantErr: `unsupported database scheme "postgresql"`},
		{name: "sqlite relative", url: "sqlite://dlvm.db", wantErr: "absolute path"},
		{name: "bad mysql URL hides password", url: "mysql://u:hunter2@h:port/d", wantErr: "malformed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseURL(tc.url)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				require.NotContains(t, err.Error(), "hunter2")
				require.NotContains(t, err.Error(), "pw@")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.dialect, got.dialect)
			for _, sub := range tc.dsn {
				require.Contains(t, got.dsn, sub)
			}
			require.Equal(t, tc.path, got.sqlitePath)
			require.Equal(t, tc.memory, got.memory)
			require.NotContains(t, got.redacted, "s3cret")
		})
	}

	t.Run("memory databases are distinct", func(t *testing.T) {
		a, err := parseURL("sqlite://")
		require.NoError(t, err)
		b, err := parseURL("sqlite://")
		require.NoError(t, err)
		require.NotEqual(t, a.dsn, b.dsn)
	})
	t.Run("mysql migrations allow multi statements", func(t *testing.T) {
		got, err := parseURL("mysql://root@h/d")
		require.NoError(t, err)
		require.Contains(t, got.migrateDSN, "multiStatements=true")
		require.NotContains(t, got.dsn, "multiStatements")
	})
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		url  string
		want string
	}{
		{"missing directory", "sqlite:///nonexistent-dir-dlvm/x.db", "cannot reach sqlite database at sqlite:///nonexistent-dir-dlvm/x.db"},
		{"unreachable mysql", "mysql+pymysql://u:topsecret@127.0.0.1:1/d", "cannot reach mysql database at mysql+pymysql://u:xxxxx@127.0.0.1:1/d"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(ctx, tc.url, Options{})
			require.ErrorContains(t, err, tc.want)
			require.False(t, strings.Contains(err.Error(), "topsecret"))
		})
	}
}

func TestOpenMemoryShared(t *testing.T) {
	ctx := context.Background()
	d, err := Open(ctx, "sqlite://", Options{})
	require.NoError(t, err)
	defer d.Close()
	require.NoError(t, d.Migrate(ctx))
	require.NoError(t, d.Store().SetQuotaLimits(ctx, "p", map[string]int64{"volumes": 3}))
	// Hold several connections at once: each sees the same data.
	var conns []interface{ Close() error }
	for i := 0; i < 3; i++ {
		c, err := d.SQL().Conn(ctx)
		require.NoError(t, err)
		conns = append(conns, c)
		var n int
		require.NoError(t, c.QueryRowContext(ctx, "SELECT hard_limit FROM quotas WHERE project_id = 'p'").Scan(&n))
		require.Equal(t, 3, n)
	}
	for _, c := range conns {
		require.NoError(t, c.Close())
	}
	// Another in-memory Open is a different database.
	other, err := Open(ctx, "sqlite://", Options{})
	require.NoError(t, err)
	defer other.Close()
	require.NoError(t, other.Migrate(ctx))
	got, err := other.Store().QuotaLimits(ctx, "p")
	require.NoError(t, err)
	require.Empty(t, got)
	require.Equal(t, DialectSQLite, d.Dialect())
}
