package web

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/regcase/regcase/internal/regcase"
)

// OIDCLogin is the identity provider as the console needs it: where to send
// the officer (with state, nonce and a PKCE challenge), and how to turn the
// returned code into an actor (exchange, ID token verification, nonce and
// role claim checks) and the e-mail address the provider verified for them
// ("" when none). internal/app builds it from the OIDC configuration.
type OIDCLogin interface {
	AuthURL(state, nonce, challenge string) string
	Exchange(ctx context.Context, code, verifier, nonce string) (regcase.Actor, string, error)
}

// A pending sign-in lives in the browser, not in the server: state, nonce,
// PKCE verifier and return path are sealed (AES-256-GCM, a key derived from
// the platform key, so every replica opens what another sealed) into a
// short-lived cookie scoped to /console/oidc. Starting sign-ins therefore
// costs the server no memory, whoever starts them; the cookie cannot be
// read (the verifier is a secret) nor forged, expires after oidcFlowTTL,
// and the callback clears it. A state that completed is remembered until it
// expires (bounded), so the same cookie is good once.
const (
	oidcStateCookie = "regcase_oidc_flow"
	oidcFlowTTL     = 10 * time.Minute
	// oidcMaxCookie bounds the sealed cookie (browsers keep 4096 bytes).
	oidcMaxCookie = 2048
	// oidcMaxUsed bounds the memory of completed states.
	oidcMaxUsed = 10_000
)

// oidcFlow is one pending sign-in as sealed in its cookie.
type oidcFlow struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Next     string `json:"r,omitempty"`
	Expires  int64  `json:"e"` // unix seconds
}

// oidcFlows seals and opens flows and remembers the states already used.
type oidcFlows struct {
	aead cipher.AEAD
	mu   sync.Mutex
	used map[string]time.Time // state -> its flow's expiry
}

func newOIDCFlows(key []byte) oidcFlows {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("regcase web oidc flow v1"))
	block, err := aes.NewCipher(m.Sum(nil))
	if err != nil {
		panic(err) // a 32-byte key always makes a cipher
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return oidcFlows{aead: aead, used: map[string]time.Time{}}
}

var errFlowCookie = errors.New("sign-in cookie is forged, corrupt or too large")

func (f *oidcFlows) seal(fl oidcFlow) (string, error) {
	plain, err := json.Marshal(fl)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, f.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	v := base64.RawURLEncoding.EncodeToString(f.aead.Seal(nonce, nonce, plain, []byte(oidcStateCookie)))
	if len(v) > oidcMaxCookie {
		return "", errFlowCookie
	}
	return v, nil
}

// open returns the flow sealed in v if it is authentic and not expired.
func (f *oidcFlows) open(v string, now time.Time) (oidcFlow, error) {
	var fl oidcFlow
	if len(v) > oidcMaxCookie {
		return fl, errFlowCookie
	}
	raw, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil || len(raw) < f.aead.NonceSize() {
		return fl, errFlowCookie
	}
	n := f.aead.NonceSize()
	plain, err := f.aead.Open(nil, raw[:n], raw[n:], []byte(oidcStateCookie))
	if err != nil {
		return fl, errFlowCookie
	}
	if err := json.Unmarshal(plain, &fl); err != nil || fl.State == "" {
		return fl, errFlowCookie
	}
	if !now.Before(time.Unix(fl.Expires, 0)) {
		return fl, errors.New("sign-in cookie expired")
	}
	return fl, nil
}

// use marks the flow's state used; false when it already was.
func (f *oidcFlows) use(fl oidcFlow, now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.used[fl.State]; ok {
		return false
	}
	if len(f.used) >= oidcMaxUsed {
		for k, exp := range f.used {
			if !now.Before(exp) {
				delete(f.used, k)
			}
		}
	}
	if len(f.used) < oidcMaxUsed {
		f.used[fl.State] = time.Unix(fl.Expires, 0)
	}
	// Full of live states: the provider's code is single-use anyway.
	return true
}

func (c *Console) oidcLogin(w http.ResponseWriter, r *http.Request) {
	if c.deps.OIDC == nil {
		c.notFound(w, r, nil)
		return
	}
	next := r.URL.Query().Get("next")
	if !safeNext(next) || len(next) > 512 {
		next = ""
	}
	fl := oidcFlow{State: randomToken(), Nonce: randomToken(), Verifier: randomToken(), Next: next,
		Expires: c.now().Add(oidcFlowTTL).Unix()}
	sealed, err := c.oidc.seal(fl)
	if err != nil {
		c.log.Error("oidc sign-in: seal the flow cookie", "error", err, "request_id", requestID(w, r))
		http.Redirect(w, r, "/console/login?ended=oidc", http.StatusSeeOther)
		return
	}
	sum := sha256.Sum256([]byte(fl.Verifier))
	// The flow rides in a cookie bound to this browser, so a code obtained
	// in another browser cannot complete here (login CSRF).
	http.SetCookie(w, c.cookie(oidcStateCookie, sealed, "/console/oidc", int(oidcFlowTTL.Seconds())))
	http.Redirect(w, r, c.deps.OIDC.AuthURL(fl.State, fl.Nonce, base64.RawURLEncoding.EncodeToString(sum[:])), http.StatusSeeOther)
}

func (c *Console) oidcCallback(w http.ResponseWriter, r *http.Request) {
	if c.deps.OIDC == nil {
		c.notFound(w, r, nil)
		return
	}
	fail := func(reason string, err error) {
		c.log.Warn("oidc sign-in failed", "reason", reason, "error", err, "request_id", requestID(w, r))
		http.Redirect(w, r, "/console/login?ended=oidc", http.StatusSeeOther)
	}
	q := r.URL.Query()
	state := q.Get("state")
	ck, err := r.Cookie(oidcStateCookie)
	http.SetCookie(w, c.cookie(oidcStateCookie, "", "/console/oidc", -1))
	if err != nil {
		fail("no sign-in cookie in this browser", err)
		return
	}
	now := c.now()
	fl, err := c.oidc.open(ck.Value, now)
	if err != nil {
		fail("sign-in cookie refused", err)
		return
	}
	if state == "" || !hmac.Equal([]byte(state), []byte(fl.State)) {
		fail("state does not match this browser", nil)
		return
	}
	if !c.oidc.use(fl, now) {
		fail("sign-in cookie already used", nil)
		return
	}
	if e := q.Get("error"); e != "" {
		fail("provider refused: "+strings.ReplaceAll(e, "\n", " "), nil)
		return
	}
	a, email, err := c.deps.OIDC.Exchange(r.Context(), q.Get("code"), fl.Verifier, fl.Nonce)
	if err != nil {
		fail("exchange or token verification failed", err)
		return
	}
	if email != "" && c.deps.Service != nil {
		// The provider's verified address becomes the officer's notification
		// address the first time only; one they set themselves (or an opt-out)
		// is never replaced. Signing in does not depend on it.
		if _, err := c.deps.Service.AdoptContactEmail(r.Context(), a, email); err != nil {
			c.deps.Log.Warn("console: could not keep the verified e-mail address of a sign-in", slog.String("actor", a.ID), slog.String("error", err.Error()))
		}
	}
	s := c.sessions.create(a, nil, now)
	http.SetCookie(w, c.cookie(sessionCookie, s.id, "/console", int(c.deps.SessionMax.Seconds())))
	next := fl.Next
	if next == "" {
		next = "/console/"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}
