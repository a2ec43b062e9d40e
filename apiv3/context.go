package apiv3

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/dlvm-project/dlvm/volume/api"
)

// reqState is what the outer handler learns about a request before routing it.
type reqState struct {
	id        string
	ver       Version
	caller    api.Caller
	projectID string // project of the URL ("" in the project-less form from 3.67)
	prefix    string // public base of this request's URLs, e.g. http://h:8776/v3/<project>
	base      string // public root, e.g. http://h:8776
}

type stateKey struct{}

func withState(ctx context.Context, s *reqState) context.Context {
	return context.WithValue(ctx, stateKey{}, s)
}

func state(ctx context.Context) *reqState {
	if s, ok := ctx.Value(stateKey{}).(*reqState); ok {
		return s
	}
	return &reqState{ver: MinVersion}
}

func requestID(ctx context.Context) string { return state(ctx).id }

// HeaderIdentity reads the caller from the headers keystonemiddleware sets (X-User-Id,
// X-Project-Id, X-Roles comma-separated), or from Cinder's noauth token "user:project". It is
// for tests and noauth mode only: it trusts the client.
func HeaderIdentity(r *http.Request) (api.Caller, bool) {
	c := api.Caller{UserID: r.Header.Get("X-User-Id"), ProjectID: r.Header.Get("X-Project-Id")}
	if c.ProjectID == "" {
		if tok := r.Header.Get("X-Auth-Token"); strings.Contains(tok, ":") {
			c.UserID, c.ProjectID, _ = strings.Cut(tok, ":")
			c.Roles = []string{"admin", "member", "reader"}
		}
	}
	if c.ProjectID == "" {
		return api.Caller{}, false
	}
	for _, role := range strings.Split(r.Header.Get("X-Roles"), ",") {
		if role = strings.TrimSpace(role); role != "" {
			c.Roles = append(c.Roles, role)
		}
	}
	c.IsAdmin = slices.Contains(c.Roles, "admin")
	return c, true
}

// Policy, as Cinder's defaults with enforce_new_defaults: admin may do anything; a caller whose
// only role is reader may read but not write; admin-only operations need admin.

func hasAnyRole(c api.Caller, roles ...string) bool {
	for _, r := range c.Roles {
		if slices.Contains(roles, strings.ToLower(r)) {
			return true
		}
	}
	return false
}

// authorizeWrite refuses writes to read-only callers.
func authorizeWrite(ctx context.Context, action string) error {
	c := state(ctx).caller
	if c.IsAdmin || hasAnyRole(c, "member", "_member_", "admin") || !hasAnyRole(c, "reader") {
		return nil
	}
	return forbidden("Policy doesn't allow %s to be performed.", action)
}

// authorizeAdmin refuses non-admins.
func authorizeAdmin(ctx context.Context, action string) error {
	if state(ctx).caller.IsAdmin {
		return nil
	}
	return forbidden("Policy doesn't allow %s to be performed.", action)
}

func isAdmin(ctx context.Context) bool { return state(ctx).caller.IsAdmin }
