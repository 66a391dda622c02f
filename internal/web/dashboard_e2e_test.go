package web_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/regcase/regcase/internal/regcase"
)

// TestBrowserDashboard opens the supervisor dashboard over 10,000 cases in
// headless Chromium (JavaScript off), saves a screenshot, runs the same
// accessibility and contrast checks as the other pages, and checks that
// the charts are drawn and the tables show what was seeded.
func TestBrowserDashboard(t *testing.T) {
	dir := screenshotDir(t)
	e := newEnv(t, envOpts{secure: true})
	seed := seedDashboard(t, e, 10_000)
	b := startBrowser(t, e, chromium(t), dir)
	ctx := b.ctx
	b.n = 80 // screenshots after the end-to-end run's
	b.signIn(e.tokens[regcase.RoleSupervisor])
	b.open("/console/dashboard")
	b.shot("dashboard-10000-cases")

	bars, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('svg.chart rect').length`))
	if err != nil {
		t.Fatal(err)
	}
	if bars < 20 {
		t.Errorf("the charts draw %d bars", bars)
	}
	// Drawn with a size (the stylesheet applies): the backlog chart is wide.
	width, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`document.querySelector('svg.chart').getBoundingClientRect().width`))
	if err != nil || width < 300 {
		t.Errorf("backlog chart width %v (%v)", width, err)
	}
	sub, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("p.sub")))
	if err != nil || !strings.Contains(sub, strconv.Itoa(seed.open)+" open cases") {
		t.Errorf("summary %q, want %d open cases (%v)", sub, seed.open, err)
	}
	// The backlog table in the page says what was seeded for the first state.
	st := e.svc.Lifecycle().Initial
	total, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll('#t-backlog tbody tr')]
		.find(tr => tr.querySelector('th').textContent.trim() === '`+label(st)+`').querySelector('td[data-label="Total"]').textContent`))
	if err != nil || total != strconv.Itoa(seed.byState[st]) {
		t.Errorf("backlog total for %s = %q, want %d (%v)", st, total, seed.byState[st], err)
	}
}
