package keystone

import (
	"context"
	"slices"
	"strings"
	"time"
)

// Context is who made a request, as established by the middleware. It is read-only once built.
type Context struct {
	Token       string    // the X-Auth-Token the request carried
	UserID      string    // Keystone user id
	UserName    string    // Keystone user name
	ProjectID   string    // scope project id; empty for an unscoped token
	ProjectName string    // scope project name
	DomainID    string    // domain of the scope project (of the user for an unscoped token)
	Roles       []string  // role names on the scope project
	IsAdmin     bool      // true when Roles holds "admin"
	ExpiresAt   time.Time // token expiry; zero when unknown (noauth)
}

// HasRole reports whether the context holds the named role (case-insensitive, as Keystone role
// names compare in policy checks).
func (c *Context) HasRole(role string) bool {
	if c == nil {
		return false
	}
	return slices.ContainsFunc(c.Roles, func(r string) bool { return strings.EqualFold(r, role) })
}

// newContext fills IsAdmin from the roles.
func newContext(c Context) *Context {
	c.IsAdmin = c.HasRole("admin")
	return &c
}

type ctxKey struct{}

// WithContext returns a copy of ctx carrying the auth context ac.
func WithContext(ctx context.Context, ac *Context) context.Context {
	return context.WithValue(ctx, ctxKey{}, ac)
}

// FromContext returns the auth context stored by WithContext; ok is false when there is none
// (a public route, or a request that never went through the middleware).
func FromContext(ctx context.Context) (*Context, bool) {
	ac, ok := ctx.Value(ctxKey{}).(*Context)
	return ac, ok && ac != nil
}
