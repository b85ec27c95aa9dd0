package approvals

import (
	"errors"
	"fmt"
)

// Error codes. A user sees the message of an *Error; anything else is an
// internal error and is logged, not shown.
const (
	EINVALID   = "invalid"   // bad input; the message says what to fix
	ENOTFOUND  = "not_found" // no such post, occurrence, target, ...
	ECONFLICT  = "conflict"  // the request does not fit the current state
	EFORBIDDEN = "forbidden" // the person may not do this
	// EUNAVAILABLE: the store cannot be written (a full disk); nothing
	// was changed, and the same request later may succeed.
	EUNAVAILABLE = "unavailable"
	EINTERNAL    = "internal"
)

// Error is an error a person can act on.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with the given code.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err, or EINTERNAL.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if err == nil {
		return ""
	}
	return EINTERNAL
}

// ErrorMessage returns what a person should see for err.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	if err == nil {
		return ""
	}
	return "internal error; see heed's log"
}
