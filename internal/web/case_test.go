package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/regcase/regcase/internal/regcase"
)

// wantFields are the form fields a transition's requirements call for.
func wantFields(requires []string) []string {
	var out []string
	for _, f := range requires {
		switch f {
		case regcase.FieldProposedAction, regcase.FieldAction:
			for _, s := range []string{"type", "amount", "currency", "note"} {
				out = append(out, f+"."+s)
			}
		default:
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return out
}

// TestCaseActionsMatchLifecycle opens a case in every state as every role
// (and as an investigator who is not the assignee): the transition forms on
// the page are exactly the lifecycle's allowed set for that actor, each with
// exactly the fields the transition requires, and the other actions follow
// the matrix.
func TestCaseActionsMatchLifecycle(t *testing.T) {
	e := newEnv(t)
	lc := e.svc.Lifecycle()
	type who struct {
		name  string
		actor regcase.Actor
		c     *client
	}
	var people []who
	for _, r := range staffRoles {
		people = append(people, who{string(r), e.actor(r), e.as(t, r)})
	}
	people = append(people, who{"investigator-not-assigned",
		regcase.Actor{ID: "t-investigator2", Role: regcase.RoleInvestigator}, e.withToken(t, e.inv2)})

	for _, state := range lc.StateNames() {
		cs := e.caseIn(t, state)
		for _, p := range people {
			t.Run(state+"/"+p.name, func(t *testing.T) {
				r := p.c.get("/console/cases/" + cs.ID)
				if !regcase.Can(p.actor.Role, regcase.ActCaseRead) {
					must(t, r, http.StatusForbidden)
					return
				}
				must(t, r, http.StatusOK)
				if got := textOf(r.body, "case-status"); !strings.HasPrefix(strings.ToLower(got), strings.ReplaceAll(state, "_", " ")) {
					t.Errorf("status shown %q for a case in %s", got, state)
				}
				var want []string
				reqs := map[string][]string{}
				for _, tr := range lc.Available(p.actor, cs.Status, cs.Assignee) {
					want = append(want, tr.To)
					reqs[tr.To] = tr.Requires
				}
				var got []string
				for _, f := range forms(r.body) {
					if !strings.HasSuffix(f.action, "/transition") {
						continue
					}
					to := f.fields["to"]
					got = append(got, to)
					if f.id != "t-"+to {
						t.Errorf("transition form to %s has id %q", to, f.id)
					}
					if g, w := f.names("to"), wantFields(reqs[to]); !slices.Equal(g, w) {
						t.Errorf("form to %s has fields %v, want %v", to, g, w)
					}
					if tr := lc.Find(cs.Status, to); tr != nil && len(tr.Resolutions) > 0 {
						if g, w := f.options["resolution"], append([]string{""}, tr.Resolutions...); !slices.Equal(g, w) {
							t.Errorf("resolutions offered %v, want %v", g, w)
						}
					}
				}
				slices.Sort(got)
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Errorf("transitions shown %v, lifecycle allows %v", got, want)
				}
				final := lc.IsFinal(state)
				check := func(id string, want bool) {
					t.Helper()
					if got := formByID(r.body, id) != nil; got != want {
						t.Errorf("form %s shown = %v, want %v", id, got, want)
					}
				}
				role := p.actor.Role
				// Side actions follow the object rules: an investigator sees
				// them only on a case that is unassigned or its own.
				mayTouch := role != regcase.RoleInvestigator || cs.Assignee == "" || cs.Assignee == p.actor.ID
				check("f-assign", !final && regcase.Can(role, regcase.ActCaseAssign) && mayTouch &&
					!(role == regcase.RoleInvestigator && cs.Assignee == p.actor.ID))
				check("f-edit", !final && regcase.Can(role, regcase.ActCaseUpdate) && mayTouch)
				check("f-pause", !final && regcase.Can(role, regcase.ActCaseSLA) && mayTouch)
				check("f-note", regcase.Can(role, regcase.ActNoteCreate))
				for _, pr := range a11yProblems(r.body) {
					t.Errorf("accessibility: %s", pr)
				}
			})
		}
	}
}

// TestCaseTransitionThroughForms drives one case from open to closed with
// the forms, each step as the officer the lifecycle names.
func TestCaseTransitionThroughForms(t *testing.T) {
	e := newEnv(t)
	cs := e.caseIn(t, "open")
	sup, inv := e.as(t, regcase.RoleSupervisor), e.as(t, regcase.RoleInvestigator)
	path := "/console/cases/" + cs.ID
	send := func(c *client, formID string, vals url.Values) {
		t.Helper()
		page := must(t, c.get(path), http.StatusOK)
		f := formByID(page.body, formID)
		if f == nil {
			t.Fatalf("no form %s on the page", formID)
		}
		form := url.Values{}
		for k, v := range f.fields {
			form.Set(k, v)
		}
		for k, v := range vals {
			form[k] = v
		}
		r := c.post(f.action, form)
		if r.status != http.StatusSeeOther {
			t.Fatalf("%s: got %d, want 303\n%s", formID, r.status, excerpt(r.body))
		}
	}
	send(sup, "t-investigating", url.Values{"assignee": {"t-investigator"}})
	send(inv, "t-pending_decision", url.Values{"findings": {"Two rooms infested."},
		"proposed_action.type": {"fine"}, "proposed_action.amount": {"2,500.50"}, "proposed_action.currency": {"eur"}})
	got, err := e.svc.GetCase(context.Background(), e.actor(regcase.RoleSupervisor), cs.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"type":"fine","amount":250050,"currency":"EUR"}`; string(got.Details["proposed_action"]) != want {
		t.Errorf("proposed action stored %s, want %s", got.Details["proposed_action"], want)
	}
	// The approval form starts from the proposal.
	page := must(t, sup.get(path), http.StatusOK)
	if f := formByID(page.body, "t-enforcement"); f == nil || f.fields["action.amount"] != "2500.50" || f.fields["action.type"] != "fine" {
		t.Errorf("approval form does not start from the proposal: %+v", f)
	}
	send(sup, "t-enforcement", nil)
	send(sup, "t-closed", url.Values{"resolution": {"complied"}})
	r := must(t, sup.get(path), http.StatusOK)
	if got := textOf(r.body, "case-status"); !strings.HasPrefix(got, "Closed") {
		t.Errorf("status after closing = %q", got)
	}
	if !strings.Contains(r.body, "is now closed") {
		t.Errorf("no confirmation message after closing")
	}
	if formByID(r.body, "t-investigating") == nil {
		t.Errorf("a supervisor is not offered to reopen the closed case")
	}
}

// TestCaseStaleVersion sends a form made for an older version of the case.
func TestCaseStaleVersion(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sup := e.as(t, regcase.RoleSupervisor)

	t.Run("ActionStillPossible", func(t *testing.T) {
		cs := e.caseIn(t, "pending_decision")
		page := must(t, sup.get("/console/cases/"+cs.ID), http.StatusOK)
		f := formByID(page.body, "t-enforcement")
		title := "Renamed meanwhile"
		if _, err := e.svc.UpdateCase(ctx, e.actor(regcase.RoleSupervisor), cs.ID, cs.Version, regcase.CasePatch{Title: &title}); err != nil {
			t.Fatal(err)
		}
		r := sup.post(f.action, url.Values{"version": {f.fields["version"]}, "to": {"enforcement"},
			"action.type": {"fine"}, "action.amount": {"1234.5"}, "action.currency": {"EUR"}, "action.note": {"typed by me"}})
		must(t, r, http.StatusPreconditionFailed)
		if got := textOf(r.body, "stale"); !strings.Contains(got, "changed while you were working") || !strings.Contains(got, "t-supervisor: Changed title") {
			t.Errorf("the stale version is not explained with what changed: %q", got)
		}
		if !strings.Contains(r.body, title) {
			t.Errorf("the page does not show the case as it is now")
		}
		f2 := formByID(r.body, "t-enforcement")
		if f2 == nil {
			t.Fatal("the form is gone")
		}
		if f2.fields["action.amount"] != "1234.5" || f2.fields["action.note"] != "typed by me" {
			t.Errorf("typed values lost: %v", f2.fields)
		}
		if f2.fields["version"] != fmt.Sprint(cs.Version+1) {
			t.Errorf("re-rendered form has version %s, want the current %d", f2.fields["version"], cs.Version+1)
		}
	})

	t.Run("ActionNoLongerPossible", func(t *testing.T) {
		cs := e.caseIn(t, "pending_decision")
		page := must(t, sup.get("/console/cases/"+cs.ID), http.StatusOK)
		f := formByID(page.body, "t-closed")
		if _, err := e.svc.Transition(ctx, e.actor(regcase.RoleSupervisor), cs.ID, cs.Version,
			regcase.TransitionInput{To: "investigating", Reason: "needs more evidence"}); err != nil {
			t.Fatal(err)
		}
		r := sup.post(f.action, url.Values{"version": {f.fields["version"]}, "to": {"closed"}, "resolution": {"referred"}})
		must(t, r, http.StatusPreconditionFailed)
		if got := textOf(r.body, "case-status"); !strings.HasPrefix(got, "Investigating") {
			t.Errorf("status shown %q, want the current one", got)
		}
		if kept := textOf(r.body, "kept"); !strings.Contains(kept, "Referred") && !strings.Contains(kept, "referred") {
			t.Errorf("what the officer typed is not shown: %q", kept)
		}
	})

	t.Run("MissingVersion", func(t *testing.T) {
		cs := e.caseIn(t, "open")
		r := sup.post("/console/cases/"+cs.ID+"/edit", url.Values{"title": {"New title"}, "priority": {"low"}})
		must(t, r, http.StatusPreconditionFailed)
		if f := formByID(r.body, "f-edit"); f == nil || f.fields["title"] != "New title" {
			t.Errorf("typed title lost")
		}
	})
}

// TestCaseFormErrors sends bad input: the message is by the field and
// everything typed is still there.
func TestCaseFormErrors(t *testing.T) {
	e := newEnv(t)
	cs := e.caseIn(t, "investigating")
	inv := e.as(t, regcase.RoleInvestigator)
	path := "/console/cases/" + cs.ID
	page := must(t, inv.get(path), http.StatusOK)
	v := formByID(page.body, "t-pending_decision").fields["version"]
	cases := []struct {
		name string
		form url.Values
		msg  string
	}{
		{"FineWithoutAmount", url.Values{"findings": {"Findings typed"}, "proposed_action.type": {"fine"}, "proposed_action.currency": {"EUR"}},
			"amount must be positive"},
		{"BadAmount", url.Values{"findings": {"Findings typed"}, "proposed_action.type": {"fine"}, "proposed_action.amount": {"12.345"}},
			"at most two decimals"},
		{"NoFindings", url.Values{"findings": {""}, "proposed_action.type": {"warning"}, "proposed_action.note": {"note kept"}},
			"findings is required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.form.Set("version", v)
			tc.form.Set("to", "pending_decision")
			r := must(t, inv.post(path+"/transition", tc.form), http.StatusUnprocessableEntity)
			f := formByID(r.body, "t-pending_decision")
			if f == nil {
				t.Fatal("form gone")
			}
			for k := range tc.form {
				if k == "version" {
					continue
				}
				if f.fields[k] != tc.form.Get(k) {
					t.Errorf("field %s = %q, typed %q", k, f.fields[k], tc.form.Get(k))
				}
			}
			if !strings.Contains(r.body, tc.msg) {
				t.Errorf("no message %q", tc.msg)
			}
			if !strings.Contains(r.body, `aria-invalid="true"`) && !strings.Contains(r.body, `class="group invalid"`) {
				t.Errorf("the field is not marked invalid")
			}
		})
	}
	t.Run("PauseWithoutReason", func(t *testing.T) {
		r := must(t, inv.post(path+"/sla", url.Values{"op": {"pause"}, "version": {v}}), http.StatusUnprocessableEntity)
		if !strings.Contains(r.body, "Say what the case is waiting for") {
			t.Errorf("no message")
		}
	})
	t.Run("AssignOther", func(t *testing.T) {
		// An investigator may only take a case: the domain says no.
		r := inv.post(path+"/assign", url.Values{"assignee": {"someone-else"}, "version": {v}})
		must(t, r, http.StatusForbidden)
	})
}

// TestCaseSideActions: pause and resume the clock, edit, assign, add a note.
func TestCaseSideActions(t *testing.T) {
	e := newEnv(t)
	cs := e.caseIn(t, "investigating")
	sup := e.as(t, regcase.RoleSupervisor)
	path := "/console/cases/" + cs.ID
	version := func() string {
		t.Helper()
		p := must(t, sup.get(path), http.StatusOK)
		return formByID(p.body, "f-edit").fields["version"]
	}
	must(t, sup.post(path+"/sla", url.Values{"op": {"pause"}, "reason": {"Waiting for the lab"}, "version": {version()}}), http.StatusSeeOther)
	p := must(t, sup.get(path), http.StatusOK)
	if !strings.Contains(p.body, "Waiting for the lab") || formByID(p.body, "f-resume") == nil {
		t.Errorf("paused clock not shown with a resume form")
	}
	must(t, sup.post(path+"/sla", url.Values{"op": {"resume"}, "version": {version()}}), http.StatusSeeOther)
	must(t, sup.post(path+"/edit", url.Values{"title": {"Sharper title"}, "priority": {"critical"}, "version": {version()}}), http.StatusSeeOther)
	must(t, sup.post(path+"/assign", url.Values{"assignee": {"t-investigator2"}, "version": {version()}}), http.StatusSeeOther)
	must(t, sup.post(path+"/notes", url.Values{"body": {"Called the owner."}}), http.StatusSeeOther)
	must(t, sup.post(path+"/notes", url.Values{"body": {"  "}}), http.StatusUnprocessableEntity)
	p = must(t, sup.get(path), http.StatusOK)
	for _, want := range []string{"Sharper title", "Critical", "t-investigator2", "Called the owner.", "case.sla_paused", "case.sla_resumed", "case.note_added"} {
		if !strings.Contains(p.body, want) && !strings.Contains(p.body, strings.ReplaceAll(humanizeAction(want), "_", " ")) {
			t.Errorf("case page lacks %q", want)
		}
	}
	got, _ := e.svc.GetCase(context.Background(), e.actor(regcase.RoleSupervisor), cs.ID)
	inv2, err := e.svc.ResolveAssignee(context.Background(), "assignee", "t-investigator2")
	if err != nil || !strings.HasPrefix(inv2, "token:") {
		t.Fatalf("ResolveAssignee(t-investigator2) = %q, %v", inv2, err)
	}
	if got.Title != "Sharper title" || got.Priority != regcase.PriorityCritical || got.Assignee != inv2 || got.SLA.PausedAt != nil {
		t.Errorf("case after the side actions: %+v", got)
	}
}

func humanizeAction(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// TestCaseEditPriorityChoices: the edit form offers an officer exactly the
// priorities the case rules let it set — an investigator never a lower one
// than the case has — and every choice offered is accepted.
func TestCaseEditPriorityChoices(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		role regcase.Role
		want []string
	}{
		{regcase.RoleInvestigator, []string{"high", "critical"}},
		{regcase.RoleSupervisor, []string{"low", "normal", "high", "critical"}},
	} {
		t.Run(string(tc.role), func(t *testing.T) {
			cs := e.caseIn(t, "investigating") // high, assigned to the investigator
			c := e.as(t, tc.role)
			path := "/console/cases/" + cs.ID
			f := formByID(must(t, c.get(path), http.StatusOK).body, "f-edit")
			if f == nil {
				t.Fatal("no edit form")
			}
			if got := f.options["priority"]; !slices.Equal(got, tc.want) {
				t.Fatalf("priorities offered %v, want %v", got, tc.want)
			}
			var want []string
			for _, p := range e.svc.PriorityChoices(e.actor(tc.role), cs) {
				want = append(want, string(p))
			}
			if !slices.Equal(f.options["priority"], want) {
				t.Errorf("form offers %v, the service allows %v", f.options["priority"], want)
			}
			// The lowest change offered goes through (no 403 object_forbidden).
			pick := tc.want[0]
			if pick == string(cs.Priority) {
				pick = tc.want[1]
			}
			must(t, c.post(path+"/edit", url.Values{"title": {cs.Title}, "priority": {pick}, "version": {f.fields["version"]}}), http.StatusSeeOther)
			got, err := e.svc.GetCase(context.Background(), e.actor(regcase.RoleSupervisor), cs.ID)
			if err != nil || string(got.Priority) != pick {
				t.Fatalf("after saving %s: priority %v, %v", pick, got.Priority, err)
			}
		})
	}
}
