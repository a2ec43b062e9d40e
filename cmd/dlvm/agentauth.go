package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dlvm-project/dlvm/etc"
	"github.com/dlvm-project/dlvm/internal/agentauth"
)

// agentSecret is the shared secret manager -> agent calls are signed with: the content of
// [agent] shared_secret_file, else [DEFAULT] agent_token ("" for none).
func agentSecret(cfg *etc.Config) (string, error) {
	f := cfg.Agent.SharedSecretFile
	if f == "" {
		return cfg.Default.AgentToken, nil
	}
	data, err := os.ReadFile(f)
	if err != nil {
		return "", fmt.Errorf("[agent] shared_secret_file: %w", err)
	}
	s := strings.TrimSpace(string(data))
	if s == "" {
		return "", fmt.Errorf("[agent] shared_secret_file: %s is empty", f)
	}
	return s, nil
}

// ensureLocalSecret gives all-in-one a shared secret when the configuration sets none: a random
// one kept in DIR/agent-secret (mode 0600), made on the first start.
func ensureLocalSecret(cfg *etc.Config, dir string) error {
	if cfg.Agent.SharedSecretFile != "" || cfg.Default.AgentToken != "" {
		return nil
	}
	path := filepath.Join(dir, "agent-secret")
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		var b [32]byte
		if _, err := rand.Read(b[:]); err != nil {
			return err
		}
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(hex.EncodeToString(b[:])+"\n"), 0o600); err != nil {
			return err
		}
		if err := os.Rename(tmp, path); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	cfg.Agent.SharedSecretFile = path
	return nil
}

func agentTLSFiles(cfg *etc.Config) agentauth.TLSFiles {
	return agentauth.TLSFiles{CAFile: cfg.Agent.CAFile, CertFile: cfg.Agent.CertFile, KeyFile: cfg.Agent.KeyFile}
}

// agentClient is the HTTP client managers call dpv agents and connector daemons with: mutual
// TLS when [agent] configures it.
func agentClient(cfg *etc.Config, timeout time.Duration) (*http.Client, error) {
	hc := &http.Client{Timeout: timeout}
	if !cfg.Agent.MutualTLS() {
		return hc, nil
	}
	tc, err := agentauth.ClientTLS(agentTLSFiles(cfg))
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	hc.Transport = tr
	return hc, nil
}

// agentURL turns an advertised http:// URL into https:// when the agent serves mutual TLS.
func agentURL(cfg *etc.Config, u string) string {
	if rest, ok := strings.CutPrefix(u, "http://"); ok && cfg.Agent.MutualTLS() {
		return "https://" + rest
	}
	return u
}

// serveAgent serves an agent's API on addr, over mutual TLS when [agent] configures it.
func serveAgent(ctx context.Context, cfg *etc.Config, addr string, h http.Handler, log *slog.Logger) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	if cfg.Agent.MutualTLS() {
		tc, err := agentauth.ServerTLS(agentTLSFiles(cfg))
		if err != nil {
			l.Close()
			return err
		}
		l = tls.NewListener(l, tc)
	}
	return serveListener(ctx, l, h, log)
}
