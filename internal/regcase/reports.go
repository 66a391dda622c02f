package regcase

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"time"
)

// SubmitReport is the input of report intake.
type SubmitReport struct {
	Channel     Channel    `json:"channel"`
	Category    string     `json:"category"`
	Subject     Subject    `json:"subject"`
	Description string     `json:"description"`
	Location    string     `json:"location,omitempty"`
	OccurredAt  *time.Time `json:"occurred_at,omitempty"`
	Reporter    *Reporter  `json:"reporter,omitempty"`
}

// Submission is the result of intake: what the reporter keeps.
type Submission struct {
	Report       *Report
	StatusSecret string
	Replayed     bool // true when an Idempotency-Key replay returned the original
}

func (s *Service) validateSubmit(in *SubmitReport) error {
	if !slices.Contains(Channels, in.Channel) {
		return FieldError("channel", "unknown channel %q (web, api, phone, email, inspection)", in.Channel)
	}
	if err := s.checkCategory(in.Category); err != nil {
		return err
	}
	if err := checkSubject(in.Subject); err != nil {
		return err
	}
	if err := checkText("description", in.Description, true, 10000); err != nil {
		return err
	}
	if err := checkText("location", in.Location, false, 500); err != nil {
		return err
	}
	if in.OccurredAt != nil && in.OccurredAt.After(s.cfg.Now().Add(time.Hour)) {
		return FieldError("occurred_at", "occurred_at is in the future")
	}
	if r := in.Reporter; r != nil {
		for f, v := range map[string]string{"reporter.name": r.Name, "reporter.email": r.Email, "reporter.phone": r.Phone} {
			if err := checkText(f, v, false, 300); err != nil {
				return err
			}
		}
		if r.Email != "" && !validEmail(r.Email) {
			return FieldError("reporter.email", "reporter.email is not an e-mail address")
		}
		if r.Updates && r.Email == "" {
			return FieldError("reporter.updates", "reporter.updates needs reporter.email (where the updates go)")
		}
	}
	return nil
}

func validEmail(e string) bool {
	at := bytes.IndexByte([]byte(e), '@')
	return at > 0 && at < len(e)-1 && !bytes.ContainsAny([]byte(e), " \t\r\n<>")
}

// Submit takes in a report. With an idempotency key, a replay of the same
// body within IdempotencyRetention returns the original submission
// (Replayed set); a different body or a key older than the retention
// returns EIdempotencyMismatch. Erasure forgets the key (it is then new). Errors: EInvalid for bad input.
func (s *Service) Submit(ctx context.Context, a Actor, in SubmitReport, idemKey string) (*Submission, error) {
	if err := Authorize(a, ActReportCreate); err != nil {
		return nil, err
	}
	if err := s.validateSubmit(&in); err != nil {
		return nil, err
	}
	if err := checkText("Idempotency-Key", idemKey, false, 200); err != nil {
		return nil, err
	}
	canon, err := CanonicalJSON(in)
	if err != nil {
		return nil, Internal(err)
	}
	reqHash := s.cfg.Keyring.Digest("intake-request", canon)
	if idemKey != "" {
		if sub, err := s.replay(ctx, idemKey, reqHash); sub != nil || err != nil {
			return sub, err
		}
	}
	now := s.now()
	r := &Report{
		ID: s.cfg.NewID(), Channel: in.Channel, Category: in.Category, Subject: in.Subject,
		Description: in.Description, Location: in.Location, OccurredAt: in.OccurredAt,
		ReceivedAt: now, UpdatedAt: now, Status: ReportReceived,
		IdempotencyKey: idemKey, RequestHash: reqHash,
	}
	if r.TrackingCode, err = s.trackingCode(); err != nil {
		return nil, Internal(err)
	}
	secret := s.cfg.Keyring.StatusSecret(r.ID)
	r.StatusSecretHash = HashSecret(secret)
	if !in.Reporter.Empty() {
		r.HasReporter = true
		if r.ReporterCipher, r.WrappedKey, err = s.cfg.Keyring.Encrypt(r.ID, in.Reporter); err != nil {
			return nil, Internal(err)
		}
	}
	rec, ev, err := s.newRecord(ctx, a, now, change{
		action: "report.received", entityType: "report", entityID: r.ID,
		data: map[string]any{"tracking_code": r.TrackingCode, "channel": r.Channel, "category": r.Category,
			"subject": r.Subject, "has_reporter": r.HasReporter},
		state: s.reportState(r),
	})
	if err != nil {
		return nil, err
	}
	err = s.cfg.Store.Intake(ctx, r, rec, ev)
	if errors.Is(err, ErrIdempotencyKeyTaken) {
		// Lost a race with a concurrent request carrying the same key.
		if sub, err := s.replay(ctx, idemKey, reqHash); sub != nil || err != nil {
			return sub, err
		}
	}
	if err != nil {
		return nil, err
	}
	return &Submission{Report: r, StatusSecret: secret}, nil
}

func (s *Service) replay(ctx context.Context, key string, reqHash []byte) (*Submission, error) {
	prev, err := s.cfg.Store.GetReportByIdempotencyKey(ctx, key)
	if ErrorCodeOf(err) == ENotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if s.now().Sub(prev.ReceivedAt) > s.cfg.IdempotencyRetention {
		// Past its retention a key confirms nothing (neither the body nor
		// the status secret): a guesser replaying a body learns nothing.
		return nil, &Error{Code: EIdempotencyMismatch, Field: "Idempotency-Key",
			Message: fmt.Sprintf("this Idempotency-Key is older than its retention (%s); send the report with a new key", s.cfg.IdempotencyRetention)}
	}
	if !bytes.Equal(prev.RequestHash, reqHash) {
		return nil, &Error{Code: EIdempotencyMismatch, Field: "Idempotency-Key",
			Message: "this Idempotency-Key was used with a different request body"}
	}
	return &Submission{Report: prev, StatusSecret: s.cfg.Keyring.StatusSecret(prev.ID), Replayed: true}, nil
}

// PublicStatus is the coarse state a reporter may see.
type PublicStatus struct {
	TrackingCode string
	Status       string // received, under_review, closed
	ReceivedAt   time.Time
	UpdatedAt    time.Time
}

// PublicStatusOf returns the coarse status of a report to whoever holds its
// tracking code and status secret. A wrong secret is ENotFound, like an
// unknown code, so codes cannot be probed.
func (s *Service) PublicStatusOf(ctx context.Context, tracking, secret string) (*PublicStatus, error) {
	r, err := s.publicReport(ctx, tracking, secret)
	if err != nil {
		return nil, err
	}
	ps := &PublicStatus{TrackingCode: r.TrackingCode, Status: "received", ReceivedAt: r.ReceivedAt, UpdatedAt: r.UpdatedAt}
	switch r.Status {
	case ReportDismissed:
		ps.Status = "closed"
	case ReportTriaged:
		ps.Status = "under_review"
		if c, err := s.cfg.Store.GetCase(ctx, r.CaseID); err == nil {
			if s.cfg.Lifecycle.IsFinal(c.Status) {
				ps.Status = "closed"
			}
			if c.UpdatedAt.After(ps.UpdatedAt) {
				ps.UpdatedAt = c.UpdatedAt
			}
		} else if ErrorCodeOf(err) != ENotFound {
			return nil, err
		}
	}
	return ps, nil
}

// publicReport returns the report of a tracking code to whoever holds its
// status secret. A wrong secret is ENotFound, like an unknown code, so codes
// cannot be probed.
func (s *Service) publicReport(ctx context.Context, tracking, secret string) (*Report, error) {
	notFound := Errorf(ENotFound, "no report with this tracking code and secret")
	code, err := NormalizeTrackingCode(tracking)
	if err != nil {
		return nil, notFound
	}
	r, err := s.cfg.Store.GetReportByTracking(ctx, code)
	if ErrorCodeOf(err) == ENotFound {
		return nil, notFound
	}
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare(HashSecret(secret), r.StatusSecretHash) != 1 {
		return nil, notFound
	}
	return r, nil
}

// GetReport returns a report. With withPII, a caller allowed to read PII gets
// the decrypted contact details and the read is audited (the read fails if
// the audit record cannot be written). Errors: ENotFound, EForbidden.
func (s *Service) GetReport(ctx context.Context, a Actor, id string, withPII bool) (*Report, *Reporter, error) {
	if err := Authorize(a, ActReportRead); err != nil {
		return nil, nil, err
	}
	if withPII {
		if err := Authorize(a, ActReportReadPII); err != nil {
			return nil, nil, err
		}
	}
	r, err := s.cfg.Store.GetReport(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if !withPII || !r.HasReporter || r.WrappedKey == nil {
		return r, nil, nil
	}
	rep, err := s.cfg.Keyring.Decrypt(r.ID, r.ReporterCipher, r.WrappedKey)
	if err != nil {
		return nil, nil, Internal(err)
	}
	err = s.cfg.Store.InTx(ctx, func(tx Tx) error {
		return s.record(ctx, tx, a, s.now(), change{
			action: "report.pii_viewed", entityType: "report", entityID: r.ID,
			data: map[string]any{"fields": []string{"reporter"}}, state: s.reportState(r),
		})
	})
	if err != nil {
		return nil, nil, err
	}
	return r, rep, nil
}

// ListReports lists reports for officers (never with PII).
func (s *Service) ListReports(ctx context.Context, a Actor, f ReportFilter) ([]*Report, error) {
	if err := Authorize(a, ActReportList); err != nil {
		return nil, err
	}
	f.Limit = PageLimit(f.Limit)
	return s.cfg.Store.ListReports(ctx, f)
}

// mutateReport authorizes act, requires a reason, locks the report, lets
// fn change it (or refuse with an error) and writes it with an audit record
// of action carrying the reason.
func (s *Service) mutateReport(ctx context.Context, a Actor, act Action, action, id, reason string,
	fn func(tx Tx, r *Report, now time.Time) (map[string]any, error)) (*Report, error) {
	if err := Authorize(a, act); err != nil {
		return nil, err
	}
	if err := checkText("reason", reason, true, 4000); err != nil {
		return nil, err
	}
	var out *Report
	err := s.cfg.Store.InTx(ctx, func(tx Tx) error {
		r, err := tx.LockReport(ctx, id)
		if err != nil {
			return err
		}
		now := s.now()
		data, err := fn(tx, r, now)
		if err != nil {
			return err
		}
		r.UpdatedAt = now
		if err := tx.UpdateReport(ctx, r); err != nil {
			return err
		}
		out = r
		if data == nil {
			data = map[string]any{}
		}
		data["reason"] = reason
		return s.record(ctx, tx, a, now, change{action: action, entityType: "report", entityID: r.ID, data: data,
			state: s.reportState(r)})
	})
	return out, err
}

// Dismiss closes a received report without a case. Errors: EInvalid without
// a reason, EConflict unless the report is received, ENotFound.
func (s *Service) Dismiss(ctx context.Context, a Actor, id, reason string) (*Report, error) {
	return s.mutateReport(ctx, a, ActReportDismiss, "report.dismissed", id, reason, func(_ Tx, r *Report, _ time.Time) (map[string]any, error) {
		if r.Status != ReportReceived {
			return nil, Errorf(EConflict, "report is %s; only a received report can be dismissed", r.Status)
		}
		r.Status, r.DismissReason = ReportDismissed, reason
		return nil, nil
	})
}

// Erase crypto-shreds a report's contact details: the per-report key and the
// ciphertext are destroyed, the request digest and idempotency key are
// cleared, every channel message of the report and every evidence file the
// reporter sent (with its chunks) are deleted, and an audit record says that
// an erasure happened and what went (counts; attachments by their SHA-256,
// which the upload records already hold). The audit chain still verifies.
// Errors: ENotFound, EConflict if already erased or there was nothing to
// erase.
func (s *Service) Erase(ctx context.Context, a Actor, id, reason string) (*Report, error) {
	return s.mutateReport(ctx, a, ActReportErase, "report.reporter_erased", id, reason, func(tx Tx, r *Report, now time.Time) (map[string]any, error) {
		msgs, atts, err := tx.EraseReporterContent(ctx, r.ID)
		if err != nil {
			return nil, err
		}
		contact := r.HasReporter && r.ErasedAt == nil
		if !contact && msgs == 0 && len(atts) == 0 {
			return nil, Errorf(EConflict, "report has no reporter data to erase")
		}
		for _, att := range atts {
			if err := s.blobs().Delete(ctx, tx, att); err != nil {
				return nil, err
			}
		}
		// The request digest and the idempotency key go too: both were
		// derived from (or sent with) the body that held the contact details.
		if contact {
			r.WrappedKey, r.ReporterCipher, r.ErasedAt = nil, nil, &now
		}
		r.RequestHash, r.IdempotencyKey = nil, ""
		hashes := make([]string, 0, len(atts))
		for _, att := range atts {
			hashes = append(hashes, fmt.Sprintf("%x", att.SHA256))
		}
		return map[string]any{"contact_details": contact, "messages_erased": msgs, "attachments_erased": hashes}, nil
	})
}
