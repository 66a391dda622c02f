// Command regcase-e2e is the end-to-end client that the Compose test stack's test-runner runs
// against the api, worker and proxy containers (compose.test.yml). Standard library only, built
// static and mounted read-only into the regcase image, so the runner has the same non-root,
// read-only, capability-free posture as the services it tests.
//
//	regcase-e2e smoke   functional smoke of the deployed stack (needs E2E_TOKEN: an admin token)
//	regcase-e2e load    bounded request loop; classifies every request for the SIGTERM drill
//	regcase-e2e wait    wait until a URL answers 200
//	regcase-e2e populate -n 100000   submit N reports (officer token: no public rate limit)
//	regcase-e2e intake  paced report submissions; records every acknowledged report's id
//	regcase-e2e receive webhook receiver; records every delivery's webhook-id
//
// Environment: E2E_API_URL (http://api:8080), E2E_WORKER_URL (http://worker:9090),
// E2E_PROXY_URL (https://proxy:8443), E2E_TOKEN.
// Output: one line per check ("ok   name" / "FAIL name: why") and a last line
// "e2e: N passed, N failed"; exit 1 on any failure.
package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: regcase-e2e smoke|load|wait [flags]")
		os.Exit(64)
	}
	var code int
	switch os.Args[1] {
	case "smoke":
		code = smoke(os.Args[2:])
	case "load":
		code = load(os.Args[2:])
	case "wait":
		code = wait(os.Args[2:])
	case "populate":
		code = populate(os.Args[2:])
	case "intake":
		code = intake(os.Args[2:])
	case "receive":
		code = receive(os.Args[2:])
	default:
		fmt.Fprintf(os.Stderr, "unknown command %q\n", os.Args[1])
		code = 64
	}
	os.Exit(code)
}

func env(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// ---------------------------------------------------------------------------------------------
// HTTP helpers

type client struct {
	hc *http.Client
}

func newClient(keepAlive bool) *client {
	tr := &http.Transport{
		// The test stack's certificate is self-signed by scripts/gen-secrets.sh.
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}, //nolint:gosec
		DisableKeepAlives:   !keepAlive,
		MaxIdleConnsPerHost: 16,
		DialContext:         (&net.Dialer{Timeout: 3 * time.Second}).DialContext,
	}
	return &client{hc: &http.Client{Transport: tr, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type resp struct {
	code   int
	header http.Header
	body   []byte
	tls    *tls.ConnectionState
}

func (r *resp) json(v any) error { return json.Unmarshal(r.body, v) }

func (c *client) do(method, url, token string, body any, hdr map[string]string) (*resp, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return nil, err
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 8<<20))
	if err != nil {
		return nil, err
	}
	return &resp{code: res.StatusCode, header: res.Header, body: b, tls: res.TLS}, nil
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// ---------------------------------------------------------------------------------------------
// smoke

type suite struct {
	pass, fail int
	failed     []string
}

func (s *suite) check(name string, err error) bool {
	if err != nil {
		s.fail++
		s.failed = append(s.failed, name)
		fmt.Printf("FAIL %s: %v\n", name, err)
		return false
	}
	s.pass++
	fmt.Printf("ok   %s\n", name)
	return true
}

func expect(r *resp, err error, codes ...int) error {
	if err != nil {
		return err
	}
	for _, c := range codes {
		if r.code == c {
			return nil
		}
	}
	b := string(r.body)
	if len(b) > 300 {
		b = b[:300] + "…"
	}
	return fmt.Errorf("status %d, want %v: %s", r.code, codes, b)
}

func smoke(args []string) int {
	fs := flag.NewFlagSet("smoke", flag.ExitOnError)
	api := fs.String("api", env("E2E_API_URL", "http://api:8080"), "api base URL")
	worker := fs.String("worker", env("E2E_WORKER_URL", "http://worker:9090"), "worker base URL (empty: skip)")
	proxy := fs.String("proxy", env("E2E_PROXY_URL", "https://proxy:8443"), "proxy base URL (empty: skip)")
	admin := fs.String("token", env("E2E_TOKEN", ""), "admin API token")
	hookListen := fs.String("webhook-listen", env("E2E_WEBHOOK_LISTEN", ""), "listen here as a webhook receiver (e.g. :8099; empty: skip)")
	_ = fs.Parse(args)
	c := newClient(true)
	s := &suite{}
	run := randHex(4)

	// Operational contract (docs/operations.md: health and shutdown).
	for _, p := range []string{"/health/live", "/health/ready", "/health/startup"} {
		r, err := c.do("GET", *api+p, "", nil, nil)
		s.check("api "+p+" 200", expect(r, err, 200))
	}
	var ver struct{ Version, Commit, GoVersion string }
	r, err := c.do("GET", *api+"/version", "", nil, nil)
	if s.check("api /version 200", expect(r, err, 200)) {
		s.check("api /version names version and commit", func() error {
			if err := json.Unmarshal(r.body, &ver); err != nil || ver.Version == "" || ver.Commit == "" {
				return fmt.Errorf("body %s", r.body)
			}
			return nil
		}())
	}
	r, err = c.do("GET", *api+"/openapi.json", "", nil, nil)
	if s.check("api /openapi.json 200", expect(r, err, 200)) {
		var doc struct {
			OpenAPI string         `json:"openapi"`
			Paths   map[string]any `json:"paths"`
		}
		s.check("openapi is 3.1 and lists /v1/reports", func() error {
			if err := r.json(&doc); err != nil {
				return err
			}
			if !strings.HasPrefix(doc.OpenAPI, "3.1") || doc.Paths["/v1/reports"] == nil {
				return fmt.Errorf("openapi %q, %d paths", doc.OpenAPI, len(doc.Paths))
			}
			return nil
		}())
	}
	r, err = c.do("GET", *api+"/docs", "", nil, nil)
	s.check("api /docs 200 html", func() error {
		if err := expect(r, err, 200); err != nil {
			return err
		}
		if !strings.Contains(r.header.Get("Content-Type"), "text/html") {
			return fmt.Errorf("content-type %q", r.header.Get("Content-Type"))
		}
		return nil
	}())
	r, err = c.do("GET", *api+"/no/such/route", "", nil, nil)
	s.check("unknown route is a problem+json 404", func() error {
		if err := expect(r, err, 404); err != nil {
			return err
		}
		if !strings.Contains(r.header.Get("Content-Type"), "application/problem+json") {
			return fmt.Errorf("content-type %q", r.header.Get("Content-Type"))
		}
		return nil
	}())
	r, err = c.do("GET", *api+"/v1/cases", "", nil, nil)
	s.check("cases need authentication (401)", expect(r, err, 401))
	r, err = c.do("GET", *api+"/v1/cases", "rct_not-a-real-token", nil, nil)
	s.check("a bad token is refused (401)", expect(r, err, 401))

	if *worker != "" {
		r, err = c.do("GET", *worker+"/health/ready", "", nil, nil)
		s.check("worker /health/ready 200", expect(r, err, 200))
		r, err = c.do("GET", *worker+"/metrics", "", nil, nil)
		s.check("worker /metrics has regcase_build_info{role=worker}", func() error {
			if err := expect(r, err, 200); err != nil {
				return err
			}
			if !bytes.Contains(r.body, []byte(`role="worker"`)) {
				return errors.New("no role=\"worker\" build info")
			}
			return nil
		}())
	}

	// Through the edge proxy: TLS, headers, limits.
	base := *api
	if *proxy != "" {
		r, err = c.do("GET", *proxy+"/health/ready", "", nil, nil)
		s.check("proxy: TLS >= 1.2 with HSTS, forwards to api", func() error {
			if err := expect(r, err, 200); err != nil {
				return err
			}
			if r.tls == nil || r.tls.Version < tls.VersionTLS12 {
				return errors.New("not TLS 1.2+")
			}
			if !strings.Contains(r.header.Get("Strict-Transport-Security"), "max-age=") {
				return errors.New("no Strict-Transport-Security header")
			}
			if r.header.Get("X-Request-ID") == "" {
				return errors.New("no X-Request-ID from the api")
			}
			return nil
		}())
		r, err = c.do("GET", *proxy+"/metrics", "", nil, nil)
		s.check("proxy does not expose /metrics", expect(r, err, 404))
		big := append([]byte(`{"description":"`), bytes.Repeat([]byte("x"), 3<<20)...)
		big = append(big, []byte(`"}`)...)
		r, err = c.do("POST", *proxy+"/v1/reports", "", big, nil)
		s.check("proxy refuses a 3 MiB body (413)", expect(r, err, 413))
		base = *proxy
	}

	// Public intake (docs/domain.md: reports, idempotency): submit, replay, conflict, public status.
	key := "e2e-" + run
	report := map[string]any{
		"channel": "web", "category": "food_safety",
		"subject":     map[string]any{"name": "E2E Test Bakery " + run, "registry_id": "E2E-" + run},
		"description": "Mould on bread sold on " + time.Now().UTC().Format(time.DateOnly),
		"location":    "1 Test Street",
		"reporter":    map[string]any{"name": "E2E Reporter", "email": "e2e-" + run + "@example.org"},
	}
	var sub struct {
		ID, TrackingCode, StatusSecret, Status string
	}
	r, err = c.do("POST", base+"/v1/reports", "", report, map[string]string{"Idempotency-Key": key})
	reportOK := s.check("submit report (201, tracking code, status secret)", func() error {
		if err := expect(r, err, 201); err != nil {
			return err
		}
		var raw map[string]any
		if err := r.json(&raw); err != nil {
			return err
		}
		sub.ID, _ = raw["id"].(string)
		sub.TrackingCode, _ = raw["tracking_code"].(string)
		sub.StatusSecret, _ = raw["status_secret"].(string)
		if sub.ID == "" || sub.TrackingCode == "" || sub.StatusSecret == "" {
			return fmt.Errorf("incomplete: %s", r.body)
		}
		return nil
	}())
	if reportOK {
		r, err = c.do("POST", base+"/v1/reports", "", report, map[string]string{"Idempotency-Key": key})
		s.check("replayed submission returns the original", func() error {
			if err := expect(r, err, 200, 201); err != nil {
				return err
			}
			var raw map[string]any
			_ = r.json(&raw)
			if raw["id"] != sub.ID {
				return fmt.Errorf("got id %v, want %s", raw["id"], sub.ID)
			}
			return nil
		}())
		other := map[string]any{}
		for k, v := range report {
			other[k] = v
		}
		other["description"] = "a different body"
		r, err = c.do("POST", base+"/v1/reports", "", other, map[string]string{"Idempotency-Key": key})
		s.check("same key, different body is 422", expect(r, err, 422))
		r, err = c.do("GET", base+"/v1/public/reports/"+sub.TrackingCode, "", nil, map[string]string{"X-Status-Secret": sub.StatusSecret})
		s.check("public status with the secret (200)", expect(r, err, 200))
		r, err = c.do("GET", base+"/v1/public/reports/"+sub.TrackingCode, "", nil, map[string]string{"X-Status-Secret": "wrong-secret"})
		s.check("public status with a wrong secret is refused", expect(r, err, 401, 403, 404))
	}
	bad := map[string]any{"channel": "carrier-pigeon", "category": "food_safety", "subject": map[string]any{"name": "x"}, "description": "x"}
	r, err = c.do("POST", *api+"/v1/reports", "", bad, nil)
	s.check("bad enum is a 4xx, never 5xx", expect(r, err, 400, 422))
	r, err = c.do("POST", *api+"/v1/reports", "", []byte(`{"channel":"web","category":"food_safety","subject":{"name":"x"},"description":"x","surprise":1}`), nil)
	s.check("unknown field is a 4xx, never 5xx", expect(r, err, 400, 422))

	if *admin == "" {
		fmt.Println("SKIP officer flows: no E2E_TOKEN")
	} else {
		officerFlows(c, s, base, *admin, run, sub.ID)
		if *worker != "" && *hookListen != "" {
			webhookFlow(c, s, *api, *worker, *hookListen, *admin, run)
		}
	}

	r, err = c.do("GET", *api+"/metrics", "", nil, nil)
	s.check("api /metrics: request metrics by route template, no ids in labels", func() error {
		if err := expect(r, err, 200); err != nil {
			return err
		}
		for _, m := range []string{"http_requests_total", "http_request_duration_seconds_bucket", "regcase_build_info"} {
			if !bytes.Contains(r.body, []byte(m)) {
				return fmt.Errorf("missing %s", m)
			}
		}
		if sub.ID != "" && bytes.Contains(r.body, []byte(sub.ID)) {
			return fmt.Errorf("a report id appears in a label")
		}
		if sub.TrackingCode != "" && bytes.Contains(r.body, []byte(sub.TrackingCode)) {
			return fmt.Errorf("a tracking code appears in a label")
		}
		return nil
	}())

	fmt.Printf("e2e: %d passed, %d failed\n", s.pass, s.fail)
	if s.fail > 0 {
		return 1
	}
	return 0
}

func officerFlows(c *client, s *suite, base, admin, run, reportID string) {
	mint := func(role string) string {
		r, err := c.do("POST", base+"/v1/tokens", admin, map[string]any{"name": "e2e-" + role + "-" + run, "role": role}, nil)
		var out struct{ Token string }
		ok := s.check("admin mints a "+role+" token", func() error {
			if err := expect(r, err, 201); err != nil {
				return err
			}
			if err := r.json(&out); err != nil || out.Token == "" {
				return fmt.Errorf("no token in %s", r.body)
			}
			return nil
		}())
		if !ok {
			return ""
		}
		return out.Token
	}
	intake, supervisor, auditor := mint("intake"), mint("supervisor"), mint("auditor")
	// The assignee must be an active officer: an investigator token of this run.
	investigator := mint("investigator")
	if intake == "" || supervisor == "" || auditor == "" || investigator == "" || reportID == "" {
		return
	}
	r, err := c.do("GET", base+"/v1/reports?limit=5", intake, nil, nil)
	s.check("intake lists reports", expect(r, err, 200))
	r, err = c.do("GET", base+"/v1/audit/verify", intake, nil, nil)
	s.check("intake may not verify the audit log (403)", expect(r, err, 403))

	var tri struct {
		Case struct {
			ID, ETag, Status string
			Transitions      []map[string]any
		}
	}
	r, err = c.do("POST", base+"/v1/reports/"+reportID+"/triage", intake, map[string]any{"new_case": map[string]any{"priority": "high"}}, nil)
	if !s.check("intake triages the report into a new case", func() error {
		if err := expect(r, err, 200, 201); err != nil {
			return err
		}
		if err := r.json(&tri); err != nil || tri.Case.ID == "" {
			return fmt.Errorf("no case in %s", r.body)
		}
		return nil
	}()) {
		return
	}
	caseURL := base + "/v1/cases/" + tri.Case.ID
	var cs struct{ ID, ETag, Status string }
	r, err = c.do("GET", caseURL, supervisor, nil, nil)
	if !s.check("supervisor reads the case with its ETag", func() error {
		if err := expect(r, err, 200); err != nil {
			return err
		}
		if err := r.json(&cs); err != nil || cs.Status != "open" {
			return fmt.Errorf("status %q: %s", cs.Status, r.body)
		}
		if r.header.Get("ETag") == "" && cs.ETag == "" {
			return errors.New("no ETag")
		}
		return nil
	}()) {
		return
	}
	etag := r.header.Get("ETag")
	if etag == "" {
		etag = cs.ETag
	}
	tr := map[string]any{"to": "investigating", "assignee": "e2e-investigator-" + run}
	r, err = c.do("POST", caseURL+"/transitions", supervisor, tr, map[string]string{"If-Match": etag})
	s.check("supervisor assigns: open -> investigating", expect(r, err, 200))
	r, err = c.do("POST", caseURL+"/transitions", supervisor, map[string]any{"to": "closed", "resolution": "duplicate"}, map[string]string{"If-Match": etag})
	s.check("a stale If-Match is 412", expect(r, err, 412))
	r, _ = c.do("GET", caseURL, supervisor, nil, nil)
	if r != nil && r.header.Get("ETag") != "" {
		etag = r.header.Get("ETag")
	}
	r, err = c.do("POST", caseURL+"/transitions", supervisor, map[string]any{"to": "appealed", "appeal_reference": "x"}, map[string]string{"If-Match": etag})
	s.check("an illegal transition is 409", expect(r, err, 409))
	r, err = c.do("GET", caseURL+"/audit", auditor, nil, nil)
	s.check("auditor reads the case audit timeline", expect(r, err, 200))
	r, err = c.do("GET", base+"/v1/audit/verify", auditor, nil, nil)
	s.check("auditor: the audit chain verifies", func() error {
		if err := expect(r, err, 200); err != nil {
			return err
		}
		var v map[string]any
		if err := r.json(&v); err != nil {
			return err
		}
		if ok, _ := v["ok"].(bool); !ok {
			return fmt.Errorf("verify: %s", r.body)
		}
		return nil
	}())
}

// ---------------------------------------------------------------------------------------------
// load: bounded loop for the graceful-shutdown drill.
//
// Each request uses a fresh connection so that it is classified exactly:
//   ok       a complete HTTP response below 500 (429 from the intake limiter included)
//   refused  the connection could not be made (server gone / name gone): never accepted,
//            so not a lost request
//   failed   anything after the connection was made: reset, EOF, timeout, 5xx
// With --respect-ready (the default) the client behaves like a load balancer: it polls
// /health/ready every 100 ms and sends no NEW request once that stops answering 200, while the
// requests already sent finish. That is the contract under test (docs/operations.md, health and shutdown: on SIGTERM ready turns 503
// first, in-flight requests finish, then the process exits). Without it, connections that
// arrive while the listener closes are reset by the kernel and are counted as failed.
// Exit 1 when any request failed.

func load(args []string) int {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	url := fs.String("url", env("E2E_API_URL", "http://api:8080"), "base URL")
	token := fs.String("token", env("E2E_TOKEN", ""), "bearer token (GET /v1/cases); without it GET /version")
	dur := fs.Duration("duration", 20*time.Second, "maximum duration")
	conc := fs.Int("concurrency", 8, "parallel clients")
	stopAfterRefused := fs.Duration("stop-after-refused", 2*time.Second, "stop once every request was refused for this long")
	respectReady := fs.Bool("respect-ready", true, "stop sending new requests once /health/ready is not 200 (like a load balancer)")
	_ = fs.Parse(args)

	c := newClient(false)
	ctx, cancel := context.WithTimeout(context.Background(), *dur)
	defer cancel()
	var ok, refused, failed, s5xx atomic.Int64
	var lastOK atomic.Int64
	lastOK.Store(time.Now().UnixNano())
	var firstRefused atomic.Int64
	var mu sync.Mutex
	var samples []string
	path, tok := "/version", ""
	if *token != "" {
		path, tok = "/v1/cases?limit=5", *token
	}
	start := time.Now()
	var notReadyAt atomic.Int64
	if *respectReady {
		go func() {
			pc := newClient(false)
			pc.hc.Timeout = time.Second
			for ctx.Err() == nil {
				r, err := pc.do("GET", *url+"/health/ready", "", nil, nil)
				if err != nil || r.code != 200 {
					notReadyAt.Store(time.Now().UnixNano())
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		}()
	}
	var wg sync.WaitGroup
	for i := 0; i < *conc; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			n := 0
			for ctx.Err() == nil && notReadyAt.Load() == 0 {
				n++
				var r *resp
				var err error
				if n%10 == 0 { // some writes too
					body := map[string]any{"channel": "api", "category": "other", "subject": map[string]any{"name": "load"},
						"description": fmt.Sprintf("load %d/%d", i, n)}
					r, err = c.do("POST", *url+"/v1/reports", tok, body, map[string]string{"Idempotency-Key": randHex(12)})
				} else {
					r, err = c.do("GET", *url+path, tok, nil, nil)
				}
				switch {
				case err != nil && isRefused(err):
					refused.Add(1)
					firstRefused.CompareAndSwap(0, time.Now().UnixNano())
					if time.Since(time.Unix(0, lastOK.Load())) > *stopAfterRefused {
						cancel()
					}
					time.Sleep(50 * time.Millisecond)
				case err != nil:
					failed.Add(1)
					mu.Lock()
					if len(samples) < 5 {
						samples = append(samples, err.Error())
					}
					mu.Unlock()
				case r.code >= 500:
					failed.Add(1)
					s5xx.Add(1)
					mu.Lock()
					if len(samples) < 5 {
						samples = append(samples, fmt.Sprintf("HTTP %d %s", r.code, strings.TrimSpace(string(r.body))))
					}
					mu.Unlock()
				default:
					ok.Add(1)
					lastOK.Store(time.Now().UnixNano())
				}
			}
		}(i)
	}
	wg.Wait()
	out := map[string]any{"ok": ok.Load(), "refused": refused.Load(), "failed": failed.Load(), "http_5xx": s5xx.Load(),
		"seconds": time.Since(start).Seconds(), "samples": samples}
	if fr := firstRefused.Load(); fr != 0 {
		out["first_refused_after_seconds"] = time.Unix(0, fr).Sub(start).Seconds()
	}
	if nr := notReadyAt.Load(); nr != 0 {
		out["not_ready_after_seconds"] = time.Unix(0, nr).Sub(start).Seconds()
	}
	out["respect_ready"] = *respectReady
	j, _ := json.Marshal(out)
	fmt.Println(string(j))
	if failed.Load() > 0 {
		return 1
	}
	return 0
}

func isRefused(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH)
}

// ---------------------------------------------------------------------------------------------

func wait(args []string) int {
	fs := flag.NewFlagSet("wait", flag.ExitOnError)
	url := fs.String("url", env("E2E_API_URL", "http://api:8080")+"/health/ready", "URL that must answer 200")
	timeout := fs.Duration("timeout", 60*time.Second, "give up after")
	_ = fs.Parse(args)
	c := newClient(false)
	deadline := time.Now().Add(*timeout)
	for time.Now().Before(deadline) {
		if r, err := c.do("GET", *url, "", nil, nil); err == nil && r.code == 200 {
			return 0
		}
		time.Sleep(200 * time.Millisecond)
	}
	fmt.Fprintf(os.Stderr, "%s not ready after %s\n", *url, *timeout)
	return 1
}

// ---------------------------------------------------------------------------------------------
// populate: N reports through the real API (encrypted PII, audit records, outbox events), for
// the restore drill at a realistic size.

func populate(args []string) int {
	fs := flag.NewFlagSet("populate", flag.ExitOnError)
	url := fs.String("url", env("E2E_API_URL", "http://api:8080"), "base URL")
	token := fs.String("token", env("E2E_TOKEN", ""), "officer token (intake/supervisor); required")
	n := fs.Int("n", 1000, "reports to submit")
	conc := fs.Int("concurrency", 16, "parallel clients")
	_ = fs.Parse(args)
	if *token == "" {
		fmt.Fprintln(os.Stderr, "populate needs --token (an officer token is not rate-limited)")
		return 64
	}
	c := newClient(true)
	var next, done, failed atomic.Int64
	cats := []string{"food_safety", "environment", "financial_conduct", "telecoms", "consumer_protection", "workplace_safety", "other"}
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < *conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(*n) {
					return
				}
				body := map[string]any{"channel": "api", "category": cats[i%int64(len(cats))],
					"subject":     map[string]any{"name": fmt.Sprintf("Entity %d", i%5000), "registry_id": fmt.Sprintf("REG-%06d", i%5000)},
					"description": fmt.Sprintf("populated report %d", i), "location": "Somewhere",
					"reporter": map[string]any{"name": fmt.Sprintf("Reporter %d", i), "email": fmt.Sprintf("r%d@example.org", i)}}
				r, err := c.do("POST", *url+"/v1/reports", *token, body, map[string]string{"Idempotency-Key": fmt.Sprintf("populate-%d-%s", i, randHex(4))})
				if err != nil || r.code != 201 {
					if failed.Add(1) <= 3 {
						if err != nil {
							fmt.Fprintln(os.Stderr, err)
						} else {
							fmt.Fprintf(os.Stderr, "HTTP %d %s\n", r.code, r.body)
						}
					}
					continue
				}
				if d := done.Add(1); d%10000 == 0 {
					fmt.Fprintf(os.Stderr, "%d reports (%.0f/s)\n", d, float64(d)/time.Since(start).Seconds())
				}
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	fmt.Printf("{\"reports\":%d,\"failed\":%d,\"seconds\":%.1f,\"per_second\":%.0f}\n", done.Load(), failed.Load(), secs, float64(done.Load())/secs)
	if failed.Load() > 0 {
		return 1
	}
	return 0
}

// ---------------------------------------------------------------------------------------------
// webhooks: the whole event pipeline of the stack (api → outbox → relay → Redis stream → worker
// fan-out → signed POST), with this process as the receiver on the app network.

type delivery struct {
	id, ts, sig string
	body        []byte
}

func webhookFlow(c *client, s *suite, api, worker, listen, admin, run string) {
	// The address the worker reaches us at: the source address of a route to it.
	u := strings.TrimPrefix(strings.TrimPrefix(worker, "http://"), "https://")
	conn, err := net.Dial("udp", u)
	if !s.check("webhook receiver: find our address on the worker's network", err) {
		return
	}
	self := conn.LocalAddr().(*net.UDPAddr).IP.String()
	conn.Close()
	ln, err := net.Listen("tcp", listen)
	if !s.check("webhook receiver listens on "+listen, err) {
		return
	}
	got := make(chan delivery, 64)
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		got <- delivery{id: r.Header.Get("webhook-id"), ts: r.Header.Get("webhook-timestamp"), sig: r.Header.Get("webhook-signature"), body: b}
		w.WriteHeader(http.StatusNoContent)
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	url := "http://" + net.JoinHostPort(self, port) + "/hooks/e2e-" + run

	var hook struct{ ID, Secret string }
	r, err := c.do("POST", api+"/v1/webhooks", admin, map[string]any{"url": url, "event_types": []string{"gov.regcase.case.*"}}, nil)
	if !s.check("admin subscribes a webhook (201, whsec_ secret shown once)", func() error {
		if err := expect(r, err, 201); err != nil {
			return err
		}
		if err := r.json(&hook); err != nil || hook.ID == "" || !strings.HasPrefix(hook.Secret, "whsec_") {
			return fmt.Errorf("body %s", r.body)
		}
		return nil
	}()) {
		return
	}
	// An admin may not open cases: mint a supervisor for it.
	var tok struct{ Token string }
	r, err = c.do("POST", api+"/v1/tokens", admin, map[string]any{"name": "e2e-hook-" + run, "role": "supervisor"}, nil)
	if !s.check("admin mints a supervisor token for the webhook check", func() error {
		if err := expect(r, err, 201); err != nil {
			return err
		}
		return r.json(&tok)
	}()) {
		return
	}
	var kase struct{ ID string }
	r, err = c.do("POST", api+"/v1/cases", tok.Token, map[string]any{"title": "Webhook check " + run,
		"subject": map[string]any{"name": "E2E Hooks " + run}, "category": "environment"}, nil)
	if !s.check("supervisor opens a case", func() error {
		if err := expect(r, err, 201); err != nil {
			return err
		}
		return r.json(&kase)
	}()) {
		return
	}
	start := time.Now()
	var d delivery
	var ev struct {
		ID, Type, Subject, SpecVersion string
	}
	ok := s.check("the case.opened event reaches the receiver through Redis and the worker (< 30 s)", func() error {
		deadline := time.After(30 * time.Second)
		for {
			select {
			case d = <-got:
				if err := json.Unmarshal(d.body, &ev); err != nil {
					return fmt.Errorf("not JSON: %s", d.body)
				}
				if ev.Subject == "cases/"+kase.ID && ev.Type == "gov.regcase.case.opened" {
					return nil
				}
			case <-deadline:
				return errors.New("no delivery within 30 s")
			}
		}
	}())
	if !ok {
		return
	}
	fmt.Printf("     delivered %d ms after the case was opened\n", time.Since(start).Milliseconds())
	s.check("delivery is CloudEvents 1.0 with webhook-id = event id", func() error {
		if ev.SpecVersion != "1.0" || ev.ID == "" || ev.ID != d.id {
			return fmt.Errorf("specversion %q id %q webhook-id %q", ev.SpecVersion, ev.ID, d.id)
		}
		return nil
	}())
	s.check("webhook-signature verifies (Standard Webhooks: HMAC-SHA256 of id.timestamp.body)", func() error {
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(hook.Secret, "whsec_"))
		if err != nil {
			return err
		}
		m := hmac.New(sha256.New, key)
		m.Write([]byte(d.id + "." + d.ts + "."))
		m.Write(d.body)
		want := "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
		for _, sig := range strings.Fields(d.sig) {
			if hmac.Equal([]byte(sig), []byte(want)) {
				return nil
			}
		}
		return fmt.Errorf("signature %q does not match", d.sig)
	}())
	time.Sleep(500 * time.Millisecond) // the worker records the attempt after our answer
	r, err = c.do("GET", api+"/v1/webhooks/"+hook.ID+"/deliveries?status=delivered", admin, nil, nil)
	s.check("delivery history lists it as delivered", func() error {
		if err := expect(r, err, 200); err != nil {
			return err
		}
		if !bytes.Contains(r.body, []byte(ev.ID)) {
			return fmt.Errorf("event %s not in %s", ev.ID, r.body)
		}
		return nil
	}())
	r, err = c.do("DELETE", api+"/v1/webhooks/"+hook.ID, admin, nil, nil)
	s.check("admin deletes the subscription (204)", expect(r, err, 204))
}

// ---------------------------------------------------------------------------------------------
// intake: the node-loss drill's producer. One client, paced: every report has its own
// Idempotency-Key and is retried with that key until it is acknowledged (201) or the run ends, so
// an acknowledged report exists exactly once. Each acknowledged report's id is appended to --out.
// Prints {"acked":N,"retries":N,"unacked":N,"seconds":S}; exit 1 when a report stayed unacked.

func intake(args []string) int {
	fs := flag.NewFlagSet("intake", flag.ExitOnError)
	url := fs.String("url", env("E2E_API_URL", "http://api:8080"), "base URL")
	token := fs.String("token", env("E2E_TOKEN", ""), "officer token (no public rate limit); required")
	dur := fs.Duration("duration", 30*time.Second, "submit new reports for this long")
	every := fs.Duration("every", 200*time.Millisecond, "one new report per interval")
	out := fs.String("out", "", "append acknowledged report ids here; required")
	stop := fs.String("stop-file", "", "stop submitting new reports once this file exists")
	_ = fs.Parse(args)
	if *token == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "intake: --token and --out are required")
		return 64
	}
	f, err := os.OpenFile(*out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		fmt.Fprintln(os.Stderr, "intake:", err)
		return 1
	}
	defer f.Close()
	c := newClient(false)
	c.hc.Timeout = 10 * time.Second
	start := time.Now()
	end := start.Add(*dur)
	var acked, retries, unacked int
	stopped := func() bool {
		if *stop == "" {
			return false
		}
		_, err := os.Stat(*stop)
		return err == nil
	}
	for n := 0; time.Now().Before(end) && !stopped(); n++ {
		key := "intake-" + randHex(12)
		body := map[string]any{"channel": "api", "category": "other", "subject": map[string]any{"name": "node-loss drill"},
			"description": fmt.Sprintf("intake %d", n)}
		ok := false
		// the same key until acknowledged: a retry after a lost answer cannot create a second report
		for try := 0; try < 60; try++ {
			r, err := c.do("POST", *url+"/v1/reports", *token, body, map[string]string{"Idempotency-Key": key})
			if err == nil && r.code == 201 {
				var v struct {
					ID string `json:"id"`
				}
				if r.json(&v) == nil && v.ID != "" {
					fmt.Fprintln(f, v.ID)
					ok = true
					break
				}
			}
			retries++
			time.Sleep(500 * time.Millisecond)
		}
		if ok {
			acked++
		} else {
			unacked++
		}
		time.Sleep(*every)
	}
	j, _ := json.Marshal(map[string]any{"acked": acked, "retries": retries, "unacked": unacked,
		"seconds": time.Since(start).Round(100 * time.Millisecond).Seconds()})
	fmt.Println(string(j))
	if unacked > 0 {
		return 1
	}
	return 0
}

// receive: a webhook receiver for the drills. Answers 204 to every POST and appends its
// webhook-id header (the event id: receivers dedupe by it) to --out, one per line, duplicates
// included, so the drill can count both. Runs until --duration or SIGTERM.

func receive(args []string) int {
	fs := flag.NewFlagSet("receive", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:8099", "listen address")
	out := fs.String("out", "", "append webhook-id lines here; required")
	dur := fs.Duration("duration", 10*time.Minute, "stop after")
	_ = fs.Parse(args)
	if *out == "" {
		fmt.Fprintln(os.Stderr, "receive: --out is required")
		return 64
	}
	f, err := os.OpenFile(*out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		fmt.Fprintln(os.Stderr, "receive:", err)
		return 1
	}
	defer f.Close()
	var mu sync.Mutex
	srv := &http.Server{Addr: *listen, ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
			id := r.Header.Get("webhook-id")
			if r.Method != http.MethodPost || id == "" {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			mu.Lock()
			fmt.Fprintln(f, id)
			mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		})}
	go func() {
		time.Sleep(*dur)
		_ = srv.Close()
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "receive:", err)
		return 1
	}
	return 0
}
