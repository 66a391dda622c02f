package regcase

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Message is one message of the anonymous channel between the officers and
// the reporter of a report, bound to the report's tracking code and status
// secret (no account). Its body is encrypted with its own content key
// (Keyring.NewContentKey), like the reporter's contact details, and is
// deleted when the reporter's data is erased.
type Message struct {
	ID           string
	ReportID     string
	FromReporter bool   // true: the reporter wrote it; false: an officer
	Author       string // the officer's actor id ("" for the reporter)
	BodyCipher   []byte
	WrappedKey   []byte
	CreatedAt    time.Time
}

// MessageView is a decrypted message as a reader sees it.
type MessageView struct {
	ID           string
	ReportID     string
	TrackingCode string
	FromReporter bool
	Author       string // "" for the reporter and, on the public side, for officers
	Body         string
	CreatedAt    time.Time
	// Unread is true for a reporter message newer than the reading
	// officer's marker (officer side only).
	Unread bool
}

// Thread is what the reporter sees of the channel: every message of the
// report and the evidence files they sent.
type Thread struct {
	Report      *Report
	Messages    []*MessageView
	Attachments []*Attachment
}

// CaseThread is what an officer sees: the messages of every report of the
// case, which of the reporters' messages were unread, and the evidence.
type CaseThread struct {
	Case        *Case
	Reports     []*Report // the case's reports, oldest link first
	Messages    []*MessageView
	Unread      int
	Attachments []*Attachment
}

// The audit actions (and event type suffixes) of the channel. The outbox
// event types are "gov.regcase." + action.
const (
	ActionMessageReceived = "report.message_received" // the reporter wrote
	ActionMessageSent     = "report.message_sent"     // an officer wrote to the reporter
	// ActionFeedbackGiven: an officer's first message to a reporter met
	// the case's statutory feedback (and acknowledge) deadline.
	ActionFeedbackGiven = "case.feedback_given"
)

const maxMessage = 10000

// sealMessage encrypts a new message body.
func (s *Service) sealMessage(m *Message, body string) error {
	key, wrapped, err := s.cfg.Keyring.NewContentKey("message:" + m.ID)
	if err != nil {
		return Internal(err)
	}
	if m.BodyCipher, err = key.Seal([]byte(body), []byte(m.ReportID+":"+m.ID)); err != nil {
		return Internal(err)
	}
	m.WrappedKey = wrapped
	return nil
}

func (s *Service) openMessage(m *Message, tracking string) (*MessageView, error) {
	key, err := s.cfg.Keyring.OpenContentKey("message:"+m.ID, m.WrappedKey)
	if err != nil {
		return nil, Internal(err)
	}
	plain, err := key.Open(m.BodyCipher, []byte(m.ReportID+":"+m.ID))
	if err != nil {
		return nil, Internal(fmt.Errorf("decrypt message %s: %w", m.ID, err))
	}
	return &MessageView{ID: m.ID, ReportID: m.ReportID, TrackingCode: tracking, FromReporter: m.FromReporter,
		Author: m.Author, Body: string(plain), CreatedAt: m.CreatedAt}, nil
}

// postMessage stores a message on report r with its audit record (on the
// report's chain: the message id, the direction, the case, a keyed digest
// of the body — never the text) and its outbox event.
func (s *Service) postMessage(ctx context.Context, tx Tx, a Actor, r *Report, fromReporter bool, body string) (*Message, error) {
	now := s.now()
	m := &Message{ID: s.cfg.NewID(), ReportID: r.ID, FromReporter: fromReporter, CreatedAt: now}
	action := ActionMessageReceived
	if !fromReporter {
		m.Author, action = a.ID, ActionMessageSent
	}
	if err := s.sealMessage(m, body); err != nil {
		return nil, err
	}
	if err := tx.InsertMessage(ctx, m); err != nil {
		return nil, err
	}
	data := map[string]any{"message_id": m.ID, "report_id": r.ID, "case_id": r.CaseID,
		"from": messageFrom(fromReporter), "body_hmac": fmt.Sprintf("%x", s.cfg.Keyring.Digest("message-body", []byte(body)))}
	return m, s.record(ctx, tx, a, now, change{action: action, entityType: "report", entityID: r.ID, data: data})
}

func messageFrom(fromReporter bool) string {
	if fromReporter {
		return "reporter"
	}
	return "officer"
}

// PublicThread returns the channel of a report to whoever holds its
// tracking code and status secret; officers are not named. Errors:
// ENotFound for an unknown code or a wrong secret (alike).
func (s *Service) PublicThread(ctx context.Context, a Actor, tracking, secret string) (*Thread, error) {
	if err := Authorize(a, ActReportPublicView); err != nil {
		return nil, err
	}
	r, err := s.publicReport(ctx, tracking, secret)
	if err != nil {
		return nil, err
	}
	msgs, err := s.cfg.Store.ListMessages(ctx, []string{r.ID})
	if err != nil {
		return nil, err
	}
	t := &Thread{Report: r}
	for _, m := range msgs {
		v, err := s.openMessage(m, r.TrackingCode)
		if err != nil {
			return nil, err
		}
		v.Author = ""
		t.Messages = append(t.Messages, v)
	}
	if t.Attachments, err = s.listAttachments(ctx, []string{r.ID}, ""); err != nil {
		return nil, err
	}
	return t, nil
}

// PostPublicMessage adds the reporter's message to the channel of the
// report. Errors: ENotFound (unknown code or wrong secret), EInvalid.
func (s *Service) PostPublicMessage(ctx context.Context, a Actor, tracking, secret, body string) (*MessageView, error) {
	if err := Authorize(a, ActReportPublicView); err != nil {
		return nil, err
	}
	r, err := s.publicReport(ctx, tracking, secret)
	if err != nil {
		return nil, err
	}
	if err := checkText("body", body, true, maxMessage); err != nil {
		return nil, err
	}
	var out *Message
	err = s.cfg.Store.InTx(ctx, func(tx Tx) error {
		locked, err := tx.LockReport(ctx, r.ID)
		if err != nil {
			return err
		}
		out, err = s.postMessage(ctx, tx, a, locked, true, body)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &MessageView{ID: out.ID, ReportID: r.ID, TrackingCode: r.TrackingCode, FromReporter: true, Body: body, CreatedAt: out.CreatedAt}, nil
}

// caseFor reads a case and applies act's role and object-level rules.
func (s *Service) caseFor(ctx context.Context, a Actor, act Action, caseID string) (*Case, error) {
	if err := Authorize(a, act); err != nil {
		return nil, err
	}
	c, err := s.cfg.Store.GetCase(ctx, caseID)
	if err != nil {
		return nil, err
	}
	if err := s.cfg.Lifecycle.CheckCaseAction(a, act, c.Number, c.Assignee); err != nil {
		return nil, err
	}
	return c, nil
}

// CaseMessages returns the channel of every report of the case, marks the
// reporters' messages unread that are newer than the caller's read marker,
// and moves the marker to the newest message (reading the thread is
// reading the messages). Errors: ENotFound, EForbidden, EObjectForbidden
// (an investigator on someone else's case).
func (s *Service) CaseMessages(ctx context.Context, a Actor, caseID string) (*CaseThread, error) {
	c, err := s.caseFor(ctx, a, ActCaseMessageRead, caseID)
	if err != nil {
		return nil, err
	}
	t := &CaseThread{Case: c}
	tracking := map[string]string{}
	for _, id := range c.ReportIDs {
		r, err := s.cfg.Store.GetReport(ctx, id)
		if err != nil {
			return nil, err
		}
		t.Reports = append(t.Reports, r)
		tracking[id] = r.TrackingCode
	}
	msgs, err := s.cfg.Store.ListMessages(ctx, c.ReportIDs)
	if err != nil {
		return nil, err
	}
	marker, err := s.cfg.Store.ReadMarker(ctx, a.ID, c.ID)
	if err != nil {
		return nil, err
	}
	for _, m := range msgs {
		v, err := s.openMessage(m, tracking[m.ReportID])
		if err != nil {
			return nil, err
		}
		if v.Unread = m.FromReporter && m.ID > marker; v.Unread {
			t.Unread++
		}
		t.Messages = append(t.Messages, v)
	}
	if t.Attachments, err = s.listAttachments(ctx, c.ReportIDs, c.ID); err != nil {
		return nil, err
	}
	if n := len(msgs); n > 0 && msgs[n-1].ID > marker {
		err = s.cfg.Store.InTx(ctx, func(tx Tx) error { return tx.MarkRead(ctx, a.ID, c.ID, msgs[n-1].ID, s.now()) })
		if err != nil {
			return nil, err
		}
	}
	return t, nil
}

// PostCaseMessage sends an officer's message to the reporter of one of the
// case's reports (reportID; it may be "" when the case has exactly one
// report). Errors: EInvalid (no such report on the case, bad body),
// ENotFound, EForbidden, EObjectForbidden.
func (s *Service) PostCaseMessage(ctx context.Context, a Actor, caseID, reportID, body string) (*MessageView, error) {
	if err := Authorize(a, ActCaseMessageSend); err != nil {
		return nil, err
	}
	if err := checkText("body", body, true, maxMessage); err != nil {
		return nil, err
	}
	var (
		out *Message
		rep *Report
	)
	err := s.cfg.Store.InTx(ctx, func(tx Tx) error {
		c, err := tx.LockCase(ctx, caseID)
		if err != nil {
			return err
		}
		if err := s.cfg.Lifecycle.CheckCaseAction(a, ActCaseMessageSend, c.Number, c.Assignee); err != nil {
			return err
		}
		switch {
		case reportID == "" && len(c.ReportIDs) == 1:
			reportID = c.ReportIDs[0]
		case reportID == "":
			return FieldError("report_id", "case %s has %d reports; name the report whose reporter the message is for", c.Number, len(c.ReportIDs))
		case !slices.Contains(c.ReportIDs, reportID):
			return FieldError("report_id", "report %s is not a report of case %s", reportID, c.Number)
		}
		if rep, err = tx.LockReport(ctx, reportID); err != nil {
			return err
		}
		if out, err = s.postMessage(ctx, tx, a, rep, false, body); err != nil {
			return err
		}
		return s.meetByMessage(ctx, tx, a, c, out)
	})
	if err != nil {
		return nil, err
	}
	return &MessageView{ID: out.ID, ReportID: rep.ID, TrackingCode: rep.TrackingCode, Author: a.ID, Body: body, CreatedAt: out.CreatedAt}, nil
}

// meetByMessage records that an officer's message to the reporter is the
// feedback the statutory deadline asks for (and an acknowledgement): the
// first one meets both clocks of the case, with an audit record of its own
// (case.feedback_given) that names the message. Later messages change
// nothing.
func (s *Service) meetByMessage(ctx context.Context, tx Tx, a Actor, c *Case, m *Message) error {
	before := c.Deadlines
	meetFeedback(a, c, m.CreatedAt)
	if c.Deadlines == before {
		return nil
	}
	c.UpdatedAt = m.CreatedAt
	prev := c.Version
	if err := tx.UpdateCase(ctx, c, prev); err != nil {
		return err
	}
	c.Version = prev + 1
	data := map[string]any{"message_id": m.ID, "report_id": m.ReportID, "version": c.Version}
	return s.record(ctx, tx, a, m.CreatedAt, change{action: ActionFeedbackGiven, entityType: "case", entityID: c.ID, data: data, state: caseState(c)})
}
