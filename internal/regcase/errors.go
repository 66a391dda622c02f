package regcase

import (
	"errors"
	"fmt"
)

// ErrorCode classifies a domain error. The HTTP layer maps each code to one
// status and one problem type; stores translate driver errors into codes.
type ErrorCode string

// The error codes. Keep the list short: it is the contract with clients.
const (
	EInvalid              ErrorCode = "invalid"               // 422: input breaks a rule
	ENotFound             ErrorCode = "not_found"             // 404
	EConflict             ErrorCode = "conflict"              // 409: illegal transition, duplicate
	EPreconditionFailed   ErrorCode = "precondition_failed"   // 412: stale ETag / version
	EPreconditionRequired ErrorCode = "precondition_required" // 428: If-Match missing
	EIdempotencyMismatch  ErrorCode = "idempotency_mismatch"  // 422: same key, different body
	EUnauthorized         ErrorCode = "unauthorized"          // 401
	EForbidden            ErrorCode = "forbidden"             // 403: the role may not do this at all
	EObjectForbidden      ErrorCode = "object_forbidden"      // 403: the role may, but not on this case (not its assignee)
	ERateLimited          ErrorCode = "rate_limited"          // 429
	ETooLarge             ErrorCode = "too_large"             // 413: an upload over its size limit
	EUnsupportedType      ErrorCode = "unsupported_type"      // 415: an upload whose sniffed type is not allowed
	EUnavailable          ErrorCode = "unavailable"           // 503
	EInternal             ErrorCode = "internal"              // 500
)

// Error is the one error type of the domain. Message is safe to show to a
// client; Err (the cause) is for logs only.
type Error struct {
	Code    ErrorCode
	Message string
	Field   string // the offending input field, when there is one
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with a formatted, client-safe message.
func Errorf(code ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldError returns an EInvalid error naming the offending field.
func FieldError(field, format string, args ...any) *Error {
	return &Error{Code: EInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Internal wraps an unexpected error; its message never reaches a client.
func Internal(err error) *Error {
	return &Error{Code: EInternal, Message: "internal error", Err: err}
}

// ErrorCodeOf returns the code of err, EInternal for foreign errors and ""
// for nil.
func ErrorCodeOf(err error) ErrorCode {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns the client-safe message of err.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Code != EInternal {
		return e.Message
	}
	return "internal error"
}
