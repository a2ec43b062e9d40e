package keystone

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/google/uuid"
)

// Handler serves the Keystone v3 subset the openstack CLI and keystoneauth use: discovery,
// password and token authentication, token validation and revocation, the catalog, and read-only
// projects, users, roles and the default domain.
func (b *Builtin) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", b.rootVersions)
	mux.HandleFunc("GET /v3", b.v3Version)
	mux.HandleFunc("GET /v3/{$}", b.v3Version)
	mux.HandleFunc("POST /v3/auth/tokens", b.postToken)
	mux.HandleFunc("GET /v3/auth/tokens", b.getToken) // HEAD too
	mux.HandleFunc("DELETE /v3/auth/tokens", b.deleteToken)
	mux.HandleFunc("GET /v3/auth/catalog", b.authed(b.getCatalog))
	mux.HandleFunc("GET /v3/auth/projects", b.authed(b.getAuthProjects))
	mux.HandleFunc("GET /v3/projects", b.authed(b.listProjects))
	mux.HandleFunc("GET /v3/projects/{id}", b.authed(b.getProject))
	mux.HandleFunc("POST /v3/projects", b.authed(b.createProject))
	mux.HandleFunc("DELETE /v3/projects/{id}", b.authed(b.deleteProject))
	mux.HandleFunc("GET /v3/users", b.authed(b.listUsers))
	mux.HandleFunc("GET /v3/users/{id}", b.authed(b.getUser))
	mux.HandleFunc("GET /v3/roles", b.authed(b.listRoles))
	mux.HandleFunc("GET /v3/domains", b.authed(b.listDomains))
	mux.HandleFunc("GET /v3/domains/{id}", b.authed(b.getDomain))
	mux.HandleFunc("GET "+ComputePath+"/os-quota-sets/{project}", b.authed(b.emptyComputeQuota))
	mux.HandleFunc("GET "+ComputePath+"/os-quota-sets/{project}/defaults", b.authed(b.emptyComputeQuota))
	mux.HandleFunc("GET "+ComputePath+"/limits", b.authed(b.emptyComputeLimits))
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		identityError(w, http.StatusNotFound, "The resource could not be found.")
	})
	return mux
}

// ComputePath is where the built-in identity answers for the compute service of an all-in-one
// cloud, which has none. The openstack CLI's `quota show` and `limits show` always query the
// compute endpoint of the catalog (and fail when there is none), so this answers them with what
// is true: no compute quotas and no compute limits.
const ComputePath = "/compute/v2.1"

func (b *Builtin) emptyComputeQuota(w http.ResponseWriter, r *http.Request, _ *builtinClaims, _ *builtinUser) {
	writeJSON(w, http.StatusOK, map[string]any{"quota_set": map[string]any{"id": r.PathValue("project")}})
}

func (b *Builtin) emptyComputeLimits(w http.ResponseWriter, _ *http.Request, _ *builtinClaims, _ *builtinUser) {
	writeJSON(w, http.StatusOK, map[string]any{"limits": map[string]any{"rate": []any{}, "absolute": map[string]any{}}})
}

// identityError writes Keystone's error body {"error":{"code","title","message"}}.
func identityError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]any{"error": map[string]any{
		"code": code, "title": http.StatusText(code), "message": msg,
	}})
}

func (b *Builtin) unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", fmt.Sprintf("Keystone uri=%q", b.opts.PublicURL))
	identityError(w, http.StatusUnauthorized, unauthorizedMessage)
}

func (b *Builtin) rootVersions(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusMultipleChoices, map[string]any{
		"versions": map[string]any{"values": []any{b.versionDoc()}},
	})
}

func (b *Builtin) v3Version(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"version": b.versionDoc()})
}

// authRequest is the body of POST /v3/auth/tokens.
type authRequest struct {
	Auth struct {
		Identity struct {
			Methods  []string `json:"methods"`
			Password *struct {
				User struct {
					ID       string  `json:"id"`
					Name     string  `json:"name"`
					Domain   *idName `json:"domain"`
					Password string  `json:"password"`
				} `json:"user"`
			} `json:"password"`
			Token *struct {
				ID string `json:"id"`
			} `json:"token"`
		} `json:"identity"`
		Scope json.RawMessage `json:"scope"`
	} `json:"auth"`
}

type authScope struct {
	Project *struct {
		ID     string  `json:"id"`
		Name   string  `json:"name"`
		Domain *idName `json:"domain"`
	} `json:"project"`
}

func isDefaultDomain(d *idName) bool {
	return d != nil && (d.ID == defaultDomainID || (d.ID == "" && strings.EqualFold(d.Name, defaultDomainName)))
}

func (b *Builtin) postToken(w http.ResponseWriter, r *http.Request) {
	var req authRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
		identityError(w, http.StatusBadRequest, "Expecting to find auth in request body.")
		return
	}
	id := req.Auth.Identity
	var (
		u           *builtinUser
		parentAudit []string
	)
	switch {
	case slices.Contains(id.Methods, "password") && id.Password != nil:
		pu := id.Password.User
		if pu.ID != "" {
			u = b.users[pu.ID]
		} else if pu.Name != "" {
			if pu.Domain == nil {
				identityError(w, http.StatusBadRequest, "Expecting to find domain in user.")
				return
			}
			if isDefaultDomain(pu.Domain) {
				u = b.byName[pu.Name]
			}
		}
		if u == nil || !u.checkPassword(pu.Password) {
			b.log.InfoContext(r.Context(), "builtin identity: authentication failed", "user_name", pu.Name, "user_id", pu.ID)
			b.unauthorized(w)
			return
		}
	case slices.Contains(id.Methods, "token") && id.Token != nil:
		c, tu, err := b.claims(id.Token.ID)
		if err != nil {
			b.unauthorized(w)
			return
		}
		u, parentAudit = tu, c.AuditIDs[:min(1, len(c.AuditIDs))]
	default:
		identityError(w, http.StatusBadRequest, "Unsupported authentication method.")
		return
	}
	p, ok := b.scopeProject(u, req.Auth.Scope)
	if !ok {
		b.unauthorized(w)
		return
	}
	tok, c, err := b.issue(u, p, id.Methods, parentAudit)
	if err != nil {
		b.log.ErrorContext(r.Context(), "builtin identity: issue token", "error", err)
		identityError(w, http.StatusInternalServerError, "An unexpected error prevented the server from fulfilling your request.")
		return
	}
	w.Header().Set("X-Subject-Token", tok)
	writeJSON(w, http.StatusCreated, b.tokenView(c, u, !r.URL.Query().Has("nocatalog")))
}

// scopeProject resolves the requested scope: no scope means the user's default project, the
// string "unscoped" an unscoped token; a project must be the user's. Domain, system and trust
// scopes are refused.
func (b *Builtin) scopeProject(u *builtinUser, raw json.RawMessage) (*builtinProject, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return u.project, true
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return nil, s == "unscoped"
	}
	var sc authScope
	if json.Unmarshal(raw, &sc) != nil || sc.Project == nil {
		return nil, false
	}
	var p *builtinProject
	if sc.Project.ID != "" {
		p = b.projects[sc.Project.ID]
	} else if isDefaultDomain(sc.Project.Domain) {
		p = b.projName[sc.Project.Name]
	}
	return p, p != nil && p == u.project
}

// caller verifies X-Auth-Token and answers 401 itself when it is not valid.
func (b *Builtin) caller(w http.ResponseWriter, r *http.Request) (*builtinClaims, *builtinUser, bool) {
	c, u, err := b.claims(r.Header.Get("X-Auth-Token"))
	if err != nil {
		b.unauthorized(w)
		return nil, nil, false
	}
	return c, u, true
}

func (b *Builtin) authed(h func(http.ResponseWriter, *http.Request, *builtinClaims, *builtinUser)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if c, u, ok := b.caller(w, r); ok {
			h(w, r, c, u)
		}
	}
}

func isPrivileged(c *builtinClaims) bool {
	return slices.Contains(c.Roles, "admin") || slices.Contains(c.Roles, "service")
}

// subject checks the caller and X-Subject-Token: 401 for a bad caller, 404 for a bad subject,
// 403 when a non-privileged caller asks about somebody else's token.
func (b *Builtin) subject(w http.ResponseWriter, r *http.Request) (*builtinClaims, *builtinUser, string, bool) {
	cc, cu, ok := b.caller(w, r)
	if !ok {
		return nil, nil, "", false
	}
	tok := r.Header.Get("X-Subject-Token")
	sc, su, err := b.claims(tok)
	if err != nil {
		identityError(w, http.StatusNotFound, "Could not find token.")
		return nil, nil, "", false
	}
	if !isPrivileged(cc) && su != cu {
		identityError(w, http.StatusForbidden, "You are not authorized to perform the requested action.")
		return nil, nil, "", false
	}
	return sc, su, tok, true
}

func (b *Builtin) getToken(w http.ResponseWriter, r *http.Request) {
	sc, su, tok, ok := b.subject(w, r)
	if !ok {
		return
	}
	w.Header().Set("X-Subject-Token", tok)
	writeJSON(w, http.StatusOK, b.tokenView(sc, su, !r.URL.Query().Has("nocatalog")))
}

func (b *Builtin) deleteToken(w http.ResponseWriter, r *http.Request) {
	_, _, tok, ok := b.subject(w, r)
	if !ok {
		return
	}
	if err := b.Revoke(tok); err != nil && !errors.Is(err, ErrInvalidToken) {
		identityError(w, http.StatusInternalServerError, "An unexpected error prevented the server from fulfilling your request.")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (b *Builtin) getCatalog(w http.ResponseWriter, r *http.Request, c *builtinClaims, _ *builtinUser) {
	if c.ProjectID == "" {
		identityError(w, http.StatusForbidden, "The service catalog is empty for an unscoped token.")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"catalog": b.catalogFor(c.ProjectID), "links": b.listLinks(r.URL.Path)})
}

func (b *Builtin) getAuthProjects(w http.ResponseWriter, r *http.Request, _ *builtinClaims, u *builtinUser) {
	writeJSON(w, http.StatusOK, map[string]any{"projects": []any{b.projectView(u.project)}, "links": b.listLinks(r.URL.Path)})
}

// listProjects shows every project to admins and only their own to others; ?name= filters.
func (b *Builtin) listProjects(w http.ResponseWriter, r *http.Request, c *builtinClaims, u *builtinUser) {
	name, byName := r.URL.Query().Get("name"), r.URL.Query().Has("name")
	out := []any{}
	for _, p := range b.sortedProjects() {
		if (isPrivileged(c) || p == u.project) && (!byName || p.name == name) {
			out = append(out, b.projectView(p))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"projects": out, "links": b.listLinks(r.URL.Path)})
}

// sortedProjects are the configured projects and those created over the API, by name.
func (b *Builtin) sortedProjects() []*builtinProject {
	ps := make([]*builtinProject, 0, len(b.projects))
	for _, p := range b.projects {
		ps = append(ps, p)
	}
	b.mu.Lock()
	for _, p := range b.created {
		ps = append(ps, p)
	}
	b.mu.Unlock()
	slices.SortFunc(ps, func(x, y *builtinProject) int { return strings.Compare(x.name, y.name) })
	return ps
}

// projectByID finds a configured or created project.
func (b *Builtin) projectByID(id string) (*builtinProject, bool) {
	if p, ok := b.projects[id]; ok {
		return p, true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	p, ok := b.created[id]
	return p, ok
}

// createProject (admin) adds a project in the default domain. It has no users (the built-in
// identity's users come from its configuration), so it serves to own quotas and resources
// created by admins for it; it lives until the identity restarts.
func (b *Builtin) createProject(w http.ResponseWriter, r *http.Request, c *builtinClaims, _ *builtinUser) {
	if !isPrivileged(c) {
		identityError(w, http.StatusForbidden, "You are not authorized to perform the requested action: identity:create_project.")
		return
	}
	var req struct {
		Project *struct {
			Name        string `json:"name"`
			Description string `json:"description"`
			DomainID    string `json:"domain_id"`
		} `json:"project"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil || req.Project == nil {
		identityError(w, http.StatusBadRequest, "Invalid input for field 'project': a JSON object is required.")
		return
	}
	pr := req.Project
	switch {
	case strings.TrimSpace(pr.Name) == "" || len(pr.Name) > 64:
		identityError(w, http.StatusBadRequest, "Invalid input for field 'name': a name of 1 to 64 characters is required.")
		return
	case pr.DomainID != "" && pr.DomainID != defaultDomainID:
		identityError(w, http.StatusBadRequest, "Could not find domain: "+pr.DomainID+".")
		return
	}
	b.mu.Lock()
	taken := b.projName[pr.Name] != nil
	for _, p := range b.created {
		taken = taken || p.name == pr.Name
	}
	p := &builtinProject{id: strings.ReplaceAll(uuid.NewString(), "-", ""), name: pr.Name, description: pr.Description}
	if !taken {
		b.created[p.id] = p
	}
	b.mu.Unlock()
	if taken {
		identityError(w, http.StatusConflict, "Conflict occurred attempting to store project - it is not permitted to have two projects with the same name in the same domain : "+pr.Name+".")
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"project": b.projectView(p)})
}

// deleteProject (admin) removes a project created over the API; configured ones stay (403).
func (b *Builtin) deleteProject(w http.ResponseWriter, r *http.Request, c *builtinClaims, _ *builtinUser) {
	id := r.PathValue("id")
	if !isPrivileged(c) {
		identityError(w, http.StatusForbidden, "You are not authorized to perform the requested action: identity:delete_project.")
		return
	}
	if _, ok := b.projects[id]; ok {
		identityError(w, http.StatusForbidden, "Project "+id+" comes from the configuration and cannot be deleted over the API.")
		return
	}
	b.mu.Lock()
	_, ok := b.created[id]
	delete(b.created, id)
	b.mu.Unlock()
	if !ok {
		identityError(w, http.StatusNotFound, "Could not find project: "+id+".")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// listDomains lists the one domain; ?name= filters.
func (b *Builtin) listDomains(w http.ResponseWriter, r *http.Request, _ *builtinClaims, _ *builtinUser) {
	out := []any{}
	if name := r.URL.Query().Get("name"); !r.URL.Query().Has("name") || name == defaultDomainName {
		out = append(out, b.domainView())
	}
	writeJSON(w, http.StatusOK, map[string]any{"domains": out, "links": b.listLinks(r.URL.Path)})
}

func (b *Builtin) getProject(w http.ResponseWriter, r *http.Request, c *builtinClaims, u *builtinUser) {
	p, ok := b.projectByID(r.PathValue("id"))
	switch {
	case !ok:
		identityError(w, http.StatusNotFound, "Could not find project: "+r.PathValue("id")+".")
	case !isPrivileged(c) && p != u.project:
		identityError(w, http.StatusForbidden, "You are not authorized to perform the requested action.")
	default:
		writeJSON(w, http.StatusOK, map[string]any{"project": b.projectView(p)})
	}
}

// listUsers shows every user to admins and only themselves to others; ?name= filters.
func (b *Builtin) listUsers(w http.ResponseWriter, r *http.Request, c *builtinClaims, me *builtinUser) {
	name, byName := r.URL.Query().Get("name"), r.URL.Query().Has("name")
	out := []any{}
	for _, u := range b.opts.Users {
		bu := b.byName[u.Name]
		if (isPrivileged(c) || bu == me) && (!byName || bu.Name == name) {
			out = append(out, b.userView(bu))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": out, "links": b.listLinks(r.URL.Path)})
}

func (b *Builtin) getUser(w http.ResponseWriter, r *http.Request, c *builtinClaims, me *builtinUser) {
	u, ok := b.users[r.PathValue("id")]
	switch {
	case !ok:
		identityError(w, http.StatusNotFound, "Could not find user: "+r.PathValue("id")+".")
	case !isPrivileged(c) && u != me:
		identityError(w, http.StatusForbidden, "You are not authorized to perform the requested action.")
	default:
		writeJSON(w, http.StatusOK, map[string]any{"user": b.userView(u)})
	}
}

func (b *Builtin) listRoles(w http.ResponseWriter, r *http.Request, _ *builtinClaims, _ *builtinUser) {
	names := make([]string, 0, len(b.roles))
	for n := range b.roles {
		names = append(names, n)
	}
	slices.Sort(names)
	out := []any{}
	filter, byName := r.URL.Query().Get("name"), r.URL.Query().Has("name")
	for _, n := range names {
		if !byName || n == filter {
			out = append(out, b.roleView(n, b.roles[n]))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"roles": out, "links": b.listLinks(r.URL.Path)})
}

func (b *Builtin) getDomain(w http.ResponseWriter, r *http.Request, _ *builtinClaims, _ *builtinUser) {
	if r.PathValue("id") != defaultDomainID {
		identityError(w, http.StatusNotFound, "Could not find domain: "+r.PathValue("id")+".")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"domain": b.domainView()})
}
