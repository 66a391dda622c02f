package app_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/regcase/regcase/internal/regcase"
)

// TestAnonymousReporterAddress: the address of an anonymous reporter is
// kept neither in the report.received audit record nor in the request log
// (REGCASE_ANONYMOUS_ADDR=none, the default); with prefix only its /24 is.
// Staff requests keep their full address in the log.
func TestAnonymousReporterAddress(t *testing.T) {
	for _, c := range []struct {
		name, env, wantAddr string
	}{{"Default", "", ""}, {"Prefix", "REGCASE_ANONYMOUS_ADDR=prefix", "127.0.0.0/24"}} {
		t.Run(c.name, func(t *testing.T) {
			var env []string
			if c.env != "" {
				env = append(env, c.env)
			}
			ts := startServer(t, "sqlite", env...)
			sub := ts.submitReport(t, regcase.RoleAnonymous, "Submitted from a home address.")
			var page struct {
				Items []struct {
					Action    string `json:"action"`
					ActorAddr string `json:"actor_addr"`
				} `json:"items"`
			}
			ts.must(t, http.StatusOK, http.MethodGet, "/v1/audit?chain=report:"+sub.ID, regcase.RoleAuditor, nil).JSON(t, &page)
			if len(page.Items) == 0 || page.Items[0].Action != "report.received" {
				t.Fatalf("no report.received record: %+v", page.Items)
			}
			if got := page.Items[0].ActorAddr; got != c.wantAddr {
				t.Errorf("report.received actor_addr = %q, want %q", got, c.wantAddr)
			}
			ts.Stop(t)
			var sawIntake, sawStaff bool
			for _, line := range strings.Split(ts.Stderr.String(), "\n") {
				var l struct {
					Msg, Method, Route, Role string
					Client                   *string
				}
				if json.Unmarshal([]byte(line), &l) != nil || l.Msg != "request" {
					continue
				}
				switch {
				case l.Route == "/v1/reports" && l.Method == http.MethodPost && l.Role == string(regcase.RoleAnonymous):
					sawIntake = true
					got := ""
					if l.Client != nil {
						got = *l.Client
					}
					if got != c.wantAddr {
						t.Errorf("intake request log line: client %q, want %q: %s", got, c.wantAddr, line)
					}
				case l.Role == string(regcase.RoleAuditor):
					sawStaff = true
					if l.Client == nil || *l.Client != "127.0.0.1" {
						t.Errorf("staff request log line lost its address: %s", line)
					}
				}
			}
			if !sawIntake || !sawStaff {
				t.Fatalf("request log lines missing (intake %v, staff %v)", sawIntake, sawStaff)
			}
		})
	}
}

// TestNoStore: every API answer that carries a status secret, a token,
// reporter contact details or case data says Cache-Control: no-store.
func TestNoStore(t *testing.T) {
	ts := startServer(t, "sqlite")
	sub := ts.do(t, http.MethodPost, "/v1/reports", regcase.RoleAnonymous, reportJSON("A report with a secret."))
	var s submitted
	sub.JSON(t, &s)
	for what, r := range map[string]*apiResponse{
		"POST /v1/reports (status secret)":           sub,
		"GET /v1/reports/{id}?include_reporter=true": ts.do(t, http.MethodGet, "/v1/reports/"+s.ID+"?include_reporter=true", regcase.RoleSupervisor, nil),
		"GET /v1/public/reports/{tracking}":          ts.do(t, http.MethodGet, "/v1/public/reports/"+s.TrackingCode, regcase.RoleAnonymous, nil, "X-Status-Secret", s.StatusSecret),
		"POST /v1/tokens (token secret)":             ts.do(t, http.MethodPost, "/v1/tokens", regcase.RoleAdmin, map[string]any{"name": "cache-test", "role": "auditor"}),
		"GET /v1/cases":                              ts.do(t, http.MethodGet, "/v1/cases", regcase.RoleInvestigator, nil),
		"POST /v1/reports with a bad body (problem)": ts.do(t, http.MethodPost, "/v1/reports", regcase.RoleAnonymous, map[string]any{"channel": "nope"}),
	} {
		if r.Status >= 500 {
			t.Errorf("%s: %s", what, r)
		}
		if got := r.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store", what, got)
		}
	}
}
