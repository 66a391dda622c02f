package postgres

import (
	"context"
	"testing"

	"github.com/regcase/regcase/internal/storetest"
)

// TestStore runs the engine-independent store suite. Each subtest gets a
// fresh database, migrated as the owner role; the store under test connects
// as the application role (a member of regcase_app), so the suite also
// proves the grants are enough. Harness.Exec runs as the superuser with
// session_replication_role = replica, which skips the append-only triggers
// (and foreign keys) — the only way past them short of dropping them.
func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Harness {
		db := newMigratedDB(t)
		return storetest.Harness{
			Store: db.App,
			Exec: func(ctx context.Context, sql string) error {
				_, err := db.Bypass.Exec(ctx, sql)
				return err
			},
		}
	})
}
