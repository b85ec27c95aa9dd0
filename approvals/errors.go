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
	// Field names the input the message is about, for forms that show it
	// next to that input: FieldText, FieldTargets, FieldTime, FieldLink;
	// "" when it is about none in particular.
	Field string
}

// The inputs of a new post an *Error can be about.
const (
	FieldText    = "text"
	FieldTargets = "targets"
	FieldTime    = "time"
	FieldLink    = "link"
)

// On sets the input e is about and returns e.
func (e *Error) On(field string) *Error {
	e.Field = field
	return e
}

// ErrorField returns the input err is about, or "".
func ErrorField(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
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
