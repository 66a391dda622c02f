package sqlite

import (
	"context"
	"fmt"
)

// ExecAsOwner runs one SQL statement with the append-only triggers of the
// audit tables lifted: in one write transaction it drops the triggers on
// audit_records, audit_checkpoints, audit_checkpoint_heads and the Merkle
// log's audit_leaves, audit_tree_hashes, audit_tree_checkpoints, runs stmt,
// and recreates the triggers from their stored definitions before it
// commits, so no other writer ever sees the tables unguarded.
//
// It models what whoever holds the database file can always do, and exists
// for tamper tests (storetest.Harness.Exec) and forensic tooling; the
// application never calls it.
func (db *DB) ExecAsOwner(ctx context.Context, stmt string) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return translate(err, "exec as owner", "database")
	}
	defer func() { _ = tx.Rollback() }()

	rows, err := tx.QueryContext(ctx, `
		SELECT name, sql FROM sqlite_master
		WHERE type = 'trigger'
		  AND (tbl_name IN ('audit_records', 'audit_checkpoints', 'audit_checkpoint_heads')
		       OR tbl_name IN ('audit_leaves', 'audit_tree_hashes', 'audit_tree_checkpoints'))
		ORDER BY name`)
	if err != nil {
		return translate(err, "exec as owner", "database")
	}
	type trigger struct{ name, sql string }
	triggers, err := collect(rows, func(s scanner) (trigger, error) {
		var t trigger
		return t, s.Scan(&t.name, &t.sql)
	})
	if err != nil {
		return translate(err, "exec as owner", "database")
	}

	for _, t := range triggers {
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`DROP TRIGGER "%s"`, t.name)); err != nil {
			return translate(err, "exec as owner", "database")
		}
	}
	if _, err := tx.ExecContext(ctx, stmt); err != nil {
		return translate(err, "exec as owner", "database")
	}
	for _, t := range triggers {
		if _, err := tx.ExecContext(ctx, t.sql); err != nil {
			return translate(err, "exec as owner", "database")
		}
	}
	return translate(tx.Commit(), "exec as owner", "database")
}
