package app_test

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/regcase/regcase/internal/regcase"
)

// TestClientCancelIsNotAServerError: an intake the client gives up on
// while the database is busy (another process holds SQLite's write lock)
// is logged at info as a client cancel and counted under status 499, never
// as an ERROR line or a 5xx; the intake behind it still works.
func TestClientCancelIsNotAServerError(t *testing.T) {
	ts := startServer(t, "sqlite")
	path := strings.TrimPrefix(ts.env["DATABASE_URL"], "sqlite://")
	other, err := sql.Open("sqlite", path+"?_txlock=immediate&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	lock, err := other.BeginTx(t.Context(), nil) // holds the write lock
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	req := ts.request(t, http.MethodPost, "/v1/reports", regcase.RoleIntake, reportJSON("abandoned by its client")).WithContext(ctx)
	if resp, err := ts.Client.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("POST /v1/reports answered %d while the database was locked; want the client to give up first", resp.StatusCode)
	} else if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("POST /v1/reports: %v, want the client's deadline", err)
	}
	time.Sleep(100 * time.Millisecond)
	if err := lock.Rollback(); err != nil {
		t.Fatal(err)
	}

	want := regexp.MustCompile(`http_requests_total\{code="499",method="POST",route="/v1/reports"\} 1\b`)
	deadline := time.Now().Add(10 * time.Second)
	for {
		m := ts.must(t, http.StatusOK, http.MethodGet, "/metrics", regcase.RoleAnonymous, nil)
		if want.Match(m.Body) {
			if regexp.MustCompile(`http_requests_total\{code="5\d\d",method="POST"`).Match(m.Body) {
				t.Errorf("a 5xx was counted for the abandoned intake:\n%s", m.Body)
			}
			if !regexp.MustCompile(`(?m)^regcase_sqlite_write_jobs_total [1-9]`).Match(m.Body) || !strings.Contains(string(m.Body), "regcase_log_dropped_lines_total 0") {
				t.Errorf("no SQLite writer or log-drop metrics in /metrics:\n%s", m.Body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no 499 counted for the abandoned intake within 10s; metrics:\n%s", m.Body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	ts.submitReport(t, regcase.RoleIntake, "the next intake still works")
	ts.Stop(t) // flushes the log
	logs := ts.Stderr.String()
	if !strings.Contains(logs, `"level":"INFO","msg":"request canceled by the client"`) {
		t.Errorf("no info line for the client cancel in the log:\n%s", logs)
	}
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, `"level":"ERROR"`) {
			t.Errorf("ERROR line for a client cancel: %s", line)
		}
	}
}
