package storetest

import (
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/regcase/regcase/internal/regcase"
)

func putContacts(tb testing.TB, s regcase.Store, cs ...*regcase.OfficerContact) {
	tb.Helper()
	mustTx(tb, s, func(tx regcase.Tx) error {
		for _, c := range cs {
			if err := tx.PutContact(tb.Context(), c); err != nil {
				return err
			}
		}
		return nil
	})
}

func testContacts(t *testing.T, open opener) {
	t.Run("PutGetReplace", func(t *testing.T) {
		s := open(t).Store
		c := &regcase.OfficerContact{ActorID: "token:abc", Role: regcase.RoleInvestigator, Email: "ivy@example.gov", Notify: true, UpdatedAt: t0}
		putContacts(t, s, c)
		got, err := s.GetContact(t.Context(), "token:abc")
		if err != nil {
			t.Fatalf("GetContact: %v", err)
		}
		wantNoDiff(t, "contact", got, c)
		c2 := &regcase.OfficerContact{ActorID: "token:abc", Role: regcase.RoleSupervisor, Email: "ivy2@example.gov", Notify: false, UpdatedAt: day(1)}
		putContacts(t, s, c2)
		got, err = s.GetContact(t.Context(), "token:abc")
		if err != nil {
			t.Fatalf("GetContact: %v", err)
		}
		wantNoDiff(t, "replaced contact", got, c2)
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		_, err := open(t).Store.GetContact(t.Context(), "token:nobody")
		wantCode(t, err, regcase.ENotFound)
	})
	t.Run("NotifiableContacts", func(t *testing.T) {
		s := open(t).Store
		live, revoked := newToken(t, "sam"), newToken(t, "old-sam")
		insertTokens(t, s, live, revoked)
		mustTx(t, s, func(tx regcase.Tx) error { return tx.RevokeToken(t.Context(), revoked.ID, day(1)) })
		sup := regcase.RoleSupervisor
		putContacts(t, s,
			&regcase.OfficerContact{ActorID: regcase.TokenActorID(live.ID), Role: sup, Email: "sam@example.gov", Notify: true, UpdatedAt: t0},
			&regcase.OfficerContact{ActorID: regcase.TokenActorID(revoked.ID), Role: sup, Email: "old@example.gov", Notify: true, UpdatedAt: t0},
			&regcase.OfficerContact{ActorID: "oidc:sue", Role: sup, Email: "sue@example.gov", Notify: true, UpdatedAt: t0},
			&regcase.OfficerContact{ActorID: "oidc:out", Role: sup, Email: "out@example.gov", Notify: false, UpdatedAt: t0},
			&regcase.OfficerContact{ActorID: "oidc:ivy", Role: regcase.RoleInvestigator, Email: "ivy@example.gov", Notify: true, UpdatedAt: t0},
		)
		got, err := s.NotifiableContacts(t.Context(), sup)
		if err != nil {
			t.Fatalf("NotifiableContacts: %v", err)
		}
		var ids []string
		for _, c := range got {
			ids = append(ids, c.ActorID)
		}
		want := []string{"oidc:sue", regcase.TokenActorID(live.ID)}
		slices.Sort(want)
		wantIDs(t, ids, want)
	})
}

func newNotification(eventID, to string, at time.Time) *regcase.Notification {
	return &regcase.Notification{ID: newID(), EventID: eventID, Recipient: to, Kind: "assigned",
		Data: json.RawMessage(`{"case_number":"CASE-2026-000001"}`), Status: regcase.NotificationPending, NextAttemptAt: at, CreatedAt: at}
}

func testNotifications(t *testing.T, open opener) {
	t.Run("InsertDuplicateIsConflictTxUsable", func(t *testing.T) {
		s := open(t).Store
		ev := newID()
		n := newNotification(ev, "token:a", t0)
		mustTx(t, s, func(tx regcase.Tx) error {
			if err := tx.InsertNotification(t.Context(), n); err != nil {
				return err
			}
			err := tx.InsertNotification(t.Context(), newNotification(ev, "token:a", t0))
			wantCode(t, err, regcase.EConflict)
			// the transaction is still usable
			return tx.InsertNotification(t.Context(), newNotification(ev, "token:b", t0))
		})
		got, err := s.ListNotifications(t.Context(), ev, 0)
		if err != nil {
			t.Fatalf("ListNotifications: %v", err)
		}
		if len(got) != 2 || got[0].Recipient != "token:a" || got[1].Recipient != "token:b" {
			t.Fatalf("notifications = %+v, want token:a and token:b", got)
		}
		wantNoDiff(t, "notification", got[0], n)
	})
	t.Run("ClaimLeaseUpdate", func(t *testing.T) {
		s := open(t).Store
		due, later := newNotification(newID(), "token:a", t0), newNotification(newID(), "token:a", day(1))
		mustTx(t, s, func(tx regcase.Tx) error {
			if err := tx.InsertNotification(t.Context(), due); err != nil {
				return err
			}
			return tx.InsertNotification(t.Context(), later)
		})
		got, err := s.ClaimNotifications(t.Context(), t0.Add(time.Second), time.Minute, 10)
		if err != nil || len(got) != 1 || got[0].ID != due.ID {
			t.Fatalf("ClaimNotifications = %v, %v; want only the due one", got, err)
		}
		if want := t0.Add(time.Second + time.Minute); !got[0].NextAttemptAt.Equal(want) {
			t.Errorf("claimed NextAttemptAt = %v, want %v", got[0].NextAttemptAt, want)
		}
		if again, _ := s.ClaimNotifications(t.Context(), t0.Add(2*time.Second), time.Minute, 10); len(again) != 0 {
			t.Errorf("claimed again within the lease: %d", len(again))
		}
		n := got[0]
		n.Status, n.Attempts, n.SentAt = regcase.NotificationSent, 1, ptr(t0.Add(time.Second))
		if err := s.UpdateNotification(t.Context(), n); err != nil {
			t.Fatalf("UpdateNotification: %v", err)
		}
		// A sent notification is never changed back.
		back := *n
		back.Status, back.LastError = regcase.NotificationPending, "late failure"
		if err := s.UpdateNotification(t.Context(), &back); err != nil {
			t.Fatalf("UpdateNotification of a sent one: %v", err)
		}
		list, _ := s.ListNotifications(t.Context(), due.EventID, 0)
		if len(list) != 1 || list[0].Status != regcase.NotificationSent || list[0].LastError != "" {
			t.Errorf("after late failure: %+v, want still sent", list)
		}
		if err := s.UpdateNotification(t.Context(), newNotification("x", "y", t0)); regcase.ErrorCodeOf(err) != regcase.ENotFound {
			t.Errorf("UpdateNotification of a missing one = %v, want not_found", err)
		}
	})
	t.Run("ConcurrentClaimsDisjoint", func(t *testing.T) {
		s := open(t).Store
		mustTx(t, s, func(tx regcase.Tx) error {
			for range 40 {
				if err := tx.InsertNotification(t.Context(), newNotification(newID(), "token:a", t0)); err != nil {
					return err
				}
			}
			return nil
		})
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for {
					got, err := s.ClaimNotifications(t.Context(), t0, time.Hour, 3)
					if err != nil {
						t.Errorf("ClaimNotifications: %v", err)
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, n := range got {
						seen[n.ID]++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(seen) != 40 {
			t.Errorf("claimed %d distinct notifications, want 40", len(seen))
		}
		for id, k := range seen {
			if k != 1 {
				t.Errorf("notification %s claimed %d times", id, k)
			}
		}
	})
}

func testDueDeadlines(t *testing.T, open opener) {
	s := open(t).Store
	now := day(10)
	warn := 48 * time.Hour
	dl := func(due time.Time, mod func(*regcase.Deadline)) regcase.Deadline {
		d := regcase.Deadline{DueAt: ptr(due)}
		if mod != nil {
			mod(&d)
		}
		return d
	}
	far := dl(day(90), nil)
	mk := func(ack, fb regcase.Deadline, mods ...func(*regcase.Case)) *regcase.Case {
		return newCase(t, append([]func(*regcase.Case){func(c *regcase.Case) { c.Deadlines = regcase.Deadlines{Acknowledge: ack, Feedback: fb} }}, mods...)...)
	}
	ackOverdue := mk(dl(day(7), nil), far)
	ackWarn := mk(dl(day(11), nil), far)
	ackWarned := mk(dl(day(11), func(d *regcase.Deadline) { d.WarnedAt = ptr(day(9)) }), far)
	ackBreached := mk(dl(day(7), func(d *regcase.Deadline) { d.WarnedAt, d.BreachedAt = ptr(day(5)), ptr(day(8)) }), far)
	ackMet := mk(dl(day(7), func(d *regcase.Deadline) { d.MetAt = ptr(day(8)) }), far)
	fbOverdue := mk(dl(day(7), func(d *regcase.Deadline) { d.MetAt = ptr(day(1)) }), dl(day(9), nil))
	closed := mk(dl(day(7), nil), far, func(c *regcase.Case) { c.ClosedAt, c.Status = ptr(day(8)), "closed" })
	untracked := newCase(t)
	insertCases(t, s, ackOverdue, ackWarn, ackWarned, ackBreached, ackMet, fbOverdue, closed, untracked)

	got, err := s.DueDeadlines(t.Context(), now, warn, 100)
	if err != nil {
		t.Fatalf("DueDeadlines: %v", err)
	}
	want := []string{ackOverdue.ID, ackWarn.ID, fbOverdue.ID}
	slices.Sort(want)
	wantIDs(t, got, want)
	if got, _ := s.DueDeadlines(t.Context(), now, warn, 1); len(got) != 1 {
		t.Errorf("limit 1 returned %d", len(got))
	}
}

func testDashboard(t *testing.T, open opener) {
	s := open(t).Store
	now := day(100) // 2026-06-09, a Tuesday
	dl := func(due time.Time, met *time.Time) regcase.Deadline {
		return regcase.Deadline{DueAt: ptr(due), MetAt: met}
	}
	opened := func(daysAgo int) func(*regcase.Case) {
		return func(c *regcase.Case) { c.OpenedAt = now.AddDate(0, 0, -daysAgo) }
	}
	cases := []*regcase.Case{
		// open, young, on time, ack met on time, feedback pending
		newCase(t, opened(2), func(c *regcase.Case) {
			c.Priority, c.SLA.DueAt = regcase.PriorityHigh, now.Add(time.Hour)
			c.Deadlines = regcase.Deadlines{Acknowledge: dl(now.AddDate(0, 0, 5), ptr(now.AddDate(0, 0, -1))), Feedback: dl(now.AddDate(0, 3, 0), nil)}
		}),
		// open, 20 days, SLA overdue (not yet marked), ack overdue (breach marked)
		newCase(t, opened(20), func(c *regcase.Case) {
			c.Status, c.SLA.DueAt = "investigating", now.Add(-time.Hour)
			c.Deadlines = regcase.Deadlines{Acknowledge: regcase.Deadline{DueAt: ptr(now.AddDate(0, 0, -13)), BreachedAt: ptr(now.AddDate(0, 0, -12))},
				Feedback: dl(now.AddDate(0, 2, 0), nil)}
		}),
		// open, 60 days, SLA breach marked, ack met late
		newCase(t, opened(60), func(c *regcase.Case) {
			c.Status, c.SLA.DueAt, c.SLA.BreachedAt = "investigating", now.AddDate(0, 0, -30), ptr(now.AddDate(0, 0, -30))
			c.Deadlines = regcase.Deadlines{Acknowledge: dl(now.AddDate(0, 0, -53), ptr(now.AddDate(0, 0, -50))), Feedback: dl(now.AddDate(0, 1, 0), nil)}
		}),
		// open, 400 days, untracked deadlines
		newCase(t, opened(400), func(c *regcase.Case) { c.SLA.DueAt = now.AddDate(0, 0, 5) }),
		// closed on time; feedback met on time
		newCase(t, opened(50), func(c *regcase.Case) {
			c.Status, c.ClosedAt, c.SLA.DueAt = "closed", ptr(now.AddDate(0, 0, -10)), now.AddDate(0, 0, -5)
			c.Deadlines = regcase.Deadlines{Acknowledge: dl(now.AddDate(0, 0, -43), ptr(now.AddDate(0, 0, -49))),
				Feedback: dl(now.AddDate(0, 0, 40), ptr(now.AddDate(0, 0, -10)))}
		}),
		// closed late (SLA breached); feedback met late
		newCase(t, opened(200), func(c *regcase.Case) {
			c.Status, c.ClosedAt, c.SLA.DueAt, c.SLA.BreachedAt = "closed", ptr(now.AddDate(0, 0, -1)), now.AddDate(0, 0, -170), ptr(now.AddDate(0, 0, -170))
			c.Deadlines = regcase.Deadlines{Acknowledge: dl(now.AddDate(0, 0, -193), ptr(now.AddDate(0, 0, -199))),
				Feedback: regcase.Deadline{DueAt: ptr(now.AddDate(0, 0, -110)), MetAt: ptr(now.AddDate(0, 0, -1)), BreachedAt: ptr(now.AddDate(0, 0, -109))}}
		}),
	}
	insertCases(t, s, cases...)
	// Intake: this week (Mon 2026-06-08) 2 reports, last week 1, three weeks ago 1, too old 1.
	monday := time.Date(2026, 6, 8, 0, 0, 0, 0, time.UTC)
	at := func(tm time.Time) func(*regcase.Report) { return func(r *regcase.Report) { r.ReceivedAt = tm } }
	insertReports(t, s,
		newReport(t, at(monday)), newReport(t, at(now)),
		newReport(t, at(monday.Add(-time.Microsecond))),
		newReport(t, at(monday.AddDate(0, 0, -21).Add(time.Hour))),
		newReport(t, at(monday.AddDate(0, 0, -28).Add(-time.Hour))),
	)

	day := 24 * time.Hour
	got, err := s.Dashboard(t.Context(), regcase.DashboardQuery{Now: now, Weeks: 4,
		AgeBounds: []time.Duration{7 * day, 30 * day, 90 * day, 180 * day}})
	if err != nil {
		t.Fatalf("Dashboard: %v", err)
	}
	want := &regcase.Dashboard{
		Backlog: []regcase.CountByStatePriority{
			{Status: "investigating", Priority: regcase.PriorityNormal, Count: 2},
			{Status: "open", Priority: regcase.PriorityHigh, Count: 1},
			{Status: "open", Priority: regcase.PriorityNormal, Count: 1},
		},
		Ageing:      []int64{1, 1, 1, 0, 1},
		SLA:         regcase.Compliance{MetOnTime: 1, MetLate: 1, Overdue: 2, Pending: 2, BreachMarks: 2},
		Acknowledge: regcase.Compliance{MetOnTime: 3, MetLate: 1, Overdue: 1, NotTracked: 1, BreachMarks: 1},
		Feedback:    regcase.Compliance{MetOnTime: 1, MetLate: 1, Pending: 3, NotTracked: 1, BreachMarks: 1},
		Intake:      []int64{1, 0, 1, 2},
		WeekStart:   monday.AddDate(0, 0, -21),
		OpenCases:   4,
	}
	wantNoDiff(t, "dashboard", got, want)
}
