package storetest

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/regcase/regcase/internal/regcase"
)

// A mixed population of cases for the dashboard: opened over two years,
// about 15 % open (some paused), SLA breach marks on most late ones, a few
// cases from before deadlines were tracked, acknowledge and feedback met on
// time, late or never (also on closed cases), and a report per two cases.
// wantDashboard computes what Store.Dashboard must return for it by
// reading every generated case in Go, with the definitions of
// regcase.Compliance; the store computes it from indexes.

// mixNow is the dashboard's now for the mixed population.
var mixNow = time.Date(2026, 6, 9, 10, 0, 0, 0, time.UTC)

// mixQuery is the dashboard query the service makes, at mixNow.
var mixQuery = regcase.DashboardQuery{Now: mixNow, AgeBounds: regcase.DashboardAgeBounds, Weeks: regcase.DashboardWeeks}

// mixCases returns n cases and n/2 reports, the same for the same seed.
func mixCases(tb testing.TB, n int, seed uint64) ([]*regcase.Case, []*regcase.Report) {
	tb.Helper()
	rnd := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	at := func(days float64) time.Time {
		return mixNow.Add(-time.Duration(days * 24 * float64(time.Hour))).Truncate(time.Microsecond)
	}
	prios := []regcase.Priority{regcase.PriorityLow, regcase.PriorityNormal, regcase.PriorityNormal, regcase.PriorityHigh, regcase.PriorityCritical}
	cases := make([]*regcase.Case, 0, n)
	for range n {
		age := rnd.Float64() * 730
		opened := at(age)
		c := newCase(tb, func(c *regcase.Case) {
			c.OpenedAt, c.UpdatedAt = opened, opened
			c.Priority = prios[rnd.IntN(len(prios))]
			c.SLA.DueAt = opened.AddDate(0, 0, 30)
		})
		open := age < 20 || rnd.IntN(100) < 8
		if open {
			c.Status = []string{"open", "investigating", "enforcement"}[rnd.IntN(3)]
			if rnd.IntN(100) < 5 {
				c.SLA.PausedAt = ptr(at(age / 2))
			}
		} else {
			c.Status, c.Resolution = "closed", "resolved"
			c.ClosedAt = ptr(opened.Add(time.Duration(rnd.Float64() * 45 * 24 * float64(time.Hour))))
		}
		end := mixNow
		if c.ClosedAt != nil {
			end = *c.ClosedAt
		}
		if c.SLA.DueAt.Before(end) && rnd.IntN(100) < 80 {
			c.SLA.BreachedAt = ptr(c.SLA.DueAt.Add(time.Hour))
		}
		if rnd.IntN(100) >= 2 { // 2 %: opened before deadlines were tracked
			c.Deadlines = regcase.Deadlines{
				Acknowledge: mixDeadline(rnd, opened, 7, end),
				Feedback:    mixDeadline(rnd, opened, 90, end),
			}
		}
		cases = append(cases, c)
	}
	reports := make([]*regcase.Report, 0, n/2)
	for range n / 2 {
		r := newReport(tb)
		r.ReceivedAt = at(rnd.Float64() * 730)
		r.UpdatedAt = r.ReceivedAt
		reports = append(reports, r)
	}
	return cases, reports
}

// mixDeadline is a deadline due days after opened: met on time (most),
// late, or not at all (some marked breached).
func mixDeadline(rnd *rand.Rand, opened time.Time, days int, end time.Time) regcase.Deadline {
	due := opened.AddDate(0, 0, days)
	d := regcase.Deadline{DueAt: &due}
	switch p := rnd.IntN(100); {
	case p < 75:
		d.MetAt = ptr(opened.Add(time.Duration(rnd.Float64() * float64(due.Sub(opened)))))
	case p < 88:
		d.MetAt = ptr(due.Add(time.Duration(1 + rnd.Float64()*10*24*float64(time.Hour))).Truncate(time.Microsecond))
	}
	if d.MetAt != nil && d.MetAt.After(end) {
		d.MetAt = nil // nothing is acted on after the case closed, or in the future
	}
	if (d.MetAt == nil && due.Before(mixNow)) || (d.MetAt != nil && d.MetAt.After(due)) {
		if rnd.IntN(100) < 60 {
			d.BreachedAt = ptr(due.Add(time.Minute))
		}
	}
	return d
}

// wantDashboard is Dashboard(q) over cases and reports, counted in Go.
func wantDashboard(q regcase.DashboardQuery, cases []*regcase.Case, reports []*regcase.Report) *regcase.Dashboard {
	d := &regcase.Dashboard{Ageing: make([]int64, len(q.AgeBounds)+1)}
	var cells []regcase.OpenCount
	for _, c := range cases {
		if c.ClosedAt == nil {
			b := len(q.AgeBounds)
			for i, a := range q.AgeBounds {
				if c.OpenedAt.After(q.Now.Add(-a)) {
					b = i
					break
				}
			}
			cells = append(cells, regcase.OpenCount{Status: c.Status, Priority: c.Priority, AgeBucket: b, Count: 1})
			if c.SLA.BreachedAt == nil && !c.SLA.DueAt.Before(q.Now) {
				d.SLA.Pending++
			} else {
				d.SLA.Overdue++
			}
		} else if c.SLA.BreachedAt == nil {
			d.SLA.MetOnTime++
		} else {
			d.SLA.MetLate++
		}
		if c.SLA.BreachedAt != nil {
			d.SLA.BreachMarks++
		}
		countClock(&d.Acknowledge, c.Deadlines.Acknowledge, q.Now)
		countClock(&d.Feedback, c.Deadlines.Feedback, q.Now)
	}
	d.AddOpen(cells)
	var start time.Time
	start, d.Intake = q.IntakeWeeks()
	for _, r := range reports {
		if w := r.ReceivedAt.Sub(start) / (7 * 24 * time.Hour); !r.ReceivedAt.Before(start) && int(w) < len(d.Intake) {
			d.Intake[w]++
		}
	}
	d.WeekStart = start
	return d
}

func countClock(c *regcase.Compliance, d regcase.Deadline, now time.Time) {
	switch {
	case d.DueAt == nil:
		c.NotTracked++
	case d.MetAt == nil && d.DueAt.Before(now):
		c.Overdue++
	case d.MetAt == nil:
		c.Pending++
	case d.MetAt.After(*d.DueAt):
		c.MetLate++
	default:
		c.MetOnTime++
	}
	if d.BreachedAt != nil {
		c.BreachMarks++
	}
}

// seedMix stores cases and reports in transactions of batch rows.
func seedMix(tb testing.TB, s regcase.Store, cases []*regcase.Case, reports []*regcase.Report) {
	tb.Helper()
	const batch = 1000
	for i := 0; i < len(cases); i += batch {
		insertCases(tb, s, cases[i:min(i+batch, len(cases))]...)
	}
	for i := 0; i < len(reports); i += batch {
		insertReports(tb, s, reports[i:min(i+batch, len(reports))]...)
	}
}

// testDashboardMix checks the dashboard of a few thousand mixed cases
// against the count in Go.
func testDashboardMix(t *testing.T, open opener) {
	s := open(t).Store
	cases, reports := mixCases(t, 3000, 7)
	seedMix(t, s, cases, reports)
	got, err := s.Dashboard(t.Context(), mixQuery)
	if err != nil {
		t.Fatalf("Dashboard: %v", err)
	}
	wantNoDiff(t, "dashboard", got, wantDashboard(mixQuery, cases, reports))
}

// BenchDashboard100k seeds 100,000 mixed cases (and 50,000 reports) into s,
// which must be empty, then measures a fresh Dashboard computation (the
// service's query: 12 weeks of intake, the default ageing buckets); the
// first result is checked against the count in Go. prepare, if not nil,
// runs after the seed (PostgreSQL: VACUUM ANALYZE, what autovacuum does to
// a table that grew).
func BenchDashboard100k(b *testing.B, s regcase.Store, prepare func(testing.TB)) {
	cases, reports := mixCases(b, 100_000, 42)
	seedMix(b, s, cases, reports)
	if prepare != nil {
		prepare(b)
	}
	got, err := s.Dashboard(b.Context(), mixQuery)
	if err != nil {
		b.Fatalf("Dashboard: %v", err)
	}
	wantNoDiff(b, "dashboard", got, wantDashboard(mixQuery, cases, reports))
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.Dashboard(b.Context(), mixQuery); err != nil {
			b.Fatalf("Dashboard: %v", err)
		}
	}
}
