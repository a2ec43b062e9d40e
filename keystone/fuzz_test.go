package keystone

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzPostToken feeds arbitrary bodies to POST /v3/auth/tokens: the handler never panics, answers
// only 201, 400 or 401, and issues a token only for the right password.
func FuzzPostToken(f *testing.F) {
	f.Add(`{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"demo","domain":{"id":"default"},"password":"demopass"}}}}}`)
	f.Add(`{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"demo","domain":{"name":"Default"},"password":"x"}}},"scope":"unscoped"}}`)
	f.Add(`{"auth":{"identity":{"methods":["token"],"token":{"id":"a.b.c"}},"scope":{"project":{"id":"x"}}}}`)
	f.Add(`{"auth":{"identity":{"methods":["password"],"password":{"user":{}}},"scope":{"domain":{"id":"default"}}}}`)
	f.Add(`[]`)
	b, err := NewBuiltin(BuiltinOptions{Users: []User{
		{Name: "demo", Password: "demopass", Project: "demo", Roles: []string{"member"}},
	}}, nil)
	if err != nil {
		f.Fatal(err)
	}
	h := b.Handler()
	f.Fuzz(func(t *testing.T, body string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v3/auth/tokens", strings.NewReader(body)))
		switch rec.Code {
		case http.StatusCreated:
			if !strings.Contains(body, "demopass") && !strings.Contains(body, `"token"`) {
				t.Fatalf("token issued without the password: %s", body)
			}
		case http.StatusBadRequest, http.StatusUnauthorized:
		default:
			t.Fatalf("unexpected status %d for %s", rec.Code, body)
		}
	})
}

// FuzzNoAuthContext checks the noauth strategy never panics and always yields a user and project.
func FuzzNoAuthContext(f *testing.F) {
	f.Add("/v3/p1/volumes", "alice:p1")
	f.Add("/v3/volumes", "tok")
	f.Add("/v3/", ":")
	f.Fuzz(func(t *testing.T, path, token string) {
		if token == "" {
			return
		}
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.URL.Path = path
		ac := noAuthContext(r, token)
		if ac.UserID == "" || ac.ProjectID == "" || !ac.IsAdmin {
			t.Fatalf("bad context %+v for %q %q", ac, path, token)
		}
	})
}
