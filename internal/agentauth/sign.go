package agentauth

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Headers of a signed request.
const (
	HeaderTimestamp = "X-Dlvm-Auth-Timestamp" // Unix time of signing, in milliseconds
	HeaderNonce     = "X-Dlvm-Auth-Nonce"     // 16 random bytes, hex
	HeaderSignature = "X-Dlvm-Auth-Signature" // hex HMAC-SHA256, see canonical
)

// DefaultWindow is how far a request's timestamp may be from the server's clock (either way),
// and how long its nonce is remembered.
const DefaultWindow = 2 * time.Minute

// ErrUnauthenticated is a request without a valid signature (401 on the wire).
var ErrUnauthenticated = errors.New("agent call not authenticated")

// canonical is the signed text: one field per line.
func canonical(method, uri, ts, nonce, volume, epoch string, body []byte) []byte {
	sum := sha256.Sum256(body)
	var b bytes.Buffer
	for _, f := range []string{method, uri, ts, nonce, volume, epoch, hex.EncodeToString(sum[:])} {
		b.WriteString(f)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func mac(secret, msg []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write(msg)
	return h.Sum(nil)
}

// Sign adds the signature headers to req, whose body is body (nil for none). Call it after
// SetEpoch: the fencing headers are signed too. An empty secret signs nothing.
func Sign(req *http.Request, body []byte, secret []byte) {
	if len(secret) == 0 {
		return
	}
	var n [16]byte
	_, _ = rand.Read(n[:])
	ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
	nonce := hex.EncodeToString(n[:])
	sig := mac(secret, canonical(req.Method, req.URL.RequestURI(), ts, nonce,
		req.Header.Get(HeaderVolume), req.Header.Get(HeaderEpoch), body))
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderNonce, nonce)
	req.Header.Set(HeaderSignature, hex.EncodeToString(sig))
}

// VerifierOptions tune a Verifier.
type VerifierOptions struct {
	Window  time.Duration    // replay window; default DefaultWindow
	MaxBody int64            // largest body read to check its hash (larger: refused); default 64 MiB
	Now     func() time.Time // clock; default time.Now
}

// Verifier checks signed requests. Safe for concurrent use.
type Verifier struct {
	secret []byte
	opts   VerifierOptions

	mu        sync.Mutex
	seen      map[string]time.Time // nonce -> when it may be forgotten
	lastPurge time.Time
}

// NewVerifier returns a verifier of requests signed with secret. An empty secret returns nil,
// whose Check accepts everything (authentication is then mutual TLS's, or none on loopback).
func NewVerifier(secret []byte, opts VerifierOptions) *Verifier {
	if len(secret) == 0 {
		return nil
	}
	if opts.Window <= 0 {
		opts.Window = DefaultWindow
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = 64<<20 + 1<<20
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Verifier{secret: secret, opts: opts, seen: map[string]time.Time{}}
}

// Check verifies req's signature and replaces its body by an in-memory copy (the body has to be
// read to be hashed). The error wraps ErrUnauthenticated and says what was wrong, never the
// expected signature.
func (v *Verifier) Check(req *http.Request) error {
	if v == nil {
		return nil
	}
	ts, nonce, sig := req.Header.Get(HeaderTimestamp), req.Header.Get(HeaderNonce), req.Header.Get(HeaderSignature)
	if ts == "" || nonce == "" || sig == "" {
		return fmt.Errorf("%w: missing signature headers", ErrUnauthenticated)
	}
	ms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: bad timestamp", ErrUnauthenticated)
	}
	now := v.opts.Now()
	if d := now.Sub(time.UnixMilli(ms)); d > v.opts.Window || d < -v.opts.Window {
		return fmt.Errorf("%w: timestamp outside the replay window of %s", ErrUnauthenticated, v.opts.Window)
	}
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		body, err = io.ReadAll(io.LimitReader(req.Body, v.opts.MaxBody+1))
		_ = req.Body.Close()
		if err != nil {
			return fmt.Errorf("%w: cannot read body: %v", ErrUnauthenticated, err)
		}
		if int64(len(body)) > v.opts.MaxBody {
			return fmt.Errorf("%w: body above %d bytes", ErrUnauthenticated, v.opts.MaxBody)
		}
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	got, err := hex.DecodeString(sig)
	want := mac(v.secret, canonical(req.Method, req.URL.RequestURI(), ts, nonce,
		req.Header.Get(HeaderVolume), req.Header.Get(HeaderEpoch), body))
	if err != nil || !hmac.Equal(got, want) {
		return fmt.Errorf("%w: wrong signature", ErrUnauthenticated)
	}
	return v.remember(nonce, now)
}

// remember records a nonce until it can no longer pass the timestamp check; a nonce seen
// before is a replay.
func (v *Verifier) remember(nonce string, now time.Time) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if now.Sub(v.lastPurge) > v.opts.Window {
		for n, until := range v.seen {
			if now.After(until) {
				delete(v.seen, n)
			}
		}
		v.lastPurge = now
	}
	if _, dup := v.seen[nonce]; dup {
		return fmt.Errorf("%w: replayed request", ErrUnauthenticated)
	}
	v.seen[nonce] = now.Add(2 * v.opts.Window)
	return nil
}

// Middleware returns next behind the verifier; deny writes the refusal (a 401) of a request
// that fails Check. A nil verifier returns next.
func (v *Verifier) Middleware(next http.Handler, deny func(w http.ResponseWriter, r *http.Request, err error)) http.Handler {
	if v == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := v.Check(r); err != nil {
			deny(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}
