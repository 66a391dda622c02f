package e2e

import (
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
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/regcase/regcase/internal/pgtest"
)

// stack is one deployment under test: a database (PostgreSQL, migrated by
// `regcase migrate` as the owner, or SQLite in a data dir), the
// environment every process shares, the processes started, and API tokens.
type stack struct {
	t      *testing.T
	dir    string // logs and data
	env    map[string]string
	db     *pgtest.Database // nil on SQLite
	owner  *pgxpool.Pool    // owner-role connections for checks (nil on SQLite)
	tokens map[string]string
	client *http.Client
}

// pipelineEnv is the pipeline configuration of the tests: fast polls, a
// short claim timeout, loopback receivers allowed, intake unthrottled.
func pipelineEnv() map[string]string {
	return map[string]string{
		"REGCASE_ENV":                  "test",
		"LOG_FORMAT":                   "json",
		"REGCASE_RELAY_INTERVAL":       "50ms",
		"REGCASE_WORKER_CLAIM_IDLE":    "2s",
		"REGCASE_WEBHOOK_TIMEOUT":      "2s",
		"REGCASE_WEBHOOK_BACKOFF_BASE": "200ms",
		"REGCASE_WEBHOOK_BACKOFF_MAX":  "5s",
		"REGCASE_WEBHOOK_ALLOW_NETS":   "127.0.0.0/8",
		"REGCASE_INTAKE_RATE":          "100000",
		"REGCASE_INTAKE_BURST":         "100000",
		"REGCASE_SHUTDOWN_TIMEOUT":     "6s",
		"REGCASE_DB_MAX_CONNS":         "8",
	}
}

func randomKey(t *testing.T) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

func newStack(t *testing.T, overrides map[string]string) *stack {
	s := &stack{t: t, dir: t.TempDir(), env: pipelineEnv(), tokens: map[string]string{},
		client: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	s.env["REGCASE_DATA_DIR"] = s.dir
	s.env["REGCASE_DATA_KEY"] = randomKey(t)
	s.env["REGCASE_AUDIT_SIGNING_KEY"] = randomKey(t)
	for k, v := range overrides {
		if v == "" {
			delete(s.env, k)
		} else {
			s.env[k] = v
		}
	}
	t.Cleanup(s.client.CloseIdleConnections)
	return s
}

// newPGStack creates a database on pg, migrates it and mints tokens.
func newPGStack(t *testing.T, pg *pgtest.Server, overrides map[string]string) *stack {
	t.Helper()
	s := newStack(t, overrides)
	s.db = pg.CreateDatabase(t)
	menv := s.envWith(map[string]string{"DATABASE_URL": s.db.OwnerURL})
	runCLI(t, menv, "migrate")
	s.env["DATABASE_URL"] = s.db.AppURL
	pool, err := pgxpool.New(context.Background(), s.db.OwnerURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	s.owner = pool
	s.mintTokens()
	return s
}

// newSQLiteStack is `regcase all` on SQLite in the stack's data dir; the
// tokens are minted once the server created its database.
func newSQLiteStack(t *testing.T, overrides map[string]string) *stack {
	s := newStack(t, overrides)
	s.env["DATABASE_URL"] = "sqlite://" + filepath.ToSlash(filepath.Join(s.dir, "regcase.db"))
	return s
}

func (s *stack) envWith(extra map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range s.env {
		out[k] = v
	}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

// mintTokens creates one admin and one supervisor token with the CLI.
func (s *stack) mintTokens() {
	for _, role := range []string{"admin", "supervisor"} {
		out := runCLI(s.t, s.env, "token", "create", "--role", role, "--name", "e2e-"+role)
		tok := strings.TrimSpace(out)
		if i := strings.LastIndexByte(tok, '\n'); i >= 0 {
			tok = strings.TrimSpace(tok[i+1:])
		}
		if tok == "" {
			s.t.Fatalf("token create --role %s printed nothing", role)
		}
		s.tokens[role] = tok
	}
}

// start starts a process of the stack (extra overrides the environment).
func (s *stack) start(name, command string, extra map[string]string) *proc {
	s.t.Helper()
	env := s.envWith(extra)
	if command == "worker" && s.db != nil && extra["DATABASE_URL"] == "" {
		env["DATABASE_URL"] = s.db.WorkerURL // the worker's own role: it signs checkpoints
	}
	p := startProc(s.t, s.dir, name, env, command)
	p.WaitReady(60 * time.Second)
	return p
}

// response is an HTTP answer with its body read.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r *response) String() string { return fmt.Sprintf("%d %.500s", r.Status, r.Body) }

func (r *response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r, err)
	}
}

// call sends a request to base as role ("" = anonymous) and returns the
// answer or the transport error.
func (s *stack) call(base, method, path, role string, body any) (*response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if role != "" {
		req.Header.Set("Authorization", "Bearer "+s.tokens[role])
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return &response{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// must is call that fails the test unless the status is want.
func (s *stack) must(want int, base, method, path, role string, body any) *response {
	s.t.Helper()
	r, err := s.call(base, method, path, role, body)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	if r.Status != want {
		s.t.Fatalf("%s %s as %q: %s, want %d", method, path, role, r, want)
	}
	return r
}

// subscribe creates a subscription of rcv to types and gives rcv its
// secret; it returns the subscription id.
func (s *stack) subscribe(api *proc, rcv *receiver, types ...string) string {
	s.t.Helper()
	body := map[string]any{"url": rcv.URL(), "description": "e2e " + rcv.name}
	if len(types) > 0 {
		body["event_types"] = types
	}
	var out struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	s.must(http.StatusCreated, api.URL, http.MethodPost, "/v1/webhooks", "admin", body).decode(s.t, &out)
	if out.ID == "" || !strings.HasPrefix(out.Secret, "whsec_") {
		s.t.Fatalf("POST /v1/webhooks: id %q secret %q, want an id and a whsec_ secret", out.ID, out.Secret)
	}
	rcv.SetSecret(out.Secret)
	return out.ID
}

// ReportReceived is the event type of a public submission.
const ReportReceived = "gov.regcase.report.received"

func reportBody(n int) map[string]any {
	return map[string]any{
		"channel":     "web",
		"category":    "food_safety",
		"subject":     map[string]any{"name": "Acme Foods Ltd", "registry_id": "REG-0042"},
		"description": fmt.Sprintf("e2e report %d: rodents seen in the kitchen", n),
		"occurred_at": "2026-01-15T10:00:00Z",
	}
}

// submit posts one anonymous report; it returns the report id on 201.
func (s *stack) submit(base string, n int) (id string, status int, err error) {
	r, err := s.call(base, http.MethodPost, "/v1/reports", "", reportBody(n))
	if err != nil {
		return "", 0, err
	}
	if r.Status != http.StatusCreated {
		return "", r.Status, nil
	}
	var out struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(r.Body, &out); err != nil || out.ID == "" {
		return "", r.Status, fmt.Errorf("201 without an id: %s", r)
	}
	return out.ID, r.Status, nil
}

// intake submits n reports with conc concurrent clients and returns the
// ids of the created reports; any failure fails the test.
func (s *stack) intake(base string, n, conc int) []string {
	s.t.Helper()
	ids, errs := s.tryIntake(base, n, conc)
	if len(errs) > 0 {
		s.t.Fatalf("%d of %d submissions failed: %s", len(errs), n, joinFirst(errs, 5))
	}
	return ids
}

// tryIntake is intake returning the failures (safe off the test's
// goroutine).
func (s *stack) tryIntake(base string, n, conc int) (ids, errs []string) {
	var mu sync.Mutex
	var next atomic.Int64
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1))
				if i > n {
					return
				}
				id, status, err := s.submit(base, i)
				mu.Lock()
				if err != nil || status != http.StatusCreated {
					errs = append(errs, fmt.Sprintf("report %d: status %d, %v", i, status, err))
				} else {
					ids = append(ids, id)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return ids, errs
}

// loadGen submits reports at about perSecond until stopped and records
// every outcome.
type loadGen struct {
	s    *stack
	stop chan struct{}
	done chan struct{}

	mu       sync.Mutex
	ids      []string         // created
	statuses map[int]int      // HTTP status (0 = transport error) → count
	errs     []string         // the first failures
	maxLat   time.Duration    // slowest request
	byPhase  map[string][]int // phase → statuses
	phase    string
}

func (s *stack) startLoad(base string, perSecond int) *loadGen {
	g := &loadGen{s: s, stop: make(chan struct{}), done: make(chan struct{}), statuses: map[int]int{},
		byPhase: map[string][]int{}, phase: "before"}
	go func() {
		defer close(g.done)
		tick := time.NewTicker(time.Second / time.Duration(perSecond))
		defer tick.Stop()
		var wg sync.WaitGroup
		defer wg.Wait()
		for n := 1; ; n++ {
			select {
			case <-g.stop:
				return
			case <-tick.C:
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				start := time.Now()
				id, status, err := s.submit(base, n)
				lat := time.Since(start)
				g.mu.Lock()
				defer g.mu.Unlock()
				g.statuses[status]++
				g.byPhase[g.phase] = append(g.byPhase[g.phase], status)
				g.maxLat = max(g.maxLat, lat)
				if id != "" {
					g.ids = append(g.ids, id)
				} else if len(g.errs) < 10 {
					g.errs = append(g.errs, fmt.Sprintf("status %d, %v", status, err))
				}
			}()
		}
	}()
	s.t.Cleanup(g.Stop)
	return g
}

// Phase labels the requests sent from now on.
func (g *loadGen) Phase(p string) { g.mu.Lock(); g.phase = p; g.mu.Unlock() }

// Stop stops the load and waits for the requests in flight.
func (g *loadGen) Stop() {
	select {
	case <-g.stop:
	default:
		close(g.stop)
	}
	<-g.done
}

// outboxEvents returns the event ids of the outbox rows of type typ
// (PostgreSQL), with their subjects.
func (s *stack) outboxEvents(typ string) map[string]string {
	s.t.Helper()
	rows, err := s.owner.Query(context.Background(), `SELECT event_id, subject FROM outbox WHERE type = $1`, typ)
	if err != nil {
		s.t.Fatalf("read outbox: %v", err)
	}
	out := map[string]string{}
	for rows.Next() {
		var id, subject string
		if err := rows.Scan(&id, &subject); err != nil {
			s.t.Fatal(err)
		}
		out[id] = subject
	}
	if err := rows.Err(); err != nil {
		s.t.Fatal(err)
	}
	return out
}

// deliveries lists every delivery of a subscription with status ("" =
// any), following the cursor.
type deliveryJSON struct {
	ID         string `json:"id"`
	EventID    string `json:"event_id"`
	EventType  string `json:"event_type"`
	Status     string `json:"status"`
	Attempts   int    `json:"attempts"`
	LastStatus int    `json:"last_status"`
	LastError  string `json:"last_error"`
	// NextAttemptAt is set while pending; LastAttemptAt once tried.
	NextAttemptAt *time.Time `json:"next_attempt_at"`
	LastAttemptAt *time.Time `json:"last_attempt_at"`
	History       []struct {
		At         time.Time `json:"at"`
		DurationMS float64   `json:"duration_ms"`
		StatusCode int       `json:"status_code"`
		Error      string    `json:"error"`
	} `json:"history"`
}

func (s *stack) deliveries(api *proc, webhookID, status string) []deliveryJSON {
	s.t.Helper()
	var all []deliveryJSON
	cursor := ""
	for {
		path := "/v1/webhooks/" + webhookID + "/deliveries?limit=200"
		if status != "" {
			path += "&status=" + status
		}
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		var page struct {
			Items      []deliveryJSON `json:"items"`
			NextCursor string         `json:"next_cursor"`
		}
		s.must(http.StatusOK, api.URL, http.MethodGet, path, "admin", nil).decode(s.t, &page)
		all = append(all, page.Items...)
		if page.NextCursor == "" || len(page.Items) == 0 {
			return all
		}
		cursor = page.NextCursor
	}
}

// checkAllDelivered asserts the API shows every delivery of the
// subscription delivered and none pending or dead, and that their event
// ids are exactly want.
func (s *stack) checkAllDelivered(api *proc, webhookID string, want map[string]string) {
	s.t.Helper()
	// The receiver acknowledges before the worker records the attempt:
	// give the last records a moment.
	var ds []deliveryJSON
	byStatus := map[string]int{}
	deadline := time.Now().Add(15 * time.Second)
	for {
		ds = s.deliveries(api, webhookID, "")
		clear(byStatus)
		for _, d := range ds {
			byStatus[d.Status]++
		}
		if (byStatus["delivered"] == len(want) && len(ds) == len(want)) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	got := map[string]bool{}
	for _, d := range ds {
		got[d.EventID] = true
	}
	if byStatus["delivered"] != len(want) || len(ds) != len(want) {
		s.t.Errorf("API deliveries of %s: %v (total %d), want %d delivered and nothing else", webhookID, byStatus, len(ds), len(want))
	}
	missing := 0
	for id := range want {
		if !got[id] {
			missing++
		}
	}
	if missing > 0 {
		s.t.Errorf("%d events have no delivery in the API", missing)
	}
}

// compare reports (as test errors) the difference between the events the
// system created and the distinct ids the receiver got.
func compare(t *testing.T, what string, created map[string]string, received []string) {
	t.Helper()
	got := map[string]bool{}
	for _, id := range received {
		got[id] = true
	}
	var missing, extra []string
	for id, subj := range created {
		if !got[id] {
			missing = append(missing, id+" ("+subj+")")
		}
	}
	for _, id := range received {
		if _, ok := created[id]; !ok {
			extra = append(extra, id)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%s: %d of %d events never reached the receiver (lost): %s", what, len(missing), len(created), joinFirst(missing, 10))
	}
	if len(extra) > 0 {
		t.Errorf("%s: the receiver got %d ids that are not events of the outbox: %s", what, len(extra), joinFirst(extra, 10))
	}
}

// readyMonitor polls /health/ready of processes and records every change.
type readyMonitor struct {
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	log  map[string][]readyChange
}

type readyChange struct {
	At     time.Time
	Status int
}

func monitorReady(t *testing.T, every time.Duration, procs ...*proc) *readyMonitor {
	m := &readyMonitor{stop: make(chan struct{}), done: make(chan struct{}), log: map[string][]readyChange{}}
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := -1
			for {
				st := p.status("/health/ready")
				if st != last {
					m.mu.Lock()
					m.log[p.Name] = append(m.log[p.Name], readyChange{At: time.Now(), Status: st})
					m.mu.Unlock()
					last = st
				}
				select {
				case <-m.stop:
					return
				case <-time.After(every):
				}
			}
		}()
	}
	go func() { wg.Wait(); close(m.done) }()
	t.Cleanup(m.Stop)
	return m
}

func (m *readyMonitor) Stop() {
	select {
	case <-m.stop:
	default:
		close(m.stop)
	}
	<-m.done
}

// Changes returns the recorded readiness changes of a process.
func (m *readyMonitor) Changes(name string) []readyChange {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]readyChange(nil), m.log[name]...)
}

// waitFor polls cond until it holds; the timeout fails the test with what.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

// count runs a counting query as the owner.
func (s *stack) count(q string, args ...any) int {
	s.t.Helper()
	var n int
	if err := s.owner.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		s.t.Fatalf("%s: %v", q, err)
	}
	return n
}
