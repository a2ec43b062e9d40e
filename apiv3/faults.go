package apiv3

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/dlvm-project/dlvm/model"
)

// fault is an error answered as a Cinder fault body {"<name>":{"code":N,"message":"..."}}.
type fault struct {
	status int
	msg    string
}

func (f *fault) Error() string { return fmt.Sprintf("%d %s", f.status, f.msg) }

func badRequest(format string, args ...any) error {
	return &fault{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) error {
	return &fault{http.StatusNotFound, fmt.Sprintf(format, args...)}
}

func forbidden(format string, args ...any) error {
	return &fault{http.StatusForbidden, fmt.Sprintf(format, args...)}
}

// faultNames maps a status to Cinder's fault name; anything else is computeFault.
var faultNames = map[int]string{
	http.StatusBadRequest:            "badRequest",
	http.StatusUnauthorized:          "unauthorized",
	http.StatusForbidden:             "forbidden",
	http.StatusNotFound:              "itemNotFound",
	http.StatusMethodNotAllowed:      "badMethod",
	http.StatusConflict:              "conflictingRequest",
	http.StatusRequestEntityTooLarge: "overLimit",
	http.StatusUnsupportedMediaType:  "badMediaType",
	http.StatusNotImplemented:        "notImplemented",
	http.StatusServiceUnavailable:    "serviceUnavailable",
}

func faultName(status int) string {
	if n, ok := faultNames[status]; ok {
		return n
	}
	return "computeFault"
}

// errorStatus is THE table from error kinds to HTTP statuses. The message is always
// model.UserMessage(err) (or the fault's own text), never an internal cause.
func errorStatus(err error) (int, string) {
	var f *fault
	if errors.As(err, &f) {
		return f.status, f.msg
	}
	var ve *versionError
	if errors.As(err, &ve) {
		return ve.status, ve.msg
	}
	msg := model.UserMessage(err)
	switch {
	case errors.Is(err, model.ErrQuotaExceeded):
		return http.StatusRequestEntityTooLarge, msg
	case errors.Is(err, model.ErrInvalid):
		return http.StatusBadRequest, msg
	case errors.Is(err, model.ErrNotFound):
		return http.StatusNotFound, msg
	case errors.Is(err, model.ErrConflict):
		return http.StatusConflict, msg
	case errors.Is(err, model.ErrForbidden):
		return http.StatusForbidden, msg
	case errors.Is(err, model.ErrUnavailable), errors.Is(err, model.ErrNoPlacement):
		return http.StatusServiceUnavailable, msg
	}
	return http.StatusInternalServerError, msg
}

// writeFault answers err as a fault; internal causes go to the log only, with the request id.
func writeFault(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	status, msg := errorStatus(err)
	if status >= 500 {
		log.ErrorContext(r.Context(), "request failed", "request_id", requestID(r.Context()),
			"method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	} else {
		log.DebugContext(r.Context(), "request refused", "request_id", requestID(r.Context()),
			"status", status, "err", err)
	}
	if status == http.StatusRequestEntityTooLarge {
		w.Header().Set("Retry-After", "0")
	}
	writeJSON(w, status, map[string]any{faultName(status): map[string]any{"code": status, "message": msg}})
}

// writeJSON writes v as the JSON body with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := appendJSON(nil, v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"computeFault":{"code":500,"message":"The server has either erred or is incapable of performing the requested operation."}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeEmpty answers status with no body (202 accepted, 204...).
func writeEmpty(w http.ResponseWriter, status int) {
	if status != http.StatusNoContent {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "0")
	}
	w.WriteHeader(status)
}
