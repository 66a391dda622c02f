package pipeline_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/regcase/regcase/internal/mail"
	"github.com/regcase/regcase/internal/pipeline"
	"github.com/regcase/regcase/internal/regcase"
	"github.com/regcase/regcase/internal/sqlite"
)

// clock is a settable time source.
type clock struct{ ns atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Set(t time.Time)         { c.ns.Store(t.UnixNano()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func deadlineFixture(t *testing.T, policy string) (*sqlite.DB, *regcase.Service, *clock) {
	t.Helper()
	db, kr := openStore(t)
	dp, err := regcase.ParseDeadlinePolicy(policy, regcase.DefaultCategories)
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{}
	clk.Set(time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC))
	svc := regcase.NewService(regcase.Deps{Store: db, Keyring: kr, Deadlines: dp, Now: clk.Now})
	return db, svc, clk
}

var (
	supervisor = regcase.Actor{ID: "token:sup", Name: "sam", Role: regcase.RoleSupervisor}
	intake     = regcase.Actor{ID: "token:int", Name: "ian", Role: regcase.RoleIntake}
)

func auditActions(t *testing.T, db *sqlite.DB, caseID, action string) []*regcase.AuditRecord {
	t.Helper()
	rs, err := db.ListAudit(t.Context(), regcase.AuditFilter{Chain: regcase.ChainFor("case", caseID), Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []*regcase.AuditRecord
	for _, r := range rs {
		if r.Action == action {
			out = append(out, r)
		}
	}
	return out
}

func TestDeadlines(t *testing.T) {
	t.Run("PerCategoryPeriods", func(t *testing.T) {
		_, svc, clk := deadlineFixture(t, "financial_conduct.acknowledge=3d,financial_conduct.feedback=6w,feedback=2mo")
		start := clk.Now()
		fin, err := svc.CreateCase(t.Context(), intake, regcase.NewCase{Title: "t", Subject: regcase.Subject{Name: "Bank"}, Category: "financial_conduct"})
		if err != nil {
			t.Fatal(err)
		}
		env, err := svc.CreateCase(t.Context(), intake, regcase.NewCase{Title: "t", Subject: regcase.Subject{Name: "Mill"}, Category: "environment"})
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			got  *time.Time
			want time.Time
		}{
			{"financial ack", fin.Deadlines.Acknowledge.DueAt, start.AddDate(0, 0, 3)},
			{"financial feedback", fin.Deadlines.Feedback.DueAt, start.AddDate(0, 0, 42)},
			{"environment ack (default 7d)", env.Deadlines.Acknowledge.DueAt, start.AddDate(0, 0, 7)},
			// 30 November + 2 calendar months = 30 January
			{"environment feedback (2mo)", env.Deadlines.Feedback.DueAt, time.Date(2027, 1, 30, 9, 0, 0, 0, time.UTC)},
		} {
			if tc.got == nil || !tc.got.Equal(tc.want) {
				t.Errorf("%s due = %v, want %v", tc.name, tc.got, tc.want)
			}
		}
	})
	t.Run("ClockStartsAtReceipt", func(t *testing.T) {
		_, svc, clk := deadlineFixture(t, "")
		received := clk.Now()
		sub, err := svc.Submit(t.Context(), regcase.Actor{ID: "public", Role: regcase.RoleAnonymous}, regcase.SubmitReport{
			Channel: regcase.ChannelWeb, Category: "environment", Subject: regcase.Subject{Name: "Mill"}, Description: "smoke"}, "")
		if err != nil {
			t.Fatal(err)
		}
		clk.Advance(5 * 24 * time.Hour)
		_, c, err := svc.Triage(t.Context(), intake, sub.Report.ID, regcase.TriageInput{NewCase: &regcase.NewCase{}})
		if err != nil {
			t.Fatal(err)
		}
		if want := received.AddDate(0, 0, 7); !c.Deadlines.Acknowledge.DueAt.Equal(want) {
			t.Errorf("ack due %v, want 7 days after receipt %v", c.Deadlines.Acknowledge.DueAt, want)
		}
		if c.Deadlines.Acknowledge.MetAt != nil {
			t.Errorf("acknowledge met by the triage itself")
		}
	})
	t.Run("BreachedOnceByConcurrentScanners", func(t *testing.T) {
		db, svc, clk := deadlineFixture(t, "acknowledge=7d,warn=2d")
		c, err := svc.CreateCase(t.Context(), intake, regcase.NewCase{Title: "t", Subject: regcase.Subject{Name: "Mill"}, Category: "environment"})
		if err != nil {
			t.Fatal(err)
		}
		scan := func() {
			var wg sync.WaitGroup
			for range 3 {
				s := &pipeline.SLAScanner{Store: db, Svc: svc, Every: time.Hour, Batch: 10,
					Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: pipeline.NewMetrics(prometheus.NewRegistry()), Now: clk.Now}
				wg.Go(func() {
					if err := s.Scan(t.Context()); err != nil {
						t.Errorf("Scan: %v", err)
					}
				})
			}
			wg.Wait()
		}
		scan() // day 0: nothing due
		if n := len(auditActions(t, db, c.ID, "case.deadline_approaching")); n != 0 {
			t.Fatalf("warned on day 0: %d", n)
		}
		clk.Advance(5*24*time.Hour + time.Minute) // within 2 days of the due date
		scan()
		scan()
		if n := len(auditActions(t, db, c.ID, "case.deadline_approaching")); n != 1 {
			t.Errorf("approaching records = %d, want 1", n)
		}
		clk.Advance(2 * 24 * time.Hour) // past due
		scan()
		scan()
		br := auditActions(t, db, c.ID, "case.deadline_breached")
		if len(br) != 1 {
			t.Fatalf("breach records = %d, want 1", len(br))
		}
		got, _ := db.GetCase(t.Context(), c.ID)
		if got.Deadlines.Acknowledge.BreachedAt == nil || got.Deadlines.Acknowledge.State(clk.Now()) != regcase.DeadlineOverdue {
			t.Errorf("ack = %+v, want breached and overdue", got.Deadlines.Acknowledge)
		}
		// The officer finally acts: met late, nothing more is marked.
		if _, err := svc.Assign(t.Context(), supervisor, c.ID, 0, "oidc:ivy"); err != nil {
			t.Fatal(err)
		}
		clk.Advance(24 * time.Hour)
		scan()
		if n := len(auditActions(t, db, c.ID, "case.deadline_breached")); n != 1 {
			t.Errorf("breach records after meeting = %d, want 1", n)
		}
		got, _ = db.GetCase(t.Context(), c.ID)
		if s := got.Deadlines.Acknowledge.State(clk.Now()); s != regcase.DeadlineMetLate {
			t.Errorf("ack state = %s, want met_late", s)
		}
		if s := got.Deadlines.Feedback.State(clk.Now()); s != regcase.DeadlinePending {
			t.Errorf("feedback state = %s, want pending", s)
		}
		if ids, _ := db.DueDeadlines(t.Context(), clk.Now(), svc.Deadlines().Warn, 10); len(ids) != 0 {
			t.Errorf("still due after the marks: %v", ids)
		}
	})
	t.Run("FeedbackMetByStatusDecision", func(t *testing.T) {
		_, svc, _ := deadlineFixture(t, "")
		c, err := svc.CreateCase(t.Context(), intake, regcase.NewCase{Title: "t", Subject: regcase.Subject{Name: "Mill"}, Category: "environment"})
		if err != nil {
			t.Fatal(err)
		}
		c, err = svc.Transition(t.Context(), supervisor, c.ID, 0, regcase.TransitionInput{To: "investigating", Assignee: "oidc:ivy"})
		if err != nil {
			t.Fatal(err)
		}
		if c.Deadlines.Feedback.MetAt == nil || c.Deadlines.Acknowledge.MetAt == nil {
			t.Errorf("after a transition: %+v, want both met", c.Deadlines)
		}
	})
}

// TestFeedbackMetByOfficerMessage: the first message an officer sends the
// reporter is the feedback the statutory deadline asks for: it meets the
// case's feedback and acknowledge clocks with one audited case change, a
// later message changes nothing, and the history still replays to the row.
func TestFeedbackMetByOfficerMessage(t *testing.T) {
	_, svc, clk := deadlineFixture(t, "")
	public := regcase.Actor{ID: "anonymous", Role: regcase.RoleAnonymous}
	sub, err := svc.Submit(t.Context(), public, regcase.SubmitReport{Channel: "web", Category: "environment",
		Subject: regcase.Subject{Name: "Mill"}, Description: "Discharge into the river at night"}, "")
	if err != nil {
		t.Fatal(err)
	}
	_, c, err := svc.Triage(t.Context(), intake, sub.Report.ID, regcase.TriageInput{NewCase: &regcase.NewCase{Title: "River discharge"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Deadlines.Feedback.DueAt == nil || c.Deadlines.Feedback.MetAt != nil {
		t.Fatalf("feedback before any message = %+v, want due and unmet", c.Deadlines.Feedback)
	}
	clk.Advance(time.Hour)
	if _, err := svc.PostCaseMessage(t.Context(), supervisor, c.ID, "", "Thank you: an inspector visits this week."); err != nil {
		t.Fatal(err)
	}
	got, err := svc.GetCase(t.Context(), supervisor, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Deadlines.Feedback.MetAt == nil || !got.Deadlines.Feedback.MetAt.Equal(clk.Now()) || got.Deadlines.Acknowledge.MetAt == nil {
		t.Errorf("after the message: %+v, want feedback met at %s and acknowledge met", got.Deadlines, clk.Now())
	}
	if got.Version != c.Version+1 {
		t.Errorf("version = %d, want %d (one case change)", got.Version, c.Version+1)
	}
	clk.Advance(time.Hour)
	if _, err := svc.PostCaseMessage(t.Context(), supervisor, c.ID, "", "A second message."); err != nil {
		t.Fatal(err)
	}
	again, _ := svc.GetCase(t.Context(), supervisor, c.ID)
	if again.Version != got.Version || !again.Deadlines.Feedback.MetAt.Equal(*got.Deadlines.Feedback.MetAt) {
		t.Errorf("a second message changed the case: version %d → %d, feedback %v → %v",
			got.Version, again.Version, got.Deadlines.Feedback.MetAt, again.Deadlines.Feedback.MetAt)
	}
	auditor := regcase.Actor{ID: "token:aud", Name: "ada", Role: regcase.RoleAuditor}
	res, err := svc.VerifyAudit(t.Context(), auditor, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK {
		t.Errorf("audit verify after the feedback: %+v", res.Problems)
	}
}

// TestNotifierRules: an SLA breach mails the supervisors who did not opt
// out (and nobody else), once however often the event is delivered.
func TestNotifierRules(t *testing.T) {
	db, svc, clk := deadlineFixture(t, "")
	for _, ct := range []regcase.ContactInput{
		{ActorID: "oidc:sam", Role: regcase.RoleSupervisor, Email: "sam@example.gov", Notify: true},
		{ActorID: "oidc:sue", Role: regcase.RoleSupervisor, Email: "sue@example.gov", Notify: false},
		{ActorID: "oidc:ivy", Role: regcase.RoleInvestigator, Email: "ivy@example.gov", Notify: true},
	} {
		if _, err := svc.SetContact(t.Context(), regcase.SystemActor("test"), ct); err != nil {
			t.Fatal(err)
		}
	}
	c, err := svc.CreateCase(t.Context(), intake, regcase.NewCase{Title: "t", Subject: regcase.Subject{Name: "Mill"}, Category: "environment", Priority: regcase.PriorityCritical})
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(3 * 24 * time.Hour)
	if got, _, err := svc.MarkBreached(t.Context(), c.ID); err != nil || got == nil {
		t.Fatalf("MarkBreached = %v, %v", got, err)
	}
	evs, err := db.PendingOutbox(t.Context(), 100)
	if err != nil {
		t.Fatal(err)
	}
	n := &pipeline.Notifier{Store: db, Svc: svc, Rules: pipeline.DefaultNotifyRules, NewID: svc.NewID, Now: clk.Now}
	for range 2 { // a redelivery changes nothing
		for _, oe := range evs {
			if err := n.Handle(t.Context(), &oe.Event); err != nil {
				t.Fatal(err)
			}
		}
	}
	list, err := db.ListNotifications(t.Context(), "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Recipient != "oidc:sam" || list[0].Kind != "sla_breached" {
		t.Fatalf("notifications = %+v, want one sla_breached to oidc:sam", list)
	}
}

// countingSender records what it was asked to send.
type countingSender struct {
	mu   sync.Mutex
	sent []mail.Message
}

func (c *countingSender) Send(_ context.Context, m mail.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent = append(c.sent, m)
	return nil
}

// TestReporterUpdateErased: a reporter who asked for updates is queued a
// mail on a status decision; erased before it is sent, the mail is
// skipped and the address is gone.
func TestReporterUpdateErased(t *testing.T) {
	db, svc, clk := deadlineFixture(t, "")
	ctx := t.Context()
	sub, err := svc.Submit(ctx, regcase.Actor{ID: "public", Role: regcase.RoleAnonymous}, regcase.SubmitReport{
		Channel: regcase.ChannelWeb, Category: "environment", Subject: regcase.Subject{Name: "Mill"}, Description: "smoke",
		Reporter: &regcase.Reporter{Email: "rita@example.org", Updates: true}}, "")
	if err != nil {
		t.Fatal(err)
	}
	if addr, _ := svc.ReporterUpdateAddress(ctx, sub.Report.ID); addr != "rita@example.org" {
		t.Fatalf("update address = %q", addr)
	}
	_, c, err := svc.Triage(ctx, intake, sub.Report.ID, regcase.TriageInput{NewCase: &regcase.NewCase{}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Transition(ctx, supervisor, c.ID, 0, regcase.TransitionInput{To: "investigating", Assignee: "oidc:ivy"}); err != nil {
		t.Fatal(err)
	}
	evs, err := db.PendingOutbox(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	n := &pipeline.Notifier{Store: db, Svc: svc, Rules: pipeline.DefaultNotifyRules, NewID: svc.NewID, Now: clk.Now}
	for _, oe := range evs {
		if err := n.Handle(ctx, &oe.Event); err != nil {
			t.Fatal(err)
		}
	}
	list, _ := db.ListNotifications(ctx, "", 100)
	if len(list) != 1 || list[0].Recipient != "report:"+sub.Report.ID || string(list[0].Data) != "{}" {
		t.Fatalf("notifications = %+v, want one contentless mail to the reporter", list)
	}
	if _, err := svc.Erase(ctx, supervisor, sub.Report.ID, "data protection request"); err != nil {
		t.Fatal(err)
	}
	if addr, _ := svc.ReporterUpdateAddress(ctx, sub.Report.ID); addr != "" {
		t.Errorf("update address after erasure = %q", addr)
	}
	snd := &countingSender{}
	m := &pipeline.Mailer{Store: db, Svc: svc, Sender: snd, MaxAttempts: 3, BackoffBase: time.Second, BackoffMax: time.Second,
		Lease: time.Minute, Batch: 10, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: clk.Now}
	if _, err := m.Round(ctx); err != nil {
		t.Fatal(err)
	}
	list, _ = db.ListNotifications(ctx, "", 100)
	if len(snd.sent) != 0 || list[0].Status != regcase.NotificationSkipped {
		t.Errorf("after erasure: sent %d, status %s; want nothing sent, skipped", len(snd.sent), list[0].Status)
	}
}

// TestNotifyRulesCoverChannel: a reporter's message tells the assignee and
// an officer's message tells the reporter (who asked for updates), by the
// event types the channel writes.
func TestNotifyRulesCoverChannel(t *testing.T) {
	for action, kind := range map[string]string{
		regcase.ActionMessageReceived: "reporter_replied",
		regcase.ActionMessageSent:     "reporter_update",
	} {
		r, ok := pipeline.DefaultNotifyRules["gov.regcase."+action]
		if !ok || r.Kind != kind {
			t.Errorf("event %s: rule %+v (present %v), want kind %s", action, r, ok, kind)
		}
	}
}
