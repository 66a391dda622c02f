package web_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regcase/regcase/internal/regcase"
	"github.com/regcase/regcase/internal/sqlite"
	"github.com/regcase/regcase/internal/throttle"
	"github.com/regcase/regcase/internal/web"
)

// staffRoles are the roles a token can be minted for.
var staffRoles = []regcase.Role{regcase.RoleIntake, regcase.RoleInvestigator, regcase.RoleSupervisor, regcase.RoleAuditor, regcase.RoleAdmin}

// clock is a settable time source for session expiry.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// testEnv is the console on a fresh SQLite store, with one token per staff
// role (named t-<role>) and a second investigator (t-investigator2).
type testEnv struct {
	svc     *regcase.Service
	store   regcase.Store // the service's store, for set-up and checks
	console *web.Console
	handler http.Handler
	clock   *clock
	tokens  map[regcase.Role]string
	names   map[regcase.Role]string
	ids     map[regcase.Role]string // actor ids ("token:<id>") per role
	inv2    string                  // token of the second investigator
	signing ed25519.PrivateKey
	logs    *logBuffer
	addrs   atomic.Int64
}

type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// envOpts tune newEnv.
type envOpts struct {
	intakeRate  float64
	intakeBurst int
	secure      bool
	// postgres: the store is a fresh PostgreSQL database (default SQLite).
	postgres bool
}

func newEnv(tb testing.TB, opts ...envOpts) *testEnv {
	tb.Helper()
	var o envOpts
	if len(opts) > 0 {
		o = opts[0]
	}
	svc, store, signing := newService(tb)
	if o.postgres {
		svc, store, signing = newPostgresService(tb)
	}
	e := &testEnv{svc: svc, store: store, clock: &clock{now: time.Now()}, tokens: map[regcase.Role]string{}, names: map[regcase.Role]string{}, ids: map[regcase.Role]string{},
		signing: signing, logs: &logBuffer{}}
	var intake throttle.Allower
	if o.intakeRate > 0 {
		intake = throttle.New(o.intakeRate, o.intakeBurst)
	}
	e.console = web.New(web.Deps{Service: svc, Log: slog.New(slog.NewTextHandler(e.logs, nil)), Secure: o.secure,
		SessionKey: []byte("0123456789abcdef0123456789abcdef"), PublicKey: signing.Public().(ed25519.PublicKey),
		Intake: intake, Now: e.clock.Now})
	mux := http.NewServeMux()
	e.console.Mount(mux)
	e.handler = mux
	ctx := context.Background()
	for _, r := range staffRoles {
		name := "t-" + string(r)
		tok, secret, err := svc.CreateToken(ctx, regcase.SystemActor("test"), name, r)
		if err != nil {
			tb.Fatal(err)
		}
		e.tokens[r], e.names[r], e.ids[r] = secret, name, regcase.TokenActorID(tok.ID)
	}
	_, secret, err := svc.CreateToken(ctx, regcase.SystemActor("test"), "t-investigator2", regcase.RoleInvestigator)
	if err != nil {
		tb.Fatal(err)
	}
	e.inv2 = secret
	return e
}

// newService opens a migrated SQLite store in a temp dir and builds the
// domain service with a fresh data key and audit signing key.
func newService(tb testing.TB) (*regcase.Service, regcase.Store, ed25519.PrivateKey) {
	tb.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(tb.TempDir(), "regcase.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	return serviceOn(tb, db)
}

// serviceOn builds the domain service on store with a fresh data key and
// audit signing key.
func serviceOn(tb testing.TB, store regcase.Store) (*regcase.Service, regcase.Store, ed25519.PrivateKey) {
	tb.Helper()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	kr, err := regcase.NewKeyring(key, rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	_, signing, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return regcase.NewService(regcase.Deps{Store: store, Keyring: kr}), store, signing
}

func (e *testEnv) actor(r regcase.Role) regcase.Actor {
	return regcase.Actor{ID: e.ids[r], Name: e.names[r], Role: r, Addr: "127.0.0.1"}
}

// client is one browser: its cookies and the last CSRF token it saw.
type client struct {
	tb      testing.TB
	e       *testEnv
	cookies map[string]*http.Cookie
	addr    string
	csrf    string
	last    *resp
}

// resp is one response, with the body as text.
type resp struct {
	status int
	header http.Header
	body   string
	path   string
}

func (r *resp) String() string { return fmt.Sprintf("%d %s", r.status, r.path) }

// location is the redirect target.
func (r *resp) location() string { return r.header.Get("Location") }

func (e *testEnv) anon(tb testing.TB) *client {
	return &client{tb: tb, e: e, cookies: map[string]*http.Cookie{}, addr: fmt.Sprintf("192.0.2.%d:4000", e.addrs.Add(1)%250+1)}
}

// as signs in with the role's token through the login form.
func (e *testEnv) as(tb testing.TB, role regcase.Role) *client {
	tb.Helper()
	return e.withToken(tb, e.tokens[role])
}

func (e *testEnv) withToken(tb testing.TB, token string) *client {
	tb.Helper()
	c := e.anon(tb)
	c.get("/console/login")
	r := c.post("/console/login", url.Values{"token": {token}})
	if r.status != http.StatusSeeOther {
		tb.Fatalf("sign-in: got %s, want 303\n%s", r, r.body)
	}
	// Follow to the role's start page, which carries the session's CSRF token.
	for i := 0; i < 3 && r.status == http.StatusSeeOther; i++ {
		r = c.get(r.location())
	}
	if r.status != http.StatusOK {
		tb.Fatalf("start page after sign-in: got %s", r)
	}
	return c
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (c *client) do(req *http.Request) *resp {
	c.tb.Helper()
	req.RemoteAddr = c.addr
	for _, ck := range c.cookies {
		if ck.Path == "" || strings.HasPrefix(req.URL.Path, ck.Path) {
			req.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
		}
	}
	w := httptest.NewRecorder()
	c.e.handler.ServeHTTP(w, req)
	res := w.Result()
	body, _ := io.ReadAll(res.Body)
	for _, ck := range res.Cookies() {
		if ck.MaxAge < 0 {
			delete(c.cookies, ck.Name)
		} else {
			c.cookies[ck.Name] = ck
		}
	}
	r := &resp{status: res.StatusCode, header: res.Header, body: string(body), path: req.URL.RequestURI()}
	if m := csrfRE.FindStringSubmatch(r.body); m != nil {
		c.csrf = m[1]
	}
	c.last = r
	return r
}

func (c *client) get(path string) *resp {
	c.tb.Helper()
	return c.do(httptest.NewRequest(http.MethodGet, path, nil))
}

// post sends a form with the last CSRF token seen (unless the form has one).
func (c *client) post(path string, form url.Values) *resp {
	c.tb.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok && c.csrf != "" {
		form.Set("csrf", c.csrf)
	}
	return c.rawPost(path, form)
}

func (c *client) rawPost(path string, form url.Values) *resp {
	c.tb.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req)
}

// must fails the test unless the response has the status.
func must(tb testing.TB, r *resp, status int) *resp {
	tb.Helper()
	if r.status != status {
		tb.Fatalf("%s: got status %d, want %d\n%s", r.path, r.status, status, excerpt(r.body))
	}
	return r
}

func excerpt(s string) string {
	if i := strings.Index(s, "<main"); i >= 0 {
		s = s[i:]
	}
	if len(s) > 3000 {
		s = s[:3000] + "…"
	}
	return s
}

// fixture data built through the domain service.

func (e *testEnv) submit(tb testing.TB, desc string, withContact bool) *regcase.Submission {
	tb.Helper()
	in := regcase.SubmitReport{Channel: regcase.ChannelWeb, Category: "food_safety",
		Subject: regcase.Subject{Name: "Greasy Spoon Ltd", RegistryID: "GB-123"}, Description: desc, Location: "1 High Street"}
	if withContact {
		in.Reporter = &regcase.Reporter{Name: "Rita Reporter", Email: "rita@example.org", Phone: "+44 20 0000 0000"}
	}
	sub, err := e.svc.Submit(context.Background(), regcase.Actor{ID: "public", Role: regcase.RoleAnonymous}, in, "")
	if err != nil {
		tb.Fatal(err)
	}
	return sub
}

// caseIn returns a case brought to state through the lifecycle, assigned
// to t-investigator from investigating on.
func (e *testEnv) caseIn(tb testing.TB, state string) *regcase.Case {
	tb.Helper()
	ctx := context.Background()
	sup, inv := e.actor(regcase.RoleSupervisor), e.actor(regcase.RoleInvestigator)
	c, err := e.svc.CreateCase(ctx, sup, regcase.NewCase{Title: "Case in " + state, Subject: regcase.Subject{Name: "Acme Foods"},
		Category: "food_safety", Priority: regcase.PriorityHigh})
	if err != nil {
		tb.Fatal(err)
	}
	step := func(a regcase.Actor, in regcase.TransitionInput) {
		tb.Helper()
		if c, err = e.svc.Transition(ctx, a, c.ID, c.Version, in); err != nil {
			tb.Fatalf("to %s: %v", in.To, err)
		}
	}
	path := map[string][]string{
		"open": {}, "investigating": {"investigating"}, "pending_decision": {"investigating", "pending_decision"},
		"enforcement": {"investigating", "pending_decision", "enforcement"},
		"appealed":    {"investigating", "pending_decision", "enforcement", "appealed"},
		"closed":      {"investigating", "pending_decision", "enforcement", "closed"},
	}[state]
	fine := &regcase.EnforcementAction{Type: "fine", Amount: 250000, Currency: "EUR", Note: "repeat offence"}
	for _, to := range path {
		switch to {
		case "investigating":
			step(sup, regcase.TransitionInput{To: to, Assignee: inv.ID})
		case "pending_decision":
			step(inv, regcase.TransitionInput{To: to, Findings: "Droppings found in two rooms.", ProposedAction: fine})
		case "enforcement":
			step(sup, regcase.TransitionInput{To: to, Action: fine})
		case "appealed":
			step(sup, regcase.TransitionInput{To: to, AppealReference: "APP-1"})
		case "closed":
			step(sup, regcase.TransitionInput{To: to, Resolution: "complied"})
		}
	}
	return c
}
