package model

import (
	"errors"
	"fmt"
)

// Error kinds. Every package wraps one of these (with %w, or through Errorf) so that the API edge
// can turn it into a Cinder fault with one table; nobody matches error strings.
var (
	ErrNotFound      = errors.New("not found")
	ErrConflict      = errors.New("conflict")       // invalid state, in use, already exists
	ErrInvalid       = errors.New("invalid input")  // bad request
	ErrQuotaExceeded = errors.New("quota exceeded") // see *QuotaError
	ErrForbidden     = errors.New("forbidden")      // policy refused
	ErrUnavailable   = errors.New("unavailable")    // a backend (dpv, bus) cannot be reached now
	ErrNoPlacement   = errors.New("no valid placement")
)

// UserError carries a message safe to show to API users, apart from any internal cause.
type UserError struct {
	Kind  error  // one of the Err* kinds above
	Msg   string // user-facing text, never command output or SQL
	Cause error  // internal cause for logs; may be nil
}

func (e *UserError) Error() string {
	if e.Cause != nil {
		return e.Msg + ": " + e.Cause.Error()
	}
	return e.Msg
}

// Is makes errors.Is(err, ErrNotFound) etc. work on a UserError.
func (e *UserError) Is(target error) bool { return target == e.Kind }

// Unwrap exposes the internal cause.
func (e *UserError) Unwrap() error { return e.Cause }

// Errorf returns a UserError of the given kind whose message is the formatted text.
func Errorf(kind error, format string, args ...any) error {
	return &UserError{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// Wrap returns a UserError of the given kind with a user message and an internal cause.
func Wrap(kind error, cause error, msg string) error {
	return &UserError{Kind: kind, Msg: msg, Cause: cause}
}

// UserMessage returns the user-safe message of err: the UserError's text if there is one in the
// chain, else a generic text for its kind.
func UserMessage(err error) string {
	var ue *UserError
	if errors.As(err, &ue) {
		return ue.Msg
	}
	var qe *QuotaError
	if errors.As(err, &qe) {
		return qe.Error()
	}
	switch {
	case errors.Is(err, ErrNotFound):
		return "The resource could not be found."
	case errors.Is(err, ErrConflict):
		return "The request conflicts with the current state of the resource."
	case errors.Is(err, ErrInvalid):
		return "Invalid input received."
	case errors.Is(err, ErrForbidden):
		return "Policy doesn't allow this operation to be performed."
	case errors.Is(err, ErrUnavailable):
		return "The service is temporarily unavailable."
	}
	return "The server has either erred or is incapable of performing the requested operation."
}

// QuotaError reports which resource a reservation would push over its limit.
type QuotaError struct {
	Resource  string
	Requested int64
	InUse     int64 // in use + reserved at the time of the check
	Limit     int64
}

func (e *QuotaError) Error() string {
	if e.Resource == "gigabytes" || e.Resource == "snapshot_gigabytes" || e.Resource == "backup_gigabytes" {
		return fmt.Sprintf("VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed %s quota. Requested %dG, quota is %dG and %dG has been consumed.",
			e.Resource, e.Requested, e.Limit, e.InUse)
	}
	return fmt.Sprintf("Maximum number of %s allowed (%d) exceeded", e.Resource, e.Limit)
}

// Is makes errors.Is(err, ErrQuotaExceeded) true for a QuotaError.
func (e *QuotaError) Is(target error) bool { return target == ErrQuotaExceeded }
