package app_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/regcase/regcase/internal/regcase"
)

// Role sets, spelled out from the roles × actions table of docs/domain.md
// (regcase.Matrix): the test keeps its own copy so that a change to the
// matrix has to be made twice, on purpose.
var (
	anyone       = []regcase.Role{regcase.RoleAnonymous, regcase.RoleIntake, regcase.RoleInvestigator, regcase.RoleSupervisor, regcase.RoleAuditor, regcase.RoleAdmin}
	officers     = []regcase.Role{regcase.RoleIntake, regcase.RoleInvestigator, regcase.RoleSupervisor, regcase.RoleAuditor}
	caseWorkers  = []regcase.Role{regcase.RoleInvestigator, regcase.RoleSupervisor}
	reportDesk   = []regcase.Role{regcase.RoleIntake, regcase.RoleSupervisor}
	noteWriters  = []regcase.Role{regcase.RoleIntake, regcase.RoleInvestigator, regcase.RoleSupervisor}
	noteReaders  = []regcase.Role{regcase.RoleInvestigator, regcase.RoleSupervisor, regcase.RoleAuditor}
	auditReaders = []regcase.Role{regcase.RoleAuditor, regcase.RoleSupervisor}
	verifiers    = []regcase.Role{regcase.RoleAuditor, regcase.RoleAdmin}
	erasers      = []regcase.Role{regcase.RoleSupervisor, regcase.RoleAdmin}
	msgReaders   = []regcase.Role{regcase.RoleInvestigator, regcase.RoleSupervisor, regcase.RoleAuditor}
	admins       = []regcase.Role{regcase.RoleAdmin}
	staff        = []regcase.Role{regcase.RoleIntake, regcase.RoleInvestigator, regcase.RoleSupervisor, regcase.RoleAuditor, regcase.RoleAdmin}
)

// authzTable is the one expected table: route ("METHOD /path" as in the
// OpenAPI document) → the roles allowed. Every operation of /openapi.json
// must have a row. Rows with a query string are variants of a route whose
// authorization depends on the query.
var authzTable = map[string][]regcase.Role{
	"POST /v1/reports":                                       anyone,
	"GET /v1/public/reports/{tracking}":                      anyone,
	"GET /v1/categories":                                     anyone,
	"GET /v1/reports":                                        officers,
	"GET /v1/reports/{id}":                                   officers,
	"GET /v1/reports/{id}?include_reporter=true":             reportDesk,
	"POST /v1/reports/{id}/dismiss":                          reportDesk,
	"POST /v1/reports/{id}/triage":                           reportDesk,
	"POST /v1/reports/{id}/erasure":                          erasers,
	"GET /v1/cases":                                          officers,
	"POST /v1/cases":                                         reportDesk,
	"GET /v1/cases/{id}":                                     officers,
	"PATCH /v1/cases/{id}":                                   caseWorkers,
	"POST /v1/cases/{id}/transitions":                        caseWorkers,
	"POST /v1/cases/{id}/assignment":                         caseWorkers,
	"POST /v1/cases/{id}/sla/pause":                          caseWorkers,
	"POST /v1/cases/{id}/sla/resume":                         caseWorkers,
	"GET /v1/cases/{id}/notes":                               noteReaders,
	"POST /v1/cases/{id}/notes":                              noteWriters,
	"GET /v1/cases/{id}/audit":                               officers,
	"GET /v1/public/reports/{tracking}/messages":             anyone,
	"POST /v1/public/reports/{tracking}/messages":            anyone,
	"POST /v1/public/reports/{tracking}/attachments":         anyone,
	"GET /v1/cases/{id}/messages":                            msgReaders,
	"POST /v1/cases/{id}/messages":                           caseWorkers,
	"GET /v1/cases/{id}/attachments":                         officers,
	"POST /v1/cases/{id}/attachments":                        caseWorkers,
	"GET /v1/reports/{id}/attachments":                       officers,
	"GET /v1/attachments/{id}":                               officers,
	"GET /v1/audit":                                          auditReaders,
	"GET /v1/audit/verify":                                   verifiers,
	"GET /v1/audit/checkpoints":                              auditReaders,
	"GET /v1/audit/checkpoint":                               verifiers,
	"GET /v1/audit/proofs/inclusion":                         verifiers,
	"GET /v1/audit/proofs/consistency":                       verifiers,
	"GET /v1/tokens":                                         admins,
	"POST /v1/tokens":                                        admins,
	"DELETE /v1/tokens/{id}":                                 admins,
	"PUT /v1/tokens/{id}/notifications":                      admins,
	"GET /v1/me/notifications":                               staff,
	"PUT /v1/me/notifications":                               staff,
	"GET /v1/webhooks":                                       admins,
	"POST /v1/webhooks":                                      admins,
	"GET /v1/webhooks/{id}":                                  admins,
	"DELETE /v1/webhooks/{id}":                               admins,
	"GET /v1/webhooks/{id}/deliveries":                       admins,
	"GET /v1/webhooks/{id}/deliveries/{delivery}":            admins,
	"POST /v1/webhooks/{id}/deliveries/{delivery}/redeliver": admins,
	"GET /v1/dead-letters":                                   admins,
	"GET /v1/dead-letters/{id}":                              admins,
	"POST /v1/dead-letters/{id}/replay":                      admins,
	"GET /health/live":                                       anyone,
	"GET /health/ready":                                      anyone,
	"GET /health/startup":                                    anyone,
	"GET /metrics":                                           anyone,
	"GET /version":                                           anyone,
	"GET /docs":                                              anyone,
	"GET /openapi.json":                                      anyone,
}

// operation is one route of the OpenAPI document.
type operation struct {
	Method, Path string
	ID           string
	Params       []openAPIParam
	Body         map[string]any // the request body's JSON schema (resolved), nil without one
}

func (o operation) Key() string { return o.Method + " " + o.Path }

type openAPIParam struct {
	Name     string         `json:"name"`
	In       string         `json:"in"`
	Required bool           `json:"required"`
	Schema   map[string]any `json:"schema"`
}

// openAPIOperations reads every operation from the server's /openapi.json.
func openAPIOperations(tb testing.TB, ts *testServer) []operation {
	tb.Helper()
	r := ts.must(tb, http.StatusOK, http.MethodGet, "/openapi.json", regcase.RoleAnonymous, nil)
	var doc struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Schemas map[string]map[string]any `json:"schemas"`
		} `json:"components"`
	}
	r.JSON(tb, &doc)
	var ops []operation
	for path, methods := range doc.Paths {
		for method, raw := range methods {
			var op struct {
				OperationID string         `json:"operationId"`
				Parameters  []openAPIParam `json:"parameters"`
				RequestBody *struct {
					Content map[string]struct {
						Schema map[string]any `json:"schema"`
					} `json:"content"`
				} `json:"requestBody"`
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				continue // not an operation (e.g. shared parameters)
			}
			o := operation{Method: strings.ToUpper(method), Path: path, ID: op.OperationID, Params: op.Parameters}
			if op.RequestBody != nil {
				for _, c := range op.RequestBody.Content {
					o.Body = resolveSchema(c.Schema, doc.Components.Schemas, 0)
				}
			}
			ops = append(ops, o)
		}
	}
	if len(ops) < 20 {
		tb.Fatalf("/openapi.json lists %d operations; want the whole API", len(ops))
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].Key() < ops[j].Key() })
	return ops
}

// resolveSchema inlines $refs to components/schemas.
func resolveSchema(s map[string]any, comps map[string]map[string]any, depth int) map[string]any {
	if s == nil || depth > 8 {
		return s
	}
	if ref, ok := s["$ref"].(string); ok {
		return resolveSchema(comps[strings.TrimPrefix(ref, "#/components/schemas/")], comps, depth+1)
	}
	out := map[string]any{}
	for k, v := range s {
		out[k] = v
	}
	if props, ok := s["properties"].(map[string]any); ok {
		np := map[string]any{}
		for name, p := range props {
			pm, _ := p.(map[string]any)
			np[name] = resolveSchema(pm, comps, depth+1)
		}
		out["properties"] = np
	}
	if items, ok := s["items"].(map[string]any); ok {
		out["items"] = resolveSchema(items, comps, depth+1)
	}
	return out
}

// fixtures are fresh resources for one call, so that a call's outcome does
// not depend on the calls before it.
type fixtures struct {
	ts     *testServer
	report submitted
	kase   caseJSON
	token  string
	hook   string
}

func newFixtures(tb testing.TB, ts *testServer, path string) *fixtures {
	tb.Helper()
	f := &fixtures{ts: ts}
	switch {
	case strings.HasPrefix(path, "/v1/reports/"), strings.HasPrefix(path, "/v1/public/"):
		f.report = ts.submitReport(tb, regcase.RoleIntake, "Fixture report for one call.")
	case strings.HasPrefix(path, "/v1/cases/"):
		f.kase = ts.createCase(tb, "Fixture case for one call")
	case strings.HasPrefix(path, "/v1/tokens/"):
		var tok struct {
			ID string `json:"id"`
		}
		ts.must(tb, http.StatusCreated, http.MethodPost, "/v1/tokens", regcase.RoleAdmin,
			map[string]any{"name": "victim-" + randomName(), "role": "intake"}).JSON(tb, &tok)
		f.token = tok.ID
	case strings.HasPrefix(path, "/v1/webhooks/"):
		var hook struct {
			ID string `json:"id"`
		}
		ts.must(tb, http.StatusCreated, http.MethodPost, "/v1/webhooks", regcase.RoleAdmin,
			map[string]any{"url": "https://receiver.example/hooks/" + randomName()}).JSON(tb, &hook)
		f.hook = hook.ID
	}
	return f
}

var nameSeq int

func randomName() string {
	nameSeq++
	return fmt.Sprintf("n%d", nameSeq)
}

// call is a request for an operation.
type call struct {
	path    string
	body    any
	headers []string
}

// validCall builds a well-formed request for the route key as role, so
// that only the authorization decision can refuse it.
func validCall(tb testing.TB, f *fixtures, key string, role regcase.Role) call {
	tb.Helper()
	method, rest, _ := strings.Cut(key, " ")
	path, query, _ := strings.Cut(rest, "?")
	c := call{}
	path = strings.ReplaceAll(path, "{tracking}", f.report.TrackingCode)
	switch {
	case strings.HasPrefix(path, "/v1/reports/"):
		path = strings.ReplaceAll(path, "{id}", f.report.ID)
	case strings.HasPrefix(path, "/v1/cases/"):
		path = strings.ReplaceAll(path, "{id}", f.kase.ID)
		c.headers = []string{"If-Match", f.kase.ETag}
	case strings.HasPrefix(path, "/v1/tokens/"):
		path = strings.ReplaceAll(path, "{id}", f.token)
	case strings.HasPrefix(path, "/v1/webhooks/"):
		// No delivery exists yet: an allowed caller gets 404, the others 403.
		path = strings.ReplaceAll(strings.ReplaceAll(path, "{id}", f.hook), "{delivery}", "0190c6a0-0000-7000-8000-000000000000")
	case strings.HasPrefix(path, "/v1/dead-letters/"):
		path = strings.ReplaceAll(path, "{id}", "999999")
	case strings.HasPrefix(path, "/v1/attachments/"):
		// No such attachment: an allowed caller gets 404, the others 401/403.
		path = strings.ReplaceAll(path, "{id}", "0190c6a0-0000-7000-8000-000000000000")
	}
	if strings.Contains(path, "{") {
		tb.Fatalf("validCall: no fixture for a parameter of %s", key)
	}
	self := f.ts.Names[role]
	if self == "" {
		self = "nobody"
	}
	inv := f.ts.Names[regcase.RoleInvestigator]
	if role == regcase.RoleInvestigator {
		inv = self // an investigator may only (self-)assign
	}
	switch method + " " + rest {
	case "POST /v1/reports":
		c.body = reportJSON("A call from the authorization test.")
	case "GET /v1/public/reports/{tracking}":
		c.headers = []string{"X-Status-Secret", f.report.StatusSecret}
	case "POST /v1/reports/{id}/dismiss":
		c.body = map[string]any{"reason": "duplicate of an earlier report"}
	case "POST /v1/reports/{id}/triage":
		c.body = map[string]any{"new_case": map[string]any{"priority": "normal"}}
	case "POST /v1/reports/{id}/erasure":
		c.body = map[string]any{"reason": "data protection request"}
	case "POST /v1/cases":
		c.body = map[string]any{"title": "Opened by the authz test", "subject": map[string]any{"name": "Acme"}, "category": "environment"}
	case "PATCH /v1/cases/{id}":
		c.body = map[string]any{"title": "Renamed by the authz test"}
	case "POST /v1/cases/{id}/transitions":
		c.body = map[string]any{"to": "investigating", "assignee": inv}
	case "POST /v1/cases/{id}/assignment":
		c.body = map[string]any{"assignee": inv}
	case "POST /v1/cases/{id}/sla/pause":
		c.body = map[string]any{"reason": "waiting on the company"}
	case "POST /v1/cases/{id}/notes":
		c.body = map[string]any{"body": "A note from the authz test."}
	case "POST /v1/cases/{id}/messages":
		c.body = map[string]any{"body": "A question from the authz test."}
	case "POST /v1/public/reports/{tracking}/messages":
		c.body = map[string]any{"body": "An answer from the authz test."}
		c.headers = []string{"X-Status-Secret", f.report.StatusSecret}
	case "GET /v1/public/reports/{tracking}/messages", "POST /v1/public/reports/{tracking}/attachments":
		c.headers = []string{"X-Status-Secret", f.report.StatusSecret}
	case "POST /v1/tokens":
		c.body = map[string]any{"name": "minted-" + randomName(), "role": "auditor"}
	case "PUT /v1/me/notifications", "PUT /v1/tokens/{id}/notifications":
		c.body = map[string]any{"email": "officer-" + randomName() + "@example.gov"}
	case "POST /v1/webhooks":
		c.body = map[string]any{"url": "https://receiver.example/authz/" + randomName(), "event_types": []string{"gov.regcase.case.*"}}
	default:
		if method != http.MethodGet && method != http.MethodDelete && method != http.MethodPost {
			tb.Fatalf("validCall: no request body known for %s", key)
		}
	}
	if query != "" {
		path += "?" + query
	}
	c.path = path
	return c
}

// allowedStatus is what an allowed call may answer: the point is the
// authorization decision, not the business outcome.
func allowedStatus(s int) bool {
	return (s >= 200 && s < 300) || slices.Contains([]int{404, 409, 412, 422, 428}, s)
}

// TestAuthorization calls every route of /openapi.json (plus the
// operational endpoints) as every role and compares the decision with
// authzTable.
func TestAuthorization(t *testing.T) {
	ts := startServer(t, "sqlite")
	ops := openAPIOperations(t, ts)

	keys := map[string]bool{}
	for _, op := range ops {
		keys[op.Key()] = true
	}
	t.Run("EveryOperationHasARow", func(t *testing.T) {
		for _, op := range ops {
			if _, ok := authzTable[op.Key()]; !ok {
				t.Errorf("%s (%s) is in /openapi.json but not in authzTable", op.Key(), op.ID)
			}
		}
		for k := range authzTable {
			base, _, _ := strings.Cut(k, "?")
			_, path, _ := strings.Cut(base, " ")
			if strings.HasPrefix(path, "/v1/") && !keys[base] {
				t.Errorf("authzTable row %q names no operation of /openapi.json", k)
			}
		}
	})

	rows := make([]string, 0, len(authzTable))
	for k := range authzTable {
		rows = append(rows, k)
	}
	sort.Strings(rows)
	for _, key := range rows {
		allowed := authzTable[key]
		for _, role := range allRoles {
			ok := slices.Contains(allowed, role)
			outcome := "Allowed"
			switch {
			case !ok && role == regcase.RoleAnonymous:
				outcome = "Unauthorized"
			case !ok:
				outcome = "Forbidden"
			}
			t.Run(key+"/"+string(role)+"/"+outcome, func(t *testing.T) {
				method, _, _ := strings.Cut(key, " ")
				f := newFixtures(t, ts, strings.TrimPrefix(key, method+" "))
				c := validCall(t, f, key, role)
				r := ts.do(t, method, c.path, role, c.body, c.headers...)
				switch outcome {
				case "Allowed":
					if !allowedStatus(r.Status) {
						t.Errorf("%s as %s: got %s, want the call allowed (2xx, 404, 409, 412, 422 or 428)", key, role, r)
					}
				case "Unauthorized":
					if r.Status != http.StatusUnauthorized {
						t.Errorf("%s as anonymous: got %s, want 401", key, r)
					}
					checkProblem(t, key, r)
				case "Forbidden":
					if r.Status != http.StatusForbidden {
						t.Errorf("%s as %s: got %s, want 403", key, role, r)
					}
					checkProblem(t, key, r)
				}
			})
		}
	}

	// A refused caller learns nothing about the request's validity: the
	// authorization decision comes before input validation.
	for _, op := range ops {
		if op.Body == nil || slices.Contains(authzTable[op.Key()], regcase.RoleAnonymous) {
			continue
		}
		t.Run(op.Key()+"/anonymous/InvalidBody/Unauthorized", func(t *testing.T) {
			f := newFixtures(t, ts, op.Path)
			c := validCall(t, f, op.Key(), regcase.RoleAnonymous)
			r := ts.do(t, op.Method, c.path, regcase.RoleAnonymous, map[string]any{}, c.headers...)
			if r.Status != http.StatusUnauthorized {
				t.Errorf("%s as anonymous with an empty body: got %s, want 401 before validation", op.Key(), r)
			}
		})
	}

	t.Run("UnauthorizedCarriesWWWAuthenticate", func(t *testing.T) {
		r := ts.do(t, http.MethodGet, "/v1/cases", regcase.RoleAnonymous, nil)
		if r.Status != http.StatusUnauthorized || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("GET /v1/cases without a token: got %s with WWW-Authenticate %q, want 401 and a Bearer challenge (RFC 9110, section 15.5.2)",
				r, r.Header.Get("WWW-Authenticate"))
		}
	})
}

// TestAuthentication covers bad and revoked bearer tokens.
func TestAuthentication(t *testing.T) {
	ts := startServer(t, "sqlite")
	bad := map[string]string{
		"UnknownToken":  "Bearer " + regcase.TokenPrefix + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"NotAToken":     "Bearer hello",
		"WrongScheme":   "Basic dXNlcjpwYXNz",
		"EmptyBearer":   "Bearer ",
		"OversizeToken": "Bearer " + regcase.TokenPrefix + strings.Repeat("x", 4000),
	}
	names := make([]string, 0, len(bad))
	for k := range bad {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		for _, path := range []string{"/v1/cases", "/v1/public/reports/ABCD-EFGH-JKMN"} {
			t.Run(name+path+"/Unauthorized", func(t *testing.T) {
				r := ts.do(t, http.MethodGet, path, regcase.RoleAnonymous, nil, "Authorization", bad[name], "X-Status-Secret", "x")
				if r.Status != http.StatusUnauthorized {
					t.Errorf("Authorization %.30q on %s: got %s, want 401", bad[name], path, r)
				}
				if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("Authorization %.30q: WWW-Authenticate = %q, want a Bearer challenge", bad[name], r.Header.Get("WWW-Authenticate"))
				}
				checkProblem(t, name, r)
			})
		}
	}

	// mint creates a supervisor token with the CLI and returns its id and
	// secret.
	mint := func(t *testing.T, name string) (id, secret string) {
		t.Helper()
		code, out, errOut := ts.CLI(t, "token", "create", "--role", "supervisor", "--name", name)
		if code != 0 {
			t.Fatalf("token create exited %d: %s", code, errOut)
		}
		// stderr: "created token <id> (<name>, role supervisor); …"
		fields := strings.Fields(errOut)
		if len(fields) < 3 || fields[0] != "created" {
			t.Fatalf("token create said %q; cannot find the token id", errOut)
		}
		return fields[2], strings.TrimSpace(out)
	}
	use := func(t *testing.T, secret string) *apiResponse {
		t.Helper()
		return ts.do(t, http.MethodGet, "/v1/cases", regcase.RoleAnonymous, nil, "Authorization", "Bearer "+secret)
	}
	wantRevoked := func(t *testing.T, r *apiResponse) {
		t.Helper()
		if r.Status != http.StatusUnauthorized || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("revoked token: got %s (WWW-Authenticate %q), want 401 with a Bearer challenge", r, r.Header.Get("WWW-Authenticate"))
		}
		checkProblem(t, "revoked token", r)
	}

	t.Run("RevokedByAPI/Unauthorized", func(t *testing.T) {
		id, secret := mint(t, "revoked-by-api")
		if r := use(t, secret); r.Status != http.StatusOK {
			t.Fatalf("fresh token: got %s, want 200", r)
		}
		ts.must(t, http.StatusNoContent, http.MethodDelete, "/v1/tokens/"+id, regcase.RoleAdmin, nil)
		wantRevoked(t, use(t, secret))
	})

	t.Run("RevokedByCLIBeforeUse/Unauthorized", func(t *testing.T) {
		id, secret := mint(t, "revoked-unused")
		if code, _, errOut := ts.CLI(t, "token", "revoke", id); code != 0 {
			t.Fatalf("token revoke exited %d: %s", code, errOut)
		}
		wantRevoked(t, use(t, secret))
	})

	// A revocation made by another process (the CLI, another replica)
	// reaches a server that has the token cached within TokenCacheTTL.
	t.Run("RevokedByCLIAfterUse/UnauthorizedWithinCacheTTL", func(t *testing.T) {
		id, secret := mint(t, "revoked-by-cli")
		if r := use(t, secret); r.Status != http.StatusOK {
			t.Fatalf("fresh token: got %s, want 200", r)
		}
		revoked := time.Now()
		if code, _, errOut := ts.CLI(t, "token", "revoke", id); code != 0 {
			t.Fatalf("token revoke exited %d: %s", code, errOut)
		}
		var r *apiResponse
		for {
			if r = use(t, secret); r.Status != http.StatusOK || time.Since(revoked) > regcase.TokenCacheTTL+2*time.Second {
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
		wantRevoked(t, r)
	})
}
