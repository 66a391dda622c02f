package app_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/regcase/regcase/internal/regcase"
)

// TestInsiderScenarios replays what an investigator could do to cases that
// are not theirs before the object-level rules (lifecycle case_actions):
// each attempt is now refused with 403 and a problem type saying whether
// the role (forbidden) or this case (object_forbidden) is the reason, and
// the case is left as it was.
func TestInsiderScenarios(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		ts := startServer(t, engine)
		inv, sup := regcase.RoleInvestigator, regcase.RoleSupervisor
		owner := ts.IDs[inv]
		var tok struct {
			ID     string `json:"id"`
			Secret string `json:"token"`
		}
		ts.must(t, http.StatusCreated, http.MethodPost, "/v1/tokens", regcase.RoleAdmin,
			map[string]any{"name": "rival-investigator", "role": "investigator"}).JSON(t, &tok)
		if !strings.HasPrefix(tok.Secret, regcase.TokenPrefix) {
			t.Fatalf("POST /v1/tokens: no secret in the answer")
		}
		rival := "Bearer " + tok.Secret

		var c caseJSON
		ts.must(t, http.StatusCreated, http.MethodPost, "/v1/cases", sup, map[string]any{
			"title": "Critical case of another investigator", "subject": map[string]any{"name": "Acme Foods Ltd"},
			"category": "food_safety", "priority": "critical",
		}).JSON(t, &c)
		ts.must(t, http.StatusOK, http.MethodPost, "/v1/cases/"+c.ID+"/assignment", sup,
			map[string]any{"assignee": ts.Names[inv]}, "If-Match", c.ETag).JSON(t, &c)
		if c.Assignee != owner {
			t.Fatalf("assignment by name: assignee = %q, want the actor id %q", c.Assignee, owner)
		}
		asRival := func(method, path string, body any) *apiResponse {
			t.Helper()
			return ts.do(t, method, path, regcase.RoleAnonymous, body, "Authorization", rival, "If-Match", c.ETag)
		}
		refused := func(what string, r *apiResponse, code string) {
			t.Helper()
			if r.Status != http.StatusForbidden {
				t.Errorf("%s: got %s, want 403", what, r)
				return
			}
			if p := checkProblem(t, what, r); p.Type != problemPrefix+code {
				t.Errorf("%s: problem type %q, want %s", what, p.Type, problemPrefix+code)
			}
		}

		refused("rival self-assigns the case", asRival(http.MethodPost, "/v1/cases/"+c.ID+"/assignment",
			map[string]any{"assignee": "rival-investigator"}), "object_forbidden")
		refused("rival takes the case by the open->investigating transition", asRival(http.MethodPost, "/v1/cases/"+c.ID+"/transitions",
			map[string]any{"to": "investigating", "assignee": "rival-investigator"}), "object_forbidden")
		refused("rival drops critical to low", asRival(http.MethodPatch, "/v1/cases/"+c.ID,
			map[string]any{"priority": "low"}), "object_forbidden")
		refused("rival renames the case", asRival(http.MethodPatch, "/v1/cases/"+c.ID,
			map[string]any{"title": "Nothing to see"}), "object_forbidden")
		refused("rival pauses the SLA", asRival(http.MethodPost, "/v1/cases/"+c.ID+"/sla/pause",
			map[string]any{"reason": "waiting forever"}), "object_forbidden")
		// Even the assignee may not lower the priority: a supervisor's call.
		refused("assignee drops critical to low", ts.do(t, http.MethodPatch, "/v1/cases/"+c.ID, inv,
			map[string]any{"priority": "low"}, "If-Match", c.ETag), "forbidden")

		var now caseJSON
		ts.must(t, http.StatusOK, http.MethodGet, "/v1/cases/"+c.ID, inv, nil).JSON(t, &now)
		if now.Version != c.Version || now.Assignee != owner || now.Priority != "critical" || now.SLA.Paused || now.Title != c.Title {
			t.Fatalf("refused attempts changed the case: %+v", now)
		}

		// What stays allowed: the assignee pauses and resumes, raises and
		// edits; the supervisor lowers; a rival takes an unassigned case.
		ts.must(t, http.StatusOK, http.MethodPost, "/v1/cases/"+c.ID+"/sla/pause", inv,
			map[string]any{"reason": "waiting on the lab"}, "If-Match", c.ETag).JSON(t, &c)
		refused("rival resumes the SLA", asRival(http.MethodPost, "/v1/cases/"+c.ID+"/sla/resume", nil), "object_forbidden")
		ts.must(t, http.StatusOK, http.MethodPost, "/v1/cases/"+c.ID+"/sla/resume", inv, nil, "If-Match", c.ETag).JSON(t, &c)
		ts.must(t, http.StatusOK, http.MethodPatch, "/v1/cases/"+c.ID, inv,
			map[string]any{"title": "Renamed by its assignee"}, "If-Match", c.ETag).JSON(t, &c)
		ts.must(t, http.StatusOK, http.MethodPatch, "/v1/cases/"+c.ID, sup,
			map[string]any{"priority": "low"}, "If-Match", c.ETag).JSON(t, &c)
		ts.must(t, http.StatusOK, http.MethodPatch, "/v1/cases/"+c.ID, inv,
			map[string]any{"priority": "high"}, "If-Match", c.ETag).JSON(t, &c)

		free := ts.createCase(t, "Unassigned case")
		var took caseJSON
		ts.must(t, http.StatusOK, http.MethodPost, "/v1/cases/"+free.ID+"/assignment", regcase.RoleAnonymous,
			map[string]any{"assignee": "rival-investigator"}, "Authorization", rival, "If-Match", free.ETag).JSON(t, &took)
		if took.Assignee != regcase.TokenActorID(tok.ID) {
			t.Errorf("rival took the free case as %q, want %q", took.Assignee, regcase.TokenActorID(tok.ID))
		}

		// The audit trail names the token id, never the reusable name.
		var page struct {
			Items []auditItem `json:"items"`
		}
		ts.must(t, http.StatusOK, http.MethodGet, "/v1/audit?limit=200&chain=case:"+free.ID, regcase.RoleAuditor, nil).JSON(t, &page)
		for _, it := range page.Items {
			if !strings.HasPrefix(it.ActorID, "token:") || strings.Contains(string(it.Data), "rival-investigator") {
				t.Errorf("audit record %s: actor %q data %s, want token:<id> and no token name", it.Action, it.ActorID, it.Data)
			}
		}
	})
}
