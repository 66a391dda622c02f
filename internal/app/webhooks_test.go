package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/regcase/regcase/internal/app"
	"github.com/regcase/regcase/internal/redistest"
	"github.com/regcase/regcase/internal/regcase"
)

// receiver is a webhook endpoint that verifies every delivery with the
// Standard Webhooks library and keeps the verified events by webhook-id.
type receiver struct {
	tb     testing.TB
	srv    *httptest.Server
	mu     sync.Mutex
	secret string
	events map[string]map[string]any
	bad    []string
}

func newReceiver(tb testing.TB) *receiver {
	rc := &receiver{tb: tb, events: map[string]map[string]any{}}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if rc.secret == "" {
			// A delivery can arrive between the subscription's 201 and setSecret (a checkpoint
			// event every 100 ms): not known yet, so "try again later", as a real receiver would.
			http.Error(w, "secret not configured yet", http.StatusServiceUnavailable)
			return
		}
		wh, err := standardwebhooks.NewWebhook(rc.secret)
		if err == nil {
			err = wh.Verify(body, r.Header)
		}
		if err != nil {
			rc.bad = append(rc.bad, err.Error())
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var ev map[string]any
		if err := json.Unmarshal(body, &ev); err != nil || r.Header.Get("Content-Type") != "application/cloudevents+json" {
			rc.bad = append(rc.bad, "not a CloudEvents JSON body: "+string(body))
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		if ev["id"] != r.Header.Get("webhook-id") {
			rc.bad = append(rc.bad, "webhook-id is not the event id")
		}
		rc.events[r.Header.Get("webhook-id")] = ev
		w.WriteHeader(http.StatusNoContent)
	}))
	tb.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) setSecret(s string) { rc.mu.Lock(); rc.secret = s; rc.mu.Unlock() }

// waitFor waits until an event of type typ about subject arrived.
func (rc *receiver) waitFor(tb testing.TB, typ, subject string) map[string]any {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		rc.mu.Lock()
		if len(rc.bad) > 0 {
			tb.Fatalf("receiver refused deliveries: %v", rc.bad)
		}
		for _, ev := range rc.events {
			if ev["type"] == typ && ev["subject"] == subject {
				rc.mu.Unlock()
				return ev
			}
		}
		rc.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	tb.Fatalf("no %s event about %s reached the receiver within 20s", typ, subject)
	return nil
}

var pipelineEnv = []string{"REGCASE_WEBHOOK_ALLOW_NETS=127.0.0.0/8", "REGCASE_WEBHOOK_BACKOFF_BASE=100ms",
	"REGCASE_WEBHOOK_TIMEOUT=2s", "REGCASE_SLA_SCAN_INTERVAL=1h"}

// startWorker runs `regcase worker` in process next to ts (PostgreSQL:
// the API process does not run the pipeline).
func startWorker(tb testing.TB, ts *testServer) {
	tb.Helper()
	env := copyEnv(ts.env)
	env["REGCASE_HTTP_ADDR"] = "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var stderr syncBuffer
	go func() { done <- app.Run(ctx, []string{"worker"}, lookup(env), io.Discard, &stderr) }()
	tb.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				tb.Errorf("worker exited %d:\n%s", code, stderr.String())
			}
		case <-time.After(30 * time.Second):
			tb.Errorf("worker did not stop within 30s")
		}
	})
}

// TestWebhooks runs the pipeline both ways: in process on SQLite (`regcase
// all`, no Redis) and through Redis Streams on PostgreSQL (`regcase api` +
// `regcase worker`, both with REDIS_URL).
func TestWebhooks(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		t.Parallel()
		env := pipelineEnv
		if engine == "postgres" {
			env = append(slices.Clone(env), "REDIS_URL="+redistest.Start(t).URL())
		}
		ts := startServer(t, engine, env...)
		if engine == "postgres" {
			startWorker(t, ts)
		}
		rc := newReceiver(t)

		var hook struct {
			ID     string `json:"id"`
			Secret string `json:"secret"`
		}
		ts.must(t, http.StatusCreated, http.MethodPost, "/v1/webhooks", regcase.RoleAdmin, map[string]any{
			"url": rc.srv.URL + "/hook?token=abc", "event_types": []string{"gov.regcase.report.*", "gov.regcase.case.opened"},
			"description": "test receiver"}).JSON(t, &hook)
		if !strings.HasPrefix(hook.Secret, regcase.WebhookSecretPrefix) {
			t.Fatalf("secret %q does not start with %s", hook.Secret, regcase.WebhookSecretPrefix)
		}
		rc.setSecret(hook.Secret)

		sub := ts.submitReport(t, regcase.RoleAnonymous, "A delivery for the receiver.")
		ev := rc.waitFor(t, "gov.regcase.report.received", "reports/"+sub.ID)
		if ev["specversion"] != "1.0" || ev["source"] == "" {
			t.Errorf("event attributes: %v", ev)
		}
		if b := string(mustJSON(ev)); strings.Contains(b, "reporter") && strings.Contains(b, "@") {
			t.Errorf("event carries reporter contact details: %v", ev)
		}

		// The delivery history shows it, with its attempt.
		var list struct {
			Items []struct {
				ID, EventID, Status string
			} `json:"items"`
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			ts.must(t, http.StatusOK, http.MethodGet, "/v1/webhooks/"+hook.ID+"/deliveries?status=delivered", regcase.RoleAdmin, nil).JSON(t, &list)
			if len(list.Items) > 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if len(list.Items) == 0 {
			t.Fatal("no delivered delivery listed")
		}
		var one struct {
			Status  string `json:"status"`
			History []struct {
				StatusCode int `json:"status_code"`
			} `json:"history"`
			Payload map[string]any `json:"payload"`
		}
		ts.must(t, http.StatusOK, http.MethodGet, "/v1/webhooks/"+hook.ID+"/deliveries/"+list.Items[0].ID, regcase.RoleAdmin, nil).JSON(t, &one)
		if one.Status != "delivered" || len(one.History) != 1 || one.History[0].StatusCode != http.StatusNoContent || one.Payload["id"] == nil {
			t.Errorf("delivery = %+v", one)
		}
		// Redelivery sends the same event again (the receiver dedupes).
		ts.must(t, http.StatusAccepted, http.MethodPost, "/v1/webhooks/"+hook.ID+"/deliveries/"+list.Items[0].ID+"/redeliver", regcase.RoleAdmin, nil)

		// Filters: a case.transitioned event is not for this subscription,
		// case.opened is.
		c := ts.createCase(t, "A case for the receiver")
		rc.waitFor(t, "gov.regcase.case.opened", "cases/"+c.ID)

		// The audit log keeps the subscription without the URL's query.
		r := ts.must(t, http.StatusOK, http.MethodGet, "/v1/audit?chain=webhook:"+hook.ID, regcase.RoleAuditor, nil)
		if strings.Contains(string(r.Body), "token=abc") || !strings.Contains(string(r.Body), "webhook.created") {
			t.Errorf("audit of the subscription: %s", r)
		}

		// Bad input.
		for name, body := range map[string]any{
			"loopback without allow-list": map[string]any{"url": "http://[::1]:9/x"},
			"scheme":                      map[string]any{"url": "ftp://example.org/x"},
			"event type":                  map[string]any{"url": "https://example.org/x", "event_types": []string{"Case Created"}},
			"unknown field":               map[string]any{"url": "https://example.org/x", "secret": "mine"},
		} {
			r := ts.do(t, http.MethodPost, "/v1/webhooks", regcase.RoleAdmin, body)
			if r.Status != http.StatusUnprocessableEntity {
				t.Errorf("%s: got %s, want 422", name, r)
			}
			checkProblem(t, name, r)
		}
		// Delete: no new deliveries, history stays, a second delete is 404.
		ts.must(t, http.StatusNoContent, http.MethodDelete, "/v1/webhooks/"+hook.ID, regcase.RoleAdmin, nil)
		ts.must(t, http.StatusNotFound, http.MethodDelete, "/v1/webhooks/"+hook.ID, regcase.RoleAdmin, nil)
		var got struct {
			DeletedAt *time.Time `json:"deleted_at"`
		}
		ts.must(t, http.StatusOK, http.MethodGet, "/v1/webhooks/"+hook.ID, regcase.RoleAdmin, nil).JSON(t, &got)
		if got.DeletedAt == nil {
			t.Error("deleted webhook has no deleted_at")
		}
		ts.must(t, http.StatusOK, http.MethodGet, "/v1/dead-letters", regcase.RoleAdmin, nil)
	})
}
