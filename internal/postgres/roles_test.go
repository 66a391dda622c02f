package postgres

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
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

// TestRoleSplit: only the worker's role may sign checkpoints; the api's
// role may still read them (GET /v1/audit/checkpoints, audit verify).
func TestRoleSplit(t *testing.T) {
	ctx := context.Background()
	db := newMigratedDB(t)
	appendOne(t, db.App, "case:1")
	insert := map[string]string{
		"audit_checkpoints": `INSERT INTO audit_checkpoints (id, at, prev_hash, hash, key_id, signature)
			VALUES (99, now(), '\x00', '\x00', 'k', '\x00')`,
		"audit_checkpoint_heads": `INSERT INTO audit_checkpoint_heads (checkpoint_id, chain, seq, hash)
			VALUES (99, 'case:1', 1, '\x00')`,
	}
	for table, q := range insert {
		t.Run("AppInsert_"+table+"IsDenied", func(t *testing.T) {
			_, err := db.App.Pool().Exec(ctx, q)
			if got, want := sqlState(err), "42501"; got != want || !strings.Contains(err.Error(), "permission denied") {
				t.Fatalf("app role: INSERT INTO %s: error %v (SQLSTATE %q), want permission denied (%s)", table, err, got, want)
			}
		})
	}
	key := newSigningKey(t)
	t.Run("AppCheckpointFails", func(t *testing.T) {
		svc := regcase.NewService(regcase.Deps{Store: db.App})
		_, err := svc.Checkpoint(ctx, key)
		if regcase.ErrorCodeOf(err) != regcase.EForbidden || !strings.Contains(err.Error(), "regcase_worker") {
			t.Fatalf("api role: Checkpoint error = %v; want forbidden, naming the worker's role", err)
		}
	})
	t.Run("WorkerCheckpointsAndAppReads", func(t *testing.T) {
		svc := regcase.NewService(regcase.Deps{Store: db.Worker})
		cp, err := svc.Checkpoint(ctx, key)
		if err != nil || cp == nil {
			t.Fatalf("worker role: Checkpoint = %v, %v; want a checkpoint", cp, err)
		}
		cps, err := db.App.ListCheckpoints(ctx)
		if err != nil || len(cps) != 1 || len(cps[0].Heads) != 1 {
			t.Fatalf("app role: ListCheckpoints = %d, %v; want the worker's one", len(cps), err)
		}
		res, err := regcase.NewService(regcase.Deps{Store: db.App}).VerifyAudit(ctx, regcase.SystemActor("test"), key.Public().(ed25519.PublicKey))
		if err != nil || !res.OK || res.Checkpoints != 1 {
			t.Fatalf("app role: VerifyAudit = %+v, %v; want ok over 1 checkpoint", res, err)
		}
	})
	t.Run("WorkerIsNoOwner", func(t *testing.T) {
		for _, q := range []string{`UPDATE audit_checkpoints SET key_id = 'x'`, `DELETE FROM audit_records`, `DROP TABLE reports`} {
			if _, err := db.Worker.Pool().Exec(ctx, q); err == nil {
				t.Errorf("worker role may run %q", q)
			}
		}
	})
}

func newSigningKey(tb testing.TB) ed25519.PrivateKey {
	tb.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}
