package web

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regcase/regcase/internal/regcase"
)

// fakeIdP counts exchanges and accepts every complete one.
type fakeIdP struct {
	exchanges atomic.Int64
}

func (f *fakeIdP) AuthURL(state, nonce, challenge string) string {
	return "https://idp.example/auth?" + url.Values{"state": {state}, "nonce": {nonce}, "code_challenge": {challenge}}.Encode()
}

func (f *fakeIdP) Exchange(_ context.Context, code, verifier, nonce string) (regcase.Actor, string, error) {
	f.exchanges.Add(1)
	if code == "" || verifier == "" || nonce == "" {
		return regcase.Actor{}, "", fmt.Errorf("incomplete exchange")
	}
	return regcase.Actor{ID: "oidc:u-1", Name: "olga", Role: regcase.RoleSupervisor}, "", nil
}

func newFlowConsole(tb testing.TB, idp *fakeIdP, now *time.Time) (*Console, *http.ServeMux) {
	tb.Helper()
	c := New(Deps{Lifecycle: regcase.MustDefaultLifecycle(), OIDC: idp, Secure: true,
		SessionKey: []byte("0123456789abcdef0123456789abcdef"), Now: func() time.Time { return *now }})
	mux := http.NewServeMux()
	c.Mount(mux)
	return c, mux
}

// start begins a sign-in on mux and returns the state sent to the provider
// and the flow cookie.
func start(tb testing.TB, mux http.Handler, next string) (string, *http.Cookie) {
	tb.Helper()
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/console/oidc/login?next="+url.QueryEscape(next), nil))
	if rec.Code != http.StatusSeeOther {
		tb.Fatalf("login: %d, want 303", rec.Code)
	}
	loc, err := url.Parse(rec.Header().Get("Location"))
	if err != nil || loc.Host != "idp.example" {
		tb.Fatalf("login redirected to %q, want the provider", rec.Header().Get("Location"))
	}
	var ck *http.Cookie
	for _, c := range rec.Result().Cookies() {
		if c.Name == oidcStateCookie {
			ck = c
		}
	}
	if ck == nil {
		tb.Fatal("login set no flow cookie")
	}
	return loc.Query().Get("state"), ck
}

// callback completes a sign-in and returns where it ended and whether a
// session cookie was set.
func callback(tb testing.TB, mux http.Handler, state string, ck *http.Cookie) (string, bool) {
	tb.Helper()
	req := httptest.NewRequest(http.MethodGet, "/console/oidc/callback?code=c0de&state="+url.QueryEscape(state), nil)
	if ck != nil {
		req.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	session := false
	for _, c := range rec.Result().Cookies() {
		if c.Name == sessionCookie && c.Value != "" {
			session = true
		}
	}
	return rec.Header().Get("Location"), session
}

func TestOIDCFlowCookie(t *testing.T) {
	now := time.Now()
	idp := &fakeIdP{}
	c, mux := newFlowConsole(t, idp, &now)

	t.Run("OK", func(t *testing.T) {
		state, ck := start(t, mux, "/console/cases")
		if !ck.HttpOnly || !ck.Secure || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/console/oidc" || ck.MaxAge != 600 {
			t.Errorf("flow cookie = %+v; want HttpOnly, Secure, SameSite=Lax, path /console/oidc, 10 minutes", ck)
		}
		if len(ck.Value) > oidcMaxCookie || strings.Contains(ck.Value, state) {
			t.Errorf("flow cookie is %d bytes or shows the state in clear", len(ck.Value))
		}
		if loc, ok := callback(t, mux, state, ck); !ok || loc != "/console/cases" {
			t.Fatalf("callback ended at %q (session %v), want /console/cases with a session", loc, ok)
		}
	})
	t.Run("ErrReplayed", func(t *testing.T) {
		state, ck := start(t, mux, "")
		if _, ok := callback(t, mux, state, ck); !ok {
			t.Fatal("first callback signed nobody in")
		}
		before := idp.exchanges.Load()
		if loc, ok := callback(t, mux, state, ck); ok || !strings.Contains(loc, "ended=oidc") {
			t.Fatalf("replayed cookie: ended at %q, session %v; want refused", loc, ok)
		}
		if idp.exchanges.Load() != before {
			t.Error("a replayed cookie reached the provider")
		}
	})
	t.Run("ErrForged", func(t *testing.T) {
		state, ck := start(t, mux, "")
		b := []byte(ck.Value)
		b[len(b)/2] ^= 'A' ^ 'B'
		if b[len(b)/2] == ck.Value[len(b)/2] {
			b[len(b)/2]++
		}
		forged := &http.Cookie{Name: ck.Name, Value: string(b)}
		if _, ok := callback(t, mux, state, forged); ok {
			t.Fatal("a forged cookie signed someone in")
		}
		if _, ok := callback(t, mux, state, nil); ok {
			t.Fatal("a callback without the cookie signed someone in")
		}
		if _, ok := callback(t, mux, state, &http.Cookie{Name: ck.Name, Value: strings.Repeat("A", 5000)}); ok {
			t.Fatal("an oversized cookie signed someone in")
		}
	})
	t.Run("ErrStateOfAnotherFlow", func(t *testing.T) {
		_, ckA := start(t, mux, "")
		stateB, _ := start(t, mux, "")
		if _, ok := callback(t, mux, stateB, ckA); ok {
			t.Fatal("a cookie completed another flow's state")
		}
	})
	t.Run("ErrExpired", func(t *testing.T) {
		state, ck := start(t, mux, "")
		saved := now
		now = now.Add(oidcFlowTTL + time.Second)
		defer func() { now = saved }()
		if _, ok := callback(t, mux, state, ck); ok {
			t.Fatal("an expired cookie signed someone in")
		}
	})
	t.Run("ErrOtherKey", func(t *testing.T) {
		state, ck := start(t, mux, "")
		other := New(Deps{Lifecycle: regcase.MustDefaultLifecycle(), OIDC: idp, SessionKey: []byte("another key, another platform!!!"),
			Now: func() time.Time { return now }})
		m2 := http.NewServeMux()
		other.Mount(m2)
		if _, ok := callback(t, m2, state, ck); ok {
			t.Fatal("a cookie sealed under another key was accepted")
		}
	})
	t.Run("OKOtherReplica", func(t *testing.T) {
		// No server state: a replica with the same key completes the flow.
		state, ck := start(t, mux, "/console/audit")
		_, m2 := newFlowConsole(t, idp, &now)
		if loc, ok := callback(t, m2, state, ck); !ok || loc != "/console/audit" {
			t.Fatalf("other replica: ended at %q, session %v", loc, ok)
		}
	})
	t.Run("OKStartsCostNoMemory", func(t *testing.T) {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		used := len(c.oidc.used)
		for range 5_000 {
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/console/oidc/login", nil))
			if rec.Code != http.StatusSeeOther {
				t.Fatalf("login %d", rec.Code)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if len(c.oidc.used) != used {
			t.Errorf("sign-in starts grew server state: %d -> %d", used, len(c.oidc.used))
		}
		if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 512<<10 {
			t.Errorf("5000 sign-in starts grew the heap by %d bytes; want no per-start state", grew)
		}
	})
}
