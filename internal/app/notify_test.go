package app_test

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/regcase/regcase/internal/mailpittest"
	"github.com/regcase/regcase/internal/redistest"
	"github.com/regcase/regcase/internal/regcase"
)

// mailsTo returns the messages addressed to addr.
func mailsTo(ms []mailpittest.Message, addr string) []mailpittest.Message {
	var out []mailpittest.Message
	for _, m := range ms {
		if slices.Contains(m.Recipients(), addr) {
			out = append(out, m)
		}
	}
	return out
}

func countSubject(ms []mailpittest.Message, addr, prefix string) int {
	n := 0
	for _, m := range mailsTo(ms, addr) {
		if strings.HasPrefix(m.Subject, prefix) {
			n++
		}
	}
	return n
}

// TestNotifications drives the e-mail notifications end to end against a
// real SMTP server (Mailpit), in process on SQLite (`regcase all`) and
// through Redis Streams on PostgreSQL (`regcase api` + `regcase worker`):
// each notification arrives once at the right address, none after an
// opt-out, the reporter's mail says nothing but "there is an update", and
// an SMTP outage of 30 s delays mail without losing any.
func TestNotifications(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		t.Parallel()
		mp := mailpittest.Start(t)
		env := append(slices.Clone(pipelineEnv), "REGCASE_SMTP_HOST=127.0.0.1", "REGCASE_SMTP_PORT="+strconv.Itoa(mp.SMTPPort),
			"REGCASE_SMTP_FROM=regcase@cases.example.gov", "REGCASE_SMTP_STARTTLS=off", "REGCASE_SMTP_BACKOFF_BASE=500ms",
			"REGCASE_SMTP_BACKOFF_MAX=2s", "REGCASE_SMTP_MAX_ATTEMPTS=100", "REGCASE_SMTP_TIMEOUT=5s",
			"REGCASE_SLA_SCAN_INTERVAL=200ms", "REGCASE_DEADLINES=acknowledge=1d,warn=2d",
			"REGCASE_PUBLIC_URL=https://cases.example.gov")
		if engine == "postgres" {
			env = append(env, "REDIS_URL="+redistest.Start(t).URL())
		}
		ts := startServer(t, engine, env...)
		if engine == "postgres" {
			startWorker(t, ts)
		}
		const ivy, sam, aud, jane = "ivy@example.gov", "sam@example.gov", "audrey@example.gov", "jane@example.org"
		ts.must(t, http.StatusOK, http.MethodPut, "/v1/me/notifications", regcase.RoleInvestigator, map[string]any{"email": ivy})
		ts.must(t, http.StatusOK, http.MethodPut, "/v1/me/notifications", regcase.RoleAuditor, map[string]any{"email": aud})
		// The admin sets the supervisor's address through the CLI.
		if code, _, errOut := ts.CLI(t, "token", "notify", ts.Names[regcase.RoleSupervisor], "--email", sam); code != 0 {
			t.Fatalf("token notify exited %d: %s", code, errOut)
		}
		var me struct {
			Email  string `json:"email"`
			Notify bool   `json:"notify"`
		}
		ts.must(t, http.StatusOK, http.MethodGet, "/v1/me/notifications", regcase.RoleSupervisor, nil).JSON(t, &me)
		if me.Email != sam || !me.Notify {
			t.Fatalf("supervisor settings = %+v", me)
		}

		// A reporter asks for updates; intake opens a case from the report.
		body := reportJSON("Fish kept without ice, please keep me posted.")
		body["reporter"] = map[string]any{"name": "Jane Whistle", "email": jane, "updates": true}
		var sub submitted
		ts.must(t, http.StatusCreated, http.MethodPost, "/v1/reports", regcase.RoleAnonymous, body).JSON(t, &sub)
		var tri struct {
			Case caseJSON `json:"case"`
		}
		ts.must(t, http.StatusOK, http.MethodPost, "/v1/reports/"+sub.ID+"/triage", regcase.RoleIntake,
			map[string]any{"new_case": map[string]any{"priority": "normal"}}).JSON(t, &tri)
		c := tri.Case
		if c.ID == "" {
			t.Fatalf("triage returned no case")
		}

		// acknowledge=1d with warn=2d: the scan announces the deadline at
		// once, to the supervisors (nobody is assigned yet).
		ms := mp.WaitFor(t, 30*time.Second, "deadline warning to the supervisor", func(ms []mailpittest.Message) bool {
			return countSubject(ms, sam, "Statutory deadline approaching") > 0
		})
		warn := mailsTo(ms, sam)[0]
		if !strings.Contains(warn.Subject, c.Number) {
			t.Errorf("warning subject %q does not name the case", warn.Subject)
		}
		text := mp.Text(t, warn.ID)
		if !strings.Contains(text, "https://cases.example.gov/console/cases/"+c.ID) || !strings.Contains(text, "acknowledge") {
			t.Errorf("warning body lacks the link or the deadline: %q", text)
		}
		for _, pii := range []string{"Jane", jane, "Harbour", "Fish kept"} {
			if strings.Contains(text, pii) || strings.Contains(warn.Subject, pii) {
				t.Errorf("officer mail carries reporter data %q: %q", pii, text)
			}
		}

		// Assignment: the investigator is told, once.
		c = ts.assign(t, c, ts.IDs[regcase.RoleInvestigator])
		mp.WaitFor(t, 30*time.Second, "assignment mail", func(ms []mailpittest.Message) bool {
			return countSubject(ms, ivy, "Case "+c.Number+" is assigned to you") == 1
		})

		// A status decision: the reporter hears that there is an update, and nothing more.
		ts.must(t, http.StatusOK, http.MethodPost, "/v1/cases/"+c.ID+"/transitions", regcase.RoleSupervisor,
			map[string]any{"to": "investigating", "assignee": ts.IDs[regcase.RoleInvestigator]}, "If-Match", "*").JSON(t, &c)
		ms = mp.WaitFor(t, 30*time.Second, "reporter update", func(ms []mailpittest.Message) bool { return len(mailsTo(ms, jane)) == 1 })
		rm := mailsTo(ms, jane)[0]
		rtext := mp.Text(t, rm.ID)
		for _, secret := range []string{c.Number, c.ID, sub.TrackingCode, "Acme", "investigating"} {
			if strings.Contains(rtext, secret) || strings.Contains(rm.Subject, secret) {
				t.Errorf("reporter mail says %q: %q", secret, rtext)
			}
		}

		// Opt-out: the investigator is assigned again and gets nothing.
		ts.must(t, http.StatusOK, http.MethodPut, "/v1/me/notifications", regcase.RoleInvestigator, map[string]any{"email": ivy, "notify": false})
		c = ts.assign(t, c, ts.IDs[regcase.RoleSupervisor])
		c = ts.assign(t, c, ts.IDs[regcase.RoleInvestigator])
		mp.WaitFor(t, 30*time.Second, "assignment to the supervisor", func(ms []mailpittest.Message) bool {
			return countSubject(ms, sam, "Case "+c.Number+" is assigned to you") == 1
		})

		// SMTP down for 30 s: the mail waits and arrives once afterwards.
		mp.Stop()
		c = ts.assign(t, c, ts.IDs[regcase.RoleSupervisor])
		time.Sleep(30 * time.Second)
		mp.Start()
		mp.WaitFor(t, 30*time.Second, "assignment mail after the outage", func(ms []mailpittest.Message) bool {
			return countSubject(ms, sam, "Case "+c.Number+" is assigned to you") == 2
		})
		time.Sleep(2 * time.Second) // would a duplicate follow?
		ms = mp.Messages(t)
		if n := countSubject(ms, sam, "Case "+c.Number+" is assigned to you"); n != 2 {
			t.Errorf("supervisor got %d assignment mails, want 2 (one before, one after the outage)", n)
		}
		if n := countSubject(ms, sam, "Statutory deadline approaching"); n != 1 {
			t.Errorf("supervisor got %d deadline warnings, want 1", n)
		}
		if n := len(mailsTo(ms, ivy)); n != 1 {
			t.Errorf("investigator got %d mails, want 1 (the one before opting out)", n)
		}
		if n := len(mailsTo(ms, aud)); n != 0 {
			t.Errorf("auditor got %d mails, want none", n)
		}
		if n := len(mailsTo(ms, jane)); n != 1 {
			t.Errorf("reporter got %d mails, want 1", n)
		}
	})
}

// assign assigns c to who as a supervisor and returns the new case (any
// version: the deadline scan may have moved it).
func (ts *testServer) assign(tb testing.TB, c caseJSON, who string) caseJSON {
	tb.Helper()
	var out caseJSON
	ts.must(tb, http.StatusOK, http.MethodPost, "/v1/cases/"+c.ID+"/assignment", regcase.RoleSupervisor,
		map[string]any{"assignee": who}, "If-Match", "*").JSON(tb, &out)
	return out
}
