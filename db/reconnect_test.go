package db

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/model"
)

// cutProxy relays TCP to MariaDB and can reset every open connection.
type cutProxy struct {
	l     net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &cutProxy{l: l}
	t.Cleanup(func() { l.Close(); p.cut() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(u, c); u.Close() }()
			go func() { _, _ = io.Copy(c, u); c.Close() }()
		}
	}()
	return p
}

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		c.Close()
	}
	p.conns = nil
}

// TestReadRetryAfterLostConnection cuts MariaDB connections while a read is in flight: the
// read is sent again on a fresh connection and succeeds; a write is not repeated.
func TestReadRetryAfterLostConnection(t *testing.T) {
	if v := strings.ToLower(os.Getenv("DLVM_TEST_MYSQL")); v == "off" || v == "0" {
		t.Skip("MariaDB tests off")
	}
	addr := "127.0.0.1:3306"
	if c, err := net.DialTimeout("tcp", addr, time.Second); err != nil {
		t.Skip("no MariaDB at " + addr)
	} else {
		c.Close()
	}
	p := newCutProxy(t, addr)
	cfg := mysql.NewConfig()
	cfg.Net, cfg.Addr, cfg.User = "tcp", p.l.Addr().String(), "root"
	sqldb, err := sql.Open("mysql", cfg.FormatDSN())
	require.NoError(t, err)
	defer sqldb.Close()
	q := readRetry{sqldb}
	ctx := context.Background()

	cutSoon := func() { time.AfterFunc(150*time.Millisecond, p.cut) }
	cutSoon()
	var n int
	require.NoError(t, q.QueryRowContext(ctx, "SELECT SLEEP(0.5) + 7").Scan(&n), "QueryRow is retried")
	require.Equal(t, 7, n)

	cutSoon()
	rows, err := q.QueryContext(ctx, "SELECT SLEEP(0.5) + 8")
	require.NoError(t, err, "Query is retried")
	require.True(t, rows.Next())
	require.NoError(t, rows.Scan(&n))
	require.Equal(t, 8, n)
	rows.Close()

	// two cuts in a row: the first retry dies too, the third attempt answers
	cutSoon()
	time.AfterFunc(450*time.Millisecond, p.cut)
	require.NoError(t, q.QueryRowContext(ctx, "SELECT SLEEP(0.5) + 9").Scan(&n), "QueryRow is retried twice")
	require.Equal(t, 9, n)

	cutSoon()
	_, err = q.ExecContext(ctx, "DO SLEEP(0.5)")
	require.Error(t, err, "a write is not repeated")
	require.True(t, lostConn(err), "%v", err)
	require.ErrorIs(t, dbErr("x", err), model.ErrUnavailable, "a lost connection is transient")
	require.ErrorIs(t, dbErr("x", err), mysql.ErrInvalidConn)
}

func TestLostBeforeCommitIsRetryable(t *testing.T) {
	lost := fmt.Errorf("db: get volume: %w", mysql.ErrInvalidConn)
	require.True(t, retryable(lostBeforeCommit(lost)))
	require.ErrorIs(t, lostBeforeCommit(lost), mysql.ErrInvalidConn)
	require.False(t, retryable(lost), "a lost commit is not marked")
	other := fmt.Errorf("boom")
	require.Equal(t, other, lostBeforeCommit(other))
}
