package app_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regcase/regcase/internal/app"
	"github.com/regcase/regcase/internal/pgtest"
	"github.com/regcase/regcase/internal/regcase"
)

// TestMain shares one throwaway PostgreSQL cluster between the package's
// tests; every test that asks for PostgreSQL gets a fresh database.
func TestMain(m *testing.M) { pgtest.Main(m) }

// engines are the two storage engines every end-to-end test runs on.
var engines = []string{"sqlite", "postgres"}

// forEachEngine runs fn as one subtest per engine.
func forEachEngine(t *testing.T, fn func(t *testing.T, engine string)) {
	t.Helper()
	for _, e := range engines {
		t.Run(engineName(e), func(t *testing.T) { fn(t, e) })
	}
}

func engineName(e string) string {
	if e == "postgres" {
		return "PostgreSQL"
	}
	return "SQLite"
}

// syncBuffer is a bytes.Buffer safe for one writer and many readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// staffRoles are the roles a token is minted for, in a fixed order.
var staffRoles = []regcase.Role{regcase.RoleIntake, regcase.RoleInvestigator, regcase.RoleSupervisor, regcase.RoleAuditor, regcase.RoleAdmin}

// allRoles are the staff roles plus the anonymous public.
var allRoles = append([]regcase.Role{regcase.RoleAnonymous}, staffRoles...)

// testServer is app.Run serving on a free loopback port, with one API token
// per staff role.
type testServer struct {
	URL    string
	Engine string
	// Names are the token names per role (what an officer may type as an
	// assignee); IDs are the actor ids ("token:<id>") the API records in
	// audit records, events, assignments and note authors.
	Names  map[regcase.Role]string
	IDs    map[regcase.Role]string
	Tokens map[regcase.Role]string
	Stderr *syncBuffer
	Stdout *syncBuffer
	Client *http.Client
	// OwnerURL connects as the database owner (PostgreSQL only): tests that
	// tamper with rows behind the application's back use it.
	OwnerURL string
	// WorkerEnv overrides the environment for what the worker's database
	// role does (`audit checkpoint`); empty on SQLite, which has no roles.
	WorkerEnv map[string]string
	// MigrateLog is the stderr of `regcase migrate` (PostgreSQL only).
	MigrateLog string

	env    map[string]string // read-only once Run started
	cancel context.CancelFunc
	done   chan int

	stopOnce sync.Once
	exitCode int
}

// startServer boots `regcase all` (SQLite, self-migrating) or `regcase
// migrate` + `regcase api` (PostgreSQL, owner and application roles) and
// waits until /health/ready answers 200. extraEnv holds NAME=value pairs
// that override the defaults. The server is stopped, and its exit status
// checked, when tb ends.
func startServer(tb testing.TB, engine string, extraEnv ...string) *testServer {
	tb.Helper()
	dir := tb.TempDir()
	env := map[string]string{
		"REGCASE_ENV":       "test",
		"REGCASE_HTTP_ADDR": "127.0.0.1:0",
		"LOG_FORMAT":        "json",
		"REGCASE_DATA_DIR":  dir,
	}
	cmd, migrateLog := "all", ""
	workerEnv, ownerURL := map[string]string{}, ""
	switch engine {
	case "sqlite":
		env["DATABASE_URL"] = "sqlite://" + filepath.ToSlash(filepath.Join(dir, "regcase.db"))
	case "postgres":
		db := pgtest.Start(tb).CreateDatabase(tb)
		ownerURL = db.OwnerURL
		appURL := db.AppURL
		workerEnv["DATABASE_URL"] = db.WorkerURL
		env["REGCASE_DATA_KEY"] = randomKey(tb)
		env["REGCASE_AUDIT_SIGNING_KEY"] = randomKey(tb)
		menv := copyEnv(env)
		menv["DATABASE_URL"] = ownerURL
		var mout, merr syncBuffer
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		code := app.Run(ctx, []string{"migrate"}, lookup(menv), &mout, &merr)
		cancel()
		if code != 0 {
			tb.Fatalf("regcase migrate exited %d:\n%s", code, merr.String())
		}
		migrateLog = merr.String()
		env["DATABASE_URL"] = appURL
		cmd = "api"
	default:
		tb.Fatalf("startServer: unknown engine %q", engine)
	}
	for _, kv := range extraEnv {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			tb.Fatalf("startServer: %q is not NAME=value", kv)
		}
		env[k] = v
	}

	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{
		Engine: engine, Names: map[regcase.Role]string{}, IDs: map[regcase.Role]string{}, Tokens: map[regcase.Role]string{},
		Stderr: &syncBuffer{}, Stdout: &syncBuffer{}, MigrateLog: migrateLog, WorkerEnv: workerEnv, OwnerURL: ownerURL, env: env, cancel: cancel, done: make(chan int, 1),
		Client: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
			MaxIdleConns: 200, MaxIdleConnsPerHost: 200, IdleConnTimeout: 30 * time.Second,
		}},
	}
	go func() { ts.done <- app.Run(ctx, []string{cmd}, lookup(env), ts.Stdout, ts.Stderr) }()
	tb.Cleanup(func() { ts.Stop(tb) })

	ts.URL = ts.waitServing(tb)
	ts.waitReady(tb)
	for _, r := range staffRoles {
		name := "t-" + string(r)
		code, out, errOut := ts.CLI(tb, "token", "create", "--role", string(r), "--name", name)
		if code != 0 {
			tb.Fatalf("token create --role %s exited %d: %s", r, code, errOut)
		}
		ts.Names[r], ts.Tokens[r] = name, strings.TrimSpace(out)
		if !strings.HasPrefix(ts.Tokens[r], regcase.TokenPrefix) {
			tb.Fatalf("token create printed %q, want a %s… token", out, regcase.TokenPrefix)
		}
	}
	var toks struct {
		Items []struct {
			ID   string       `json:"id"`
			Name string       `json:"name"`
			Role regcase.Role `json:"role"`
		} `json:"items"`
	}
	ts.must(tb, http.StatusOK, http.MethodGet, "/v1/tokens", regcase.RoleAdmin, nil).JSON(tb, &toks)
	for _, t := range toks.Items {
		if t.Name == ts.Names[t.Role] {
			ts.IDs[t.Role] = regcase.TokenActorID(t.ID)
		}
	}
	if len(ts.IDs) != len(staffRoles) {
		tb.Fatalf("GET /v1/tokens: found actor ids %v for the test tokens %v", ts.IDs, ts.Names)
	}
	return ts
}

func randomKey(tb testing.TB) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

func copyEnv(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func lookup(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// waitServing returns the URL from the "serving" log line.
func (ts *testServer) waitServing(tb testing.TB) string {
	tb.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if u := servingURL(ts.Stderr.String()); u != "" {
			return u
		}
		select {
		case code := <-ts.done:
			ts.done <- code // for Stop
			tb.Fatalf("regcase exited %d before serving:\n%s", code, ts.Stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	tb.Fatalf("no \"serving\" log line within 90s:\n%s", ts.Stderr.String())
	return ""
}

// servingURL finds the url attribute of the JSON "serving" log line.
func servingURL(log string) string {
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var line struct {
			Msg string `json:"msg"`
			URL string `json:"url"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "serving" && line.URL != "" {
			return line.URL
		}
	}
	return ""
}

func (ts *testServer) waitReady(tb testing.TB) {
	tb.Helper()
	deadline := time.Now().Add(60 * time.Second)
	last := 0
	for time.Now().Before(deadline) {
		resp, err := ts.Client.Get(ts.URL + "/health/ready")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if last = resp.StatusCode; last == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	tb.Fatalf("/health/ready not 200 within 60s (last %d):\n%s", last, ts.Stderr.String())
}

// Stop cancels Run's context (SIGTERM) and returns its exit status; it fails
// tb unless Run returns 0 within 30s. Later calls return the same status.
func (ts *testServer) Stop(tb testing.TB) int {
	ts.stopOnce.Do(func() {
		// Idle keep-alive connections, and ones dialled but never used,
		// would hold http.Server.Shutdown for up to 5s each.
		ts.Client.CloseIdleConnections()
		ts.cancel()
		select {
		case ts.exitCode = <-ts.done:
		case <-time.After(30 * time.Second):
			ts.exitCode = -1
		}
		if ts.exitCode != 0 {
			tb.Errorf("regcase %s exited %d after cancel, want 0:\n%s", ts.Engine, ts.exitCode, tail(ts.Stderr.String(), 40))
		} else if tb.Failed() {
			tb.Logf("server log (tail):\n%s", tail(ts.Stderr.String(), 40))
		}
	})
	return ts.exitCode
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// CLI runs another regcase command against the same configuration (same
// database, data directory and keys), with extraEnv NAME=value overrides.
func (ts *testServer) CLI(tb testing.TB, args ...string) (code int, stdout, stderr string) {
	tb.Helper()
	return ts.CLIEnv(tb, nil, args...)
}

// CLIEnv is CLI with environment overrides.
func (ts *testServer) CLIEnv(tb testing.TB, extraEnv map[string]string, args ...string) (code int, stdout, stderr string) {
	tb.Helper()
	env := copyEnv(ts.env)
	for k, v := range extraEnv {
		env[k] = v
	}
	var out, errOut syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code = app.Run(ctx, args, lookup(env), &out, &errOut)
	return code, out.String(), errOut.String()
}

// apiResponse is a response with its body read.
type apiResponse struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v, failing tb on error.
func (r *apiResponse) JSON(tb testing.TB, v any) {
	tb.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		tb.Fatalf("decode %d response %q: %v", r.Status, truncate(r.Body), err)
	}
}

func (r *apiResponse) String() string { return fmt.Sprintf("%d %s", r.Status, truncate(r.Body)) }

func truncate(b []byte) string {
	if len(b) > 600 {
		return string(b[:600]) + "…"
	}
	return string(b)
}

// request builds a request as role (anonymous sends no Authorization).
// body is nil, a []byte or string sent as is, an io.Reader, or a value sent
// as JSON; headers are name, value pairs.
func (ts *testServer) request(tb testing.TB, method, path string, role regcase.Role, body any, headers ...string) *http.Request {
	tb.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	case io.Reader:
		rd = b
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			tb.Fatalf("marshal body: %v", err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, ts.URL+path, rd)
	if err != nil {
		tb.Fatalf("new request %s %s: %v", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if role != regcase.RoleAnonymous && role != "" {
		tok, ok := ts.Tokens[role]
		if !ok {
			tb.Fatalf("no token for role %q", role)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return req
}

// send sends req and reads the whole response; a transport error fails tb.
func (ts *testServer) send(tb testing.TB, req *http.Request) *apiResponse {
	tb.Helper()
	resp, err := ts.Client.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", req.Method, req.URL.RequestURI(), err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("%s %s: read body: %v", req.Method, req.URL.RequestURI(), err)
	}
	return &apiResponse{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// do sends one request as role and returns the response.
func (ts *testServer) do(tb testing.TB, method, path string, role regcase.Role, body any, headers ...string) *apiResponse {
	tb.Helper()
	return ts.send(tb, ts.request(tb, method, path, role, body, headers...))
}

// must is do that fails tb unless the status is want.
func (ts *testServer) must(tb testing.TB, want int, method, path string, role regcase.Role, body any, headers ...string) *apiResponse {
	tb.Helper()
	r := ts.do(tb, method, path, role, body, headers...)
	if r.Status != want {
		tb.Fatalf("%s %s as %s: got %s, want %d", method, path, role, r, want)
	}
	return r
}

// problemBody is an RFC 9457 problem.
type problemBody struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

const problemPrefix = "urn:regcase:problem:"

// checkProblem reports (via tb.Errorf) what is wrong with r as an
// application/problem+json response; it returns the decoded problem.
func checkProblem(tb testing.TB, what string, r *apiResponse) problemBody {
	tb.Helper()
	var p problemBody
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		tb.Errorf("%s: Content-Type = %q, want application/problem+json (%s)", what, ct, r)
		return p
	}
	if err := json.Unmarshal(r.Body, &p); err != nil {
		tb.Errorf("%s: problem body does not decode: %v (%s)", what, err, r)
		return p
	}
	if !strings.HasPrefix(p.Type, problemPrefix) {
		tb.Errorf("%s: problem type = %q, want prefix %s", what, p.Type, problemPrefix)
	}
	if p.Status != r.Status {
		tb.Errorf("%s: problem status = %d, HTTP status %d", what, p.Status, r.Status)
	}
	return p
}

// Domain fixtures.

// reportJSON is a valid submission with reporter contact details.
func reportJSON(description string) map[string]any {
	return map[string]any{
		"channel":     "web",
		"category":    "food_safety",
		"subject":     map[string]any{"name": "Acme Foods Ltd", "registry_id": "REG-0042"},
		"description": description,
		"location":    "12 Harbour Street",
		"occurred_at": "2026-01-15T10:00:00Z",
		"reporter":    map[string]any{"name": "Jane Whistle", "email": "jane@example.org", "phone": "+44 20 7946 0000"},
	}
}

// submitted is the body of a 201 from POST /v1/reports.
type submitted struct {
	ID           string `json:"id"`
	TrackingCode string `json:"tracking_code"`
	StatusSecret string `json:"status_secret"`
	Status       string `json:"status"`
}

// caseJSON is the subset of a case representation the tests read.
type caseJSON struct {
	ID          string          `json:"id"`
	Number      string          `json:"number"`
	Title       string          `json:"title"`
	Priority    string          `json:"priority"`
	Status      string          `json:"status"`
	Assignee    string          `json:"assignee"`
	OpenedAt    time.Time       `json:"opened_at"`
	ClosedAt    *time.Time      `json:"closed_at"`
	Resolution  string          `json:"resolution"`
	Version     int64           `json:"version"`
	ETag        string          `json:"etag"`
	ReportIDs   []string        `json:"report_ids"`
	Transitions []transitionOut `json:"transitions"`
	SLA         struct {
		DueAt         time.Time `json:"due_at"`
		Paused        bool      `json:"paused"`
		PausedSeconds int64     `json:"paused_seconds"`
	} `json:"sla"`
	Details map[string]json.RawMessage `json:"details"`
}

type transitionOut struct {
	To          string   `json:"to"`
	Requires    []string `json:"requires"`
	Resolutions []string `json:"resolutions"`
	Constraint  string   `json:"constraint"`
}

func (c caseJSON) transitionTargets() []string {
	out := []string{}
	for _, t := range c.Transitions {
		out = append(out, t.To)
	}
	return out
}

// submitReport posts a report as role (anonymous or staff).
func (ts *testServer) submitReport(tb testing.TB, role regcase.Role, description string) submitted {
	tb.Helper()
	var s submitted
	ts.must(tb, http.StatusCreated, http.MethodPost, "/v1/reports", role, reportJSON(description)).JSON(tb, &s)
	return s
}

// createCase opens a case directly, as a supervisor.
func (ts *testServer) createCase(tb testing.TB, title string) caseJSON {
	tb.Helper()
	var c caseJSON
	ts.must(tb, http.StatusCreated, http.MethodPost, "/v1/cases", regcase.RoleSupervisor, map[string]any{
		"title": title, "subject": map[string]any{"name": "Acme Foods Ltd"}, "category": "food_safety", "priority": "normal",
	}).JSON(tb, &c)
	return c
}
