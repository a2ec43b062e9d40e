package keystone

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// ErrInvalidToken is the kind of every error that means "this token does not authenticate
// anybody": malformed, forged, expired, revoked, unknown to Keystone. The middleware answers 401.
// Errors wrapping model.ErrUnavailable mean the token could not be checked now (503).
var ErrInvalidToken = errors.New("invalid token")

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidToken, fmt.Sprintf(format, args...))
}

const unauthorizedMessage = "The request you have made requires authentication."

// writeFault writes a Cinder-style fault {"<name>":{"code":N,"message":"..."}}.
func writeFault(w http.ResponseWriter, code int, name, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{name: map[string]any{"code": code, "message": msg}})
}

// writeUnauthorized writes the 401 fault with the WWW-Authenticate header clients use to find
// Keystone.
func writeUnauthorized(w http.ResponseWriter, wwwAuthURI string) {
	w.Header().Set("WWW-Authenticate", fmt.Sprintf("Keystone uri=%q", wwwAuthURI))
	writeFault(w, http.StatusUnauthorized, "unauthorized", unauthorizedMessage)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
