package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/dlvm-project/dlvm/internal/agentauth"
	"github.com/dlvm-project/dlvm/model"
)

// errorKinds is the one table between model error kinds and the agent's wire errors; the
// server walks it to answer, the client to map answers back. Errors of no listed kind are
// "internal" (500).
var errorKinds = []struct {
	kind   error
	name   string
	status int
}{
	{agentauth.ErrStaleEpoch, "stale_epoch", http.StatusConflict},
	{model.ErrNotFound, "not_found", http.StatusNotFound},
	{model.ErrConflict, "conflict", http.StatusConflict},
	{model.ErrInvalid, "invalid", http.StatusBadRequest},
	{model.ErrForbidden, "forbidden", http.StatusUnauthorized},
	{model.ErrUnavailable, "unavailable", http.StatusServiceUnavailable},
}

// errorBody is the JSON of every error answer.
type errorBody struct {
	Error wireError `json:"error"`
}

type wireError struct {
	Kind    string `json:"kind"`    // stale_epoch, not_found, conflict, invalid, forbidden, unavailable, internal
	Message string `json:"message"` // user-safe text (model.UserMessage)
	Detail  string `json:"detail"`  // the full error, for logs
}

func toWire(err error) (int, errorBody) {
	body := errorBody{Error: wireError{Kind: "internal", Message: model.UserMessage(err), Detail: err.Error()}}
	for _, k := range errorKinds {
		if errors.Is(err, k.kind) {
			body.Error.Kind = k.name
			return k.status, body
		}
	}
	return http.StatusInternalServerError, body
}

// RemoteError is an error answer of an agent. Client methods return it wrapped in a
// model.UserError of the matching kind, so errors.Is(err, model.ErrNotFound) works and
// errors.As finds the RemoteError.
type RemoteError struct {
	Status  int
	Kind    string
	Message string
	Detail  string
}

func (e *RemoteError) Error() string {
	d := e.Detail
	if d == "" {
		d = e.Message
	}
	return fmt.Sprintf("dpv agent: %d %s: %s", e.Status, e.Kind, d)
}

// fromWire turns an error answer into a kinded error.
func fromWire(status int, data []byte) error {
	var body errorBody
	re := &RemoteError{Status: status, Kind: "internal", Message: http.StatusText(status)}
	if json.Unmarshal(data, &body) == nil && body.Error.Kind != "" {
		re.Kind, re.Message, re.Detail = body.Error.Kind, body.Error.Message, body.Error.Detail
	}
	for _, k := range errorKinds {
		if k.name == re.Kind || (body.Error.Kind == "" && k.status == status) {
			return model.Wrap(k.kind, re, re.Message)
		}
	}
	return re
}
