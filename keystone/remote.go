package keystone

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/dlvm-project/dlvm/model"
)

// negativeCacheTTL bounds how long a token Keystone answered 404 for is refused without asking.
const negativeCacheTTL = time.Minute

// errTokenNotFound is Keystone's 404 on validation: the token is unknown, expired or revoked.
var errTokenNotFound = fmt.Errorf("%w: keystone: token not found", ErrInvalidToken)

// remoteVerifier validates tokens against a Keystone the way keystonemiddleware's auth_token
// does: with the service's own token, caching valid answers.
type remoteVerifier struct {
	base    string // Keystone v3 root, ".../v3"
	client  *http.Client
	opts    MiddlewareOptions
	log     *slog.Logger
	now     func() time.Time
	ttl     time.Duration // <= 0: no cache
	cache   *tokenCache
	jws     *jwsKeys // nil unless a JWS key repository is configured
	svcMu   sync.Mutex
	svcTok  string
	svcRenw time.Time // renew the service token from this time on
}

func newRemoteVerifier(opts MiddlewareOptions, log *slog.Logger) (*remoteVerifier, error) {
	if opts.AuthURL == "" || opts.Username == "" || opts.ProjectName == "" {
		return nil, model.Errorf(model.ErrInvalid, "keystone: auth_url, username and project_name are required")
	}
	if opts.UserDomainName == "" {
		opts.UserDomainName = "Default"
	}
	if opts.ProjectDomainName == "" {
		opts.ProjectDomainName = "Default"
	}
	switch {
	case opts.CacheTTL == 0:
		opts.CacheTTL = DefaultCacheTTL
	case opts.CacheTTL < 0:
		opts.CacheTTL = 0
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = DefaultCacheSize
	}
	if opts.HTTPTimeout <= 0 {
		opts.HTTPTimeout = DefaultHTTPTimeout
	}
	client := opts.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: opts.HTTPTimeout}
	}
	v := &remoteVerifier{
		base: v3Root(opts.AuthURL), client: client, opts: opts, log: log, now: opts.Now,
		ttl: opts.CacheTTL, cache: newTokenCache(opts.CacheSize),
	}
	if opts.JWSPublicKeyRepository != "" {
		k, err := newJWSKeys(opts.JWSPublicKeyRepository, log, opts.Now())
		if err != nil {
			return nil, err
		}
		v.jws = k
	}
	return v, nil
}

// v3Root turns http://h:5000, http://h:5000/ or http://h:5000/v3/ into http://h:5000/v3.
func v3Root(authURL string) string {
	u := strings.TrimRight(authURL, "/")
	if !strings.HasSuffix(u, "/v3") {
		u += "/v3"
	}
	return u
}

// VerifyToken returns the cached context of token or asks Keystone. JWS tokens are checked
// locally first when a key repository is configured, so forged or expired ones never reach
// Keystone.
func (v *remoteVerifier) VerifyToken(ctx context.Context, token string) (*Context, error) {
	now := v.now()
	if v.ttl > 0 {
		if ac, ok := v.cache.get(token, now); ok {
			if ac == nil {
				return nil, invalidf("keystone: token not found (cached)")
			}
			return ac, nil
		}
	}
	if v.jws != nil && looksLikeJWS(token) {
		if err := v.jws.verify(token, now); err != nil {
			return nil, err
		}
	}
	ac, err := v.validate(ctx, token)
	if errors.Is(err, errTokenNotFound) && v.ttl > 0 {
		// like keystonemiddleware, remember tokens Keystone does not know, sparing it repeats
		v.cache.put(token, nil, now.Add(min(v.ttl, negativeCacheTTL)))
	}
	if err != nil {
		return nil, err
	}
	if v.ttl > 0 {
		until := now.Add(v.ttl)
		if ac.ExpiresAt.Before(until) {
			until = ac.ExpiresAt
		}
		v.cache.put(token, ac, until)
	}
	return ac, nil
}

// validate asks Keystone (GET /v3/auth/tokens). A rejected service token is renewed once.
func (v *remoteVerifier) validate(ctx context.Context, token string) (*Context, error) {
	rejected := ""
	for attempt := 0; ; attempt++ {
		svc, err := v.serviceToken(ctx, rejected)
		if err != nil {
			return nil, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.base+"/auth/tokens?nocatalog", nil)
		if err != nil {
			return nil, fmt.Errorf("keystone: %w", err)
		}
		req.Header.Set("X-Auth-Token", svc)
		req.Header.Set("X-Subject-Token", token)
		req.Header.Set("Accept", "application/json")
		resp, err := v.client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("%w: keystone validate: %w", model.ErrUnavailable, err)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("%w: keystone validate: %w", model.ErrUnavailable, err)
		}
		switch {
		case resp.StatusCode == http.StatusOK:
			var tb wireTokenBody
			if err := json.Unmarshal(body, &tb); err != nil {
				return nil, fmt.Errorf("%w: keystone validate: bad body: %w", model.ErrUnavailable, err)
			}
			ac, err := tb.Token.context(token)
			if err != nil {
				return nil, err
			}
			if !v.now().Before(ac.ExpiresAt) {
				return nil, invalidf("token expired at %s", ac.ExpiresAt)
			}
			return ac, nil
		case resp.StatusCode == http.StatusNotFound:
			return nil, errTokenNotFound
		case resp.StatusCode == http.StatusUnauthorized && attempt == 0:
			v.log.InfoContext(ctx, "service token rejected, authenticating again")
			rejected = svc
		case resp.StatusCode == http.StatusUnauthorized:
			return nil, invalidf("keystone: 401 on validation")
		default:
			return nil, fmt.Errorf("%w: keystone validate: HTTP %d", model.ErrUnavailable, resp.StatusCode)
		}
	}
}

// serviceToken returns the service's own token, authenticating when there is none, when it is
// due for renewal, or when it is the one Keystone just rejected.
func (v *remoteVerifier) serviceToken(ctx context.Context, rejected string) (string, error) {
	v.svcMu.Lock()
	defer v.svcMu.Unlock()
	now := v.now()
	if v.svcTok != "" && v.svcTok != rejected && now.Before(v.svcRenw) {
		return v.svcTok, nil
	}
	tok, exp, err := v.authenticate(ctx)
	if err != nil {
		v.svcTok = ""
		return "", err
	}
	// renew two minutes before expiry, or half-way for short-lived tokens
	margin := min(2*time.Minute, exp.Sub(now)/2)
	v.svcTok, v.svcRenw = tok, exp.Add(-margin)
	v.log.DebugContext(ctx, "service token obtained", "expires_at", exp)
	return tok, nil
}

// authenticate obtains a project-scoped token with the service's password.
func (v *remoteVerifier) authenticate(ctx context.Context) (string, time.Time, error) {
	o := v.opts
	body := map[string]any{"auth": map[string]any{
		"identity": map[string]any{
			"methods": []string{"password"},
			"password": map[string]any{"user": map[string]any{
				"name": o.Username, "password": o.Password,
				"domain": map[string]string{"name": o.UserDomainName},
			}},
		},
		"scope": map[string]any{"project": map[string]any{
			"name": o.ProjectName, "domain": map[string]string{"name": o.ProjectDomainName},
		}},
	}}
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.base+"/auth/tokens?nocatalog", bytes.NewReader(b))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("keystone: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("%w: keystone service auth: %w", model.ErrUnavailable, err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("%w: keystone service auth: %w", model.ErrUnavailable, err)
	}
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		if resp.StatusCode == http.StatusUnauthorized {
			v.log.ErrorContext(ctx, "keystone rejected the service credentials", "username", o.Username,
				"project_name", o.ProjectName)
		}
		return "", time.Time{}, fmt.Errorf("%w: keystone service auth: HTTP %d", model.ErrUnavailable, resp.StatusCode)
	}
	tok := resp.Header.Get("X-Subject-Token")
	var tb wireTokenBody
	if err := json.Unmarshal(rb, &tb); err != nil || tok == "" {
		return "", time.Time{}, fmt.Errorf("%w: keystone service auth: bad answer", model.ErrUnavailable)
	}
	exp, err := parseTime(tb.Token.ExpiresAt)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("%w: keystone service auth: expires_at: %w", model.ErrUnavailable, err)
	}
	return tok, exp, nil
}
