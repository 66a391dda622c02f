package web_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/regcase/regcase/internal/pgtest"
	"github.com/regcase/regcase/internal/postgres"
	"github.com/regcase/regcase/internal/regcase"
)

// newPostgresService is newService on a fresh, migrated PostgreSQL
// database (the store connects as the application role).
func newPostgresService(tb testing.TB) (*regcase.Service, regcase.Store, ed25519.PrivateKey) {
	tb.Helper()
	ctx := context.Background()
	ownerURL, appURL := pgtest.Start(tb).NewDatabase(tb)
	owner, err := postgres.Open(ctx, ownerURL, postgres.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := owner.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	owner.Close()
	db, err := postgres.Open(ctx, appURL, postgres.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	return serviceOn(tb, db)
}

// dashboardSeed is what seedDashboard wrote, counted in Go.
type dashboardSeed struct {
	open       int
	byState    map[string]int // open cases per state
	byStatePri map[string]map[regcase.Priority]int
	ageing     []int
	slaBreach  int
	reports    int
}

// seedDashboard writes n cases (a tenth of them closed, a twentieth with a
// marked SLA breach, deadlines set) and n/4 reports over the last 12 weeks,
// in batches, straight through the store.
func seedDashboard(tb testing.TB, e *testEnv, n int) dashboardSeed {
	tb.Helper()
	ctx := context.Background()
	lc := e.svc.Lifecycle()
	var open, final []string
	for _, st := range lc.StateNames() {
		if lc.IsFinal(st) {
			final = append(final, st)
		} else {
			open = append(open, st)
		}
	}
	now := time.Now().UTC()
	seed := dashboardSeed{byState: map[string]int{}, byStatePri: map[string]map[regcase.Priority]int{},
		ageing: make([]int, len(regcase.DashboardAgeBounds)+1)}
	const batch = 5000
	for from := 0; from < n; from += batch {
		err := e.store.InTx(ctx, func(tx regcase.Tx) error {
			for i := from; i < min(from+batch, n); i++ {
				num, err := tx.NextCaseNumber(ctx)
				if err != nil {
					return err
				}
				p := regcase.Priorities[i%len(regcase.Priorities)]
				age := time.Duration(i%400) * 24 * time.Hour
				opened := now.Add(-age - time.Hour)
				c := &regcase.Case{ID: e.svc.NewID(), Number: fmt.Sprintf("CASE-D-%07d", num), Title: "Dashboard case",
					Subject: regcase.Subject{Name: "Business"}, Category: regcase.DefaultCategories[i%len(regcase.DefaultCategories)],
					Priority: p, Status: open[i%len(open)], OpenedAt: opened, UpdatedAt: opened, Version: 1,
					Details: map[string]json.RawMessage{}, SLA: regcase.SLA{DueAt: opened.Add(e.svc.SLA()[p])}}
				ack, fb := opened.AddDate(0, 0, 7), opened.AddDate(0, 3, 0)
				c.Deadlines = regcase.Deadlines{Acknowledge: regcase.Deadline{DueAt: &ack}, Feedback: regcase.Deadline{DueAt: &fb}}
				if i%3 == 0 {
					met := opened.Add(24 * time.Hour)
					c.Deadlines.Acknowledge.MetAt = &met
				}
				if i%20 == 0 {
					c.SLA.BreachedAt = &c.SLA.DueAt
					seed.slaBreach++
				}
				if i%10 == 0 {
					closed := opened.Add(time.Hour)
					c.Status, c.ClosedAt, c.Resolution = final[i%len(final)], &closed, "no_violation"
				} else {
					seed.open++
					seed.byState[c.Status]++
					if seed.byStatePri[c.Status] == nil {
						seed.byStatePri[c.Status] = map[regcase.Priority]int{}
					}
					seed.byStatePri[c.Status][p]++
					b := len(regcase.DashboardAgeBounds)
					for k, bound := range regcase.DashboardAgeBounds {
						if now.Sub(opened) < bound {
							b = k
							break
						}
					}
					seed.ageing[b]++
				}
				if err := tx.InsertCase(ctx, c); err != nil {
					return err
				}
				if i%4 == 0 {
					r := &regcase.Report{ID: e.svc.NewID(), TrackingCode: fmt.Sprintf("D%011d", i), Channel: regcase.ChannelWeb,
						Category: "other", Subject: regcase.Subject{Name: "Business"}, Description: "seeded",
						ReceivedAt: now.Add(-time.Duration(i%(7*11)) * 24 * time.Hour), UpdatedAt: now, Status: regcase.ReportReceived}
					if err := tx.InsertReport(ctx, r); err != nil {
						return err
					}
					seed.reports++
				}
			}
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
	return seed
}

var (
	tableRE = regexp.MustCompile(`(?s)<table class="list numbers" id="(t-[a-z]+)">.*?</table>`)
	rowRE   = regexp.MustCompile(`(?s)<tr><th scope="row"[^>]*>([^<]*)</th>(.*?)</tr>`)
	cellRE  = regexp.MustCompile(`<td data-label="([^"]*)">([^<]*)</td>`)
	rectRE  = regexp.MustCompile(`<rect [^>]*class="([^"]+)"><title>([^<]*)</title>`)
)

// dashboardTables parses the dashboard's tables: table id → row header →
// column label → cell text.
func dashboardTables(html string) map[string]map[string]map[string]string {
	out := map[string]map[string]map[string]string{}
	for _, t := range tableRE.FindAllStringSubmatch(html, -1) {
		rows := map[string]map[string]string{}
		for _, r := range rowRE.FindAllStringSubmatch(t[0], -1) {
			cells := map[string]string{}
			for _, c := range cellRE.FindAllStringSubmatch(r[2], -1) {
				cells[c[1]] = c[2]
			}
			rows[r[1]] = cells
		}
		out[t[1]] = rows
	}
	return out
}

func atoi(tb testing.TB, s string) int {
	tb.Helper()
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		tb.Fatalf("not a number: %q", s)
	}
	return n
}

// TestDashboard renders the supervisor dashboard over 10,000 cases and
// checks its numbers (tables) against what was seeded, its charts (one SVG
// bar per non-empty cell, tooltips with the same numbers), that it holds
// no script and who may open it, and logs its server-side time.
func TestDashboard(t *testing.T) {
	n := 10_000
	if raceEnabled || testing.Short() {
		n = 2_000
	}
	e := newEnv(t)
	seed := seedDashboard(t, e, n)
	sup := e.as(t, regcase.RoleSupervisor)
	r := must(t, sup.get("/console/dashboard"), http.StatusOK)
	html := r.body
	if strings.Contains(strings.ToLower(html), "<script") {
		t.Error("the dashboard carries a script")
	}
	if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP = %q", csp)
	}
	if !strings.Contains(html, fmt.Sprintf("%d open cases", seed.open)) {
		t.Errorf("open case count %d not shown", seed.open)
	}
	tabs := dashboardTables(html)

	// Backlog: every state's total and each priority cell.
	backlog := tabs["t-backlog"]
	for st, want := range seed.byState {
		row := backlog[label(st)]
		if row == nil {
			t.Errorf("backlog has no row %q (rows %v)", label(st), keys(backlog))
			continue
		}
		if got := atoi(t, row["Total"]); got != want {
			t.Errorf("backlog %s total = %d, want %d", st, got, want)
		}
		for p, wantP := range seed.byStatePri[st] {
			if got := atoi(t, row[label(string(p))]); got != wantP {
				t.Errorf("backlog %s/%s = %d, want %d", st, p, got, wantP)
			}
		}
	}
	// Ageing buckets, in order.
	ageing := tabs["t-ageing"]
	for i, lbl := range []string{"0–7 days", "7–30 days", "30–90 days", "90–180 days", "over 180 days"} {
		if got := atoi(t, ageing[lbl]["Open cases"]); got != seed.ageing[i] {
			t.Errorf("ageing %s = %d, want %d", lbl, got, seed.ageing[i])
		}
	}
	// SLA breaches marked; acknowledge tracked on every case.
	compl := tabs["t-compliance"]
	if got := atoi(t, compl["SLA"]["Breaches marked"]); got != seed.slaBreach {
		t.Errorf("SLA breaches = %d, want %d", got, seed.slaBreach)
	}
	ack := compl["Acknowledge (statutory)"]
	if sum := atoi(t, ack["Met on time"]) + atoi(t, ack["Met late"]) + atoi(t, ack["Overdue"]) + atoi(t, ack["Pending"]); sum != n {
		t.Errorf("acknowledge outcomes sum to %d, want %d", sum, n)
	}
	if got := atoi(t, ack["Met on time"]); got != (n+2)/3 {
		t.Errorf("acknowledge met on time = %d, want %d", got, (n+2)/3)
	}
	// Intake: 12 weeks, summing to the reports seeded (all within 11 weeks).
	intake := tabs["t-intake"]
	total := 0
	for _, row := range intake {
		total += atoi(t, row["Reports"])
	}
	if len(intake) != regcase.DashboardWeeks || total != seed.reports {
		t.Errorf("intake: %d weeks summing to %d, want %d weeks and %d", len(intake), total, regcase.DashboardWeeks, seed.reports)
	}
	// Charts: a bar per non-empty backlog cell, whose tooltip carries the table's number.
	rects := rectRE.FindAllStringSubmatch(html, -1)
	cells := 0
	for st, ps := range seed.byStatePri {
		for p, k := range ps {
			cells++
			want := fmt.Sprintf("%s, %s: %d", label(st), p, k)
			if !slices.ContainsFunc(rects, func(m []string) bool { return m[2] == want }) {
				t.Errorf("no backlog bar %q", want)
			}
		}
	}
	prioBars := 0
	for _, m := range rects {
		if strings.HasPrefix(m[1], "prio-fill-") {
			prioBars++
		}
	}
	if prioBars != cells {
		t.Errorf("backlog bars = %d, want %d", prioBars, cells)
	}
	if !strings.Contains(html, `aria-hidden="true"`) || strings.Count(html, "<svg") != 4 {
		t.Errorf("want 4 charts hidden from assistive technology (the tables carry the numbers)")
	}

	// Only supervisors.
	for _, role := range []regcase.Role{regcase.RoleInvestigator, regcase.RoleIntake, regcase.RoleAuditor, regcase.RoleAdmin} {
		must(t, e.as(t, role).get("/console/dashboard"), http.StatusForbidden)
	}

	// Server-side time, computing the aggregates on every view (no reuse).
	e.svc.SetDashboardMaxAge(-1)
	med := medianGet(t, sup, "/console/dashboard", 15)
	t.Logf("dashboard over %d cases, computed per view: median %.2f ms, %d bytes (race detector: %v)", n, ms(med), len(html), raceEnabled)
	// The 100 ms bar is asserted at 100,000 cases by TestDashboardAt100k
	// (BENCHMARKS.md); here the figure is logged, since a shared test
	// machine's load would make a timing assertion flaky.
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// label is the console's humanize (pending_decision → Pending decision).
func label(s string) string {
	s = strings.ReplaceAll(s, "_", " ")
	return strings.ToUpper(s[:1]) + s[1:]
}

func medianGet(tb testing.TB, c *client, path string, runs int) time.Duration {
	tb.Helper()
	ds := make([]time.Duration, 0, runs)
	for range runs {
		t0 := time.Now()
		must(tb, c.get(path), http.StatusOK)
		ds = append(ds, time.Since(t0))
	}
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// TestDashboardAt100k is the measurement behind BENCHMARKS.md: the
// dashboard served (aggregates + render, through the handler) over
// 100,000 cases on SQLite and PostgreSQL. It seeds for minutes, so it runs
// only with REGCASE_DASHBOARD_BENCH=1:
//
//	REGCASE_DASHBOARD_BENCH=1 go test -count=1 -run TestDashboardAt100k -v ./internal/web/
func TestDashboardAt100k(t *testing.T) {
	if os.Getenv("REGCASE_DASHBOARD_BENCH") != "1" {
		t.Skip("set REGCASE_DASHBOARD_BENCH=1 (seeds 100,000 cases per engine)")
	}
	for _, pg := range []bool{false, true} {
		name := map[bool]string{false: "SQLite", true: "PostgreSQL"}[pg]
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, envOpts{postgres: pg})
			start := time.Now()
			seedDashboard(t, e, 100_000)
			t.Logf("seeded 100,000 cases in %v", time.Since(start).Round(time.Second))
			sup := e.as(t, regcase.RoleSupervisor)
			for _, reuse := range []bool{false, true} {
				e.svc.SetDashboardMaxAge(-1) // every view computes the aggregates
				what := "computed per view"
				if reuse {
					e.svc.SetDashboardMaxAge(time.Hour)
					what = "snapshot reused (REGCASE_DASHBOARD_MAX_AGE)"
				}
				must(t, sup.get("/console/dashboard"), http.StatusOK) // warm the caches
				ds := make([]time.Duration, 0, 25)
				for range 25 {
					t0 := time.Now()
					must(t, sup.get("/console/dashboard"), http.StatusOK)
					ds = append(ds, time.Since(t0))
				}
				slices.Sort(ds)
				t.Logf("%s dashboard at 100,000 cases, %s: median %.2f ms, p90 %.2f ms, min %.2f ms, max %.2f ms",
					name, what, ms(ds[len(ds)/2]), ms(ds[len(ds)*9/10]), ms(ds[0]), ms(ds[len(ds)-1]))
				if med := ds[len(ds)/2]; !raceEnabled && med >= 100*time.Millisecond {
					t.Errorf("%s, %s: median %v over the 100 ms bar", name, what, med)
				}
			}
		})
	}
}
