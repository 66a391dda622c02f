package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/regcase/regcase/internal/regcase"
)

func TestTriage(t *testing.T) {
	e := newEnv(t)
	in := e.as(t, regcase.RoleIntake)

	t.Run("QueueAndOpenCase", func(t *testing.T) {
		sub := e.submit(t, "Raw chicken next to salad.", false)
		q := must(t, in.get("/console/triage"), http.StatusOK)
		if !strings.Contains(q.body, sub.Report.TrackingCode) {
			t.Fatalf("the queue lacks the new report")
		}
		p := must(t, in.get("/console/reports/"+sub.Report.ID), http.StatusOK)
		f := formByID(p.body, "f-open")
		if f == nil || f.fields["priority"] != "normal" {
			t.Fatalf("no open-case form with a default priority: %+v", f)
		}
		r := must(t, in.post(f.action, url.Values{"mode": {"new"}, "title": {""}, "priority": {"high"}}), http.StatusSeeOther)
		page := must(t, in.get(r.location()), http.StatusOK)
		if !strings.Contains(page.body, "Greasy Spoon Ltd: food_safety") || !strings.Contains(page.body, sub.Report.TrackingCode) {
			t.Errorf("the new case does not show its default title and linked report")
		}
		if q := must(t, in.get("/console/triage"), http.StatusOK); strings.Contains(q.body, sub.Report.TrackingCode) {
			t.Errorf("a triaged report is still in the queue")
		}
		// Triaging it again is explained, not a crash.
		r = must(t, in.post(f.action, url.Values{"mode": {"new"}}), http.StatusUnprocessableEntity)
		if !strings.Contains(r.body, "only a received report can be triaged") && !strings.Contains(r.body, "No case") {
			t.Logf("%s", excerpt(r.body))
		}
	})

	t.Run("Attach", func(t *testing.T) {
		cs := e.caseIn(t, "investigating")
		sub := e.submit(t, "Same place, again.", false)
		path := "/console/reports/" + sub.Report.ID + "/triage"
		r := must(t, in.post(path, url.Values{"mode": {"attach"}, "case": {"CASE-1999-999999"}}), http.StatusUnprocessableEntity)
		if f := formByID(r.body, "f-attach"); f == nil || f.fields["case"] != "CASE-1999-999999" || !strings.Contains(r.body, "No case has this number") {
			t.Errorf("unknown case number: message or typed value missing")
		}
		r = must(t, in.post(path, url.Values{"mode": {"attach"}, "case": {strings.ToLower(cs.Number)}}), http.StatusSeeOther)
		if r.location() != "/console/cases/"+cs.ID {
			t.Errorf("attached to %q, want %s", r.location(), cs.ID)
		}
		closed := e.caseIn(t, "closed")
		sub2 := e.submit(t, "And again.", false)
		r = must(t, in.post("/console/reports/"+sub2.Report.ID+"/triage", url.Values{"mode": {"attach"}, "case": {closed.ID}}), http.StatusUnprocessableEntity)
		if !strings.Contains(r.body, "reopen it before attaching") {
			t.Errorf("attaching to a closed case is not explained")
		}
	})

	t.Run("Dismiss", func(t *testing.T) {
		sub := e.submit(t, "Not our business.", false)
		path := "/console/reports/" + sub.Report.ID + "/dismiss"
		r := must(t, in.post(path, url.Values{"reason": {"   "}}), http.StatusUnprocessableEntity)
		if !strings.Contains(r.body, `id="dismiss-reason-error"`) {
			t.Errorf("no message by the reason")
		}
		must(t, in.post(path, url.Values{"reason": {"Out of our remit."}}), http.StatusSeeOther)
		p := must(t, in.get("/console/reports/"+sub.Report.ID), http.StatusOK)
		if !strings.Contains(p.body, "Out of our remit.") || formByID(p.body, "f-dismiss") != nil {
			t.Errorf("dismissed report page: reason missing or still dismissable")
		}
		ps, err := e.svc.PublicStatusOf(context.Background(), sub.Report.TrackingCode, sub.StatusSecret)
		if err != nil || ps.Status != "closed" {
			t.Errorf("public status after dismissal: %+v %v", ps, err)
		}
	})

	t.Run("Paging", func(t *testing.T) {
		for i := 0; i < 55; i++ {
			e.submit(t, fmt.Sprintf("Report %d", i), false)
		}
		p := must(t, in.get("/console/triage"), http.StatusOK)
		if n := strings.Count(p.body, `<td data-label="Tracking code">`); n != 50 {
			t.Errorf("first page has %d reports, want 50", n)
		}
		next := nextLink(p.body)
		if next == "" {
			t.Fatal("no next link")
		}
		p2 := must(t, in.get(next), http.StatusOK)
		if n := strings.Count(p2.body, `<td data-label="Tracking code">`); n == 0 || n > 50 {
			t.Errorf("second page has %d reports", n)
		}
	})
}

// nextLink is the href of the rel=next link.
func nextLink(page string) string {
	toks, _ := tokenize(page)
	for _, t := range toks {
		if t.kind == 's' && t.tag == "a" && t.attrs["rel"] == "next" {
			return t.attrs["href"]
		}
	}
	return ""
}

// TestReporterContact: PII only for roles that may read it, behind a POST,
// and every view audited.
func TestReporterContact(t *testing.T) {
	e := newEnv(t)
	sub := e.submit(t, "Boss makes us work without helmets.", true)
	path := "/console/reports/" + sub.Report.ID
	for _, role := range []regcase.Role{regcase.RoleIntake, regcase.RoleInvestigator, regcase.RoleSupervisor, regcase.RoleAuditor} {
		t.Run(string(role), func(t *testing.T) {
			c := e.as(t, role)
			p := must(t, c.get(path), http.StatusOK)
			if strings.Contains(p.body, "rita@example.org") {
				t.Fatalf("contact details on the page without asking")
			}
			hasButton := strings.Contains(p.body, "/contact")
			if hasButton != regcase.Can(role, regcase.ActReportReadPII) {
				t.Errorf("show-contact button shown = %v", hasButton)
			}
			r := c.post(path+"/contact", nil)
			if !regcase.Can(role, regcase.ActReportReadPII) {
				must(t, r, http.StatusForbidden)
				return
			}
			must(t, r, http.StatusOK)
			if got := textOf(r.body, "contact"); !strings.Contains(got, "rita@example.org") || !strings.Contains(got, "Rita Reporter") {
				t.Errorf("contact shown %q", got)
			}
			if r.header.Get("Cache-Control") != "no-store" {
				t.Errorf("PII page may be cached")
			}
		})
	}
	recs, err := e.svc.ListAudit(context.Background(), e.actor(regcase.RoleAuditor), regcase.AuditFilter{Chain: regcase.ChainFor("report", sub.Report.ID)})
	if err != nil {
		t.Fatal(err)
	}
	views := map[string]bool{}
	for _, rec := range recs {
		if rec.Action == "report.pii_viewed" {
			views[rec.ActorID] = true
		}
	}
	if len(views) != 2 || !views[e.ids[regcase.RoleIntake]] || !views[e.ids[regcase.RoleSupervisor]] {
		t.Errorf("audited PII views by %v, want the actor ids of t-intake and t-supervisor", views)
	}
}

func TestCaseList(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < 55; i++ {
		e.caseIn(t, "open")
	}
	closed := e.caseIn(t, "closed")
	c := e.as(t, regcase.RoleInvestigator)
	p := must(t, c.get("/console/cases"), http.StatusOK)
	if n := strings.Count(p.body, `<td data-label="Case">`); n != 50 {
		t.Errorf("first page: %d cases, want 50", n)
	}
	if !strings.Contains(p.body, "My cases") {
		t.Errorf("investigator has no 'my cases' link")
	}
	p2 := must(t, c.get(nextLink(p.body)), http.StatusOK)
	if n := strings.Count(p2.body, `<td data-label="Case">`); n != 6 {
		t.Errorf("second page: %d cases, want 6", n)
	}
	if !strings.Contains(p2.body, "First page") {
		t.Errorf("no way back to the first page")
	}
	f := must(t, c.get("/console/cases?status=closed&priority=high&q="+url.QueryEscape(closed.Number)), http.StatusOK)
	if n := strings.Count(f.body, `<td data-label="Case">`); n != 1 || !strings.Contains(f.body, closed.Number) {
		t.Errorf("filtered list has %d cases", n)
	}
	if ff := forms(f.body)[1]; ff.fields["status"] != "closed" || ff.fields["priority"] != "high" || ff.fields["q"] != closed.Number {
		t.Errorf("filters not kept in the form: %v", ff.fields)
	}
	bad := must(t, c.get("/console/cases?status=nonsense&assignee=kept"), http.StatusUnprocessableEntity)
	if !strings.Contains(bad.body, `id="status-error"`) || forms(bad.body)[1].fields["assignee"] != "kept" {
		t.Errorf("bad filter: no message or input lost")
	}
	// Next links keep the filters.
	more := must(t, c.get("/console/cases?status=open"), http.StatusOK)
	if nl := nextLink(more.body); !strings.Contains(nl, "status=open") || !strings.Contains(nl, "cursor=") {
		t.Errorf("next link %q loses the filter", nl)
	}
}

func TestAuditPages(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < 60; i++ {
		e.submit(t, fmt.Sprintf("Report %d", i), false)
	}
	aud := e.as(t, regcase.RoleAuditor)
	p := must(t, aud.get("/console/audit"), http.StatusOK)
	if n := strings.Count(p.body, `<td data-label="#">`); n != 50 {
		t.Errorf("first page: %d records, want 50", n)
	}
	p2 := must(t, aud.get(nextLink(p.body)), http.StatusOK)
	if n := strings.Count(p2.body, `<td data-label="#">`); n == 0 {
		t.Errorf("second page is empty")
	}
	must(t, aud.get("/console/audit?after=-3"), http.StatusOK)

	if _, err := e.svc.Checkpoint(context.Background(), e.signing); err != nil {
		t.Fatal(err)
	}
	v := must(t, aud.get("/console/audit/verify"), http.StatusOK)
	if !strings.Contains(v.body, "with the server's public key") {
		t.Errorf("the page does not say signatures are checked")
	}
	r := must(t, aud.post("/console/audit/verify", nil), http.StatusOK)
	if got := textOf(r.body, "verify-result"); !strings.HasPrefix(got, "OK") {
		t.Errorf("verify result %q, want OK\n%s", got, excerpt(r.body))
	}
	if !strings.Contains(r.body, "<dt>Signatures checked</dt><dd>yes</dd>") {
		t.Errorf("signatures not checked")
	}
	for _, pr := range a11yProblems(r.body) {
		t.Errorf("accessibility: %s", pr)
	}
}

func TestTokenPages(t *testing.T) {
	e := newEnv(t)
	adm := e.as(t, regcase.RoleAdmin)
	r := must(t, adm.post("/console/tokens", url.Values{"name": {"sam"}, "role": {"supervisor"}}), http.StatusOK)
	secret := textOf(r.body, "new-token")
	if !strings.HasPrefix(secret, regcase.TokenPrefix) {
		t.Fatalf("no new token on the page: %q", secret)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("the page with the secret may be cached")
	}
	if again := must(t, adm.get("/console/tokens"), http.StatusOK); strings.Contains(again.body, secret) {
		t.Errorf("the secret is shown twice")
	}
	sam := e.withToken(t, secret)
	must(t, sam.get("/console/cases"), http.StatusOK)

	r = must(t, adm.post("/console/tokens", url.Values{"name": {"sam"}, "role": {"auditor"}}), http.StatusUnprocessableEntity)
	if !strings.Contains(r.body, "exists; revoke it first") || forms(r.body)[1].fields["role"] != "auditor" {
		t.Errorf("duplicate name: message or typed role missing")
	}
	r = must(t, adm.post("/console/tokens", url.Values{"name": {"bad name!"}, "role": {""}}), http.StatusUnprocessableEntity)
	if !strings.Contains(r.body, `id="role-error"`) || forms(r.body)[1].fields["name"] != "bad name!" {
		t.Errorf("invalid token form: message or typed name missing")
	}

	ts, _ := e.svc.ListTokens(context.Background(), e.actor(regcase.RoleAdmin))
	var id string
	for _, tk := range ts {
		if tk.Name == "sam" {
			id = tk.ID
		}
	}
	must(t, adm.post("/console/tokens/"+id+"/revoke", nil), http.StatusSeeOther)
	p := must(t, adm.get("/console/tokens"), http.StatusOK)
	if !strings.Contains(p.body, "Token revoked") || !strings.Contains(p.body, "revoked ") {
		t.Errorf("revocation not shown")
	}
	c := e.anon(t)
	c.get("/console/login")
	must(t, c.post("/console/login", url.Values{"token": {secret}}), http.StatusUnauthorized)
}

// TestA11yCheckerCatchesProblems keeps the structure check honest.
func TestA11yCheckerCatchesProblems(t *testing.T) {
	page := `<!doctype html><html><head><title>x</title></head><body><main><h1>a</h1><h1>b</h1><h3>c</h3>
<input id="x" name="x"><select name="s"></select><img src="a.png"><label for="y">Y</label><textarea id="y"></textarea>
<p id="d">1</p><p id="d">2</p><input aria-describedby="nope" aria-label="ok"><button></button></main></body></html>`
	got := strings.Join(a11yProblems(page), "\n")
	for _, want := range []string{"no lang", "2 <h1>", "level is skipped", "no <header>", "no <nav>", `name="x"`, `name="s"`,
		"no alt", `id "d" is used 2 times`, `"nope"`, "no text"} {
		if !strings.Contains(got, want) {
			t.Errorf("the check misses %q; it found:\n%s", want, got)
		}
	}
	if strings.Contains(got, `id="y"`) {
		t.Errorf("a labelled textarea was reported")
	}
}
