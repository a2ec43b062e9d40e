package keystone

import (
	"crypto/subtle"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// Catalog, version documents and resource views of the built-in identity.

const (
	defaultDomainID   = "default"
	defaultDomainName = "Default"
	identityVersion   = "v3.14"
	identityUpdated   = "2020-04-07T00:00:00Z"
)

func (b *Builtin) buildCatalog() []wireService {
	type svc struct{ typ, name, url string }
	svcs := []svc{
		{"identity", "keystone", b.opts.PublicURL + "/v3"},
		{"volumev3", "cinderv3", b.opts.VolumeURL},
		{"block-storage", "cinder", b.opts.VolumeURL},
		{"image", "glance", b.opts.ImageURL},
		{"compute", "nova", b.opts.ComputeURL},
	}
	var out []wireService
	for _, s := range svcs {
		ws := wireService{ID: stableID("service", s.typ), Type: s.typ, Name: s.name}
		for _, iface := range []string{"public", "internal", "admin"} {
			ws.Endpoints = append(ws.Endpoints, wireEndpoint{
				ID: stableID("endpoint", s.typ+"/"+iface), Interface: iface,
				Region: b.opts.Region, RegionID: b.opts.Region, URL: s.url,
			})
		}
		out = append(out, ws)
	}
	return out
}

// catalogFor substitutes the project id into endpoint URLs as Keystone does; for an unscoped
// token (projectID empty) endpoints that need a project id are left out.
func (b *Builtin) catalogFor(projectID string) []wireService {
	out := make([]wireService, 0, len(b.catalog))
	for _, s := range b.catalog {
		ns := s
		ns.Endpoints = nil
		for _, e := range s.Endpoints {
			url, ok := substituteProject(e.URL, projectID)
			if !ok {
				continue
			}
			e.URL = url
			ns.Endpoints = append(ns.Endpoints, e)
		}
		if len(ns.Endpoints) > 0 {
			out = append(out, ns)
		}
	}
	return out
}

func substituteProject(url, projectID string) (string, bool) {
	needs := false
	for _, pat := range []string{"%(project_id)s", "$(project_id)s", "%(tenant_id)s", "$(tenant_id)s"} {
		if strings.Contains(url, pat) {
			needs = true
			url = strings.ReplaceAll(url, pat, projectID)
		}
	}
	return url, !needs || projectID != ""
}

func (b *Builtin) versionDoc() map[string]any {
	return map[string]any{
		"id": identityVersion, "status": "stable", "updated": identityUpdated,
		"links": []map[string]string{{"rel": "self", "href": b.opts.PublicURL + "/v3/"}},
		"media-types": []map[string]string{{
			"base": "application/json", "type": "application/vnd.openstack.identity-v3+json",
		}},
	}
}

func (b *Builtin) domainRef() idName { return idName{ID: defaultDomainID, Name: defaultDomainName} }

func (b *Builtin) link(path string) map[string]any {
	return map[string]any{"self": b.opts.PublicURL + path}
}

func (b *Builtin) listLinks(path string) map[string]any {
	return map[string]any{"self": b.opts.PublicURL + path, "previous": nil, "next": nil}
}

func (b *Builtin) projectView(p *builtinProject) map[string]any {
	return map[string]any{
		"id": p.id, "name": p.name, "domain_id": defaultDomainID, "description": p.description,
		"enabled": true, "is_domain": false, "parent_id": defaultDomainID, "tags": []string{},
		"options": map[string]any{}, "links": b.link("/v3/projects/" + p.id),
	}
}

func (b *Builtin) userView(u *builtinUser) map[string]any {
	return map[string]any{
		"id": u.id, "name": u.Name, "domain_id": defaultDomainID, "enabled": true,
		"default_project_id": u.project.id, "password_expires_at": nil, "options": map[string]any{},
		"links": b.link("/v3/users/" + u.id),
	}
}

func (b *Builtin) roleView(name, id string) map[string]any {
	return map[string]any{
		"id": id, "name": name, "domain_id": nil, "description": nil, "options": map[string]any{},
		"links": b.link("/v3/roles/" + id),
	}
}

func (b *Builtin) domainView() map[string]any {
	return map[string]any{
		"id": defaultDomainID, "name": defaultDomainName, "description": "The default domain",
		"enabled": true, "tags": []string{}, "options": map[string]any{},
		"links": b.link("/v3/domains/" + defaultDomainID),
	}
}

// tokenView renders claims as Keystone's token body.
func (b *Builtin) tokenView(c *builtinClaims, u *builtinUser, withCatalog bool) wireTokenBody {
	t := wireToken{
		Methods:   c.Methods,
		User:      wireUser{ID: u.id, Name: u.Name, Domain: b.domainRef()},
		ExpiresAt: formatTime(c.ExpiresAt.Time),
		IssuedAt:  formatTime(c.IssuedAt.Time),
		AuditIDs:  c.AuditIDs,
	}
	if c.ProjectID != "" {
		p := b.projects[c.ProjectID]
		t.Project = &wireProject{ID: p.id, Name: p.name, Domain: b.domainRef()}
		f := false
		t.IsDomain = &f
		for _, r := range c.Roles {
			t.Roles = append(t.Roles, idName{ID: b.roles[r], Name: r})
		}
	}
	if withCatalog {
		t.Catalog = b.catalogFor(c.ProjectID)
		if t.Catalog == nil {
			t.Catalog = []wireService{}
		}
	}
	return wireTokenBody{Token: t}
}

// checkPassword compares pw with the user's hash or clear-text password in constant time.
func (u *builtinUser) checkPassword(pw string) bool {
	if u.PasswordHash != "" {
		return bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(pw)) == nil
	}
	return subtle.ConstantTimeCompare([]byte(u.Password), []byte(pw)) == 1
}
