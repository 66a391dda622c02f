package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/regcase/regcase/internal/regcase"
)

// denyAll is an intake limiter that refuses every caller.
type denyAll struct{}

func (denyAll) Allow(string) (bool, time.Duration) { return false, 2 * time.Second }

func newTestServer(t testing.TB, f *fake, intake ...denyAll) http.Handler {
	t.Helper()
	h := NewHealth(func(context.Context) error { return nil })
	h.Started()
	d := Deps{Service: f, Health: h, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Registry: prometheus.NewRegistry()}
	if len(intake) > 0 {
		d.Intake = intake[0]
	}
	return NewServer(d)
}

// apiCase is one request of a route.
type apiCase struct {
	id, method, path, body string
	role                   regcase.Role // "" = anonymous
	header                 map[string]string
	want                   int    // success status
	calls                  string // the service method the handler calls
}

const secretHdr = "X-Status-Secret"

// everyRoute exercises every operation of the route table once.
var everyRoute = []apiCase{
	{id: "submit-report", method: "POST", path: "/v1/reports", want: 201, calls: "Submit",
		body: `{"channel":"web","category":"other","subject":{"name":"Acme"},"description":"d"}`},
	{id: "public-report-status", method: "GET", path: "/v1/public/reports/ABCD-EFGH-JKMN", header: map[string]string{secretHdr: "s"}, want: 200, calls: "PublicStatusOf"},
	{id: "list-reports", method: "GET", path: "/v1/reports", role: regcase.RoleIntake, want: 200, calls: "ListReports"},
	{id: "get-report", method: "GET", path: "/v1/reports/r1", role: regcase.RoleIntake, want: 200, calls: "GetReport"},
	{id: "dismiss-report", method: "POST", path: "/v1/reports/r1/dismiss", role: regcase.RoleIntake, body: `{"reason":"x"}`, want: 200, calls: "Dismiss"},
	{id: "erase-reporter", method: "POST", path: "/v1/reports/r1/erasure", role: regcase.RoleAdmin, body: `{"reason":"x"}`, want: 200, calls: "Erase"},
	{id: "triage-report", method: "POST", path: "/v1/reports/r1/triage", role: regcase.RoleIntake, body: `{"new_case":{"priority":"high"}}`, want: 200, calls: "Triage"},
	{id: "list-cases", method: "GET", path: "/v1/cases", role: regcase.RoleInvestigator, want: 200, calls: "ListCases"},
	{id: "create-case", method: "POST", path: "/v1/cases", role: regcase.RoleSupervisor, body: `{"title":"t","subject":{"name":"Acme"},"category":"other"}`, want: 201, calls: "CreateCase"},
	{id: "get-case", method: "GET", path: "/v1/cases/c1", role: regcase.RoleInvestigator, want: 200, calls: "GetCase"},
	{id: "update-case", method: "PATCH", path: "/v1/cases/c1", role: regcase.RoleSupervisor, header: map[string]string{"If-Match": `"v3"`}, body: `{"title":"u"}`, want: 200, calls: "UpdateCase"},
	{id: "transition-case", method: "POST", path: "/v1/cases/c1/transitions", role: regcase.RoleSupervisor, header: map[string]string{"If-Match": `"v3"`}, body: `{"to":"investigating"}`, want: 200, calls: "Transition"},
	{id: "assign-case", method: "POST", path: "/v1/cases/c1/assignment", role: regcase.RoleSupervisor, header: map[string]string{"If-Match": "*"}, body: `{"assignee":"token:t1"}`, want: 200, calls: "Assign"},
	{id: "pause-case-sla", method: "POST", path: "/v1/cases/c1/sla/pause", role: regcase.RoleSupervisor, header: map[string]string{"If-Match": `"v3"`}, body: `{"reason":"waiting"}`, want: 200, calls: "PauseSLA"},
	{id: "resume-case-sla", method: "POST", path: "/v1/cases/c1/sla/resume", role: regcase.RoleSupervisor, header: map[string]string{"If-Match": `"v3"`}, want: 200, calls: "ResumeSLA"},
	{id: "list-notes", method: "GET", path: "/v1/cases/c1/notes", role: regcase.RoleInvestigator, want: 200, calls: "ListNotes"},
	{id: "add-note", method: "POST", path: "/v1/cases/c1/notes", role: regcase.RoleInvestigator, body: `{"body":"n"}`, want: 201, calls: "AddNote"},
	{id: "list-audit", method: "GET", path: "/v1/audit?chain=case:c1", role: regcase.RoleAuditor, want: 200, calls: "ListAudit"},
	{id: "case-audit", method: "GET", path: "/v1/cases/c1/audit", role: regcase.RoleAuditor, want: 200, calls: "CaseAudit"},
	{id: "verify-audit", method: "GET", path: "/v1/audit/verify", role: regcase.RoleAuditor, want: 200, calls: "VerifyAudit"},
	{id: "list-checkpoints", method: "GET", path: "/v1/audit/checkpoints", role: regcase.RoleAuditor, want: 200, calls: "ListCheckpoints"},
	{id: "audit-checkpoint", method: "GET", path: "/v1/audit/checkpoint", role: regcase.RoleAuditor, want: 200, calls: "LatestTreeCheckpoint"},
	{id: "audit-inclusion-proof", method: "GET", path: "/v1/audit/proofs/inclusion?record=1", role: regcase.RoleAuditor, want: 200, calls: "ProveInclusion"},
	{id: "audit-consistency-proof", method: "GET", path: "/v1/audit/proofs/consistency?from=1", role: regcase.RoleAuditor, want: 200, calls: "ProveConsistency"},
	{id: "list-tokens", method: "GET", path: "/v1/tokens", role: regcase.RoleAdmin, want: 200, calls: "ListTokens"},
	{id: "create-token", method: "POST", path: "/v1/tokens", role: regcase.RoleAdmin, body: `{"name":"n","role":"auditor"}`, want: 201, calls: "CreateToken"},
	{id: "revoke-token", method: "DELETE", path: "/v1/tokens/t1", role: regcase.RoleAdmin, want: 204, calls: "RevokeToken"},
	{id: "list-webhooks", method: "GET", path: "/v1/webhooks", role: regcase.RoleAdmin, want: 200, calls: "ListWebhooks"},
	{id: "create-webhook", method: "POST", path: "/v1/webhooks", role: regcase.RoleAdmin, body: `{"url":"https://example.org/hook"}`, want: 201, calls: "CreateWebhook"},
	{id: "get-webhook", method: "GET", path: "/v1/webhooks/w1", role: regcase.RoleAdmin, want: 200, calls: "GetWebhook"},
	{id: "delete-webhook", method: "DELETE", path: "/v1/webhooks/w1", role: regcase.RoleAdmin, want: 204, calls: "DeleteWebhook"},
	{id: "list-deliveries", method: "GET", path: "/v1/webhooks/w1/deliveries", role: regcase.RoleAdmin, want: 200, calls: "ListDeliveries"},
	{id: "get-delivery", method: "GET", path: "/v1/webhooks/w1/deliveries/d1", role: regcase.RoleAdmin, want: 200, calls: "GetDelivery"},
	{id: "redeliver", method: "POST", path: "/v1/webhooks/w1/deliveries/d1/redeliver", role: regcase.RoleAdmin, want: 202, calls: "Redeliver"},
	{id: "list-dead-letters", method: "GET", path: "/v1/dead-letters?replayed=false&cursor=9", role: regcase.RoleAdmin, want: 200, calls: "ListDeadEvents"},
	{id: "get-dead-letter", method: "GET", path: "/v1/dead-letters/7", role: regcase.RoleAdmin, want: 200, calls: "GetDeadEvent"},
	{id: "replay-dead-letter", method: "POST", path: "/v1/dead-letters/7/replay", role: regcase.RoleAdmin, want: 202, calls: "ReplayDeadEvent"},
	{id: "list-categories", method: "GET", path: "/v1/categories", want: 200},
	{id: "public-report-messages", method: "GET", path: "/v1/public/reports/ABCD-EFGH-JKMN/messages", header: map[string]string{secretHdr: "s"}, want: 200, calls: "PublicThread"},
	{id: "post-public-report-message", method: "POST", path: "/v1/public/reports/ABCD-EFGH-JKMN/messages", header: map[string]string{secretHdr: "s"}, body: `{"body":"hi"}`, want: 201, calls: "PostPublicMessage"},
	{id: "list-case-messages", method: "GET", path: "/v1/cases/c1/messages", role: regcase.RoleInvestigator, want: 200, calls: "CaseMessages"},
	{id: "post-case-message", method: "POST", path: "/v1/cases/c1/messages", role: regcase.RoleInvestigator, body: `{"body":"hi"}`, want: 201, calls: "PostCaseMessage"},
	{id: "list-case-attachments", method: "GET", path: "/v1/cases/c1/attachments", role: regcase.RoleInvestigator, want: 200, calls: "ListCaseAttachments"},
	{id: "list-report-attachments", method: "GET", path: "/v1/reports/r1/attachments", role: regcase.RoleIntake, want: 200, calls: "ListReportAttachments"},
	{id: "upload-public-attachment", method: "POST", path: "/v1/public/reports/ABCD-EFGH-JKMN/attachments?filename=f.txt", header: map[string]string{secretHdr: "s"}, body: "hi", want: 201, calls: "AddPublicAttachment"},
	{id: "upload-case-attachment", method: "POST", path: "/v1/cases/c1/attachments?filename=f.txt", role: regcase.RoleInvestigator, body: "hi", want: 201, calls: "AddCaseAttachment"},
	{id: "download-attachment", method: "GET", path: "/v1/attachments/a1", role: regcase.RoleInvestigator, want: 200, calls: "OpenAttachment"},
	{id: "get-my-notifications", method: "GET", path: "/v1/me/notifications", role: regcase.RoleInvestigator, want: 200, calls: "GetContact"},
	{id: "set-my-notifications", method: "PUT", path: "/v1/me/notifications", role: regcase.RoleInvestigator, body: `{"email":"a@example.org"}`, want: 200, calls: "SetContact"},
	{id: "set-token-notifications", method: "PUT", path: "/v1/tokens/t1/notifications", role: regcase.RoleAdmin, body: `{"email":"a@example.org","notify":false}`, want: 200, calls: "SetContact"},
}

func (c apiCase) request(ctx context.Context) *http.Request {
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	r := httptest.NewRequestWithContext(ctx, c.method, c.path, body)
	if c.body != "" && strings.HasPrefix(c.body, "{") {
		r.Header.Set("Content-Type", "application/json")
	}
	if c.role != "" {
		r.Header.Set("Authorization", "Bearer "+regcase.TokenPrefix+string(c.role))
	}
	for k, v := range c.header {
		r.Header.Set(k, v)
	}
	return r
}

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// problemOf decodes a problem+json answer, failing the test on any other.
func problemOf(t *testing.T, w *httptest.ResponseRecorder) Problem {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json; body %s", ct, w.Body)
	}
	var p Problem
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatalf("problem body: %v: %s", err, w.Body)
	}
	if p.Status != w.Code || !strings.HasPrefix(p.Type, ProblemTypePrefix) {
		t.Fatalf("problem %+v does not match status %d", p, w.Code)
	}
	return p
}

// TestEveryRouteIsTested keeps everyRoute in step with the route table.
func TestEveryRouteIsTested(t *testing.T) {
	s := &server{}
	var ids []string
	for _, r := range s.routes() {
		if r.op.OperationID != "" {
			ids = append(ids, r.op.OperationID)
		}
	}
	var tested []string
	for _, c := range everyRoute {
		tested = append(tested, c.id)
	}
	slices.Sort(ids)
	slices.Sort(tested)
	if !slices.Equal(ids, tested) {
		t.Fatalf("route table operations %v\ntested operations %v", ids, tested)
	}
}

func TestRoutesSucceed(t *testing.T) {
	for _, c := range everyRoute {
		t.Run(c.id, func(t *testing.T) {
			f := &fake{}
			w := serve(newTestServer(t, f), c.request(t.Context()))
			if w.Code != c.want {
				t.Fatalf("%s %s: %d, want %d: %s", c.method, c.path, w.Code, c.want, w.Body)
			}
			if c.calls != "" && !slices.Contains(f.called(), c.calls) {
				t.Errorf("service calls %v, want %s", f.called(), c.calls)
			}
			if w.Header().Get("X-Request-ID") == "" {
				t.Error("no X-Request-ID")
			}
			if strings.HasPrefix(c.path, "/v1/") && w.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", w.Header().Get("Cache-Control"))
			}
		})
	}
}

// TestRoutesMapDomainErrors: every error code the service can return
// becomes its status and problem type on every route that calls it.
func TestRoutesMapDomainErrors(t *testing.T) {
	for _, c := range everyRoute {
		if c.calls == "" {
			continue
		}
		for code, status := range codeStatus {
			t.Run(c.id+"/"+string(code), func(t *testing.T) {
				f := &fake{err: regcase.Errorf(code, "fake %s", code)}
				w := serve(newTestServer(t, f), c.request(t.Context()))
				if w.Code != status {
					t.Fatalf("%s %s with %s: %d, want %d: %s", c.method, c.path, code, w.Code, status, w.Body)
				}
				p := problemOf(t, w)
				if p.Type != ProblemTypePrefix+string(code) {
					t.Errorf("type %q, want %q", p.Type, ProblemTypePrefix+string(code))
				}
				if status == http.StatusInternalServerError && strings.Contains(p.Detail, "fake") {
					t.Errorf("internal detail leaked: %q", p.Detail)
				}
				if status == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
			})
		}
	}
}

// TestRoutesClientGone: a failure after the client canceled is a 499, not
// a server error.
func TestRoutesClientGone(t *testing.T) {
	for _, c := range everyRoute {
		if c.calls == "" {
			continue
		}
		t.Run(c.id, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			f := &fake{err: regcase.Internal(context.Canceled)}
			w := serve(newTestServer(t, f), c.request(ctx))
			if w.Code != StatusClientClosedRequest && w.Code != http.StatusInternalServerError {
				t.Fatalf("%d, want 499: %s", w.Code, w.Body)
			}
			if w.Code == http.StatusInternalServerError && !strings.HasPrefix(c.path, "/v1/attachments") && !strings.Contains(c.path, "/attachments?") {
				t.Fatalf("500 after the client left: %s", w.Body)
			}
		})
	}
}

// TestProtectedRoutesNeedAToken: without a token a protected route is a
// 401 with a Bearer challenge, before its input is read; a broken header
// or an unknown token is a 401 on every route, public ones too.
func TestProtectedRoutesNeedAToken(t *testing.T) {
	for _, c := range everyRoute {
		t.Run(c.id, func(t *testing.T) {
			// The download's authorization is the service's (OpenAttachment),
			// so the fake, which authorizes nothing, serves it.
			if c.role != "" && c.id != "download-attachment" {
				anon := c
				anon.role, anon.body = "", ""
				w := serve(newTestServer(t, &fake{}), anon.request(t.Context()))
				if w.Code != http.StatusUnauthorized || !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer") {
					t.Fatalf("anonymous: %d %q, want 401 with a Bearer challenge", w.Code, w.Header().Get("WWW-Authenticate"))
				}
				problemOf(t, w)
			}
			r := c.request(t.Context())
			r.Header.Set("Authorization", "Basic x")
			if w := serve(newTestServer(t, &fake{}), r); w.Code != http.StatusUnauthorized {
				t.Fatalf("Basic: %d, want 401", w.Code)
			}
			r = c.request(t.Context())
			r.Header.Set("Authorization", "Bearer not-a-token")
			if w := serve(newTestServer(t, &fake{}), r); w.Code != http.StatusUnauthorized {
				t.Fatalf("unknown token: %d, want 401", w.Code)
			} else if p := problemOf(t, w); p.Type != ProblemTypePrefix+string(regcase.EUnauthorized) {
				t.Errorf("type %q", p.Type)
			}
		})
	}
}

// TestAuthenticationUnavailable: a token that cannot be checked (the
// store is down) is a 503, not a 401 the client would act on.
func TestAuthenticationUnavailable(t *testing.T) {
	f := &fake{authErr: regcase.Internal(io.ErrUnexpectedEOF)}
	w := serve(newTestServer(t, f), everyRoute[2].request(t.Context()))
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("%d, want 503", w.Code)
	}
	problemOf(t, w)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if w := serve(newTestServer(t, f), everyRoute[2].request(ctx)); w.Code != StatusClientClosedRequest {
		t.Fatalf("canceled: %d, want 499", w.Code)
	}
}

// TestBadInput covers the problems huma and the handlers raise before the
// service is called: malformed JSON, schema violations, wrong media type,
// a body over the limit, If-Match missing or malformed.
func TestBadInput(t *testing.T) {
	byID := map[string]apiCase{}
	for _, c := range everyRoute {
		byID[c.id] = c
	}
	with := func(id string, change func(*apiCase)) apiCase {
		c := byID[id]
		c.header = map[string]string{}
		for k, v := range byID[id].header {
			c.header[k] = v
		}
		change(&c)
		return c
	}
	cases := []struct {
		name string
		c    apiCase
		want int
		typ  string
	}{
		{"malformed JSON", with("submit-report", func(c *apiCase) { c.body = `{"channel":` }), 400, "bad_request"},
		{"schema violation", with("submit-report", func(c *apiCase) {
			c.body = `{"channel":"pigeon","category":"other","subject":{"name":"A"},"description":"d"}`
		}), 422, "invalid"},
		{"missing required field", with("add-note", func(c *apiCase) { c.body = `{}` }), 422, "invalid"},
		{"bad query", with("list-reports", func(c *apiCase) { c.path = "/v1/reports?limit=0" }), 422, "invalid"},
		{"bad path parameter", with("get-dead-letter", func(c *apiCase) { c.path = "/v1/dead-letters/x" }), 422, "invalid"},
		{"missing status secret", with("public-report-status", func(c *apiCase) { delete(c.header, secretHdr) }), 422, "invalid"},
		{"missing upload secret", with("upload-public-attachment", func(c *apiCase) { delete(c.header, secretHdr) }), 422, "invalid"},
		{"wrong media type", with("create-case", func(c *apiCase) { c.header["Content-Type"] = "application/xml" }), 415, "unsupported_media_type"},
		{"body over the limit", with("add-note", func(c *apiCase) { c.body = `{"body":"` + strings.Repeat("x", 2<<20) + `"}` }), 413, "body_too_large"},
		{"upload over the limit", with("upload-case-attachment", func(c *apiCase) { c.body = strings.Repeat("x", 200<<10) }), 413, "too_large"},
		{"If-Match missing", with("update-case", func(c *apiCase) { delete(c.header, "If-Match") }), 428, "precondition_required"},
		{"If-Match malformed", with("transition-case", func(c *apiCase) { c.header["If-Match"] = `"banana"` }), 412, "precondition_failed"},
		{"If-Match missing on assign", with("assign-case", func(c *apiCase) { delete(c.header, "If-Match") }), 428, "precondition_required"},
		{"If-Match missing on pause", with("pause-case-sla", func(c *apiCase) { delete(c.header, "If-Match") }), 428, "precondition_required"},
		{"If-Match missing on resume", with("resume-case-sla", func(c *apiCase) { delete(c.header, "If-Match") }), 428, "precondition_required"},
		{"upload not multipart", with("upload-case-attachment", func(c *apiCase) { c.header["Content-Type"] = "multipart/form-data" }), 422, "invalid"},
		{"upload forbidden", with("upload-case-attachment", func(c *apiCase) { c.role = regcase.RoleAuditor }), 403, "forbidden"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &fake{}
			w := serve(newTestServer(t, f), tc.c.request(t.Context()))
			if w.Code != tc.want {
				t.Fatalf("%d, want %d: %s", w.Code, tc.want, w.Body)
			}
			if p := problemOf(t, w); p.Type != ProblemTypePrefix+tc.typ {
				t.Errorf("type %q, want %q", p.Type, ProblemTypePrefix+tc.typ)
			}
			if calls := f.called(); len(calls) > 0 && tc.want != 413 {
				t.Errorf("the service was called (%v) on bad input", calls)
			}
		})
	}
}

// TestRateLimited: the public writes answer 429 with Retry-After when the
// intake limiter refuses the caller; officers are not limited.
func TestRateLimited(t *testing.T) {
	for _, id := range []string{"submit-report", "post-public-report-message", "upload-public-attachment"} {
		t.Run(id, func(t *testing.T) {
			var c apiCase
			for _, r := range everyRoute {
				if r.id == id {
					c = r
				}
			}
			f := &fake{}
			w := serve(newTestServer(t, f, denyAll{}), c.request(t.Context()))
			if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
				t.Fatalf("%d Retry-After %q, want 429 with Retry-After: %s", w.Code, w.Header().Get("Retry-After"), w.Body)
			}
			if p := problemOf(t, w); p.Type != ProblemTypePrefix+string(regcase.ERateLimited) {
				t.Errorf("type %q", p.Type)
			}
			if len(f.called()) > 0 {
				t.Errorf("the service was called: %v", f.called())
			}
			if id == "submit-report" {
				c.role = regcase.RoleIntake
				if w := serve(newTestServer(t, f, denyAll{}), c.request(t.Context())); w.Code != http.StatusCreated {
					t.Errorf("officer: %d, want 201", w.Code)
				}
			}
		})
	}
}

// TestUnknownPathAndMethod: 404 for a path no route has, 405 with Allow for
// a method the path does not have.
func TestUnknownPathAndMethod(t *testing.T) {
	h := newTestServer(t, &fake{})
	w := serve(h, httptest.NewRequest("GET", "/v1/nothing", nil))
	if w.Code != http.StatusNotFound {
		t.Fatalf("unknown path: %d", w.Code)
	}
	problemOf(t, w)
	w = serve(h, httptest.NewRequest("PUT", "/v1/cases", nil))
	if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET, HEAD, POST" {
		t.Fatalf("wrong method: %d Allow %q", w.Code, w.Header().Get("Allow"))
	}
	if p := problemOf(t, w); p.Type != ProblemTypePrefix+"method_not_allowed" {
		t.Errorf("type %q", p.Type)
	}
}

// TestPanicIsAProblem: a panicking handler answers 500 problem+json.
func TestPanicIsAProblem(t *testing.T) {
	f := &fake{}
	h := newTestServer(t, f)
	r := httptest.NewRequest("GET", "/v1/cases/c1", nil)
	r.Header.Set("Authorization", "Bearer "+regcase.TokenPrefix+"investigator")
	f.err = panicErr{}
	w := httptest.NewRecorder()
	func() {
		defer func() { _ = recover() }()
		h.ServeHTTP(w, r)
	}()
	if w.Code != http.StatusInternalServerError {
		t.Fatalf("%d, want 500", w.Code)
	}
	problemOf(t, w)
}

// panicErr makes the fake's ErrorCodeOf lookup panic inside the handler.
type panicErr struct{}

func (panicErr) Error() string { panic("boom") }

func TestProbesAndVersion(t *testing.T) {
	h := newTestServer(t, &fake{})
	for _, p := range []string{"/health/live", "/health/ready", "/health/startup", "/version", "/metrics", "/docs"} {
		if w := serve(h, httptest.NewRequest("GET", p, nil)); w.Code != http.StatusOK {
			t.Errorf("%s: %d", p, w.Code)
		}
	}
	hl := NewHealth(func(context.Context) error { return nil })
	d := Deps{Service: &fake{}, Health: hl, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Registry: prometheus.NewRegistry()}
	h = NewServer(d)
	for _, p := range []string{"/health/ready", "/health/startup"} {
		if w := serve(h, httptest.NewRequest("GET", p, nil)); w.Code != http.StatusServiceUnavailable {
			t.Errorf("%s before startup: %d, want 503", p, w.Code)
		}
	}
}
