package web

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"html/template"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/regcase/regcase/internal/regcase"
	"github.com/regcase/regcase/internal/throttle"
)

// Deps are the collaborators of the console.
type Deps struct {
	Service Service // *regcase.Service in production
	Log     *slog.Logger
	// Lifecycle defaults to Service.Lifecycle.
	Lifecycle *regcase.Lifecycle
	// Secure sets the Secure flag on cookies: true everywhere but in
	// development over plain HTTP.
	Secure bool
	// SessionKey keys the CSRF tokens of the public forms (a key derived
	// from it is used, never the key itself). Replicas must share it; when
	// nil a random key is drawn and forms break across restarts.
	SessionKey []byte
	// PublicKey verifies the audit checkpoints' signatures (nil: not checked).
	PublicKey ed25519.PublicKey
	// Intake bounds public submissions per client address; pass the API's
	// limiter so both paths share one budget (default: 5/s, burst 20).
	Intake throttle.Allower
	// Logins bounds sign-in attempts per client address (default 5/s,
	// burst 20).
	Logins *throttle.Limiter
	// TrustedProxies may set X-Forwarded-For.
	TrustedProxies []*net.IPNet
	// OIDC enables "sign in with your organisation" (authorization code
	// flow); nil hides it.
	OIDC OIDCLogin
	// SessionIdle and SessionMax end a session after inactivity and after
	// sign-in (defaults 30 minutes and 8 hours).
	SessionIdle time.Duration
	SessionMax  time.Duration
	// Now is the clock (tests); defaults to time.Now.
	Now func() time.Time
}

// Console serves the web pages. Build it with New and attach it to a mux
// with Mount.
type Console struct {
	deps     Deps
	svc      Service
	lc       *regcase.Lifecycle
	log      *slog.Logger
	now      func() time.Time
	pages    map[string]*template.Template
	sessions *sessionStore
	oidc     oidcFlows
	csrfKey  []byte
	intake   throttle.Allower
	logins   *throttle.Limiter
	origin   *http.CrossOriginProtection
	css      []byte
	cssETag  string
	cssURL   string
}

// New builds the console. It panics if an embedded template is broken,
// which the package's tests guard.
func New(d Deps) *Console {
	if d.Log == nil {
		d.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if d.Lifecycle == nil {
		d.Lifecycle = d.Service.Lifecycle()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Intake == nil {
		d.Intake = throttle.New(5, 20)
	}
	if d.Logins == nil {
		d.Logins = throttle.New(5, 20)
	}
	if d.SessionIdle == 0 {
		d.SessionIdle = 30 * time.Minute
	}
	if d.SessionMax == 0 {
		d.SessionMax = 8 * time.Hour
	}
	key := d.SessionKey
	if len(key) == 0 {
		key = make([]byte, 32)
		_, _ = rand.Read(key)
		d.Log.Warn("web console: no session key given; public forms use a random key and break across restarts and replicas")
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("regcase web csrf v1"))
	c := &Console{
		deps: d, svc: d.Service, lc: d.Lifecycle, log: d.Log, now: d.Now,
		sessions: newSessionStore(d.SessionIdle, d.SessionMax),
		csrfKey:  m.Sum(nil),
		oidc:     newOIDCFlows(key),
		intake:   d.Intake,
		logins:   d.Logins,
		origin:   http.NewCrossOriginProtection(),
	}
	c.css = mustReadStatic("static/console.css")
	sum := sha256.Sum256(c.css)
	c.cssETag = `"` + hex.EncodeToString(sum[:8]) + `"`
	c.cssURL = "/static/console.css?v=" + hex.EncodeToString(sum[:8])
	c.pages = mustParsePages()
	return c
}

// Mount adds the console's routes to mux: this is the whole route table.
func (c *Console) Mount(mux *http.ServeMux) {
	// Public pages.
	mux.Handle("GET /{$}", c.public(c.landing))
	mux.Handle("GET /report", c.public(c.reportForm))
	mux.Handle("POST /report", c.public(c.submitReport))
	mux.Handle("GET /status", c.public(c.statusForm))
	mux.Handle("POST /status", c.public(c.checkStatus))
	mux.Handle("POST /status/messages", c.public(c.replyStatus))
	mux.Handle("POST /status/attachments", c.public(c.uploadStatus))
	mux.HandleFunc("GET /static/console.css", c.stylesheet)

	// Sign-in.
	mux.Handle("GET /console", http.RedirectHandler("/console/", http.StatusMovedPermanently))
	mux.Handle("GET /console/login", c.public(c.loginForm))
	mux.Handle("POST /console/login", c.public(c.login))
	mux.Handle("POST /console/logout", c.officer(c.logout))
	mux.Handle("GET /console/oidc/login", c.public(c.oidcLogin))
	mux.Handle("GET /console/oidc/callback", c.public(c.oidcCallback))

	// Officers.
	mux.Handle("GET /console/{$}", c.officer(c.home))
	mux.Handle("GET /console/triage", c.officer(c.triage))
	mux.Handle("GET /console/reports/{id}", c.officer(c.reportPage))
	mux.Handle("POST /console/reports/{id}/contact", c.officer(c.reportContact))
	mux.Handle("POST /console/reports/{id}/dismiss", c.officer(c.dismissReport))
	mux.Handle("POST /console/reports/{id}/triage", c.officer(c.triageReport))
	mux.Handle("GET /console/cases", c.officer(c.caseList))
	mux.Handle("GET /console/cases/{id}", c.officer(c.casePage))
	mux.Handle("POST /console/cases/{id}/transition", c.officer(c.caseTransition))
	mux.Handle("POST /console/cases/{id}/assign", c.officer(c.caseAssign))
	mux.Handle("POST /console/cases/{id}/edit", c.officer(c.caseEdit))
	mux.Handle("POST /console/cases/{id}/sla", c.officer(c.caseSLA))
	mux.Handle("POST /console/cases/{id}/notes", c.officer(c.caseNote))
	mux.Handle("POST /console/cases/{id}/messages", c.officer(c.caseMessage))
	mux.Handle("POST /console/cases/{id}/attachments", c.officer(c.caseUpload))
	mux.Handle("GET /console/attachments/{id}", c.officer(c.downloadAttachment))
	mux.Handle("GET /console/dashboard", c.officer(c.dashboard))
	mux.Handle("GET /console/notifications", c.officer(c.notificationsPage))
	mux.Handle("POST /console/notifications", c.officer(c.saveNotifications))
	mux.Handle("GET /console/audit", c.officer(c.auditList))
	mux.Handle("GET /console/audit/verify", c.officer(c.verifyPage))
	mux.Handle("POST /console/audit/verify", c.officer(c.verify))
	mux.Handle("GET /console/tokens", c.officer(c.tokens))
	mux.Handle("POST /console/tokens", c.officer(c.createToken))
	mux.Handle("POST /console/tokens/{id}/revoke", c.officer(c.revokeToken))
	mux.Handle("/console/", c.officer(c.notFound))
}

// stylesheet serves the one CSS file; the versioned URL the pages use may be
// cached for good.
func (c *Console) stylesheet(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/css; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("ETag", c.cssETag)
	if r.URL.Query().Get("v") != "" {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "public, max-age=300")
	}
	if r.Header.Get("If-None-Match") == c.cssETag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	_, _ = w.Write(c.css)
}
