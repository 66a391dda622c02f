package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/regcase/regcase/internal/regcase"
)

// TestEveryPageEveryRole opens every page as the public and as each staff
// role: a page the role may see is 200 and passes the accessibility check,
// a page it may not see is the 403 page (not a redirect), and the public is
// sent to the sign-in page.
func TestEveryPageEveryRole(t *testing.T) {
	e := newEnv(t)
	sub := e.submit(t, "Mouse seen in the kitchen.", true)
	cs := e.caseIn(t, "pending_decision")
	pages := []struct {
		path string
		act  regcase.Action // "" = public page
	}{
		{"/", ""},
		{"/report", ""},
		{"/status", ""},
		{"/console/triage", regcase.ActReportList},
		{"/console/triage?status=dismissed", regcase.ActReportList},
		{"/console/reports/" + sub.Report.ID, regcase.ActReportRead},
		{"/console/cases", regcase.ActCaseList},
		{"/console/cases/" + cs.ID, regcase.ActCaseRead},
		{"/console/audit", regcase.ActAuditRead},
		{"/console/audit/verify", regcase.ActAuditVerify},
		{"/console/tokens", regcase.ActTokenManage},
	}
	roles := append([]regcase.Role{regcase.RoleAnonymous}, staffRoles...)
	for _, role := range roles {
		var c *client
		if role == regcase.RoleAnonymous {
			c = e.anon(t)
		} else {
			c = e.as(t, role)
		}
		for _, p := range pages {
			want := http.StatusOK
			switch {
			case p.act == "":
			case role == regcase.RoleAnonymous:
				want = http.StatusSeeOther
			case !regcase.Can(role, p.act):
				want = http.StatusForbidden
			}
			name := string(role) + p.path
			t.Run(name, func(t *testing.T) {
				r := c.get(p.path)
				if r.status != want {
					t.Fatalf("got %d, want %d\n%s", r.status, want, excerpt(r.body))
				}
				switch want {
				case http.StatusSeeOther:
					if !strings.HasPrefix(r.location(), "/console/login?next=") {
						t.Errorf("redirect to %q, want the sign-in page with next", r.location())
					}
					return
				case http.StatusForbidden:
					if !strings.Contains(r.body, "Not allowed") {
						t.Errorf("403 without the forbidden page")
					}
				}
				for _, p := range a11yProblems(r.body) {
					t.Errorf("accessibility: %s", p)
				}
				if got := r.header.Get("Content-Security-Policy"); !strings.Contains(got, "default-src 'none'") {
					t.Errorf("Content-Security-Policy = %q", got)
				}
			})
		}
		t.Run(string(role)+"/console/", func(t *testing.T) {
			r := c.get("/console/")
			if r.status != http.StatusSeeOther {
				t.Fatalf("got %d, want a redirect to the role's start page", r.status)
			}
			if role != regcase.RoleAnonymous {
				next := c.get(r.location())
				if next.status != http.StatusOK {
					t.Errorf("start page %s: got %d, want 200", r.location(), next.status)
				}
			}
		})
	}
}

// TestForbiddenPosts sends every console form as each role: the roles the
// matrix refuses get the 403 page and the others never do.
func TestForbiddenPosts(t *testing.T) {
	e := newEnv(t)
	sub := e.submit(t, "Smell of gas near the boiler.", true)
	cs := e.caseIn(t, "open")
	posts := []struct {
		path string
		act  regcase.Action
	}{
		{"/console/reports/" + sub.Report.ID + "/contact", regcase.ActReportReadPII},
		{"/console/reports/" + sub.Report.ID + "/dismiss", regcase.ActReportDismiss},
		{"/console/reports/" + sub.Report.ID + "/triage", regcase.ActReportTriage},
		{"/console/cases/" + cs.ID + "/transition", regcase.ActCaseTransition},
		{"/console/cases/" + cs.ID + "/assign", regcase.ActCaseAssign},
		{"/console/cases/" + cs.ID + "/edit", regcase.ActCaseUpdate},
		{"/console/cases/" + cs.ID + "/sla", regcase.ActCaseSLA},
		{"/console/cases/" + cs.ID + "/notes", regcase.ActNoteCreate},
		{"/console/audit/verify", regcase.ActAuditVerify},
		{"/console/tokens", regcase.ActTokenManage},
		{"/console/tokens/no-such-token/revoke", regcase.ActTokenManage},
	}
	for _, role := range staffRoles {
		c := e.as(t, role)
		for _, p := range posts {
			t.Run(string(role)+p.path, func(t *testing.T) {
				// Empty forms: an allowed role gets a validation message,
				// never a change.
				r := c.post(p.path, url.Values{})
				if regcase.Can(role, p.act) {
					if r.status == http.StatusForbidden {
						t.Fatalf("got 403, want the form handled\n%s", excerpt(r.body))
					}
				} else if r.status != http.StatusForbidden {
					t.Fatalf("got %d, want 403", r.status)
				}
				if r.status != http.StatusSeeOther {
					for _, p := range a11yProblems(r.body) {
						t.Errorf("accessibility: %s", p)
					}
				}
			})
		}
	}
}

// TestUnknownConsolePage is the console's 404 page, for officers; the
// public is asked to sign in first.
func TestUnknownConsolePage(t *testing.T) {
	e := newEnv(t)
	r := must(t, e.as(t, regcase.RoleSupervisor).get("/console/nope"), http.StatusNotFound)
	for _, p := range a11yProblems(r.body) {
		t.Errorf("accessibility: %s", p)
	}
	must(t, e.as(t, regcase.RoleSupervisor).get("/console/cases/no-such-case"), http.StatusNotFound)
	must(t, e.anon(t).get("/console/nope"), http.StatusSeeOther)
}

// TestInternalErrorHidesDetails breaks the database under a signed-in
// officer: the page gives a reference and no internals, and the log has
// the cause with the same reference.
func TestInternalErrorHidesDetails(t *testing.T) {
	e := newEnv(t)
	c := e.as(t, regcase.RoleSupervisor)
	if err := e.store.Close(); err != nil {
		t.Fatal(err)
	}
	r := c.get("/console/cases")
	if r.status < 500 {
		t.Fatalf("got %d, want a 5xx page", r.status)
	}
	id := r.header.Get("X-Request-ID")
	if id == "" || !strings.Contains(r.body, id) {
		t.Errorf("the page does not show the request id %q", id)
	}
	for _, leak := range []string{"sql", "database is closed", "sqlite"} {
		if strings.Contains(strings.ToLower(textOf(r.body, "main")), leak) {
			t.Errorf("the error page leaks %q", leak)
		}
	}
	if r.status == http.StatusInternalServerError && !strings.Contains(e.logs.String(), id) {
		t.Errorf("the log has no line with request id %s:\n%s", id, e.logs.String())
	}
}
