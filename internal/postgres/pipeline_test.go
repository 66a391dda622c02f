package postgres

import (
	"context"
	"strings"
	"testing"
)

// TestPipelinePrivileges checks that migration 0002 grants the application
// role no more than the pipeline needs: the attempt history is append-only
// and subscriptions, deliveries and dead letters are never deleted.
func TestPipelinePrivileges(t *testing.T) {
	ctx := context.Background()
	db := newMigratedDB(t)
	for _, q := range []string{
		`UPDATE webhook_attempts SET error = 'forged'`,
		`DELETE FROM webhook_attempts`,
		`DELETE FROM webhooks`,
		`DELETE FROM webhook_deliveries`,
		`DELETE FROM dead_events`,
		`UPDATE processed_events SET processed_at = now()`,
		`TRUNCATE processed_events`,
		`TRUNCATE leases`,
	} {
		_, err := db.App.Pool().Exec(ctx, q)
		if got := sqlState(err); got != "42501" || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("app role: %s: error %v (SQLSTATE %q), want permission denied", q, err, got)
		}
	}
	for _, q := range []string{
		`SELECT count(*) FROM webhook_attempts`,
		`DELETE FROM processed_events`,
		`DELETE FROM leases`,
		`DELETE FROM outbox`,
	} {
		if _, err := db.App.Pool().Exec(ctx, q); err != nil {
			t.Errorf("app role may not run %s: %v", q, err)
		}
	}
}
