package app_test

import (
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/regcase/regcase/internal/regcase"
)

const clients = 50

// parallel sends n requests at once (released together) and returns the
// responses in index order.
func parallel(t *testing.T, ts *testServer, n int, req func(i int) *http.Request) []*apiResponse {
	t.Helper()
	reqs := make([]*http.Request, n)
	for i := range reqs {
		reqs[i] = req(i)
	}
	out := make([]*apiResponse, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			resp, err := ts.Client.Do(reqs[i])
			if err != nil {
				errs[i] = err
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				errs[i] = err
				return
			}
			r := &apiResponse{Status: resp.StatusCode, Header: resp.Header, Body: b}
			out[i] = r
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	return out
}

// TestConcurrentTransitions: 50 clients move one case with the same ETag;
// exactly one wins, the others are told their version is stale.
func TestConcurrentTransitions(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		ts := startServer(t, engine)
		c := ts.createCase(t, "Contended case")
		inv := ts.Names[regcase.RoleInvestigator]
		rs := parallel(t, ts, clients, func(int) *http.Request {
			return ts.request(t, http.MethodPost, "/v1/cases/"+c.ID+"/transitions", regcase.RoleSupervisor,
				map[string]any{"to": "investigating", "assignee": inv}, "If-Match", c.ETag)
		})
		counts := map[int]int{}
		for _, r := range rs {
			counts[r.Status]++
			if r.Status == http.StatusPreconditionFailed {
				if p := checkProblem(t, "stale transition", r); p.Type != problemPrefix+"precondition_failed" {
					t.Errorf("412 type = %q, want %sprecondition_failed", p.Type, problemPrefix)
				}
			} else if r.Status != http.StatusOK {
				t.Errorf("unexpected response %s", r)
			}
		}
		if counts[http.StatusOK] != 1 || counts[http.StatusPreconditionFailed] != clients-1 {
			t.Errorf("statuses = %v, want exactly one 200 and %d × 412", counts, clients-1)
		}

		var got caseJSON
		ts.must(t, http.StatusOK, http.MethodGet, "/v1/cases/"+c.ID, regcase.RoleSupervisor, nil).JSON(t, &got)
		if got.Status != "investigating" || got.Version != c.Version+1 {
			t.Errorf("case after the race: status %q version %d, want investigating, %d", got.Status, got.Version, c.Version+1)
		}
		var audit struct {
			Items []auditItem `json:"items"`
		}
		ts.must(t, http.StatusOK, http.MethodGet, "/v1/cases/"+c.ID+"/audit?limit=200", regcase.RoleAuditor, nil).JSON(t, &audit)
		n := 0
		for _, it := range audit.Items {
			if it.Action == "case.transitioned" {
				n++
			}
		}
		if n != 1 {
			t.Errorf("case.transitioned audit records = %d, want 1", n)
		}
	})
}

// TestConcurrentIdempotentIntake: 50 identical submissions with one
// Idempotency-Key make one report; the same key with another body is a 422.
func TestConcurrentIdempotentIntake(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		ts := startServer(t, engine, "REGCASE_INTAKE_RATE=1000", "REGCASE_INTAKE_BURST=1000")
		const key = "7b0c1c1e-5f1d-4b8e-9a55-3c2f4e0d9a11"
		body := reportJSON("Smoke from the chimney every night since March.")
		rs := parallel(t, ts, clients, func(int) *http.Request {
			return ts.request(t, http.MethodPost, "/v1/reports", regcase.RoleAnonymous, body, "Idempotency-Key", key)
		})
		var first submitted
		originals := 0
		for i, r := range rs {
			if r.Status != http.StatusCreated {
				t.Errorf("submission %d: got %s, want 201", i, r)
				continue
			}
			var s submitted
			r.JSON(t, &s)
			if first.ID == "" {
				first = s
			}
			if s != first {
				t.Errorf("submission %d returned %+v, want the same as %+v", i, s, first)
			}
			if r.Header.Get("Idempotent-Replayed") != "true" {
				originals++
			}
		}
		if originals != 1 {
			t.Errorf("%d responses were not marked Idempotent-Replayed, want exactly 1 original", originals)
		}

		var list struct {
			Items []struct {
				ID string `json:"id"`
			} `json:"items"`
		}
		ts.must(t, http.StatusOK, http.MethodGet, "/v1/reports?limit=200", regcase.RoleIntake, nil).JSON(t, &list)
		if len(list.Items) != 1 || list.Items[0].ID != first.ID {
			t.Errorf("GET /v1/reports lists %d reports (%v), want exactly one: %s", len(list.Items), list.Items, first.ID)
		}

		other := reportJSON("A different description under the same key.")
		r := ts.do(t, http.MethodPost, "/v1/reports", regcase.RoleAnonymous, other, "Idempotency-Key", key)
		if r.Status != http.StatusUnprocessableEntity {
			t.Errorf("same key, different body: got %s, want 422", r)
		}
		if p := checkProblem(t, "idempotency mismatch", r); p.Type != problemPrefix+"idempotency_mismatch" {
			t.Errorf("problem type = %q, want %sidempotency_mismatch", p.Type, problemPrefix)
		}
	})
}
