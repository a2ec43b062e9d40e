package keystone

import (
	"time"
)

// Keystone v3 wire types shared by the remote validator (reading) and the built-in identity
// (writing).

type idName struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

type wireUser struct {
	ID                string  `json:"id"`
	Name              string  `json:"name"`
	Domain            idName  `json:"domain"`
	PasswordExpiresAt *string `json:"password_expires_at"`
}

type wireProject struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Domain idName `json:"domain"`
}

type wireEndpoint struct {
	ID        string `json:"id"`
	Interface string `json:"interface"`
	Region    string `json:"region"`
	RegionID  string `json:"region_id"`
	URL       string `json:"url"`
}

type wireService struct {
	ID        string         `json:"id"`
	Type      string         `json:"type"`
	Name      string         `json:"name"`
	Endpoints []wireEndpoint `json:"endpoints"`
}

type wireToken struct {
	Methods   []string      `json:"methods"`
	User      wireUser      `json:"user"`
	Project   *wireProject  `json:"project,omitempty"`
	Domain    *idName       `json:"domain,omitempty"`
	Roles     []idName      `json:"roles,omitempty"`
	Catalog   []wireService `json:"catalog,omitempty"`
	IsDomain  *bool         `json:"is_domain,omitempty"`
	ExpiresAt string        `json:"expires_at"`
	IssuedAt  string        `json:"issued_at"`
	AuditIDs  []string      `json:"audit_ids"`
}

type wireTokenBody struct {
	Token wireToken `json:"token"`
}

// keystoneTime is how Keystone writes times: 2024-05-01T12:00:00.000000Z.
const keystoneTime = "2006-01-02T15:04:05.000000Z"

func formatTime(t time.Time) string { return t.UTC().Format(keystoneTime) }

// parseTime accepts Keystone's format and any RFC 3339 time.
func parseTime(s string) (time.Time, error) { return time.Parse(time.RFC3339, s) }

// context turns a validated token body into an auth Context.
func (t *wireToken) context(token string) (*Context, error) {
	exp, err := parseTime(t.ExpiresAt)
	if err != nil {
		return nil, invalidf("token expires_at %q: %v", t.ExpiresAt, err)
	}
	ac := Context{Token: token, UserID: t.User.ID, UserName: t.User.Name, DomainID: t.User.Domain.ID, ExpiresAt: exp}
	if t.Project != nil {
		ac.ProjectID, ac.ProjectName, ac.DomainID = t.Project.ID, t.Project.Name, t.Project.Domain.ID
	} else if t.Domain != nil {
		ac.DomainID = t.Domain.ID
	}
	for _, r := range t.Roles {
		ac.Roles = append(ac.Roles, r.Name)
	}
	if ac.UserID == "" {
		return nil, invalidf("token without user")
	}
	return newContext(ac), nil
}
