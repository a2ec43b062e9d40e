package apiv3

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

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
	writeBody(w, status, b)
}

// writeBody answers status with the JSON body b, its length known.
func writeBody(w http.ResponseWriter, status int, b []byte) {
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// rawField is a member of a JSON object whose value is already encoded: val, or when list is
// non-nil the array of its encoded items.
type rawField struct {
	key  string
	val  []byte
	list [][]byte
}

// bodyPool recycles the buffers of large JSON bodies (a page of volume views is ~100 KiB).
var bodyPool = sync.Pool{New: func() any { return new([]byte) }}

// writeJSONObject answers status with the object of fields, byte for byte what writeJSON gives
// for the map of the decoded values: keys in sorted order.
func writeJSONObject(w http.ResponseWriter, status int, fields []rawField) {
	slices.SortFunc(fields, func(a, b rawField) int { return strings.Compare(a.key, b.key) })
	n := 2
	for _, f := range fields {
		n += len(f.key) + len(f.val) + 6
		for _, it := range f.list {
			n += len(it) + 1
		}
	}
	buf := bodyPool.Get().(*[]byte)
	defer bodyPool.Put(buf)
	b := slices.Grow((*buf)[:0], n)
	b = append(b, '{')
	for i, f := range fields {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, f.key)
		b = append(b, ':')
		if f.list == nil {
			b = append(b, f.val...)
			continue
		}
		b = append(b, '[')
		for j, it := range f.list {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, it...)
		}
		b = append(b, ']')
	}
	b = append(b, '}')
	writeBody(w, status, b)
	if cap(b) <= 4<<20 {
		*buf = b
	}
}

// writeEmpty answers status with no body (202 accepted, 204...).
func writeEmpty(w http.ResponseWriter, status int) {
	if status != http.StatusNoContent {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "0")
	}
	w.WriteHeader(status)
}
