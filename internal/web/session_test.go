package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/regcase/regcase/internal/regcase"
)

func TestLogin(t *testing.T) {
	e := newEnv(t, envOpts{secure: true})

	t.Run("OK", func(t *testing.T) {
		c := e.anon(t)
		must(t, c.get("/console/login?next=/console/audit"), http.StatusOK)
		r := must(t, c.post("/console/login", url.Values{"token": {e.tokens[regcase.RoleAuditor]}, "next": {"/console/audit"}}), http.StatusSeeOther)
		if r.location() != "/console/audit" {
			t.Errorf("after sign-in: %q, want the page asked for", r.location())
		}
		var sc *http.Cookie
		for _, ck := range (&http.Response{Header: r.header}).Cookies() {
			if ck.Name == "regcase_session" {
				sc = ck
			}
		}
		if sc == nil {
			t.Fatal("no session cookie")
		}
		if !sc.HttpOnly || !sc.Secure || sc.SameSite != http.SameSiteLaxMode || sc.Path != "/console" || len(sc.Value) < 40 {
			t.Errorf("session cookie %+v: want HttpOnly, Secure, SameSite=Lax, Path=/console, a long random value", sc)
		}
		must(t, c.get("/console/audit"), http.StatusOK)
		// Signed in, the login page sends the officer on.
		must(t, c.get("/console/login"), http.StatusSeeOther)
	})

	t.Run("BadToken", func(t *testing.T) {
		c := e.anon(t)
		must(t, c.get("/console/login"), http.StatusOK)
		for _, tok := range []string{"", "rct_nope", "not a token"} {
			r := c.post("/console/login", url.Values{"token": {tok}})
			if r.status != http.StatusUnauthorized && r.status != http.StatusUnprocessableEntity {
				t.Errorf("token %q: got %d", tok, r.status)
			}
			if !strings.Contains(r.body, `id="token-error"`) {
				t.Errorf("token %q: no message by the field", tok)
			}
			if _, ok := c.cookies["regcase_session"]; ok {
				t.Errorf("a session for a bad token")
			}
		}
	})

	t.Run("NoOpenRedirect", func(t *testing.T) {
		c := e.anon(t)
		must(t, c.get("/console/login"), http.StatusOK)
		for _, next := range []string{"https://evil.example/", "//evil.example/console/", "/console/../x", "/public"} {
			r := must(t, c.post("/console/login", url.Values{"token": {e.tokens[regcase.RoleAuditor]}, "next": {next}}), http.StatusSeeOther)
			if loc := r.location(); loc != "/console/" && !strings.HasPrefix(loc, "/console/") {
				t.Errorf("next %q sent the browser to %q", next, loc)
			}
			if strings.Contains(r.location(), "evil") {
				t.Errorf("next %q honoured: %q", next, r.location())
			}
		}
	})

	t.Run("CSRF", func(t *testing.T) {
		c := e.anon(t)
		must(t, c.get("/console/login"), http.StatusOK)
		must(t, c.rawPost("/console/login", url.Values{"token": {e.tokens[regcase.RoleAuditor]}}), http.StatusForbidden)
		must(t, c.rawPost("/console/login", url.Values{"token": {e.tokens[regcase.RoleAuditor]}, "csrf": {"forged"}}), http.StatusForbidden)
	})
}

// TestConsoleCSRF: every console POST needs the session's token.
func TestConsoleCSRF(t *testing.T) {
	e := newEnv(t)
	cs := e.caseIn(t, "open")
	c := e.as(t, regcase.RoleSupervisor)
	other := e.as(t, regcase.RoleSupervisor) // another session's token is no good
	form := url.Values{"body": {"A note"}}
	for name, tok := range map[string]string{"Missing": "", "Wrong": flipFirst(c.csrf), "OtherSession": other.csrf} {
		t.Run(name, func(t *testing.T) {
			f := url.Values{"body": form["body"]}
			if tok != "" {
				f.Set("csrf", tok)
			}
			r := must(t, c.rawPost("/console/cases/"+cs.ID+"/notes", f), http.StatusForbidden)
			if !strings.Contains(r.body, "Form expired") {
				t.Errorf("no explanation")
			}
		})
	}
	ns, _ := e.svc.ListNotes(context.Background(), e.actor(regcase.RoleSupervisor), cs.ID, "", 10)
	if len(ns) != 0 {
		t.Errorf("a forged form added %d notes", len(ns))
	}
	must(t, c.post("/console/cases/"+cs.ID+"/notes", form), http.StatusSeeOther)
	must(t, c.rawPost("/console/logout", url.Values{}), http.StatusForbidden)
}

func TestSessionExpiry(t *testing.T) {
	e := newEnv(t)

	t.Run("Idle", func(t *testing.T) {
		c := e.as(t, regcase.RoleSupervisor)
		e.clock.Advance(29 * time.Minute)
		must(t, c.get("/console/cases"), http.StatusOK)
		e.clock.Advance(29 * time.Minute) // active 29 minutes ago: still alive
		must(t, c.get("/console/cases"), http.StatusOK)
		e.clock.Advance(31 * time.Minute)
		r := must(t, c.get("/console/cases?status=open"), http.StatusSeeOther)
		if r.location() != "/console/login?next="+url.QueryEscape("/console/cases?status=open") {
			t.Errorf("expired session sent to %q", r.location())
		}
	})

	t.Run("Absolute", func(t *testing.T) {
		c := e.as(t, regcase.RoleSupervisor)
		for i := 0; i < 8*60/20-1; i++ {
			e.clock.Advance(20 * time.Minute)
			must(t, c.get("/console/cases"), http.StatusOK)
		}
		e.clock.Advance(20 * time.Minute) // 8 hours after sign-in
		must(t, c.get("/console/cases"), http.StatusSeeOther)
	})

	t.Run("Logout", func(t *testing.T) {
		c := e.as(t, regcase.RoleSupervisor)
		sid := c.cookies["regcase_session"].Value
		r := must(t, c.post("/console/logout", nil), http.StatusSeeOther)
		if r.location() != "/console/login?ended=out" {
			t.Errorf("after sign-out: %q", r.location())
		}
		if _, ok := c.cookies["regcase_session"]; ok {
			t.Errorf("the session cookie was not cleared")
		}
		c.cookies["regcase_session"] = &http.Cookie{Name: "regcase_session", Value: sid, Path: "/console"}
		must(t, c.get("/console/cases"), http.StatusSeeOther)
	})

	t.Run("RevokedToken", func(t *testing.T) {
		c := e.withToken(t, e.inv2)
		ts, _ := e.svc.ListTokens(context.Background(), e.actor(regcase.RoleAdmin))
		for _, tk := range ts {
			if tk.Name == "t-investigator2" {
				if err := e.svc.RevokeToken(context.Background(), e.actor(regcase.RoleAdmin), tk.ID); err != nil {
					t.Fatal(err)
				}
			}
		}
		e.clock.Advance(regcase.TokenCacheTTL + time.Second)
		r := must(t, c.get("/console/cases"), http.StatusSeeOther)
		if r.location() != "/console/login?ended=revoked" {
			t.Errorf("revoked session sent to %q", r.location())
		}
		must(t, c.get("/console/cases"), http.StatusSeeOther)
	})
}

// flipFirst changes the first character of tok (a fixed "x" prefix would
// equal the real token whenever it already starts with "x").
func flipFirst(tok string) string {
	if tok == "" || tok[0] != 'x' {
		return "x" + tok[1:]
	}
	return "y" + tok[1:]
}
