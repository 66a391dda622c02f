package app_test

import (
	"context"
	"database/sql"
	"net/http"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/regcase/regcase/internal/regcase"
)

// TestVerifyNamesForgedLiveRow: a case row edited directly in the database
// (not through the API) makes GET /v1/audit/verify and `regcase audit
// verify` fail, naming the case and the field.
func TestVerifyNamesForgedLiveRow(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		ts := startServer(t, engine)
		var c struct {
			ID string `json:"id"`
		}
		ts.must(t, http.StatusCreated, http.MethodPost, "/v1/cases", regcase.RoleSupervisor, map[string]any{
			"title": "Harbour pollution", "subject": map[string]any{"name": "Acme"}, "category": "environment"}).JSON(t, &c)
		var res struct {
			OK        bool `json:"ok"`
			LiveState struct {
				Checked int64 `json:"checked"`
			} `json:"live_state"`
			First *struct {
				Entity string `json:"entity"`
				Field  string `json:"field"`
			} `json:"first_problem"`
		}
		ts.must(t, http.StatusOK, http.MethodGet, "/v1/audit/verify", regcase.RoleAuditor, nil).JSON(t, &res)
		if !res.OK || res.LiveState.Checked < 1 {
			t.Fatalf("before tampering: %+v, want ok with the case compared", res)
		}
		tamper(t, ts, `UPDATE cases SET title = 'FORGED' WHERE id = '`+c.ID+`'`)
		ts.must(t, http.StatusOK, http.MethodGet, "/v1/audit/verify", regcase.RoleAuditor, nil).JSON(t, &res)
		if res.OK || res.First == nil || res.First.Entity != "case:"+c.ID || res.First.Field != "title" {
			t.Fatalf("after UPDATE cases SET title: %+v, want a problem naming case:%s field title", res, c.ID)
		}
		code, out, errOut := ts.CLI(t, "audit", "verify")
		if code != 65 || !strings.Contains(errOut+out, "case:"+c.ID+" field title") || !strings.Contains(errOut+out, "FORGED") {
			t.Fatalf("audit verify after the forgery: exit %d\n%s%s", code, out, errOut)
		}
	})
}

// tamper runs q on the server's database with the owner's rights (SQLite:
// the file itself), as an insider with database access would.
func tamper(t *testing.T, ts *testServer, q string) {
	t.Helper()
	ctx := context.Background()
	if ts.OwnerURL != "" {
		conn, err := pgx.Connect(ctx, ts.OwnerURL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return
	}
	// The running server writes too (checkpoints, the relay): wait for its lock.
	db, err := sql.Open("sqlite", "file:"+strings.TrimPrefix(ts.env["DATABASE_URL"], "sqlite://")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}
