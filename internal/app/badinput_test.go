package app_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/regcase/regcase/internal/regcase"
)

// expect is what a bad-input variant may answer.
type expect int

const (
	clientError expect = iota // 4xx, application/problem+json
	noServerErr               // anything but 5xx; a 4xx is problem+json
	exactly                   // the status in variant.status, problem+json
)

// variant is one malformed request for an operation.
type variant struct {
	name    string
	path    string
	query   string
	body    any // nil = no body
	headers []string
	expect  expect
	status  int
}

// callerFor picks a role allowed to call the route, so that the input, not
// the authorization decision, is what the server judges.
func callerFor(key string) regcase.Role {
	allowed := authzTable[key]
	for _, r := range []regcase.Role{regcase.RoleSupervisor, regcase.RoleAdmin, regcase.RoleAuditor, regcase.RoleIntake, regcase.RoleInvestigator} {
		if slices.Contains(allowed, r) {
			return r
		}
	}
	return regcase.RoleAnonymous
}

// schemaType is the first non-null type of a JSON schema.
func schemaType(s map[string]any) string {
	switch t := s["type"].(type) {
	case string:
		return t
	case []any:
		for _, v := range t {
			if v != "null" {
				return fmt.Sprint(v)
			}
		}
	}
	if _, ok := s["properties"]; ok {
		return "object"
	}
	return ""
}

// wrongTypeFor returns a JSON value of a type the schema does not accept.
func wrongTypeFor(s map[string]any) any {
	switch schemaType(s) {
	case "string":
		return 12345
	case "integer", "number":
		return "twelve"
	case "boolean":
		return "yes"
	case "object":
		return []any{1, 2}
	case "array":
		return map[string]any{"a": 1}
	}
	return nil
}

func properties(s map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	props, _ := s["properties"].(map[string]any)
	for name, p := range props {
		if pm, ok := p.(map[string]any); ok {
			out[name] = pm
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// withField returns a copy of the valid body with one (possibly nested)
// field set; base must be a JSON object.
func withField(base any, value any, path ...string) map[string]any {
	raw, _ := json.Marshal(base)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		m = map[string]any{}
	}
	cur := m
	for _, p := range path[:len(path)-1] {
		next, ok := cur[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			cur[p] = next
		}
		cur = next
	}
	cur[path[len(path)-1]] = value
	return m
}

// bodyVariants are malformed bodies for an operation with a request body.
func bodyVariants(op operation, valid any, big []byte) []variant {
	vs := []variant{
		{name: "UnknownField", body: withField(valid, true, "zz_not_a_field"), expect: clientError},
		{name: "NotJSON", body: []byte(`{"oops": `), expect: clientError},
		{name: "JSONArray", body: []byte(`[1, 2, 3]`), expect: clientError},
		{name: "JSONNull", body: []byte(`null`), expect: noServerErr},
		{name: "TrailingGarbage", body: append(mustJSON(valid), []byte(` {"x":1}`)...), expect: noServerErr},
		{name: "DeepNesting", body: []byte(`{"zz":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`), expect: clientError},
		{name: "HugeNumber", body: withField(valid, json.Number("1e999"), "zz_num"), expect: clientError},
		{name: "TenMegabytes", body: big, expect: exactly, status: http.StatusRequestEntityTooLarge},
		{name: "WrongContentType", body: mustJSON(valid), headers: []string{"Content-Type", "text/plain"}, expect: noServerErr},
	}
	if req, _ := op.Body["required"].([]any); len(req) > 0 {
		vs = append(vs, variant{name: "EmptyObject", body: []byte(`{}`), expect: clientError},
			variant{name: "NoBody", body: nil, expect: clientError})
	}
	props := properties(op.Body)
	for _, name := range sortedKeys(props) {
		p := props[name]
		if w := wrongTypeFor(p); w != nil {
			vs = append(vs, variant{name: "WrongType/" + name, body: withField(valid, w, name), expect: clientError})
		}
		if _, ok := p["enum"]; ok {
			vs = append(vs, variant{name: "BadEnum/" + name, body: withField(valid, "not-a-valid-value", name), expect: clientError})
		}
		if max, ok := p["maxLength"].(float64); ok {
			vs = append(vs, variant{name: "TooLong/" + name, body: withField(valid, strings.Repeat("é", int(max)+1), name), expect: clientError})
		}
		if schemaType(p) == "string" && p["enum"] == nil && p["format"] == nil {
			vs = append(vs,
				variant{name: "NULByte/" + name, body: withField(valid, "nul\x00byte", name), expect: noServerErr},
				variant{name: "ControlAndBidi/" + name, body: withField(valid, "\u202e\x1b[31m\ufffd", name), expect: noServerErr})
		}
		if p["format"] == "date-time" {
			vs = append(vs, variant{name: "BadTimestamp/" + name, body: withField(valid, "31/12/2026", name), expect: clientError})
		}
		// One level down: enums and types of nested objects.
		sub := properties(p)
		for _, child := range sortedKeys(sub) {
			c := sub[child]
			if _, ok := c["enum"]; ok {
				vs = append(vs, variant{name: "BadEnum/" + name + "." + child, body: withField(valid, "not-a-valid-value", name, child), expect: clientError})
			}
			if w := wrongTypeFor(c); w != nil {
				vs = append(vs, variant{name: "WrongType/" + name + "." + child, body: withField(valid, w, name, child), expect: clientError})
			}
			if schemaType(c) == "integer" {
				vs = append(vs, variant{name: "Overflow/" + name + "." + child, body: withField(valid, json.Number("99999999999999999999999"), name, child), expect: clientError},
					variant{name: "Negative/" + name + "." + child, body: withField(valid, -5, name, child), expect: noServerErr})
			}
		}
	}
	return vs
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// malformedIDs are path segments no record has.
var malformedIDs = []string{
	"not-an-id", "00000000-0000-0000-0000-000000000000", strings.Repeat("a", 65), "%00", "%FF%FE",
	"..%2F..%2Fetc%2Fpasswd", "%27%20OR%201=1--", "%F0%9F%92%A5", "%20", "-1", "1e9999",
}

// queryVariants are malformed values for each query parameter.
func queryVariants(op operation) []variant {
	var vs []variant
	for _, p := range op.Params {
		if p.In != "query" {
			continue
		}
		add := func(value string, e expect) {
			vs = append(vs, variant{name: "Query/" + p.Name + "=" + value, query: p.Name + "=" + url.QueryEscape(value), expect: e})
		}
		switch {
		case p.Name == "limit":
			for _, v := range []string{"0", "1000", "abc", "-1", "1.5", ""} {
				add(v, clientError)
			}
			vs[len(vs)-1].expect = noServerErr // limit= (empty) may mean the default
		case p.Schema["format"] == "date-time":
			for _, v := range []string{"yesterday", "2026-13-45T00:00:00Z", "2026-01-01", "1700000000"} {
				add(v, clientError)
			}
		case schemaType(p.Schema) == "integer":
			for _, v := range []string{"abc", "-1", "99999999999999999999999"} {
				add(v, clientError)
			}
		case schemaType(p.Schema) == "boolean":
			add("maybe", clientError)
		case p.Schema["enum"] != nil:
			add("not-a-valid-value", clientError)
		case schemaType(p.Schema) == "string":
			if max, ok := p.Schema["maxLength"].(float64); ok {
				add(strings.Repeat("z", int(max)+1), clientError)
			}
			for _, v := range []string{"\x00", "'; DROP TABLE cases;--", "%", "\u202e", "zzzzzzzzzzzz"} {
				add(v, noServerErr)
			}
		}
	}
	return vs
}

// checkVariant asserts the response to one variant.
func checkVariant(t *testing.T, what string, v variant, r *apiResponse) {
	t.Helper()
	switch {
	case r.Status >= 500:
		t.Errorf("%s: got %s, want no 5xx", what, r)
		return
	case v.expect == exactly && r.Status != v.status:
		t.Errorf("%s: got %s, want %d", what, r, v.status)
	case v.expect == clientError && (r.Status < 400 || r.Status >= 500):
		t.Errorf("%s: got %s, want a 4xx", what, r)
	}
	if r.Status >= 400 {
		checkProblem(t, what, r)
	}
}

// TestBadInput sends malformed input to every operation of /openapi.json:
// never a 5xx, always a problem+json for a 4xx.
func TestBadInput(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		ts := startServer(t, engine, "REGCASE_INTAKE_RATE=10000", "REGCASE_INTAKE_BURST=100000")
		ops := openAPIOperations(t, ts)
		big := append([]byte(`{"description":"`), bytes.Repeat([]byte("a"), 10<<20)...)
		big = append(big, `"}`...)

		for _, op := range ops {
			key := op.Key()
			role := callerFor(key)
			t.Run(key, func(t *testing.T) {
				f := newFixtures(t, ts, op.Path)
				valid := validCall(t, f, key, role)
				hasIfMatch := slices.ContainsFunc(op.Params, func(p openAPIParam) bool { return p.Name == "If-Match" })
				var vs []variant
				if hasIfMatch {
					stale := f.kase.ETag
					var bumped caseJSON
					ts.must(t, http.StatusOK, http.MethodPatch, "/v1/cases/"+f.kase.ID, regcase.RoleSupervisor,
						map[string]any{"title": "bumped"}, "If-Match", stale).JSON(t, &bumped)
					vs = append(vs,
						variant{name: "MissingIfMatch", body: valid.body, expect: exactly, status: http.StatusPreconditionRequired},
						variant{name: "StaleIfMatch", body: valid.body, headers: []string{"If-Match", stale}, expect: exactly, status: http.StatusPreconditionFailed},
						variant{name: "GarbageIfMatch", body: valid.body, headers: []string{"If-Match", "garbage"}, expect: exactly, status: http.StatusPreconditionFailed},
					)
					valid.headers = []string{"If-Match", "*"}
				}
				if op.Body != nil {
					vs = append(vs, bodyVariants(op, valid.body, big)...)
				}
				vs = append(vs, queryVariants(op)...)
				for _, p := range op.Params {
					switch p.Name {
					case "id", "tracking":
						for _, id := range malformedIDs {
							seg := "{" + p.Name + "}"
							vs = append(vs, variant{name: "MalformedID/" + id, path: strings.Replace(op.Path, seg, id, 1), body: valid.body, expect: clientError})
						}
					case "Idempotency-Key":
						vs = append(vs, variant{name: "IdempotencyKeyTooLong", body: valid.body,
							headers: []string{"Idempotency-Key", strings.Repeat("k", 201)}, expect: clientError})
					case "X-Status-Secret":
						vs = append(vs,
							variant{name: "MissingStatusSecret", headers: []string{"X-Status-Secret", ""}, expect: clientError},
							variant{name: "StatusSecretTooLong", headers: []string{"X-Status-Secret", strings.Repeat("s", 101)}, expect: clientError})
					}
				}
				if len(vs) == 0 {
					return // no input to spoil (e.g. GET /v1/tokens)
				}

				for _, v := range vs {
					outcome := map[expect]string{clientError: "ClientError", noServerErr: "NoServerError", exactly: "Status" + strconv.Itoa(v.status)}[v.expect]
					t.Run(v.name+"/"+outcome, func(t *testing.T) {
						path := valid.path
						if v.path != "" {
							path = v.path
						}
						if v.query != "" {
							sep := "?"
							if strings.Contains(path, "?") {
								sep = "&"
							}
							path += sep + v.query
						}
						headers := v.headers
						if v.name != "MissingIfMatch" && !slices.Contains(headers, "If-Match") {
							headers = append(slices.Clone(valid.headers), headers...)
						}
						req := ts.request(t, op.Method, path, role, v.body, headers...)
						for i := 0; i+1 < len(headers); i += 2 {
							if headers[i+1] == "" {
								req.Header.Del(headers[i])
							}
						}
						checkVariant(t, key+" "+v.name, v, ts.send(t, req))
					})
				}
			})
		}
	})
}

// TestIntakeRateLimit: anonymous intake beyond the burst is a 429 problem
// with Retry-After; staff submissions are not limited.
func TestIntakeRateLimit(t *testing.T) {
	ts := startServer(t, "sqlite", "REGCASE_INTAKE_RATE=0.2", "REGCASE_INTAKE_BURST=3")
	for i := range 3 {
		ts.must(t, http.StatusCreated, http.MethodPost, "/v1/reports", regcase.RoleAnonymous, reportJSON(fmt.Sprintf("Within the burst %d", i)))
	}
	t.Run("OverBurst/TooManyRequests", func(t *testing.T) {
		r := ts.do(t, http.MethodPost, "/v1/reports", regcase.RoleAnonymous, reportJSON("One too many"))
		if r.Status != http.StatusTooManyRequests {
			t.Fatalf("4th anonymous submission: got %s, want 429", r)
		}
		if p := checkProblem(t, "429", r); p.Type != problemPrefix+"rate_limited" {
			t.Errorf("429 type = %q, want %srate_limited", p.Type, problemPrefix)
		}
		if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s < 1 || s > 10 {
			t.Errorf("Retry-After = %q, want whole seconds until a token is free (1–5 at 0.2/s)", r.Header.Get("Retry-After"))
		}
	})
	t.Run("Staff/NotLimited", func(t *testing.T) {
		for i := range 5 {
			ts.must(t, http.StatusCreated, http.MethodPost, "/v1/reports", regcase.RoleIntake, reportJSON(fmt.Sprintf("Phoned in %d", i)))
		}
	})
}

// fuzzServers starts one server per engine for a fuzz run.
func fuzzServers(f *testing.F) []*testServer {
	f.Helper()
	var out []*testServer
	for _, e := range engines {
		out = append(out, startServer(f, e, "REGCASE_INTAKE_RATE=100000", "REGCASE_INTAKE_BURST=1000000"))
	}
	return out
}

// FuzzReportIntake posts arbitrary bodies to the public intake: never a
// 5xx, and every refusal is a problem.
func FuzzReportIntake(f *testing.F) {
	for _, seed := range []string{
		string(mustJSON(reportJSON("A valid report."))),
		`{}`, ``, `null`, `[]`, `"x"`, `{"channel":"web"}`,
		`{"channel":"carrier-pigeon","category":"food_safety","subject":{"name":"A"},"description":"d"}`,
		`{"channel":"web","category":"food_safety","subject":{"name":"A"},"description":"nul\u0000byte"}`,
		`{"channel":"web","category":"food_safety","subject":{"name":"A","registry_id":"\u0000"},"description":"d","location":"\ud800"}`,
		`{"channel":"web","category":"food_safety","subject":"A","description":"d"}`,
		`{"channel":"web","category":"food_safety","subject":{"name":"A"},"description":"d","occurred_at":"9999-12-31T23:59:59Z"}`,
		`{"channel":"web","category":"food_safety","subject":{"name":"A"},"description":"d","occurred_at":"0001-01-01T00:00:00Z"}`,
		`{"channel":"web","category":"food_safety","subject":{"name":"A"},"description":"d","reporter":{"email":"not-an-email"}}`,
		`{"channel":"web","category":"food_safety","subject":{"name":"A"},"description":"d","reporter":{}}`,
		`{"channel":"web","category":"food_safety","subject":{"name":"A"},"description":"d","extra":1}`,
		`{"channel":"web","category":"food_safety","subject":{"name":"A"},"description":1e999}`,
		`{"a":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}`,
		"\xff\xfe{\x00}",
	} {
		f.Add([]byte(seed))
	}
	servers := fuzzServers(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, ts := range servers {
			r := ts.do(t, http.MethodPost, "/v1/reports", regcase.RoleAnonymous, body)
			if r.Status >= 500 {
				t.Fatalf("%s: POST /v1/reports %q: got %s", ts.Engine, body, r)
			}
			if r.Status >= 400 {
				checkProblem(t, ts.Engine+" intake", r)
			}
		}
	})
}

// escapeQuery percent-encodes the bytes an HTTP request line cannot carry,
// keeping everything else (including bad escapes) as the fuzzer wrote it.
func escapeQuery(raw string) string {
	var b strings.Builder
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c <= 0x20 || c >= 0x7f || c == '#' {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// FuzzCaseQuery sends arbitrary query strings to GET /v1/cases: never a
// 5xx, and every refusal is a problem.
func FuzzCaseQuery(f *testing.F) {
	for _, seed := range []string{
		"", "limit=0", "limit=1000", "limit=abc", "limit=-1", "limit=200", "status=nope", "status=open&priority=urgent",
		"opened_from=yesterday", "opened_to=2026-13-45T00:00:00Z", "due_before=2026-01-01T00:00:00Z",
		"cursor=%00", "cursor=zzzz&limit=1", "q=%27%3B--", "q=%", "%zz=1", "a=b&&&=&", "assignee=" + strings.Repeat("x", 300),
		"subject=%E2%80%AE&category=food_safety", "limit=1&limit=2", "q=%F0%9F%92%A5", "opened_from=0001-01-01T00:00:00Z",
	} {
		f.Add(seed)
	}
	servers := fuzzServers(f)
	for _, ts := range servers {
		for i := range 3 {
			ts.createCase(f, fmt.Sprintf("Fuzzed case %d", i))
		}
	}
	f.Fuzz(func(t *testing.T, raw string) {
		for _, ts := range servers {
			req := ts.request(t, http.MethodGet, "/v1/cases", regcase.RoleSupervisor, nil)
			req.URL.RawQuery = escapeQuery(raw)
			r := ts.send(t, req)
			if r.Status >= 500 {
				t.Fatalf("%s: GET /v1/cases?%s: got %s", ts.Engine, req.URL.RawQuery, r)
			}
			if r.Status >= 400 {
				checkProblem(t, ts.Engine+" case query", r)
			}
		}
	})
}
