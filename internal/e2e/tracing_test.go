package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regcase/regcase/internal/redistest"
)

// The trace tests: TestTraceFromRequestToWebhook exports to a real Jaeger
// and reads the traces back from its query API; TestTracingOffConnectsNowhere
// checks that without configuration nothing is exported, while an incoming
// traceparent still reaches the log, the event and the webhook.

// Personal data and secrets of the traced requests: none may appear in any
// span attribute.
const (
	tracedSubject     = "Harbour Fish Market"
	tracedDescription = "Fish kept without ice near the loading bay"
	tracedReporter    = "Jo Whistleblower"
	tracedEmail       = "jo.whistle@example.org"
	tracedPhone       = "+44 20 7946 0999"
)

// Attribute keys that would carry raw URLs, queries, addresses, headers or
// statements: regcase must never set them.
var forbiddenKeys = []string{"url.full", "url.query", "url.path", "http.url", "http.target", "client.address",
	"network.peer.address", "http.client_ip", "user_agent.original", "db.query.text", "db.statement", "enduser.id"}

func newTraceID(t *testing.T) string { return randomHex(t, 16) }
func newSpanID(t *testing.T) string  { return randomHex(t, 8) }

func randomHex(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// callTraced is stack.call with a traceparent header.
func (s *stack) callTraced(base, method, path, role string, body any, traceparent string) *response {
	s.t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		s.t.Fatal(err)
	}
	req, err := http.NewRequest(method, base+path, bytes.NewReader(b))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", traceparent)
	if role != "" {
		req.Header.Set("Authorization", "Bearer "+s.tokens[role])
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return &response{Status: resp.StatusCode, Header: resp.Header, Body: rb}
}

// tracedReport is a report with every kind of personal data.
func tracedReport() map[string]any {
	return map[string]any{"channel": "web", "category": "food_safety", "subject": map[string]any{"name": tracedSubject},
		"description": tracedDescription, "reporter": map[string]any{"name": tracedReporter, "email": tracedEmail, "phone": tracedPhone}}
}

// TestTraceFromRequestToWebhook: api and worker processes (PostgreSQL,
// Redis) export to Jaeger. A report submitted with a known traceparent
// and its triage (another known traceparent) each give one trace in
// Jaeger holding the API's server span (a child of the caller's span), its
// PostgreSQL spans, and the worker's spans for the event — the publish to
// the stream (linked to the relay round), the consumer's processing and
// the webhook delivery with its HTTP client span — each a child of the
// API span that wrote the event; the receiver gets the client span's
// traceparent, the CloudEvent the API span's. No attribute of any span
// holds personal data, a token or a secret.
func TestTraceFromRequestToWebhook(t *testing.T) {
	needBinary(t)
	t.Parallel()
	j := startJaeger(t)
	rd := redistest.Start(t)
	s := newPGStack(t, sharedPG(t), map[string]string{
		"REDIS_URL":                   rd.URL(),
		"OTEL_EXPORTER_OTLP_ENDPOINT": j.OTLP,
		"OTEL_BSP_SCHEDULE_DELAY":     "100", // ms: spans reach Jaeger quickly
	})
	rcv := newReceiver(t, "traced")
	api := s.start("api", "api", map[string]string{"OTEL_SERVICE_NAME": "regcase-api"})
	var hook struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	s.must(http.StatusCreated, api.URL, http.MethodPost, "/v1/webhooks", "admin",
		map[string]any{"url": rcv.URL(), "description": "traced"}).decode(t, &hook)
	rcv.SetSecret(hook.Secret)
	s.start("worker", "worker", map[string]string{"OTEL_SERVICE_NAME": "regcase-worker"})

	// The intake, with the caller's trace A.
	traceA, callerA := newTraceID(t), newSpanID(t)
	r := s.callTraced(api.URL, http.MethodPost, "/v1/reports", "", tracedReport(), "00-"+traceA+"-"+callerA+"-01")
	if r.Status != http.StatusCreated {
		t.Fatalf("POST /v1/reports: %s", r)
	}
	var rep struct {
		ID           string `json:"id"`
		TrackingCode string `json:"tracking_code"`
		StatusSecret string `json:"status_secret"`
	}
	r.decode(t, &rep)
	// The triage, with the caller's trace B.
	traceB, callerB := newTraceID(t), newSpanID(t)
	if r := s.callTraced(api.URL, http.MethodPost, "/v1/reports/"+rep.ID+"/triage", "supervisor",
		map[string]any{"new_case": map[string]any{"priority": "high"}}, "00-"+traceB+"-"+callerB+"-01"); r.Status != http.StatusOK {
		t.Fatalf("triage: %s", r)
	}
	waitFor(t, 60*time.Second, "report.received, report.triaged and case.opened delivered", func() bool {
		ty := rcv.Types()
		return ty[ReportReceived] > 0 && ty["gov.regcase.report.triaged"] > 0 && ty["gov.regcase.case.opened"] > 0 && rcv.Counts().Acked >= 3
	})

	secrets := []string{tracedSubject, tracedDescription, tracedReporter, tracedEmail, tracedPhone, "Fish kept",
		rep.TrackingCode, rep.StatusSecret, hook.Secret, s.tokens["admin"], s.tokens["supervisor"], "rct_", "whsec_"}
	checkTrace(t, j, rcv, traceA, callerA, "POST /v1/reports", []string{ReportReceived}, secrets)
	checkTrace(t, j, rcv, traceB, callerB, "POST /v1/reports/{id}/triage",
		[]string{"gov.regcase.report.triaged", "gov.regcase.case.opened"}, secrets)

	// The API's request log line names the trace beside the request id.
	log, err := os.ReadFile(api.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(log, []byte(`"trace_id":"`+traceA+`"`)) || !bytes.Contains(log, []byte(`"request_id"`)) {
		t.Errorf("api log has no line with trace_id %s:\n%s", traceA, tailFile(api.LogPath, 10))
	}
}

// checkTrace waits until Jaeger holds the whole trace of one request that
// wrote events of types, then checks its shape and that no attribute holds
// any of secrets.
func checkTrace(t *testing.T, j *jaeger, rcv *receiver, traceID, callerSpan, route string, types, secrets []string) {
	t.Helper()
	var spans []jSpan
	find := func(service, name string) []jSpan {
		var out []jSpan
		for _, s := range spans {
			if s.Service == service && s.OperationName == name {
				out = append(out, s)
			}
		}
		return out
	}
	complete := func() bool {
		spans = j.Trace(traceID)
		return len(find("regcase-api", route)) == 1 &&
			len(find("regcase-worker", "send regcase:events")) >= len(types) &&
			len(find("regcase-worker", "process regcase:events")) >= len(types) &&
			len(find("regcase-worker", "webhook delivery")) >= len(types) &&
			len(find("regcase-worker", "POST")) >= len(types)
	}
	for deadline := time.Now().Add(60 * time.Second); !complete(); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			for _, s := range spans {
				t.Logf("span %s %s/%s parent %s links %v", s.Service, s.SpanID, s.OperationName, s.Parent(), s.Links())
			}
			t.Fatalf("trace %s (%s) incomplete in Jaeger after 60 s: %d spans (listed above)", traceID, route, len(spans))
		}
	}
	byID := map[string]jSpan{}
	for _, s := range spans {
		byID[s.SpanID] = s
	}
	apiSpan := find("regcase-api", route)[0]
	if got := apiSpan.Parent(); got != callerSpan {
		t.Errorf("%s: api span's parent = %q, want the caller's span %s", route, got, callerSpan)
	}
	if got := apiSpan.Tag("http.route"); got != strings.TrimPrefix(route, "POST ") {
		t.Errorf("%s: http.route = %q", route, got)
	}
	db := 0
	for _, s := range spans {
		if s.Service == "regcase-api" && s.Tag("db.system.name") == "postgresql" {
			db++
			if s.Parent() != apiSpan.SpanID {
				t.Errorf("%s: database span %q is a child of %s, want the api span", route, s.OperationName, s.Parent())
			}
		}
	}
	if db == 0 {
		t.Errorf("%s: no PostgreSQL span under the api span", route)
	}
	for _, name := range []string{"send regcase:events", "process regcase:events", "webhook delivery"} {
		for _, s := range find("regcase-worker", name) {
			if s.Parent() != apiSpan.SpanID {
				t.Errorf("%s: worker span %q (event %s) is a child of %q, want the api span %s", route, name,
					s.Tag("cloudevents.event_id"), s.Parent(), apiSpan.SpanID)
			}
		}
	}
	for _, s := range find("regcase-worker", "send regcase:events") {
		if len(s.Links()) == 0 {
			t.Errorf("%s: the publish span has no link to its relay round", route)
		}
	}
	// The delivery: HTTP client span under the delivery span, and the
	// receiver got the client span's context; the CloudEvent carries the
	// context of the event's creation (the api span).
	traces := rcv.Traces()
	for _, c := range find("regcase-worker", "POST") {
		parent, ok := byID[c.Parent()]
		if !ok || parent.OperationName != "webhook delivery" {
			t.Errorf("%s: HTTP client span's parent is %q, want a webhook delivery span", route, parent.OperationName)
			continue
		}
		if c.Tag("http.response.status_code") != "204" {
			t.Errorf("%s: HTTP client span status code %q, want 204", route, c.Tag("http.response.status_code"))
		}
		ev := parent.Tag("cloudevents.event_id")
		got := traces[ev]
		if want := "00-" + traceID + "-" + c.SpanID + "-01"; got.Header != want {
			t.Errorf("event %s: the webhook request's traceparent = %q, want %q (the client span's)", ev, got.Header, want)
		}
		if want := "00-" + traceID + "-" + apiSpan.SpanID + "-01"; got.Event != want {
			t.Errorf("event %s: the CloudEvent's traceparent = %q, want %q (the api span's)", ev, got.Event, want)
		}
	}
	for _, s := range spans {
		for _, tg := range s.Tags {
			for _, k := range forbiddenKeys {
				if tg.Key == k || strings.HasPrefix(tg.Key, "http.request.header.") || strings.HasPrefix(tg.Key, "http.response.header.") {
					t.Errorf("span %q (%s) has attribute %s", s.OperationName, s.Service, tg.Key)
				}
			}
			v := strings.ToLower(tg.Key + "=" + toString(tg.Value))
			for _, secret := range secrets {
				if secret != "" && strings.Contains(v, strings.ToLower(secret)) {
					t.Errorf("span %q (%s): attribute %s holds personal data or a secret (%.12q…)", s.OperationName, s.Service, tg.Key, secret)
				}
			}
		}
	}
	if t.Failed() {
		for _, s := range spans {
			t.Logf("span %s %s/%s parent %s links %v", s.Service, s.SpanID, s.OperationName, s.Parent(), s.Links())
		}
	} else {
		t.Logf("FIGURES trace %s (%s): %d spans", traceID, route, len(spans))
	}
}

func toString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// TestTracingOffConnectsNowhere: without OTEL_* configuration, `regcase all`
// serves, relays and delivers while a listener on the default OTLP/HTTP
// address (127.0.0.1:4318) sees no connection; an incoming traceparent
// still reaches the request log, the CloudEvent and the webhook request.
func TestTracingOffConnectsNowhere(t *testing.T) {
	needBinary(t)
	ln, err := net.Listen("tcp", "127.0.0.1:4318")
	if err != nil {
		t.Fatalf("the default OTLP port must be free for this test: %v", err)
	}
	var conns atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })

	s := newSQLiteStack(t, nil)
	rcv := newReceiver(t, "untraced")
	all := s.start("all", "all", nil)
	s.mintTokens()
	s.subscribe(all, rcv, ReportReceived)
	traceID, caller := newTraceID(t), newSpanID(t)
	tp := "00-" + traceID + "-" + caller + "-01"
	if r := s.callTraced(all.URL, http.MethodPost, "/v1/reports", "", tracedReport(), tp); r.Status != http.StatusCreated {
		t.Fatalf("POST /v1/reports: %s", r)
	}
	rcv.WaitAcked(1, 30*time.Second)
	time.Sleep(500 * time.Millisecond) // a batch exporter would have flushed by now (its delay is 5 s: see below)
	all.Stop()                         // an exporter flushes at shutdown at the latest
	if n := conns.Load(); n != 0 {
		t.Errorf("%d connection(s) to 127.0.0.1:4318 with tracing off", n)
	}
	for id, got := range rcv.Traces() {
		if got.Header != tp || got.Event != tp {
			t.Errorf("event %s: traceparent header %q, CloudEvent %q; want the caller's %q passed on", id, got.Header, got.Event, tp)
		}
	}
	log, err := os.ReadFile(all.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(log, []byte(`"trace_id":"`+traceID+`"`)) {
		t.Errorf("the request log has no trace_id %s:\n%s", traceID, tailFile(all.LogPath, 10))
	}
	if bytes.Contains(log, []byte(`"tracing":true`)) {
		t.Errorf("tracing reported on without configuration:\n%s", tailFile(all.LogPath, 20))
	}
}
