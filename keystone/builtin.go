package keystone

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"golang.org/x/crypto/bcrypt"

	"github.com/dlvm-project/dlvm/model"
)

// Defaults of BuiltinOptions.
const (
	DefaultTokenTTL  = 24 * time.Hour
	DefaultPublicURL = "http://127.0.0.1:5000"
	DefaultRegion    = "RegionOne"
	DefaultVolumeURL = "http://127.0.0.1:8776/v3/%(project_id)s"
	DefaultImageURL  = "http://127.0.0.1:9292/v2"
	// ServiceProject always exists in the built-in identity.
	ServiceProject = "service"
)

// User is an account of the built-in identity. It has Roles on exactly one Project.
type User struct {
	Name         string
	Password     string   // clear text; ignored when PasswordHash is set
	PasswordHash string   // bcrypt hash (see HashPassword)
	Project      string   // project name; created when missing
	Roles        []string // role names, e.g. admin, member, reader, service
}

// BuiltinOptions configure NewBuiltin.
type BuiltinOptions struct {
	// KeyFile holds the PEM ECDSA P-256 private key signing tokens; generated (mode 0600) when
	// missing. Empty means an in-memory key: tokens die with the process.
	KeyFile    string
	TokenTTL   time.Duration // default DefaultTokenTTL
	PublicURL  string        // base URL of the identity itself; default DefaultPublicURL
	Region     string        // default DefaultRegion
	VolumeURL  string        // volumev3 and block-storage endpoint; default DefaultVolumeURL
	ImageURL   string        // placeholder image endpoint; default DefaultImageURL
	ComputeURL string        // compute endpoint; default the empty compute API this identity serves (ComputePath)
	Users      []User
	// RevocationFile, when set, keeps revoked token ids across restarts (one "jti unix_expiry"
	// line each, appended on revocation). Empty means revocations live in memory only.
	RevocationFile string
	Now            func() time.Time // clock; nil means time.Now
}

// Builtin is a small Keystone v3 identity: static users and projects, password authentication,
// JWS (ES256) tokens, an in-memory revocation list. It is safe for concurrent use.
type Builtin struct {
	opts     BuiltinOptions
	log      *slog.Logger
	key      *ecdsa.PrivateKey
	users    map[string]*builtinUser // by id
	byName   map[string]*builtinUser
	projects map[string]*builtinProject // by id
	projName map[string]*builtinProject
	roles    map[string]string // name -> id
	catalog  []wireService

	mu      sync.Mutex
	revoked map[string]time.Time       // jti -> token expiry
	created map[string]*builtinProject // projects made with POST /v3/projects (in memory), by id
	// verified remembers tokens whose signature checked out until they expire, so a token's
	// ES256 verification runs on its first use only. Revoke drops the entry under mu.
	verified *tokenCache
}

type builtinUser struct {
	User
	id      string
	project *builtinProject
}

type builtinProject struct {
	id, name, description string
}

// builtinClaims are the claims of a built-in token.
type builtinClaims struct {
	jwt.RegisteredClaims
	ProjectID string   `json:"openstack_project_id,omitempty"`
	Roles     []string `json:"openstack_roles,omitempty"`
	Methods   []string `json:"openstack_methods"`
	AuditIDs  []string `json:"openstack_audit_ids"`
}

// stableID derives a Keystone-looking id (32 hex digits) from a kind and a name, so that
// restarts keep ids.
func stableID(kind, name string) string {
	return strings.ReplaceAll(uuid.NewSHA1(uuid.NameSpaceURL, []byte("dlvm:"+kind+":"+name)).String(), "-", "")
}

// HashPassword returns the bcrypt hash of pw for User.PasswordHash.
func HashPassword(pw string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
	if err != nil {
		return "", fmt.Errorf("keystone: hash password: %w", err)
	}
	return string(h), nil
}

// NewBuiltin validates opts, loads or creates the signing key and builds users, projects and the
// catalog.
func NewBuiltin(opts BuiltinOptions, log *slog.Logger) (*Builtin, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	setDefault(&opts.PublicURL, DefaultPublicURL)
	opts.PublicURL = strings.TrimRight(opts.PublicURL, "/")
	setDefault(&opts.Region, DefaultRegion)
	setDefault(&opts.VolumeURL, DefaultVolumeURL)
	setDefault(&opts.ImageURL, DefaultImageURL)
	setDefault(&opts.ComputeURL, strings.TrimRight(opts.PublicURL, "/")+ComputePath)
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = DefaultTokenTTL
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	key, err := loadOrCreateKey(opts.KeyFile, log)
	if err != nil {
		return nil, err
	}
	b := &Builtin{
		opts: opts, log: log, key: key,
		users: map[string]*builtinUser{}, byName: map[string]*builtinUser{},
		projects: map[string]*builtinProject{}, projName: map[string]*builtinProject{}, created: map[string]*builtinProject{},
		roles: map[string]string{}, revoked: map[string]time.Time{}, verified: newTokenCache(DefaultCacheSize),
	}
	b.project(ServiceProject)
	for _, r := range []string{"admin", "member", "reader", "service"} {
		b.roles[r] = stableID("role", r)
	}
	for _, u := range opts.Users {
		if u.Name == "" || u.Project == "" {
			return nil, model.Errorf(model.ErrInvalid, "keystone: builtin user needs a name and a project")
		}
		if u.Password == "" && u.PasswordHash == "" {
			return nil, model.Errorf(model.ErrInvalid, "keystone: builtin user %q has no password", u.Name)
		}
		if _, dup := b.byName[u.Name]; dup {
			return nil, model.Errorf(model.ErrInvalid, "keystone: builtin user %q defined twice", u.Name)
		}
		bu := &builtinUser{User: u, id: stableID("user", u.Name), project: b.project(u.Project)}
		bu.Roles = slices.Clone(u.Roles)
		for _, r := range u.Roles {
			b.roles[r] = stableID("role", r)
		}
		b.users[bu.id], b.byName[u.Name] = bu, bu
	}
	b.catalog = b.buildCatalog()
	if err := b.loadRevocations(); err != nil {
		return nil, err
	}
	return b, nil
}

func setDefault(s *string, def string) {
	if *s == "" {
		*s = def
	}
}

func (b *Builtin) project(name string) *builtinProject {
	if p, ok := b.projName[name]; ok {
		return p
	}
	p := &builtinProject{id: stableID("project", name), name: name}
	b.projects[p.id], b.projName[name] = p, p
	return p
}

// ProjectID returns the stable id of the named project; ok is false when it does not exist.
func (b *Builtin) ProjectID(name string) (string, bool) {
	p, ok := b.projName[name]
	if !ok {
		return "", false
	}
	return p.id, true
}

// UserID returns the stable id of the named user; ok is false when it does not exist.
func (b *Builtin) UserID(name string) (string, bool) {
	u, ok := b.byName[name]
	if !ok {
		return "", false
	}
	return u.id, true
}

// issue signs a token for u scoped to p (nil: unscoped).
func (b *Builtin) issue(u *builtinUser, p *builtinProject, methods, parentAudit []string) (string, *builtinClaims, error) {
	now := b.opts.Now().Truncate(time.Second)
	c := &builtinClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject: u.id, ID: strings.ReplaceAll(uuid.NewString(), "-", ""),
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(b.opts.TokenTTL)),
		},
		Methods:  methods,
		AuditIDs: append([]string{auditID()}, parentAudit...),
	}
	if p != nil {
		c.ProjectID, c.Roles = p.id, slices.Clone(u.Roles)
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodES256, c).SignedString(b.key)
	if err != nil {
		return "", nil, fmt.Errorf("keystone: sign token: %w", err)
	}
	return tok, c, nil
}

func auditID() string {
	var r [16]byte
	_, _ = rand.Read(r[:])
	return base64.RawURLEncoding.EncodeToString(r[:])
}

// claims verifies signature, expiry and revocation of a built-in token. The error wraps
// ErrInvalidToken.
func (b *Builtin) claims(token string) (*builtinClaims, *builtinUser, error) {
	var c builtinClaims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return &b.key.PublicKey, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodES256.Alg()}), jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(b.opts.Now))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	b.mu.Lock()
	_, revoked := b.revoked[c.ID]
	b.mu.Unlock()
	if revoked || c.ID == "" {
		return nil, nil, invalidf("token revoked")
	}
	u, ok := b.users[c.Subject]
	if !ok {
		return nil, nil, invalidf("token of unknown user")
	}
	if c.ProjectID != "" && u.project.id != c.ProjectID {
		return nil, nil, invalidf("token of a project the user has no role on")
	}
	return &c, u, nil
}

// VerifyToken implements TokenVerifier for the builtin strategy: roles and project come from the
// token's claims. No I/O, so the error always wraps ErrInvalidToken. A token seen before and not
// revoked since is answered from memory until it expires (its signature does not change).
func (b *Builtin) VerifyToken(_ context.Context, token string) (*Context, error) {
	now := b.opts.Now()
	if ac, ok := b.verified.get(token, now); ok && ac != nil {
		return ac, nil
	}
	c, u, err := b.claims(token)
	if err != nil {
		return nil, err
	}
	ac := Context{Token: token, UserID: u.id, UserName: u.Name, DomainID: "default",
		Roles: slices.Clone(c.Roles), ExpiresAt: c.ExpiresAt.Time}
	if c.ProjectID != "" {
		ac.ProjectID, ac.ProjectName = c.ProjectID, b.projects[c.ProjectID].name
	}
	out := newContext(ac)
	b.mu.Lock()
	if _, revoked := b.revoked[c.ID]; !revoked { // Revoke may have run since claims
		b.verified.put(token, out, c.ExpiresAt.Time)
	}
	b.mu.Unlock()
	return out, nil
}

// Revoke makes token invalid from now on. Revoking an invalid or already revoked token is an
// error wrapping ErrInvalidToken. Entries are forgotten once the token would have expired anyway;
// with a RevocationFile the revocation is written there before Revoke returns.
func (b *Builtin) Revoke(token string) error {
	c, _, err := b.claims(token)
	if err != nil {
		return err
	}
	now := b.opts.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	for id, exp := range b.revoked {
		if now.After(exp) {
			delete(b.revoked, id)
		}
	}
	if b.opts.RevocationFile != "" {
		f, err := os.OpenFile(b.opts.RevocationFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("keystone: revocation file: %w", err)
		}
		_, werr := fmt.Fprintf(f, "%s %d\n", c.ID, c.ExpiresAt.Unix())
		if err := f.Close(); werr == nil {
			werr = err
		}
		if werr != nil {
			return fmt.Errorf("keystone: revocation file: %w", werr)
		}
	}
	b.revoked[c.ID] = c.ExpiresAt.Time
	b.verified.drop(token)
	return nil
}
