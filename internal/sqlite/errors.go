package sqlite

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/regcase/regcase/internal/regcase"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// uniqueMessages names, per unique constraint (as SQLite reports it), the
// client-safe message of the conflict.
var uniqueMessages = map[string]string{
	"reports.id":                             "a report with this id already exists",
	"reports.tracking_code":                  "a report with this tracking code already exists",
	"cases.id":                               "a case with this id already exists",
	"cases.number":                           "a case with this number already exists",
	"notes.id":                               "a note with this id already exists",
	"api_tokens.id":                          "a token with this id already exists",
	"api_tokens.hash":                        "a token with this secret already exists",
	"outbox.event_id":                        "an event with this id already exists",
	"audit_checkpoints.id":                   "a checkpoint with this id already exists",
	"audit_records.chain, audit_records.seq": "an audit record with this sequence already exists",
	"webhooks.id":                            "a webhook with this id already exists",
	"webhook_deliveries.id":                  "a delivery with this id already exists",
	"webhook_deliveries.webhook_id, webhook_deliveries.event_id": "this event already has a delivery to this webhook",
	"dead_events.handler, dead_events.event_id":                  "this handler already has an unreplayed dead letter for this event",
}

// translate turns a driver error into a domain error. op names the
// operation for logs ("insert report"); what names the entity for the
// client-safe messages ("report") where the constraint does not say more.
// Unique violations are EConflict (ErrIdempotencyKeyTaken for
// reports.idempotency_key), foreign key violations ENotFound, a busy or
// unreachable database EUnavailable, anything else EInternal wrapping
// "sqlite: <op>: <cause>". Domain errors pass unchanged; nil stays nil.
func translate(err error, op, what string) error {
	if err == nil {
		return nil
	}
	var de *regcase.Error
	if errors.As(err, &de) {
		return err
	}
	cause := fmt.Errorf("sqlite: %s: %w", op, err)
	if errors.Is(err, context.DeadlineExceeded) {
		return &regcase.Error{Code: regcase.EUnavailable, Message: "the database did not answer in time", Err: cause}
	}
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return regcase.Internal(cause)
	}
	switch code := se.Code(); {
	case code == sqlite3.SQLITE_CONSTRAINT_UNIQUE || code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		if strings.Contains(se.Error(), "reports.idempotency_key") {
			return regcase.ErrIdempotencyKeyTaken
		}
		msg := "the " + what + " already exists"
		for constraint, m := range uniqueMessages {
			if strings.Contains(se.Error(), "failed: "+constraint+" ") || strings.HasSuffix(se.Error(), "failed: "+constraint) {
				msg = m
				break
			}
		}
		return &regcase.Error{Code: regcase.EConflict, Message: msg, Err: cause}
	case code == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return &regcase.Error{Code: regcase.ENotFound, Message: what + " refers to a record that does not exist", Err: cause}
	case code&0xff == sqlite3.SQLITE_BUSY || code&0xff == sqlite3.SQLITE_LOCKED:
		return &regcase.Error{Code: regcase.EUnavailable, Message: "the database is busy; try again", Err: cause}
	case code&0xff == sqlite3.SQLITE_CANTOPEN:
		return &regcase.Error{Code: regcase.EUnavailable, Message: "the database cannot be opened", Err: cause}
	}
	return regcase.Internal(cause)
}

// isBusy reports whether err comes from a lock another connection held past
// the busy timeout: the one failure worth running a transaction again for.
func isBusy(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	c := se.Code() & 0xff
	return c == sqlite3.SQLITE_BUSY || c == sqlite3.SQLITE_LOCKED
}
