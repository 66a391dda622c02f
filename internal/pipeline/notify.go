package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/regcase/regcase/internal/mail"
	"github.com/regcase/regcase/internal/regcase"
	"github.com/regcase/regcase/internal/webhook"
)

// NotificationsGroup is the handler (and consumer group) that turns events
// into e-mail notifications.
const NotificationsGroup = "notifications"

// Audience is who a notification rule mails.
type Audience int

// The audiences.
const (
	// ToAssignee is the officer a case.assigned event assigned the case
	// to (its "to"); for other events the case's current assignee.
	ToAssignee Audience = iota
	// ToSupervisors is every supervisor with an address who did not opt out.
	ToSupervisors
	// ToReporters is the reporter of every report linked to the case who
	// asked for updates (Reporter.Updates) and is not erased.
	ToReporters
)

// NotifyRule says which mail an event type causes, and to whom.
type NotifyRule struct {
	Kind string // the template (see mailText)
	To   []Audience
}

// DefaultNotifyRules maps event types to notifications. Adding a
// notification for a new event is one entry here (and a template in
// mailText when the kind is new).
var DefaultNotifyRules = map[string]NotifyRule{
	"gov.regcase.case.assigned":             {Kind: "assigned", To: []Audience{ToAssignee}},
	"gov.regcase.case.sla_breached":         {Kind: "sla_breached", To: []Audience{ToSupervisors}},
	"gov.regcase.case.deadline_approaching": {Kind: "deadline_approaching", To: []Audience{ToAssignee, ToSupervisors}},
	"gov.regcase.case.deadline_breached":    {Kind: "deadline_breached", To: []Audience{ToAssignee, ToSupervisors}},
	"gov.regcase.case.transitioned":         {Kind: "reporter_update", To: []Audience{ToReporters}},
	"gov.regcase.report.message_received":   {Kind: "reporter_replied", To: []Audience{ToAssignee}},
	"gov.regcase.report.message_sent":       {Kind: "reporter_update", To: []Audience{ToReporters}},
}

// Notifier is the Handler that writes one notification per event and
// recipient, in the transaction of MarkProcessed (so an event redelivered
// never mails anyone twice), then wakes the Mailer. It never sends mail
// itself and the request path never does either.
type Notifier struct {
	Store  regcase.Store
	Svc    *regcase.Service
	Rules  map[string]NotifyRule
	Mailer *Mailer // woken after a commit (nil: it polls)
	NewID  func() string
	Now    func() time.Time
	Gate   Gate
	// MaxAge: an event older than this when it reaches the notifier is
	// marked handled without mail (notifications turned on later, or an
	// event replayed long after, must not mail about the past). 0 = 24h.
	MaxAge time.Duration
}

// Name implements Handler.
func (n *Notifier) Name() string { return NotificationsGroup }

// Handle implements Handler.
func (n *Notifier) Handle(ctx context.Context, ev *regcase.Event) error {
	rule, ok := n.Rules[ev.Type]
	maxAge := n.MaxAge
	if maxAge <= 0 {
		maxAge = 24 * time.Hour
	}
	if n.Now().Sub(ev.Time) > maxAge {
		ok = false
	}
	var recipients []string
	var data json.RawMessage
	if ok {
		var err error
		if recipients, data, err = n.recipients(ctx, ev, rule); err != nil {
			return err
		}
	}
	created := 0
	err := n.Gate.Do(ctx, func() error {
		return n.Store.InTx(ctx, func(tx regcase.Tx) error {
			created = 0
			now := n.Now()
			first, err := tx.MarkProcessed(ctx, NotificationsGroup, ev.ID, now)
			if err != nil || !first {
				return err
			}
			for _, to := range recipients {
				nt := &regcase.Notification{ID: n.NewID(), EventID: ev.ID, Recipient: to, Kind: rule.Kind, Data: data,
					Status: regcase.NotificationPending, NextAttemptAt: now, CreatedAt: now}
				if to == "" || strings.HasPrefix(to, "report:") {
					nt.Data = []byte("{}") // a reporter's mail says nothing about the case
				}
				if err := tx.InsertNotification(ctx, nt); err != nil {
					if regcase.ErrorCodeOf(err) == regcase.EConflict {
						continue
					}
					return err
				}
				created++
			}
			return nil
		})
	})
	if err == nil && created > 0 && n.Mailer != nil {
		n.Mailer.Wake()
	}
	return err
}

// recipients resolves a rule's audiences for ev (deduplicated) and the
// data the officers' mails may show: the case number, the deadline kind
// and due date — never reporter data.
func (n *Notifier) recipients(ctx context.Context, ev *regcase.Event, rule NotifyRule) ([]string, json.RawMessage, error) {
	caseID, ok := strings.CutPrefix(ev.Subject, "cases/")
	if rid, isReport := strings.CutPrefix(ev.Subject, "reports/"); isReport {
		r, err := n.Store.GetReport(ctx, rid)
		if err != nil && regcase.ErrorCodeOf(err) != regcase.ENotFound {
			return nil, nil, err
		}
		if r != nil && r.CaseID != "" {
			caseID, ok = r.CaseID, true
		}
	}
	if !ok {
		return nil, nil, nil
	}
	c, err := n.Store.GetCase(ctx, caseID)
	if err != nil {
		if regcase.ErrorCodeOf(err) == regcase.ENotFound {
			return nil, nil, nil
		}
		return nil, nil, err
	}
	var evData struct {
		To       string     `json:"to"`
		Deadline string     `json:"deadline"`
		DueAt    *time.Time `json:"due_at"`
		From     string     `json:"from"`
	}
	_ = json.Unmarshal(ev.Data, &evData)
	seen := map[string]bool{}
	var out []string
	add := func(to string) {
		if to != "" && !seen[to] {
			seen[to] = true
			out = append(out, to)
		}
	}
	for _, aud := range rule.To {
		switch aud {
		case ToAssignee:
			if strings.HasSuffix(ev.Type, ".assigned") && evData.To != "" {
				add(evData.To)
			} else {
				add(c.Assignee)
			}
		case ToSupervisors:
			sups, err := n.Store.NotifiableContacts(ctx, regcase.RoleSupervisor)
			if err != nil {
				return nil, nil, err
			}
			for _, s := range sups {
				add(s.ActorID)
			}
		case ToReporters:
			rids := c.ReportIDs
			if rid, isReport := strings.CutPrefix(ev.Subject, "reports/"); isReport {
				rids = []string{rid} // an event about one report (a message to its reporter) tells only that reporter
			}
			for _, rid := range rids {
				addr, err := n.Svc.ReporterUpdateAddress(ctx, rid)
				if err != nil {
					return nil, nil, err
				}
				if addr != "" {
					add("report:" + rid)
				}
			}
		}
	}
	info := map[string]any{"case_id": c.ID, "case_number": c.Number}
	if evData.Deadline != "" {
		info["deadline"] = evData.Deadline
	}
	if evData.DueAt != nil {
		info["due_at"] = evData.DueAt.UTC().Format(time.RFC3339)
	}
	data, err := json.Marshal(info)
	if err != nil {
		return nil, nil, err
	}
	return out, data, nil
}

// MailSender sends one message (*mail.Sender).
type MailSender interface {
	Send(ctx context.Context, m mail.Message) error
}

// Mailer sends pending notifications: it claims them with a lease (so
// replicas never send the same one), looks the address up at sending time
// (an opt-out or an erasure in between stops the mail: status skipped),
// and retries failures with exponential backoff and jitter up to
// MaxAttempts (then dead). At least once: a crash between the SMTP
// server's acceptance and the status write sends again, with the same
// Message-ID.
type Mailer struct {
	Store       regcase.Store
	Svc         *regcase.Service
	Sender      MailSender
	PublicURL   string // links in officers' mails
	MaxAttempts int
	BackoffBase time.Duration
	BackoffMax  time.Duration
	Lease       time.Duration
	PollEvery   time.Duration
	Batch       int
	Log         *slog.Logger
	Metrics     *Metrics
	Now         func() time.Time

	wake chan struct{}
}

// Wake makes Run look for work now.
func (m *Mailer) Wake() {
	m.init()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

func (m *Mailer) init() {
	if m.wake == nil {
		m.wake = make(chan struct{}, 1)
	}
}

// Run sends until ctx ends.
func (m *Mailer) Run(ctx context.Context) {
	m.init()
	errs := newErrLog(m.Log, "notification round failed")
	for ctx.Err() == nil {
		n, err := m.Round(ctx)
		errs.report(err)
		if n > 0 && err == nil {
			continue
		}
		t := time.NewTimer(m.PollEvery)
		select {
		case <-ctx.Done():
		case <-m.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// Round claims and sends one batch and returns how many it claimed.
func (m *Mailer) Round(ctx context.Context) (int, error) {
	list, err := m.Store.ClaimNotifications(ctx, m.Now(), m.Lease, max(m.Batch, 1))
	if err != nil {
		return 0, err
	}
	for _, n := range list {
		if err := m.send(ctx, n); err != nil {
			return len(list), err
		}
	}
	return len(list), nil
}

// send attempts n once and records the outcome.
func (m *Mailer) send(ctx context.Context, n *regcase.Notification) error {
	to, err := m.address(ctx, n.Recipient)
	if err != nil {
		return err // the claim runs out and the notification is tried again
	}
	now := m.Now()
	switch {
	case to == "":
		n.Status, n.LastError = regcase.NotificationSkipped, "no address, opted out or erased"
	default:
		subject, body := mailText(n, m.PublicURL)
		id := sha256.Sum256([]byte(n.EventID + "\x00" + n.Recipient))
		err := m.Sender.Send(ctx, mail.Message{To: to, Subject: subject, Body: body, MessageID: hex.EncodeToString(id[:16]) + "@regcase"})
		n.Attempts++
		switch {
		case err == nil:
			n.Status, n.SentAt, n.LastError = regcase.NotificationSent, &now, ""
		case ctx.Err() != nil:
			return ctx.Err()
		case n.Attempts >= m.MaxAttempts:
			n.Status, n.LastError = regcase.NotificationDead, err.Error()
			m.Log.Warn("notification dead", slog.String("notification", n.ID), slog.String("kind", n.Kind),
				slog.Int("attempts", n.Attempts), slog.Any("error", err))
		default:
			n.LastError = err.Error()
			n.NextAttemptAt = now.Add(webhook.Backoff(n.Attempts, m.BackoffBase, m.BackoffMax, nil))
			m.Log.Info("notification retry", slog.String("notification", n.ID), slog.String("kind", n.Kind),
				slog.Int("attempts", n.Attempts), slog.Time("next", n.NextAttemptAt), slog.Any("error", err))
		}
	}
	if m.Metrics != nil && m.Metrics.Notifications != nil {
		outcome := string(n.Status)
		if n.Status == regcase.NotificationPending {
			outcome = "retry"
		}
		m.Metrics.Notifications.WithLabelValues(n.Kind, outcome).Inc()
	}
	// The write must not be lost to a cancelled context once the mail went.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return m.Store.UpdateNotification(wctx, n)
}

// address resolves a recipient to an e-mail address ("" = do not send).
func (m *Mailer) address(ctx context.Context, recipient string) (string, error) {
	if rid, ok := strings.CutPrefix(recipient, "report:"); ok {
		return m.Svc.ReporterUpdateAddress(ctx, rid)
	}
	c, err := m.Store.GetContact(ctx, recipient)
	if regcase.ErrorCodeOf(err) == regcase.ENotFound {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if !c.Notify {
		return "", nil
	}
	return c.Email, nil
}

// mailText is the subject and body of a notification. Officers get the
// case number and a link (the console shows the rest to whoever may see
// it); reporters get no content at all.
func mailText(n *regcase.Notification, publicURL string) (string, string) {
	var d struct {
		CaseID     string `json:"case_id"`
		CaseNumber string `json:"case_number"`
		Deadline   string `json:"deadline"`
		DueAt      string `json:"due_at"`
	}
	_ = json.Unmarshal(n.Data, &d)
	base := strings.TrimRight(publicURL, "/")
	link := base + "/console/cases/" + d.CaseID
	footer := "\n\n-- \nregcase notification. Change your notification settings in the console (Notifications).\n"
	switch n.Kind {
	case "assigned":
		return "Case " + d.CaseNumber + " is assigned to you",
			fmt.Sprintf("Case %s has been assigned to you.\n\n%s%s", d.CaseNumber, link, footer)
	case "sla_breached":
		return "SLA breached: case " + d.CaseNumber,
			fmt.Sprintf("Case %s is past its SLA due date.\n\n%s%s", d.CaseNumber, link, footer)
	case "deadline_approaching":
		return "Statutory deadline approaching: case " + d.CaseNumber,
			fmt.Sprintf("The %s deadline of case %s is due at %s.\n\n%s%s", d.Deadline, d.CaseNumber, d.DueAt, link, footer)
	case "deadline_breached":
		return "Statutory deadline missed: case " + d.CaseNumber,
			fmt.Sprintf("The %s deadline of case %s passed at %s.\n\n%s%s", d.Deadline, d.CaseNumber, d.DueAt, link, footer)
	case "reporter_update", "reporter_message":
		return "There is an update on your report",
			fmt.Sprintf("There is an update on the report you made. Check it with your tracking code and status secret at %s/\n\n"+
				"-- \nYou receive this because you asked for updates when you made the report.\n", base)
	case "reporter_replied":
		return "New message from the reporter: case " + d.CaseNumber,
			fmt.Sprintf("The reporter of case %s sent a message.\n\n%s%s", d.CaseNumber, link, footer)
	}
	return "Notification: case " + d.CaseNumber, fmt.Sprintf("Something happened on case %s.\n\n%s%s", d.CaseNumber, link, footer)
}
