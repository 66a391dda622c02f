package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/regcase/regcase/internal/regcase"
)

// SQLSTATE codes the store reacts to.
const (
	codeUniqueViolation      = "23505"
	codeForeignKeyViolation  = "23503"
	codeInvalidText          = "22P02"
	codeSerializationFailure = "40001"
	codeDeadlockDetected     = "40P01"
	codeUndefinedTable       = "42P01"
	// codeInsufficientPrivilege is a missing GRANT (or the audit tables'
	// append-only trigger).
	codeInsufficientPrivilege = "42501"
)

// constraintIdempotencyKey is the unique constraint on reports.idempotency_key
// (named in migrations/0001_init.sql); its violation is
// regcase.ErrIdempotencyKeyTaken.
const constraintIdempotencyKey = "reports_idempotency_key_key"

// translate turns a driver error into a domain error. op names the
// operation for logs ("insert report"); what names the entity for the
// client-safe messages ("report"). nil stays nil.
func translate(err error, op, what string) error {
	if err == nil {
		return nil
	}
	var domErr *regcase.Error
	if errors.As(err, &domErr) {
		return err // already translated (e.g. by a nested helper)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return regcase.Errorf(regcase.ENotFound, "%s not found", what)
	}
	wrapped := fmt.Errorf("postgres: %s: %w", op, err)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case codeUniqueViolation:
			if pgErr.ConstraintName == constraintIdempotencyKey {
				return regcase.ErrIdempotencyKeyTaken
			}
			return &regcase.Error{Code: regcase.EConflict, Message: what + " already exists", Err: wrapped}
		case codeForeignKeyViolation:
			return &regcase.Error{Code: regcase.ENotFound, Message: what + " refers to a record that does not exist", Err: wrapped}
		case codeInvalidText, "22021", "22P05":
			return &regcase.Error{Code: regcase.EInvalid, Message: "invalid value for " + what, Err: wrapped}
		case "42501": // insufficient_privilege: this login's role may not do it
			return &regcase.Error{Code: regcase.EForbidden, Message: "the database role may not " + op, Err: wrapped}
		case codeSerializationFailure, codeDeadlockDetected:
			return &regcase.Error{Code: regcase.EConflict, Message: "concurrent update, please retry", Err: wrapped}
		}
	}
	if isUnavailable(err) {
		return &regcase.Error{Code: regcase.EUnavailable, Message: "database unavailable", Err: wrapped}
	}
	return regcase.Internal(wrapped)
}

// isRetryable reports whether err (possibly translated) is a serialization
// failure or a deadlock, which InTx retries.
func isRetryable(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	return pgErr.Code == codeSerializationFailure || pgErr.Code == codeDeadlockDetected
}

// isUnavailable reports whether err means the database could not be reached
// or the request ran out of time: the caller may try again later.
func isUnavailable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case strings.HasPrefix(pgErr.Code, "08"): // connection exception
			return true
		case pgErr.Code == "57P01", pgErr.Code == "57P02", pgErr.Code == "57P03": // shutdown, cannot connect now
			return true
		case pgErr.Code == "53300": // too many connections
			return true
		}
		return false
	}
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) || pgconn.Timeout(err) || pgconn.SafeToRetry(err) {
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	// pgxpool reports a closed pool with puddle's plain error.
	return strings.Contains(err.Error(), "closed pool")
}

// isUndefinedTable reports whether err says a table does not exist.
func isUndefinedTable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == codeUndefinedTable
}
