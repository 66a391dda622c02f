package postgres

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/regcase/regcase/internal/storetest"
)

// TestStore runs the engine-independent store suite. Each subtest gets a
// fresh database, migrated as the owner role; the store under test connects
// as the worker role (a member of regcase_worker, itself a member of
// regcase_app), so the suite also proves the grants are enough; what the
// api's role alone may do is TestRoleSplit's. Harness.Exec runs as the superuser with
// session_replication_role = replica, which skips the append-only triggers
// (and foreign keys) — the only way past them short of dropping them.
func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Harness {
		db := newMigratedDB(t)
		return storetest.Harness{
			Store:  db.Worker,
			Worker: db.Worker,
			Exec: func(ctx context.Context, sql string) error {
				_, err := db.Bypass.Exec(ctx, sql)
				return err
			},
			Dump: func(ctx context.Context) ([]byte, error) { return dumpTables(ctx, db.Bypass) },
		}
	})
}

// dumpTables is a logical dump of every table of the current schema: each
// row as PostgreSQL's text form of the record (bytea as \\x… hex), one per
// line, as pg_dump would print the data.
func dumpTables(ctx context.Context, pool *pgxpool.Pool) ([]byte, error) {
	rows, err := pool.Query(ctx, `SELECT quote_ident(table_name) FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1`)
	if err != nil {
		return nil, err
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	if len(tables) < 5 {
		return nil, fmt.Errorf("dump: only %d tables in the schema", len(tables))
	}
	var out bytes.Buffer
	for _, tbl := range tables {
		rows, err := pool.Query(ctx, `SELECT t::text FROM `+tbl+` t`)
		if err != nil {
			return nil, fmt.Errorf("dump %s: %w", tbl, err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, fmt.Errorf("dump %s: %w", tbl, err)
		}
		for _, l := range lines {
			out.WriteString(tbl + " " + l + "\n")
		}
	}
	return out.Bytes(), nil
}
