package web

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/regcase/regcase/internal/regcase"
)

// OIDCLogin is the identity provider as the console needs it: where to send
// the officer (with state, nonce and a PKCE challenge), and how to turn the
// returned code into an actor (exchange, ID token verification, nonce and
// role claim checks). internal/app builds it from the OIDC configuration.
type OIDCLogin interface {
	AuthURL(state, nonce, challenge string) string
	Exchange(ctx context.Context, code, verifier, nonce string) (regcase.Actor, error)
}

// oidcFlow is one pending sign-in, keyed by its state, held for 10 minutes.
type oidcFlow struct {
	nonce, verifier, next string
	expires               time.Time
}

type oidcFlows struct {
	mu sync.Mutex
	m  map[string]oidcFlow
}

func (f *oidcFlows) put(state string, fl oidcFlow) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[string]oidcFlow{}
	}
	for k, v := range f.m {
		if time.Now().After(v.expires) {
			delete(f.m, k)
		}
	}
	if len(f.m) < 10_000 {
		f.m[state] = fl
	}
}

// take returns and forgets a pending flow: a state is good once.
func (f *oidcFlows) take(state string) (oidcFlow, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fl, ok := f.m[state]
	delete(f.m, state)
	return fl, ok && time.Now().Before(fl.expires)
}

const oidcStateCookie = "regcase_oidc_state"

func (c *Console) oidcLogin(w http.ResponseWriter, r *http.Request) {
	if c.deps.OIDC == nil {
		c.notFound(w, r, nil)
		return
	}
	next := r.URL.Query().Get("next")
	if !safeNext(next) {
		next = ""
	}
	state, nonce, verifier := randomToken(), randomToken(), randomToken()
	sum := sha256.Sum256([]byte(verifier))
	c.oidc.put(state, oidcFlow{nonce: nonce, verifier: verifier, next: next, expires: time.Now().Add(10 * time.Minute)})
	// The state also rides in a cookie bound to this browser, so a code
	// obtained in another browser cannot complete here (login CSRF).
	http.SetCookie(w, c.cookie(oidcStateCookie, state, "/console/oidc", 600))
	http.Redirect(w, r, c.deps.OIDC.AuthURL(state, nonce, base64.RawURLEncoding.EncodeToString(sum[:])), http.StatusSeeOther)
}

func (c *Console) oidcCallback(w http.ResponseWriter, r *http.Request) {
	if c.deps.OIDC == nil {
		c.notFound(w, r, nil)
		return
	}
	fail := func(reason string, err error) {
		c.log.Warn("oidc sign-in failed", "reason", reason, "error", err, "request_id", requestID(w))
		http.Redirect(w, r, "/console/login?ended=oidc", http.StatusSeeOther)
	}
	q := r.URL.Query()
	state := q.Get("state")
	ck, err := r.Cookie(oidcStateCookie)
	http.SetCookie(w, c.cookie(oidcStateCookie, "", "/console/oidc", -1))
	if err != nil || state == "" || ck.Value != state {
		fail("state does not match this browser", err)
		return
	}
	fl, ok := c.oidc.take(state)
	if !ok {
		fail("unknown or expired state", nil)
		return
	}
	if e := q.Get("error"); e != "" {
		fail("provider refused: "+strings.ReplaceAll(e, "\n", " "), nil)
		return
	}
	a, err := c.deps.OIDC.Exchange(r.Context(), q.Get("code"), fl.verifier, fl.nonce)
	if err != nil {
		fail("exchange or token verification failed", err)
		return
	}
	s := c.sessions.create(a, nil, c.now())
	http.SetCookie(w, c.cookie(sessionCookie, s.id, "/console", int(c.deps.SessionMax.Seconds())))
	next := fl.next
	if next == "" {
		next = "/console/"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}
