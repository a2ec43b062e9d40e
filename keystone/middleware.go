package keystone

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/dlvm-project/dlvm/model"
)

// Strategies accepted in MiddlewareOptions.Strategy (cinder.conf's auth_strategy, plus builtin).
const (
	StrategyKeystone = "keystone" // validate against a Keystone, like keystonemiddleware auth_token
	StrategyBuiltin  = "builtin"  // verify tokens of the in-process built-in identity
	StrategyNoAuth   = "noauth"   // trust X-Auth-Token "user:project", like Cinder's noauth
)

// Defaults applied by NewMiddleware.
const (
	DefaultCacheTTL    = 300 * time.Second
	DefaultCacheSize   = 10000
	DefaultHTTPTimeout = 10 * time.Second
)

// MiddlewareOptions configure NewMiddleware. The keystone strategy's fields are spelled as
// keystonemiddleware's [keystone_authtoken] options.
type MiddlewareOptions struct {
	Strategy string // StrategyKeystone, StrategyBuiltin or StrategyNoAuth

	// WWWAuthenticateURI is announced in 401 answers (WWW-Authenticate: Keystone uri="...").
	// Defaults to AuthURL.
	WWWAuthenticateURI string

	// keystone strategy: where and as whom the service authenticates (password auth, project
	// scope). AuthURL may end in /v3 or not.
	AuthURL           string
	Username          string
	Password          string
	ProjectName       string
	UserDomainName    string // default "Default"
	ProjectDomainName string // default "Default"
	// JWSPublicKeyRepository is a directory of PEM ECDSA public keys (Keystone's
	// [jwt_tokens] jws_public_key_repository). When set, JWS tokens are verified locally
	// (signature, expiry) before Keystone is asked for their roles and project.
	JWSPublicKeyRepository string
	// CacheTTL bounds how long a validated token is trusted without asking Keystone again; never
	// beyond the token's expiry. Zero means DefaultCacheTTL; negative disables the cache.
	CacheTTL time.Duration
	// CacheSize bounds the number of cached tokens; zero means DefaultCacheSize.
	CacheSize int
	// HTTPTimeout bounds each call to Keystone; zero means DefaultHTTPTimeout.
	HTTPTimeout time.Duration
	// HTTPClient, when set, is used for calls to Keystone (its Timeout is left alone).
	HTTPClient *http.Client

	// Verifier checks tokens for the builtin strategy (a *Builtin).
	Verifier TokenVerifier

	// Public reports requests that pass without a token. Nil means VersionDocsPublic.
	Public func(*http.Request) bool

	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// TokenVerifier turns a token into an auth Context.
type TokenVerifier interface {
	// VerifyToken returns the auth context of token. The error wraps ErrInvalidToken when the
	// token authenticates nobody (forged, expired, revoked, unknown) and model.ErrUnavailable
	// when it cannot be checked now.
	VerifyToken(ctx context.Context, token string) (*Context, error)
}

// VersionDocsPublic is the default MiddlewareOptions.Public: exactly GET / and GET /v3/ (the
// version documents) pass without a token.
func VersionDocsPublic(r *http.Request) bool {
	return (r.Method == http.MethodGet || r.Method == http.MethodHead) &&
		(r.URL.Path == "/" || r.URL.Path == "/v3/")
}

// Middleware authenticates requests and stores the auth Context in their context.
type Middleware struct {
	wwwAuth  string
	public   func(*http.Request) bool
	verifier TokenVerifier // nil for noauth
	log      *slog.Logger
}

// NewMiddleware validates opts and builds the middleware. For the keystone strategy nothing is
// contacted yet: the service token is obtained on the first request. The JWS key repository, when
// set, must be readable.
func NewMiddleware(opts MiddlewareOptions, log *slog.Logger) (*Middleware, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	m := &Middleware{public: opts.Public, log: log}
	if m.public == nil {
		m.public = VersionDocsPublic
	}
	m.wwwAuth = opts.WWWAuthenticateURI
	if m.wwwAuth == "" {
		m.wwwAuth = opts.AuthURL
	}
	switch opts.Strategy {
	case StrategyNoAuth:
	case StrategyBuiltin:
		if opts.Verifier == nil {
			return nil, model.Errorf(model.ErrInvalid, "keystone: builtin strategy needs a Verifier")
		}
		m.verifier = opts.Verifier
	case StrategyKeystone:
		rv, err := newRemoteVerifier(opts, log)
		if err != nil {
			return nil, err
		}
		m.verifier = rv
	default:
		return nil, model.Errorf(model.ErrInvalid, "keystone: unknown auth strategy %q", opts.Strategy)
	}
	return m, nil
}

// Wrap returns next behind authentication. A request without a valid token gets 401 with
// WWW-Authenticate; one whose token cannot be checked now (Keystone unreachable) gets 503.
func (m *Middleware) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m.public(r) {
			next.ServeHTTP(w, r)
			return
		}
		token := r.Header.Get("X-Auth-Token")
		if token == "" {
			m.log.DebugContext(r.Context(), "request without token", "method", r.Method, "path", r.URL.Path)
			writeUnauthorized(w, m.wwwAuth)
			return
		}
		var (
			ac  *Context
			err error
		)
		if m.verifier == nil {
			ac = noAuthContext(r, token)
		} else {
			ac, err = m.verifier.VerifyToken(r.Context(), token)
		}
		switch {
		case err == nil:
		case errors.Is(err, model.ErrUnavailable):
			m.log.WarnContext(r.Context(), "token validation unavailable", "error", err)
			writeFault(w, http.StatusServiceUnavailable, "serviceUnavailable",
				"The identity service is temporarily unavailable.")
			return
		default:
			m.log.InfoContext(r.Context(), "token rejected", "error", err, "path", r.URL.Path)
			writeUnauthorized(w, m.wwwAuth)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithContext(r.Context(), ac)))
	})
}

// cinderCollections are first path segments after /v3/ that name a resource rather than a
// project (project-less URLs from microversion 3.67).
var cinderCollections = map[string]bool{
	"volumes": true, "snapshots": true, "types": true, "attachments": true, "backups": true,
	"limits": true, "extensions": true, "qos-specs": true, "scheduler-stats": true,
	"messages": true, "groups": true, "group_types": true, "group_snapshots": true,
	"consistencygroups": true, "cgsnapshots": true, "manageable_volumes": true,
	"manageable_snapshots": true, "resource_filters": true, "workers": true, "clusters": true,
	"default-types": true, "capabilities": true,
}

// noAuthContext builds the context Cinder's noauth middleware would: "user:project" tokens name
// both; any other token is user "admin" in the project of the URL (/v3/{project_id}/...), or in
// a project named like the token when the URL has none. Roles are always admin and member.
func noAuthContext(r *http.Request, token string) *Context {
	user, project, ok := strings.Cut(token, ":")
	if !ok || user == "" || project == "" {
		user, project = "admin", projectFromPath(r.URL.Path)
		if project == "" {
			project = token
		}
	}
	return newContext(Context{
		Token: token, UserID: user, UserName: user, ProjectID: project, ProjectName: project,
		DomainID: "default", Roles: []string{"admin", "member"},
	})
}

func projectFromPath(path string) string {
	rest, ok := strings.CutPrefix(path, "/v3/")
	if !ok {
		return ""
	}
	seg, _, _ := strings.Cut(rest, "/")
	if seg == "" || cinderCollections[seg] || strings.HasPrefix(seg, "os-") {
		return ""
	}
	return seg
}
