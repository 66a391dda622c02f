package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/regcase/regcase/internal/regcase"
)

// appendOne appends one audit record to chain through the store.
func appendOne(tb testing.TB, s regcase.Store, chain string) *regcase.AuditRecord {
	tb.Helper()
	r := &regcase.AuditRecord{Chain: chain, Time: time.Now(), ActorID: "u1", ActorRole: regcase.RoleSupervisor,
		Action: "case.created", EntityType: "case", EntityID: chain, Data: json.RawMessage(`{"b":1,"a":"x"}`)}
	if err := s.InTx(context.Background(), func(tx regcase.Tx) error { return tx.AppendAudit(context.Background(), r) }); err != nil {
		tb.Fatalf("AppendAudit: %v", err)
	}
	return r
}

func sqlState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

func TestAuditProtection(t *testing.T) {
	ctx := context.Background()
	db := newMigratedDB(t)
	appendOne(t, db.App, "case:1")
	appendOne(t, db.App, "case:1")

	changes := map[string]string{
		"Update":   `UPDATE audit_records SET action = 'forged'`,
		"Delete":   `DELETE FROM audit_records`,
		"Truncate": `TRUNCATE audit_records`,
	}
	for _, table := range []string{"audit_checkpoints", "audit_checkpoint_heads"} {
		changes["Update_"+table] = `UPDATE ` + table + ` SET hash = NULL`
		changes["Delete_"+table] = `DELETE FROM ` + table
	}
	for name, q := range changes {
		t.Run("App"+name+"IsDenied", func(t *testing.T) {
			_, err := db.App.Pool().Exec(ctx, q)
			if got, want := sqlState(err), "42501"; got != want {
				t.Fatalf("app role: %s: error %v (SQLSTATE %q), want permission denied (%s)", q, err, got, want)
			}
			if !strings.Contains(err.Error(), "permission denied") {
				t.Errorf("app role: %s: error %v, want a privilege error, not the trigger", q, err)
			}
		})
		t.Run("Owner"+name+"IsBlockedByTrigger", func(t *testing.T) {
			_, err := db.Owner.Pool().Exec(ctx, q)
			if err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Fatalf("owner: %s: error %v, want the append-only trigger", q, err)
			}
		})
	}
	t.Run("AppCanAppendAndRead", func(t *testing.T) {
		recs, err := db.App.ListAudit(ctx, regcase.AuditFilter{Chain: "case:1"})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 2 || recs[0].Action != "case.created" {
			t.Fatalf("ListAudit = %d records, want the 2 unchanged ones", len(recs))
		}
	})
	t.Run("SuperuserBypassWorks", func(t *testing.T) {
		if _, err := db.Bypass.Exec(ctx, `UPDATE audit_records SET action = 'forged' WHERE seq = 2`); err != nil {
			t.Fatalf("bypass update: %v", err)
		}
		recs, err := db.App.ListAudit(ctx, regcase.AuditFilter{Chain: "case:1"})
		if err != nil {
			t.Fatal(err)
		}
		if got := recs[1].Action; got != "forged" {
			t.Errorf("action = %q after the bypass update, want forged", got)
		}
		if recs[1].ComputeHash() == nil || string(recs[1].ComputeHash()) == string(recs[1].Hash) {
			t.Error("the forged record still matches its hash")
		}
	})
}

func TestAppPrivileges(t *testing.T) {
	ctx := context.Background()
	db := newMigratedDB(t)
	for _, q := range []string{
		`CREATE TABLE evil (x int)`,
		`DROP TABLE reports`,
		`ALTER TABLE audit_records DISABLE TRIGGER audit_records_append_only`,
		`TRUNCATE reports`,
		`DELETE FROM schema_migrations`,
	} {
		if _, err := db.App.Pool().Exec(ctx, q); err == nil {
			t.Errorf("app role may run %q", q)
		}
	}
}
