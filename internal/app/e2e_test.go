package app_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/regcase/regcase/internal/regcase"
)

// TestEndToEnd drives one report from anonymous submission through triage
// and every lifecycle state to closure, reopens and closes the case again,
// and then checks the audit trail, PII handling, erasure and the audit
// chain, on both engines.
func TestEndToEnd(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		ts := startServer(t, engine)
		e := &e2e{t: t, ts: ts}
		e.run()
	})
}

type e2e struct {
	t    *testing.T
	ts   *testServer
	c    caseJSON // the case as the last response showed it
	etag string   // the ETag header of the last case response

	sub submitted
	// transitions are the (from, to) pairs taken, in order.
	transitions [][2]string
}

// publicStatus returns the coarse public status of the report.
func (e *e2e) publicStatus() string {
	e.t.Helper()
	var ps struct {
		TrackingCode string `json:"tracking_code"`
		Status       string `json:"status"`
	}
	e.ts.must(e.t, http.StatusOK, http.MethodGet, "/v1/public/reports/"+e.sub.TrackingCode, regcase.RoleAnonymous, nil,
		"X-Status-Secret", e.sub.StatusSecret).JSON(e.t, &ps)
	if ps.TrackingCode != e.sub.TrackingCode {
		e.t.Errorf("public status tracking_code = %q, want %q", ps.TrackingCode, e.sub.TrackingCode)
	}
	return ps.Status
}

// caseResponse records a case response: its ETag header must match the
// body's, its version must have moved by one, and its transitions must be
// exactly want (what the caller may do now).
func (e *e2e) caseResponse(step string, r *apiResponse, wantTransitions []string) {
	e.t.Helper()
	var c caseJSON
	r.JSON(e.t, &c)
	if got := r.Header.Get("ETag"); got == "" || got != c.ETag {
		e.t.Fatalf("%s: ETag header %q, body etag %q", step, got, c.ETag)
	}
	if e.c.ID != "" && c.Version != e.c.Version+1 {
		e.t.Errorf("%s: version %d, want %d", step, c.Version, e.c.Version+1)
	}
	if got := c.transitionTargets(); !slices.Equal(got, wantTransitions) {
		e.t.Errorf("%s: transitions = %v, want %v", step, got, wantTransitions)
	}
	e.c, e.etag = c, r.Header.Get("ETag")
}

// transition posts a transition as role with the last ETag.
func (e *e2e) transition(role regcase.Role, body map[string]any, wantTransitions []string) {
	e.t.Helper()
	from, to := e.c.Status, body["to"].(string)
	step := string(role) + " " + from + "->" + to
	r := e.ts.must(e.t, http.StatusOK, http.MethodPost, "/v1/cases/"+e.c.ID+"/transitions", role, body, "If-Match", e.etag)
	e.caseResponse(step, r, wantTransitions)
	if e.c.Status != to {
		e.t.Fatalf("%s: status %q, want %q", step, e.c.Status, to)
	}
	e.transitions = append(e.transitions, [2]string{from, to})
}

// view reads the case as role and checks what that role may do now.
func (e *e2e) view(role regcase.Role, wantTransitions []string) caseJSON {
	e.t.Helper()
	r := e.ts.must(e.t, http.StatusOK, http.MethodGet, "/v1/cases/"+e.c.ID, role, nil)
	var c caseJSON
	r.JSON(e.t, &c)
	if got := r.Header.Get("ETag"); got != e.etag {
		e.t.Errorf("GET case as %s: ETag %q, want the last one %q", role, got, e.etag)
	}
	if got := c.transitionTargets(); !slices.Equal(got, wantTransitions) {
		e.t.Errorf("GET case as %s in %s: transitions = %v, want %v", role, c.Status, got, wantTransitions)
	}
	return c
}

func (e *e2e) run() {
	t, ts := e.t, e.ts
	const (
		intake       = regcase.RoleIntake
		investigator = regcase.RoleInvestigator
		supervisor   = regcase.RoleSupervisor
		auditor      = regcase.RoleAuditor
	)
	none := []string{}
	inv := ts.IDs[investigator]

	// Anonymous submission with contact details, then the public view.
	e.sub = ts.submitReport(t, regcase.RoleAnonymous, "Rodent droppings in the kitchen, seen twice this month.")
	if e.sub.TrackingCode == "" || e.sub.StatusSecret == "" || e.sub.Status != "received" {
		t.Fatalf("submission = %+v, want a tracking code, a status secret and status received", e.sub)
	}
	if got := e.publicStatus(); got != "received" {
		t.Errorf("public status after submission = %q, want received", got)
	}
	r := ts.do(t, http.MethodGet, "/v1/public/reports/"+e.sub.TrackingCode, regcase.RoleAnonymous, nil, "X-Status-Secret", "wrong-secret")
	if r.Status != http.StatusNotFound {
		t.Errorf("public status with a wrong secret: got %s, want 404", r)
	}

	// Intake triages it into a new case.
	r = ts.must(t, http.StatusOK, http.MethodPost, "/v1/reports/"+e.sub.ID+"/triage", intake,
		map[string]any{"new_case": map[string]any{"priority": "high"}})
	var tri struct {
		Report struct {
			Status string `json:"status"`
			CaseID string `json:"case_id"`
		} `json:"report"`
		Case caseJSON `json:"case"`
	}
	r.JSON(t, &tri)
	if tri.Report.Status != "triaged" || tri.Report.CaseID == "" || tri.Report.CaseID != tri.Case.ID {
		t.Fatalf("triage: report %+v, case id %q", tri.Report, tri.Case.ID)
	}
	if tri.Case.Status != "open" || tri.Case.Priority != "high" || !slices.Equal(tri.Case.ReportIDs, []string{e.sub.ID}) {
		t.Errorf("triaged case: status %q priority %q reports %v, want open, high, [%s]", tri.Case.Status, tri.Case.Priority, tri.Case.ReportIDs, e.sub.ID)
	}
	if got := tri.Case.transitionTargets(); !slices.Equal(got, none) {
		t.Errorf("triage response for intake: transitions = %v, want none", got)
	}
	if !strings.HasPrefix(tri.Case.Number, "CASE-") {
		t.Errorf("case number %q, want CASE-YYYY-NNNNNN", tri.Case.Number)
	}
	e.c, e.etag = tri.Case, tri.Case.ETag
	if got := e.publicStatus(); got != "under_review" {
		t.Errorf("public status after triage = %q, want under_review", got)
	}

	// What each role may do with the open case.
	e.view(supervisor, []string{"investigating", "closed"})
	open := e.view(investigator, []string{"investigating"})
	if open.Transitions[0].Constraint != "self_assign" {
		t.Errorf("investigator's open->investigating constraint = %q, want self_assign", open.Transitions[0].Constraint)
	}
	e.view(auditor, none)
	e.view(intake, none)

	// A missing and a stale If-Match, before anything moves.
	r = ts.do(t, http.MethodPost, "/v1/cases/"+e.c.ID+"/transitions", supervisor, map[string]any{"to": "investigating", "assignee": inv})
	if r.Status != http.StatusPreconditionRequired {
		t.Errorf("transition without If-Match: got %s, want 428", r)
	}

	// SLA: pause and resume move due_at by the paused time.
	dueBefore := e.c.SLA.DueAt
	if want := e.c.OpenedAt.Add(7 * 24 * time.Hour); !dueBefore.Equal(want) {
		t.Errorf("high priority due_at = %s, want opened_at + 7 days = %s", dueBefore, want)
	}
	r = ts.must(t, http.StatusOK, http.MethodPost, "/v1/cases/"+e.c.ID+"/sla/pause", supervisor,
		map[string]any{"reason": "waiting for the lab results"}, "If-Match", e.etag)
	e.caseResponse("pause SLA", r, []string{"investigating", "closed"})
	if !e.c.SLA.Paused {
		t.Errorf("after pause: sla.paused = false")
	}
	pausedAt := time.Now()
	time.Sleep(1100 * time.Millisecond)
	r = ts.must(t, http.StatusOK, http.MethodPost, "/v1/cases/"+e.c.ID+"/sla/resume", supervisor, nil, "If-Match", e.etag)
	pausedFor := time.Since(pausedAt)
	e.caseResponse("resume SLA", r, []string{"investigating", "closed"})
	moved := e.c.SLA.DueAt.Sub(dueBefore)
	if e.c.SLA.Paused || moved < time.Second || moved > pausedFor+time.Second || e.c.SLA.PausedSeconds < 1 {
		t.Errorf("after resume: paused %v, due_at moved by %v (paused_seconds %d), want about %v",
			e.c.SLA.Paused, moved, e.c.SLA.PausedSeconds, pausedFor)
	}

	// PATCH priority recomputes due_at (paused time still counted).
	dueHigh := e.c.SLA.DueAt
	r = ts.must(t, http.StatusOK, http.MethodPatch, "/v1/cases/"+e.c.ID, supervisor, map[string]any{"priority": "critical"}, "If-Match", e.etag)
	e.caseResponse("PATCH priority", r, []string{"investigating", "closed"})
	if want := dueHigh.Add(-5 * 24 * time.Hour); e.c.Priority != "critical" || !e.c.SLA.DueAt.Equal(want) {
		t.Errorf("after PATCH priority=critical: priority %q due_at %s, want critical and %s (2 days instead of 7)", e.c.Priority, e.c.SLA.DueAt, want)
	}

	// A stale ETag is refused.
	r = ts.do(t, http.MethodPost, "/v1/cases/"+e.c.ID+"/transitions", supervisor, map[string]any{"to": "investigating", "assignee": inv},
		"If-Match", tri.Case.ETag)
	if r.Status != http.StatusPreconditionFailed {
		t.Errorf("transition with a stale If-Match: got %s, want 412", r)
	}

	// The lifecycle, every state.
	e.transition(supervisor, map[string]any{"to": "investigating", "assignee": inv}, none)
	if e.c.Assignee != inv {
		t.Errorf("assignee = %q, want %q", e.c.Assignee, inv)
	}
	e.view(investigator, []string{"pending_decision"})
	// An illegal edge is a 409.
	r = ts.do(t, http.MethodPost, "/v1/cases/"+e.c.ID+"/transitions", supervisor,
		map[string]any{"to": "enforcement", "action": map[string]any{"type": "warning"}}, "If-Match", e.etag)
	if r.Status != http.StatusConflict {
		t.Errorf("investigating->enforcement: got %s, want 409", r)
	}
	e.transition(investigator, map[string]any{"to": "pending_decision", "findings": "Droppings confirmed by inspector.",
		"proposed_action": map[string]any{"type": "fine", "amount": 250000, "currency": "EUR"}}, none)
	e.view(supervisor, []string{"investigating", "enforcement", "closed"})
	e.transition(supervisor, map[string]any{"to": "investigating", "reason": "Interview the kitchen staff first."}, none)
	e.transition(investigator, map[string]any{"to": "pending_decision", "findings": "Staff confirm; pest control lapsed.",
		"proposed_action": map[string]any{"type": "fine", "amount": 300000, "currency": "EUR"}}, none)
	e.transition(supervisor, map[string]any{"to": "enforcement",
		"action": map[string]any{"type": "fine", "amount": 300000, "currency": "EUR"}}, []string{"appealed", "closed"})
	e.view(investigator, []string{"appealed"})
	e.transition(investigator, map[string]any{"to": "appealed", "appeal_reference": "APP-2026-17"}, none)
	e.view(supervisor, []string{"enforcement", "closed"})
	e.transition(supervisor, map[string]any{"to": "enforcement", "decision": "Appeal rejected: evidence stands."}, []string{"appealed", "closed"})
	e.transition(supervisor, map[string]any{"to": "closed", "resolution": "complied"}, []string{"investigating"})
	if e.c.Resolution != "complied" || e.c.ClosedAt == nil {
		t.Errorf("closed case: resolution %q closed_at %v, want complied and a time", e.c.Resolution, e.c.ClosedAt)
	}
	if got := e.publicStatus(); got != "closed" {
		t.Errorf("public status after closure = %q, want closed", got)
	}
	e.view(investigator, none)
	e.transition(supervisor, map[string]any{"to": "investigating", "reason": "New complaint about the same kitchen."}, none)
	if e.c.Resolution != "" || e.c.ClosedAt != nil {
		t.Errorf("reopened case: resolution %q closed_at %v, want none", e.c.Resolution, e.c.ClosedAt)
	}
	if got := e.publicStatus(); got != "under_review" {
		t.Errorf("public status after reopening = %q, want under_review", got)
	}
	e.transition(investigator, map[string]any{"to": "pending_decision", "findings": "No rodents found on re-inspection.",
		"proposed_action": map[string]any{"type": "warning"}}, none)
	e.transition(supervisor, map[string]any{"to": "closed", "resolution": "no_violation"}, []string{"investigating"})
	if e.c.Resolution != "no_violation" {
		t.Errorf("resolution = %q, want no_violation", e.c.Resolution)
	}
	if got := e.publicStatus(); got != "closed" {
		t.Errorf("final public status = %q, want closed", got)
	}

	e.notes()
	e.audit()
	e.pii()
	e.verify()
}

func (e *e2e) notes() {
	t, ts := e.t, e.ts
	path := "/v1/cases/" + e.c.ID + "/notes"
	ts.must(t, http.StatusCreated, http.MethodPost, path, regcase.RoleInvestigator, map[string]any{"body": "Called the owner."})
	ts.must(t, http.StatusCreated, http.MethodPost, path, regcase.RoleSupervisor, map[string]any{"body": "Fine paid in full."})
	var notes struct {
		Items []struct {
			Author string `json:"author"`
			Body   string `json:"body"`
		} `json:"items"`
	}
	ts.must(t, http.StatusOK, http.MethodGet, path, regcase.RoleAuditor, nil).JSON(t, &notes)
	var got []string
	for _, n := range notes.Items {
		got = append(got, n.Author+": "+n.Body)
	}
	want := []string{ts.IDs[regcase.RoleInvestigator] + ": Called the owner.", ts.IDs[regcase.RoleSupervisor] + ": Fine paid in full."}
	if !slices.Equal(got, want) {
		t.Errorf("notes = %q, want %q", got, want)
	}
}

type auditItem struct {
	ID         int64           `json:"id"`
	Chain      string          `json:"chain"`
	Seq        int64           `json:"seq"`
	ActorID    string          `json:"actor_id"`
	ActorRole  string          `json:"actor_role"`
	Action     string          `json:"action"`
	EntityType string          `json:"entity_type"`
	EntityID   string          `json:"entity_id"`
	Data       json.RawMessage `json:"data"`
}

func (e *e2e) audit() {
	t, ts := e.t, e.ts
	var page struct {
		Items []auditItem `json:"items"`
	}
	ts.must(t, http.StatusOK, http.MethodGet, "/v1/cases/"+e.c.ID+"/audit?limit=200", regcase.RoleSupervisor, nil).JSON(t, &page)
	var actions []string
	var taken [][2]string
	for i, it := range page.Items {
		actions = append(actions, it.Action)
		if it.Chain != "case:"+e.c.ID || it.EntityID != e.c.ID || it.Seq != int64(i+1) {
			t.Errorf("case audit record %d: chain %q entity %q seq %d, want case:%s, %s, %d", i, it.Chain, it.EntityID, it.Seq, e.c.ID, e.c.ID, i+1)
		}
		if it.Action == "case.transitioned" {
			var d struct{ From, To string }
			_ = json.Unmarshal(it.Data, &d)
			taken = append(taken, [2]string{d.From, d.To})
		}
	}
	n := len(e.transitions)
	want := append([]string{"case.opened", "case.report_linked", "case.sla_paused", "case.sla_resumed", "case.updated"},
		slices.Repeat([]string{"case.transitioned"}, n)...)
	want = append(want, "case.note_added", "case.note_added")
	if !slices.Equal(actions, want) {
		t.Errorf("case audit actions =\n%q\nwant\n%q", actions, want)
	}
	if !slices.Equal(taken, e.transitions) {
		t.Errorf("audited transitions = %v, want %v", taken, e.transitions)
	}
}

func (e *e2e) pii() {
	t, ts := e.t, e.ts
	path := "/v1/reports/" + e.sub.ID
	type reportView struct {
		HasReporter    bool `json:"has_reporter"`
		ReporterErased bool `json:"reporter_erased"`
		Reporter       *struct {
			Name, Email, Phone string
		} `json:"reporter"`
	}
	piiViews := func() int {
		var page struct {
			Items []auditItem `json:"items"`
		}
		ts.must(t, http.StatusOK, http.MethodGet, "/v1/audit?limit=200&chain=report:"+e.sub.ID, regcase.RoleAuditor, nil).JSON(t, &page)
		n := 0
		for _, it := range page.Items {
			if it.Action == "report.pii_viewed" {
				n++
				if it.ActorID != ts.IDs[regcase.RoleSupervisor] || it.ActorRole != "supervisor" {
					t.Errorf("pii_viewed by %s (%s), want %s (supervisor)", it.ActorID, it.ActorRole, ts.IDs[regcase.RoleSupervisor])
				}
				if strings.Contains(string(it.Data), "jane@example.org") {
					t.Errorf("pii_viewed audit data holds the PII itself: %s", it.Data)
				}
			}
		}
		return n
	}

	var plain reportView
	ts.must(t, http.StatusOK, http.MethodGet, path, regcase.RoleSupervisor, nil).JSON(t, &plain)
	if !plain.HasReporter || plain.Reporter != nil {
		t.Errorf("report without include_reporter: has_reporter %v reporter %+v, want true and none", plain.HasReporter, plain.Reporter)
	}
	if n := piiViews(); n != 0 {
		t.Errorf("pii_viewed records before any PII read = %d, want 0", n)
	}
	var withPII reportView
	ts.must(t, http.StatusOK, http.MethodGet, path+"?include_reporter=true", regcase.RoleSupervisor, nil).JSON(t, &withPII)
	if withPII.Reporter == nil || withPII.Reporter.Email != "jane@example.org" || withPII.Reporter.Name != "Jane Whistle" {
		t.Errorf("supervisor include_reporter: reporter = %+v, want Jane Whistle <jane@example.org>", withPII.Reporter)
	}
	if n := piiViews(); n != 1 {
		t.Errorf("pii_viewed records after one PII read = %d, want 1", n)
	}
	r := ts.do(t, http.MethodGet, path+"?include_reporter=true", regcase.RoleInvestigator, nil)
	if r.Status != http.StatusForbidden || strings.Contains(string(r.Body), "jane@example.org") {
		t.Errorf("investigator include_reporter: got %s, want 403 without the PII", r)
	}
	if n := piiViews(); n != 1 {
		t.Errorf("pii_viewed records after a refused read = %d, want 1", n)
	}

	ts.must(t, http.StatusOK, http.MethodPost, path+"/erasure", regcase.RoleSupervisor, map[string]any{"reason": "data protection request DP-77"})
	var erased reportView
	ts.must(t, http.StatusOK, http.MethodGet, path+"?include_reporter=true", regcase.RoleSupervisor, nil).JSON(t, &erased)
	if erased.Reporter != nil || !erased.ReporterErased {
		t.Errorf("after erasure: reporter %+v reporter_erased %v, want none and true", erased.Reporter, erased.ReporterErased)
	}
	r = ts.do(t, http.MethodPost, path+"/erasure", regcase.RoleSupervisor, map[string]any{"reason": "again"})
	if r.Status != http.StatusConflict {
		t.Errorf("second erasure: got %s, want 409", r)
	}
}

func (e *e2e) verify() {
	t, ts := e.t, e.ts
	check := func(when string) {
		t.Helper()
		var res struct {
			OK      bool  `json:"ok"`
			Records int64 `json:"records"`
		}
		ts.must(t, http.StatusOK, http.MethodGet, "/v1/audit/verify", regcase.RoleAuditor, nil).JSON(t, &res)
		if !res.OK || res.Records < 20 {
			t.Errorf("%s: GET /v1/audit/verify = %+v, want ok over every record", when, res)
		}
		code, out, errOut := ts.CLI(t, "audit", "verify")
		if code != 0 || !strings.Contains(out, "audit log OK") {
			t.Errorf("%s: regcase audit verify exited %d:\n%s%s", when, code, out, errOut)
		}
	}
	check("before a checkpoint")
	code, out, errOut := ts.CLIEnv(t, ts.WorkerEnv, "audit", "checkpoint")
	if code != 0 || !strings.Contains(out, "signed") {
		t.Fatalf("regcase audit checkpoint exited %d:\n%s%s", code, out, errOut)
	}
	check("after a checkpoint")
	var cps struct {
		Items []struct {
			ID int64 `json:"id"`
		} `json:"items"`
	}
	ts.must(t, http.StatusOK, http.MethodGet, "/v1/audit/checkpoints", regcase.RoleAuditor, nil).JSON(t, &cps)
	if len(cps.Items) == 0 {
		t.Errorf("GET /v1/audit/checkpoints after audit checkpoint: no checkpoint")
	}
}
