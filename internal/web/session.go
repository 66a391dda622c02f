package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/regcase/regcase/internal/regcase"
	"github.com/regcase/regcase/internal/reqinfo"
)

const (
	sessionCookie = "regcase_session"
	csrfCookie    = "regcase_csrf"
	maxFormBytes  = 1 << 20
)

// session is a signed-in officer. It lives in process memory only.
type session struct {
	id        string
	csrf      string
	actor     regcase.Actor // ID, Name and Role; Addr and RequestID per request
	tokenHash []byte        // to notice a revoked token
	created   time.Time
	lastSeen  time.Time
	checked   time.Time // last revocation check
	flash     string
}

// sessionStore keeps sessions in memory with an idle and an absolute expiry.
// Sessions are not shared between replicas: put the console behind sticky
// sessions, or run one API replica for it.
type sessionStore struct {
	mu        sync.Mutex
	m         map[string]*session
	idle, max time.Duration
	swept     time.Time
}

func newSessionStore(idle, max time.Duration) *sessionStore {
	return &sessionStore{m: map[string]*session{}, idle: idle, max: max}
}

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func (st *sessionStore) create(a regcase.Actor, tokenHash []byte, now time.Time) *session {
	s := &session{id: randomToken(), csrf: randomToken(), actor: regcase.Actor{ID: a.ID, Name: a.Name, Role: a.Role},
		tokenHash: tokenHash, created: now, lastSeen: now, checked: now}
	st.mu.Lock()
	defer st.mu.Unlock()
	st.sweep(now)
	st.m[s.id] = s
	return s
}

func (st *sessionStore) expired(s *session, now time.Time) bool {
	return now.Sub(s.created) >= st.max || now.Sub(s.lastSeen) >= st.idle
}

// get returns a live session and marks it used; an expired one is removed.
// The copy returned is safe to read without the lock.
func (st *sessionStore) get(id string, now time.Time) (*session, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.sweep(now)
	s, ok := st.m[id]
	if !ok {
		return nil, false
	}
	if st.expired(s, now) {
		delete(st.m, id)
		return nil, false
	}
	s.lastSeen = now
	cp := *s
	s.flash = ""
	return &cp, true
}

func (st *sessionStore) delete(id string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(st.m, id)
}

func (st *sessionStore) setFlash(id, msg string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if s, ok := st.m[id]; ok {
		s.flash = msg
	}
}

func (st *sessionStore) markChecked(id string, now time.Time) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if s, ok := st.m[id]; ok {
		s.checked = now
	}
}

// sweep drops expired sessions, at most once a minute. Callers hold mu.
func (st *sessionStore) sweep(now time.Time) {
	if now.Sub(st.swept) < time.Minute {
		return
	}
	st.swept = now
	for id, s := range st.m {
		if st.expired(s, now) {
			delete(st.m, id)
		}
	}
}

// cookie returns a cookie with the console's flags.
func (c *Console) cookie(name, value, path string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: path, MaxAge: maxAge, HttpOnly: true,
		Secure: c.deps.Secure, SameSite: http.SameSiteLaxMode}
}

// publicCSRF returns the CSRF token for the anonymous forms, setting the
// browser's CSRF cookie first if it has none. The token is an HMAC of the
// cookie, so a cookie planted by a sibling domain does not help an attacker.
func (c *Console) publicCSRF(w http.ResponseWriter, r *http.Request) string {
	v := ""
	if ck, err := r.Cookie(csrfCookie); err == nil && len(ck.Value) == 43 {
		v = ck.Value
	} else {
		v = randomToken()
		http.SetCookie(w, c.cookie(csrfCookie, v, "/", 0))
	}
	return c.signCSRF(v)
}

func (c *Console) signCSRF(cookie string) string {
	m := hmac.New(sha256.New, c.csrfKey)
	m.Write([]byte("public|" + cookie))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkPublicCSRF verifies the form's token against the browser's cookie.
func (c *Console) checkPublicCSRF(r *http.Request) bool {
	ck, err := r.Cookie(csrfCookie)
	if err != nil || ck.Value == "" {
		return false
	}
	return hmac.Equal([]byte(r.PostFormValue("csrf")), []byte(c.signCSRF(ck.Value)))
}

// parsePost applies the cross-origin check (Sec-Fetch-Site / Origin, on
// top of the tokens) and parses the bounded form body. It returns 0, or the
// status to refuse the request with.
func (c *Console) parsePost(w http.ResponseWriter, r *http.Request) int {
	if err := c.origin.Check(r); err != nil {
		return http.StatusForbidden
	}
	if isMultipart(r) {
		return c.parseUpload(w, r)
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if r.ParseForm() != nil {
		return http.StatusBadRequest
	}
	return 0
}

// public wraps the pages that need no account.
func (c *Console) public(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w.Header())
		requestID(w, r)
		if r.Method == http.MethodPost {
			if status := c.parsePost(w, r); status != 0 {
				c.errorPage(w, r, nil, "", status, "Form not accepted", "The form could not be accepted. Go back, reload the page and try again.")
				return
			}
		}
		h(w, r)
	})
}

type officerHandler func(w http.ResponseWriter, r *http.Request, s *session)

// officer wraps the console pages: a live session is required (else the
// browser goes to the sign-in page), a POST must carry the session's CSRF
// token (else 403), and a revoked token ends the session within
// regcase.TokenCacheTTL.
func (c *Console) officer(h officerHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w.Header())
		rid := requestID(w, r)
		now := c.now()
		var s *session
		if ck, err := r.Cookie(sessionCookie); err == nil {
			s, _ = c.sessions.get(ck.Value, now)
		}
		if s == nil {
			http.Redirect(w, r, loginURL(r), http.StatusSeeOther)
			return
		}
		if s.tokenHash != nil && now.Sub(s.checked) >= regcase.TokenCacheTTL { // OIDC sessions have no token to revoke
			_, err := c.svc.CheckTokenHash(r.Context(), s.tokenHash)
			switch {
			case regcase.ErrorCodeOf(err) == regcase.EUnauthorized:
				c.sessions.delete(s.id)
				http.SetCookie(w, c.cookie(sessionCookie, "", "/console", -1))
				http.Redirect(w, r, "/console/login?ended=revoked", http.StatusSeeOther)
				return
			case err != nil:
				c.fail(w, r, s, err)
				return
			}
			c.sessions.markChecked(s.id, now)
		}
		s.actor.Addr, s.actor.RequestID = c.clientAddr(r), rid
		reqinfo.SetActor(r.Context(), s.actor.ID, s.actor.Role) // the request log names the officer
		if r.Method == http.MethodPost {
			if c.parsePost(w, r) != 0 || subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(s.csrf)) != 1 {
				c.errorPage(w, r, &s.actor, s.csrf, http.StatusForbidden, "Form expired",
					"The form was not accepted because its security token is missing or out of date. Go back, reload the page and submit it again.")
				return
			}
		}
		h(w, r, s)
	})
}

// loginURL is the sign-in page, returning to the current page afterwards.
func loginURL(r *http.Request) string {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return "/console/login" // a form's target is no page to return to
	}
	next := r.URL.Path
	if r.URL.RawQuery != "" {
		next += "?" + r.URL.RawQuery
	}
	if !safeNext(next) || next == "/console/" {
		return "/console/login"
	}
	return "/console/login?next=" + url.QueryEscape(next)
}

// safeNext accepts only console paths, so the login page is no open redirect.
func safeNext(p string) bool {
	pth, _, _ := strings.Cut(p, "?")
	clean := path.Clean(pth)
	if strings.HasSuffix(pth, "/") {
		clean += "/"
	}
	return clean == pth && strings.HasPrefix(pth, "/console/") && !strings.HasPrefix(pth, "/console/login") &&
		!strings.Contains(p, `\`)
}

type loginView struct {
	base
	Form  *form
	Next  string
	Ended string
	OIDC  bool // offer "sign in with your organisation"
}

func (c *Console) loginForm(w http.ResponseWriter, r *http.Request) {
	if ck, err := r.Cookie(sessionCookie); err == nil {
		if _, ok := c.sessions.get(ck.Value, c.now()); ok {
			http.Redirect(w, r, "/console/", http.StatusSeeOther)
			return
		}
	}
	v := &loginView{base: base{Title: "Officer sign-in", CSRF: c.publicCSRF(w, r)}, Form: newForm(nil), Next: r.URL.Query().Get("next"),
		OIDC: c.deps.OIDC != nil}
	if !safeNext(v.Next) {
		v.Next = ""
	}
	switch r.URL.Query().Get("ended") {
	case "revoked":
		v.Ended = "Your token was revoked, so your session ended. Sign in with a valid token."
	case "out":
		v.Ended = "You are signed out."
	case "oidc":
		v.Ended = "Sign-in with your organisation did not complete. Try again, or sign in with a token."
	}
	c.render(w, r, http.StatusOK, "login.html", v)
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	f := newForm(url.Values{"next": {r.PostFormValue("next")}})
	v := &loginView{base: base{Title: "Officer sign-in"}, Form: f, Next: r.PostFormValue("next")}
	if !safeNext(v.Next) {
		v.Next = ""
	}
	if !c.checkPublicCSRF(r) {
		v.CSRF = c.publicCSRF(w, r)
		f.Message = "The form expired. Paste your token again and sign in."
		c.render(w, r, http.StatusForbidden, "login.html", v)
		return
	}
	v.CSRF = c.publicCSRF(w, r)
	if ok, wait := c.logins.Allow(c.clientAddr(r)); !ok {
		w.Header().Set("Retry-After", retryAfter(wait))
		f.Message = "Too many sign-in attempts from your address. Wait a few seconds and try again."
		c.render(w, r, http.StatusTooManyRequests, "login.html", v)
		return
	}
	token := strings.TrimSpace(r.PostFormValue("token"))
	if token == "" {
		f.Errors["token"] = "Paste your API token (it starts with " + regcase.TokenPrefix + ")."
		c.render(w, r, http.StatusUnprocessableEntity, "login.html", v)
		return
	}
	a, err := c.svc.Authenticate(r.Context(), token)
	if err != nil {
		if regcase.ErrorCodeOf(err) != regcase.EUnauthorized {
			c.fail(w, r, nil, err)
			return
		}
		f.Errors["token"] = "This token is not valid or was revoked."
		c.render(w, r, http.StatusUnauthorized, "login.html", v)
		return
	}
	s := c.sessions.create(a, regcase.HashSecret(token), c.now())
	http.SetCookie(w, c.cookie(sessionCookie, s.id, "/console", int(c.deps.SessionMax.Seconds())))
	next := v.Next
	if next == "" {
		next = "/console/"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, s *session) {
	c.sessions.delete(s.id)
	http.SetCookie(w, c.cookie(sessionCookie, "", "/console", -1))
	http.Redirect(w, r, "/console/login?ended=out", http.StatusSeeOther)
}

// home sends each role to the page it works from.
func (c *Console) home(w http.ResponseWriter, r *http.Request, s *session) {
	role := s.actor.Role
	switch {
	case role == regcase.RoleIntake && regcase.Can(role, regcase.ActReportList):
		http.Redirect(w, r, "/console/triage", http.StatusSeeOther)
	case role == regcase.RoleAuditor && regcase.Can(role, regcase.ActAuditRead):
		http.Redirect(w, r, "/console/audit", http.StatusSeeOther)
	case regcase.Can(role, regcase.ActCaseList):
		http.Redirect(w, r, "/console/cases", http.StatusSeeOther)
	case regcase.Can(role, regcase.ActTokenManage):
		http.Redirect(w, r, "/console/tokens", http.StatusSeeOther)
	case regcase.Can(role, regcase.ActAuditVerify):
		http.Redirect(w, r, "/console/audit/verify", http.StatusSeeOther)
	default:
		c.forbidden(w, r, s)
	}
}

// redirectWith sends the browser to target with a one-time message.
func (c *Console) redirectWith(w http.ResponseWriter, r *http.Request, s *session, target, flash string) {
	if flash != "" {
		c.sessions.setFlash(s.id, flash)
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// allowed writes the 403 page unless the signed-in role may act.
func (c *Console) allowed(w http.ResponseWriter, r *http.Request, s *session, act regcase.Action) bool {
	if regcase.Can(s.actor.Role, act) {
		return true
	}
	c.forbidden(w, r, s)
	return false
}

// officerBase is the base of a console page.
func officerBase(s *session, title string) base {
	a := s.actor
	return base{Title: title, Actor: &a, CSRF: s.csrf, Flash: s.flash}
}
