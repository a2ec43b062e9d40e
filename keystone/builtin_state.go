package keystone

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dlvm-project/dlvm/model"
)

// Persistent state of the built-in identity: its signing key and its revocation list.

// loadOrCreateKey reads a PEM EC P-256 private key ("EC PRIVATE KEY" or PKCS#8), creating one
// with mode 0600 when the file does not exist.
func loadOrCreateKey(path string, log *slog.Logger) (*ecdsa.PrivateKey, error) {
	if path == "" {
		log.Warn("builtin identity uses an in-memory signing key; tokens will not survive a restart")
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("keystone: generate key: %w", err)
		}
		der, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			return nil, fmt.Errorf("keystone: marshal key: %w", err)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("keystone: key dir: %w", err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("keystone: create key file: %w", err)
		}
		werr := pem.Encode(f, &pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return nil, fmt.Errorf("keystone: write key file: %w", werr)
		}
		log.Info("generated builtin identity signing key", "key_file", path)
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("keystone: read key file: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, model.Errorf(model.ErrInvalid, "keystone: %s holds no PEM block", path)
	}
	var key *ecdsa.PrivateKey
	switch blk.Type {
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(blk.Bytes)
	case "PRIVATE KEY":
		var k any
		if k, err = x509.ParsePKCS8PrivateKey(blk.Bytes); err == nil {
			var ok bool
			if key, ok = k.(*ecdsa.PrivateKey); !ok {
				err = errors.New("not an ECDSA key")
			}
		}
	default:
		err = fmt.Errorf("unexpected PEM block %q", blk.Type)
	}
	if err != nil {
		return nil, model.Wrap(model.ErrInvalid, err, "keystone: bad key file "+path)
	}
	if key.Curve != elliptic.P256() {
		return nil, model.Errorf(model.ErrInvalid, "keystone: key in %s is not P-256", path)
	}
	return key, nil
}

// loadRevocations reads the RevocationFile (a missing file is an empty list), keeping entries
// of tokens not yet expired, and rewrites it without the expired ones.
func (b *Builtin) loadRevocations() error {
	path := b.opts.RevocationFile
	if path == "" {
		return nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("keystone: revocation file: %w", err)
	}
	now := b.opts.Now()
	var keep strings.Builder
	for line := range strings.Lines(string(data)) {
		var (
			id  string
			exp int64
		)
		if _, err := fmt.Sscanf(line, "%s %d", &id, &exp); err != nil {
			b.log.Warn("skipping bad revocation line", "revocation_file", path)
			continue
		}
		if t := time.Unix(exp, 0); t.After(now) {
			b.revoked[id] = t
			fmt.Fprintf(&keep, "%s %d\n", id, exp)
		}
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(keep.String()), 0o600); err != nil {
		return fmt.Errorf("keystone: revocation file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("keystone: revocation file: %w", err)
	}
	return nil
}
