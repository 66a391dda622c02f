package web_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/regcase/regcase/internal/httpapi"
	"github.com/regcase/regcase/internal/regcase"
	"github.com/regcase/regcase/internal/web"
)

// chromium finds the browser; the test fails (never skips) without it.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("REGCASE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("Chromium is not installed: run scripts/install-test-deps.sh (it installs Debian's chromium package), " +
		"or point REGCASE_CHROMIUM at a Chrome or Chromium binary")
	return ""
}

// screenshotDir is REGCASE_SCREENSHOT_DIR or <repo>/dist/screenshots.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("REGCASE_SCREENSHOT_DIR")
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			t.Fatal(err)
		}
		root := wd
		for {
			if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
				break
			}
			parent := filepath.Dir(root)
			if parent == root {
				root = wd
				break
			}
			root = parent
		}
		dir = filepath.Join(root, "dist", "screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// pageMetrics are what the browser measured for one page.
type pageMetrics struct {
	Path     string  `json:"path"`
	HTML     int64   `json:"html"`     // bytes transferred for the document (headers included)
	HTMLBody int64   `json:"htmlBody"` // document body bytes
	Res      int64   `json:"res"`      // bytes transferred for subresources (0 when cached)
	ResBody  int64   `json:"resBody"`  // subresource body bytes, cached or not
	FCP      float64 `json:"fcp"`      // first contentful paint, ms
	Requests int     `json:"requests"`
}

// contrastJS lists the text whose colour contrast with its background is
// below WCAG AA: 4.5:1, or 3:1 for large text.
const contrastJS = `(() => {
  const rgb = s => { const m = s.match(/[\d.]+/g) || []; return m.map(Number); };
  const lum = c => { const [r, g, b] = c.slice(0, 3).map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const bg = el => { for (; el; el = el.parentElement) { const c = rgb(getComputedStyle(el).backgroundColor); if (c.length === 3 || c[3] > 0) return c; } return [255, 255, 255]; };
  const bad = [];
  for (const el of document.querySelectorAll('body *')) {
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own || !el.getClientRects().length) continue;
    const st = getComputedStyle(el);
    if (st.visibility === 'hidden' || st.display === 'none') continue;
    const l1 = lum(rgb(st.color)), l2 = lum(bg(el));
    const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
    const size = parseFloat(st.fontSize), bold = parseInt(st.fontWeight) >= 700;
    const need = (size >= 24 || (bold && size >= 18.66)) ? 3 : 4.5;
    if (ratio < need) bad.push(el.tagName.toLowerCase() + (el.className ? '.' + el.className : '') + ' "' + el.textContent.trim().slice(0, 30) + '" ' + ratio.toFixed(2) + ':1');
  }
  return bad;
})()`

const metricsJS = `(() => {
  const n = performance.getEntriesByType('navigation')[0] || {};
  const res = performance.getEntriesByType('resource');
  const fcp = performance.getEntriesByType('paint').find(e => e.name === 'first-contentful-paint');
  return {path: location.pathname, html: n.transferSize || 0, htmlBody: n.encodedBodySize || 0,
    res: res.reduce((a, r) => a + r.transferSize, 0), resBody: res.reduce((a, r) => a + r.encodedBodySize, 0),
    fcp: fcp ? fcp.startTime : -1, requests: 1 + res.length};
})()`

// browserRun is one run of the browser against the whole HTTP handler.
type browserRun struct {
	t       *testing.T
	ctx     context.Context
	url     string
	dir     string
	n       int
	metrics []pageMetrics
	names   []string
}

func (b *browserRun) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

func (b *browserRun) open(path string) {
	b.t.Helper()
	resp, err := chromedp.Run(b.ctx, chromedp.NavigateResponse(b.url+path))
	if err != nil {
		b.t.Fatalf("open %s: %v", path, err)
	}
	if resp.Status >= 400 {
		b.t.Fatalf("open %s: status %d", path, resp.Status)
	}
}

// submit clicks a form's submit button and waits for the next page.
func (b *browserRun) submit(formSel string, wantStatus int) {
	b.t.Helper()
	resp, err := chromedp.RunResponse(b.ctx, chromedp.Click(chromedp.CSS(formSel+` button[type="submit"]`)))
	if err != nil {
		b.t.Fatalf("submit %s: %v", formSel, err)
	}
	if int(resp.Status) != wantStatus {
		b.t.Fatalf("submit %s: status %d, want %d", formSel, resp.Status, wantStatus)
	}
}

func (b *browserRun) text(id string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.ID(id)))
	if err != nil {
		b.t.Fatalf("text of #%s: %v", id, err)
	}
	return strings.TrimSpace(s)
}

// shot saves a screenshot of the page, checks the live DOM's structure and
// records the page's weight and first contentful paint.
func (b *browserRun) shot(name string) {
	b.t.Helper()
	b.n++
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	file := filepath.Join(b.dir, fmt.Sprintf("%02d-%s.png", b.n, name))
	if err := os.WriteFile(file, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	m, err := chromedp.Run(b.ctx, chromedp.Evaluate[pageMetrics](metricsJS))
	if err != nil {
		b.t.Fatalf("metrics %s: %v", name, err)
	}
	b.metrics, b.names = append(b.metrics, m), append(b.names, name)
	dom, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`))
	if err != nil {
		b.t.Fatal(err)
	}
	for _, p := range a11yProblems("<!doctype html>" + dom) {
		b.t.Errorf("%s: accessibility: %s", name, p)
	}
	low, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](contrastJS))
	if err != nil {
		b.t.Fatal(err)
	}
	for _, l := range low {
		b.t.Errorf("%s: contrast below WCAG AA: %s", name, l)
	}
}

func (b *browserRun) signIn(token string) {
	b.t.Helper()
	b.open("/console/login")
	b.do("type the token", chromedp.SendKeys(chromedp.ID("token"), token))
	b.submit(`form[action="/console/login"]`, http.StatusOK)
}

func (b *browserRun) signOut() {
	b.t.Helper()
	b.submit("form.signout", http.StatusOK)
}

// newBrowserRun serves the API and the console of e on a loopback server
// and starts headless Chromium on it, with JavaScript off for the pages.
func newBrowserRun(t *testing.T, e *testEnv, dir string) (*browserRun, context.Context) {
	t.Helper()
	exe := chromium(t)
	pub := e.signing.Public().(ed25519.PublicKey)
	console := web.New(web.Deps{Service: e.svc, Log: slog.New(slog.NewTextHandler(e.logs, nil)), Secure: true,
		SessionKey: []byte("0123456789abcdef0123456789abcdef"), PublicKey: pub})
	api := httpapi.NewServer(httpapi.Deps{Service: e.svc, Health: httpapi.NewHealth(func(context.Context) error { return nil }),
		Log: slog.New(slog.NewTextHandler(e.logs, nil)), Registry: prometheus.NewRegistry(), PublicKey: pub, Extra: console.Mount})
	root := http.NewServeMux()
	root.Handle("/", api)
	root.HandleFunc("GET /__jsprobe", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<!doctype html><title>no-js</title><script>document.title = "js"</script>`))
	})
	srv := httptest.NewServer(root)
	t.Cleanup(srv.Close)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900), chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(cancelBrowser)
	ctx, cancel := context.WithTimeout(bctx, 3*time.Minute)
	t.Cleanup(cancel)
	b := &browserRun{t: t, ctx: ctx, url: srv.URL, dir: dir}
	// The pages must work without JavaScript: the whole run has it off.
	// (The test's own DevTools evaluations still run.)
	b.open("/")
	if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatalf("disable JavaScript: %v", err)
	}
	b.open("/__jsprobe") // a page of the test's own, with a script and no CSP
	if title, err := chromedp.Run(ctx, chromedp.Title()); err != nil || title != "no-js" {
		t.Fatalf("page scripts still run: title %q (%v)", title, err)
	}
	return b, ctx
}

// TestBrowserEndToEnd drives a report from the public form to a closed case
// in headless Chromium, as each officer in turn, with screenshots of every
// page, and measures page weight and first contentful paint.
func TestBrowserEndToEnd(t *testing.T) {
	dir := screenshotDir(t)
	t.Logf("screenshots: %s", dir)

	e := newEnv(t, envOpts{secure: true})
	b, ctx := newBrowserRun(t, e, dir)

	// The public: the landing page, the form with its errors, the report.
	b.open("/")
	b.shot("landing")
	b.do("to the form", chromedp.Click(chromedp.CSS(`main a[href="/report"]`)), chromedp.WaitVisible(chromedp.ID("subject-name")))
	b.shot("report-form")
	b.do("contact without consent", chromedp.SendKeys(chromedp.ID("reporter-email"), "rita@example.org"))
	b.submit(`form[action="/report"]`, http.StatusUnprocessableEntity)
	b.shot("report-form-errors")
	if v, _ := chromedp.Run(ctx, chromedp.Value(chromedp.ID("reporter-email"))); v != "rita@example.org" {
		t.Errorf("typed email lost after the error: %q", v)
	}
	b.do("fill the report",
		chromedp.SetValue(chromedp.ID("category"), "food_safety"),
		chromedp.SendKeys(chromedp.ID("subject-name"), "Greasy Spoon Ltd"),
		chromedp.SendKeys(chromedp.ID("subject-registry-id"), "GB-04512"),
		chromedp.SendKeys(chromedp.ID("description"), "Mouse droppings behind the counter, seen twice this month."),
		chromedp.SendKeys(chromedp.ID("location"), "12 Market Street"),
		chromedp.SetValue(chromedp.ID("occurred"), time.Now().AddDate(0, 0, -3).Format("2006-01-02")),
		chromedp.SendKeys(chromedp.ID("reporter-name"), "Rita Reporter"),
		chromedp.Click(chromedp.ID("consent")))
	b.submit(`form[action="/report"]`, http.StatusOK)
	b.shot("report-received")
	code, secret := b.text("tracking-code"), b.text("status-secret")
	if code == "" || secret == "" {
		t.Fatalf("no tracking code or secret")
	}
	b.do("to the status page", chromedp.Click(chromedp.CSS(`main a.button`)), chromedp.WaitVisible(chromedp.ID("secret")))
	b.do("status secret", chromedp.SendKeys(chromedp.ID("secret"), secret))
	b.submit(`form[action="/status"]`, http.StatusOK)
	b.shot("status-received")
	if got := b.text("public-status"); got != "Received" {
		t.Errorf("public status %q, want Received", got)
	}

	// Intake opens a case from it.
	b.signIn(e.tokens[regcase.RoleIntake])
	b.shot("triage-queue")
	b.do("open the report", chromedp.Click(chromedp.CSS(`td a`)), chromedp.WaitVisible(chromedp.ID("f-open")))
	b.shot("report-officer")
	b.submit(`form[action$="/contact"]`, http.StatusOK)
	b.shot("report-contact")
	if got := b.text("contact"); !strings.Contains(got, "rita@example.org") {
		t.Errorf("contact shown: %q", got)
	}
	b.do("priority", chromedp.SetValue(chromedp.ID("new-priority"), "high"))
	b.submit("#f-open", http.StatusOK)
	b.shot("case-opened-intake")
	caseURL, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	casePath := strings.TrimPrefix(caseURL, b.url)
	b.signOut()

	// The supervisor assigns the investigator: open -> investigating.
	b.signIn(e.tokens[regcase.RoleSupervisor])
	b.shot("case-list")
	b.open(casePath)
	b.shot("case-open-supervisor")
	b.do("assignee", chromedp.SendKeys(chromedp.ID("t-investigating-assignee"), e.names[regcase.RoleInvestigator]))
	b.submit("#t-investigating", http.StatusOK)
	b.shot("case-investigating")
	if got := b.text("case-assignee"); got != e.names[regcase.RoleInvestigator] {
		t.Errorf("assignee %q", got)
	}
	b.signOut()

	// The investigator proposes a fine: investigating -> pending_decision.
	b.signIn(e.tokens[regcase.RoleInvestigator])
	b.open(casePath)
	b.shot("case-investigator")
	b.do("findings and proposal",
		chromedp.SendKeys(chromedp.ID("t-pending_decision-findings"), "Infestation confirmed in the kitchen and the store room."),
		chromedp.SetValue(chromedp.ID("t-pending_decision-proposed-action-type"), "fine"),
		chromedp.SendKeys(chromedp.ID("t-pending_decision-proposed-action-amount"), "2500"),
		chromedp.SendKeys(chromedp.ID("t-pending_decision-proposed-action-currency"), "EUR"))
	b.submit("#t-pending_decision", http.StatusOK)
	b.shot("case-pending-decision")
	b.signOut()

	// The supervisor approves (-> enforcement) and closes (-> closed).
	b.signIn(e.tokens[regcase.RoleSupervisor])
	b.open(casePath)
	b.shot("case-decision-supervisor")
	b.submit("#t-enforcement", http.StatusOK)
	b.shot("case-enforcement")
	if got := b.text("case-status"); !strings.HasPrefix(got, "Enforcement") {
		t.Fatalf("status after approval %q", got)
	}
	// Someone else edits the case meanwhile: the close is refused, explained,
	// and the chosen resolution is kept.
	b.do("resolution", chromedp.SetValue(chromedp.ID("t-closed-resolution"), "complied"))
	id := casePath[strings.LastIndex(casePath, "/")+1:]
	cur, err := e.svc.GetCase(ctx, e.actor(regcase.RoleSupervisor), id)
	if err != nil {
		t.Fatal(err)
	}
	title := cur.Title + " (renamed)"
	if _, err := e.svc.UpdateCase(ctx, e.actor(regcase.RoleSupervisor), id, cur.Version, regcase.CasePatch{Title: &title}); err != nil {
		t.Fatal(err)
	}
	b.submit("#t-closed", http.StatusPreconditionFailed)
	b.shot("case-stale")
	if v, _ := chromedp.Run(ctx, chromedp.Value(chromedp.ID("t-closed-resolution"))); v != "complied" {
		t.Errorf("resolution lost on the stale page: %q", v)
	}
	b.submit("#t-closed", http.StatusOK)
	b.shot("case-closed")
	if got := b.text("case-status"); !strings.HasPrefix(got, "Closed") {
		t.Fatalf("status after closing %q", got)
	}
	// The same pages on a phone.
	b.do("phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	b.shot("phone-case")
	b.open("/console/cases")
	b.shot("phone-case-list")
	b.open("/report")
	b.shot("phone-report-form")
	b.do("desktop", chromedp.EmulateViewport(1280, 900))
	b.open("/console/cases")
	b.signOut()

	// The reporter sees the final public status.
	b.open("/status?code=" + code)
	b.do("status secret", chromedp.SendKeys(chromedp.ID("secret"), secret))
	b.submit(`form[action="/status"]`, http.StatusOK)
	b.shot("status-closed")
	if got := b.text("public-status"); got != "Closed" {
		t.Errorf("final public status %q, want Closed", got)
	}

	// The auditor's verify shows OK (after the periodic checkpoint).
	if _, err := e.svc.Checkpoint(ctx, e.signing); err != nil {
		t.Fatal(err)
	}
	b.signIn(e.tokens[regcase.RoleAuditor])
	b.shot("audit-log")
	b.open("/console/audit/verify")
	b.submit(`form[action="/console/audit/verify"]`, http.StatusOK)
	b.shot("audit-verify")
	if got := b.text("verify-result"); !strings.HasPrefix(got, "OK") {
		t.Errorf("verify shows %q, want OK", got)
	}
	b.signOut()

	// The admin's tokens page, with a new token shown once.
	b.signIn(e.tokens[regcase.RoleAdmin])
	b.do("new token", chromedp.SendKeys(chromedp.ID("name"), "sam"), chromedp.SetValue(chromedp.ID("role"), "supervisor"))
	b.submit(`form[action="/console/tokens"]`, http.StatusOK)
	b.shot("tokens")

	// Page weight and first contentful paint of every page seen.
	css := int64(0)
	for _, m := range b.metrics {
		css = max(css, m.ResBody)
	}
	t.Logf("%-26s %9s %9s %8s  %s", "page", "html B", "cold B", "FCP ms", "path")
	for i, m := range b.metrics {
		cold := m.HTML + css // the document plus the stylesheet, uncached
		t.Logf("%-26s %9d %9d %8.0f  %s", b.names[i], m.HTML, cold, m.FCP, m.Path)
		if cold >= 100_000 {
			t.Errorf("%s weighs %d bytes, over the 100 KB bar", b.names[i], cold)
		}
		if m.Requests > 2 {
			t.Errorf("%s made %d requests, want the document and the stylesheet only", b.names[i], m.Requests)
		}
	}
	t.Logf("stylesheet: %d bytes; screenshots in %s", css, dir)
	if strings.Contains(e.logs.String(), "level=ERROR") {
		t.Errorf("the server logged errors:\n%s", e.logs.String())
	}
}
