package keystone

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// jwsReloadEvery limits how often an unknown signature makes the key repository be read again
// (Keystone rotates keys by dropping new files into it).
const jwsReloadEvery = 30 * time.Second

// jwsKeys verifies Keystone JWS (ES256) tokens against the public keys of a repository directory.
type jwsKeys struct {
	dir string
	log *slog.Logger

	mu       sync.Mutex
	keys     []jwt.VerificationKey
	loadedAt time.Time
}

func newJWSKeys(dir string, log *slog.Logger, now time.Time) (*jwsKeys, error) {
	k := &jwsKeys{dir: dir, log: log}
	if err := k.load(now); err != nil {
		return nil, err
	}
	return k, nil
}

// load reads every PEM ECDSA public key in the directory; other files are skipped with a warning.
func (k *jwsKeys) load(now time.Time) error {
	ents, err := os.ReadDir(k.dir)
	if err != nil {
		return fmt.Errorf("keystone: jws public key repository: %w", err)
	}
	var keys []jwt.VerificationKey
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(k.dir, e.Name()))
		if err != nil {
			return fmt.Errorf("keystone: jws public key: %w", err)
		}
		pub, err := jwt.ParseECPublicKeyFromPEM(b)
		if err != nil {
			k.log.Warn("skipping file in jws key repository", "file", e.Name(), "error", err)
			continue
		}
		keys = append(keys, pub)
	}
	if len(keys) == 0 {
		k.log.Warn("jws public key repository holds no key", "dir", k.dir)
	}
	k.mu.Lock()
	k.keys, k.loadedAt = keys, now
	k.mu.Unlock()
	return nil
}

func (k *jwsKeys) current() ([]jwt.VerificationKey, time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.keys, k.loadedAt
}

// verify checks the token's ES256 signature against the repository and that it has not expired
// at now. The error wraps ErrInvalidToken.
func (k *jwsKeys) verify(token string, now time.Time) error {
	keys, loadedAt := k.current()
	err := verifyES256(token, keys, now)
	if err != nil && !errors.Is(err, jwt.ErrTokenExpired) && now.Sub(loadedAt) >= jwsReloadEvery {
		if lerr := k.load(now); lerr != nil {
			k.log.Warn("reloading jws keys", "error", lerr)
		} else {
			keys, _ = k.current()
			err = verifyES256(token, keys, now)
		}
	}
	if err != nil {
		return fmt.Errorf("%w: jws: %w", ErrInvalidToken, err)
	}
	return nil
}

// verifyES256 verifies signature and expiry of a compact JWS with any of keys.
func verifyES256(token string, keys []jwt.VerificationKey, now time.Time) error {
	if len(keys) == 0 {
		return errors.New("no public key")
	}
	_, err := jwt.Parse(token, func(*jwt.Token) (any, error) {
		return jwt.VerificationKeySet{Keys: keys}, nil
	}, jwt.WithValidMethods([]string{jwt.SigningMethodES256.Alg()}), jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(func() time.Time { return now }))
	return err
}

// looksLikeJWS reports whether token is shaped as a compact JWS (three dot-separated parts, the
// first a JSON header naming an alg). Fernet and UUID tokens have no dots.
func looksLikeJWS(token string) bool {
	head, _, ok := strings.Cut(token, ".")
	if !ok || strings.Count(token, ".") != 2 {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return false
	}
	var h struct {
		Alg string `json:"alg"`
	}
	return json.Unmarshal(b, &h) == nil && h.Alg != ""
}
