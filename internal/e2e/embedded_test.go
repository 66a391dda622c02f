package e2e

import (
	"database/sql"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite" // reading the outbox after the run
)

// TestEmbeddedRestart: `regcase all` on SQLite without REDIS_URL runs the
// pipeline in process. It is killed with SIGKILL in the middle of the
// deliveries and started again on the same data directory: every event
// must be delivered, each exactly once after deduplication by webhook-id.
func TestEmbeddedRestart(t *testing.T) {
	needBinary(t)
	t.Parallel()
	began := time.Now()
	s := newSQLiteStack(t, map[string]string{"REGCASE_WEBHOOK_CONCURRENCY": "4"})
	rcv := newReceiver(t, "embedded")
	rcv.SetDelay(100 * time.Millisecond)
	all1 := s.start("all", "all", nil)
	s.mintTokens()
	hook := s.subscribe(all1, rcv, ReportReceived)

	const n = 200
	ids := s.intake(all1.URL, n, 4)
	rcv.WaitSeen(n/4, 60*time.Second)
	atKill := rcv.Counts()
	if atKill.Acked >= n {
		t.Fatalf("every event was delivered before the kill (%d): slow the receiver down", atKill.Acked)
	}
	all1.Kill()
	killedAt := time.Now()
	t.Logf("killed regcase all (SIGKILL) after %d of %d events delivered", atKill.Acked, n)

	all2 := s.start("all", "all", nil)
	restarted := time.Since(killedAt)
	rcv.WaitAcked(n, 90*time.Second)
	deliveredIn := time.Since(killedAt)
	time.Sleep(time.Second)
	c := rcv.Counts()
	subjects := rcv.Subjects()
	for _, id := range ids {
		if subjects["reports/"+id] != 1 {
			t.Errorf("report %s: %d distinct events received, want 1", id, subjects["reports/"+id])
		}
	}
	if c.Unique != n {
		t.Errorf("receiver: %d distinct webhook-ids, want %d", c.Unique, n)
	}
	// The API of the restarted process shows every delivery delivered.
	ds := s.deliveries(all2, hook, "")
	delivered := 0
	for _, d := range ds {
		if d.Status == "delivered" {
			delivered++
		}
	}
	if delivered != n || len(ds) != n {
		t.Errorf("API: %d deliveries, %d delivered; want %d and %d", len(ds), delivered, n, n)
	}
	all2.Stop()

	created := sqliteOutbox(t, filepath.Join(s.dir, "regcase.db"), ReportReceived)
	if len(created) != n {
		t.Errorf("outbox holds %d %s events, want %d", len(created), ReportReceived, n)
	}
	compare(t, "embedded mode across a kill -9 and restart", created, rcv.IDs())
	t.Logf("FIGURES embedded: events %d, delivered before the kill %d, distinct received %d, requests %d, duplicates seen %d; "+
		"restarted (ready) %s after the kill, all delivered %s after the kill; test %s",
		len(created), atKill.Acked, c.Unique, c.Requests, c.Duplicates, restarted.Round(time.Millisecond),
		deliveredIn.Round(time.Millisecond), time.Since(began).Round(time.Second))
}

// sqliteOutbox reads the outbox events of type typ from a SQLite file.
func sqliteOutbox(t *testing.T, path, typ string) map[string]string {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT event_id, subject FROM outbox WHERE type = ?`, typ)
	if err != nil {
		t.Fatalf("read the SQLite outbox: %v", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, subject string
		if err := rows.Scan(&id, &subject); err != nil {
			t.Fatal(err)
		}
		out[id] = subject
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestWebhookURLRefusedByDefault: without REGCASE_WEBHOOK_ALLOW_NETS a
// subscription to a loopback receiver is a 422 problem about the url,
// while a public URL is accepted.
func TestWebhookURLRefusedByDefault(t *testing.T) {
	needBinary(t)
	t.Parallel()
	s := newSQLiteStack(t, map[string]string{"REGCASE_WEBHOOK_ALLOW_NETS": ""})
	all := s.start("all", "all", nil)
	s.mintTokens()
	rcv := newReceiver(t, "ssrf")
	for _, url := range []string{rcv.URL(), strings.Replace(rcv.URL(), "127.0.0.1", "localhost", 1), "http://10.1.2.3/hook", "http://[::1]:8080/hook"} {
		r := s.must(http.StatusUnprocessableEntity, all.URL, http.MethodPost, "/v1/webhooks", "admin", map[string]any{"url": url})
		var p struct {
			Type   string `json:"type"`
			Status int    `json:"status"`
			Detail string `json:"detail"`
			Field  string `json:"field"`
		}
		r.decode(t, &p)
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
			t.Errorf("%s: Content-Type %q, want application/problem+json", url, ct)
		}
		if p.Status != http.StatusUnprocessableEntity || !strings.HasPrefix(p.Type, "urn:regcase:problem:") || p.Field != "url" {
			t.Errorf("%s: problem %s; want status 422, a urn:regcase:problem: type and field \"url\"", url, r)
		}
		t.Logf("%s → 422 %s: %s", url, p.Type, p.Detail)
	}
	// The control: the same request with a public address is accepted (its
	// filter matches no event, so nothing is sent to it).
	s.must(http.StatusCreated, all.URL, http.MethodPost, "/v1/webhooks", "admin", map[string]any{"url": "https://hooks.example.com/regcase", "event_types": []string{"gov.regcase.none.such"}})
}
