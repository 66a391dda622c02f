package postgres

import (
	"context"
	"strings"
	"testing"
)

// TestMerkleRoles: only the worker's role appends to the Merkle tree; the
// api role reads it; nobody but a superuser bypassing the triggers changes
// it.
func TestMerkleRoles(t *testing.T) {
	ctx := context.Background()
	db := newMigratedDB(t)
	worker := db.Worker // a login in regcase_worker, as an operator gives the worker
	inserts := []string{
		`INSERT INTO audit_leaves (idx, record_id, hash) VALUES (0, 1, '\x00')`,
		`INSERT INTO audit_tree_hashes (idx, hash) VALUES (0, '\x00')`,
		`INSERT INTO audit_tree_checkpoints (tree_size, root, note, at) VALUES (1, '\x00', 'x', now())`,
	}
	for _, q := range append(inserts, `UPDATE audit_sequencer SET floor = 99`) {
		if _, err := db.App.Pool().Exec(ctx, q); sqlState(err) != "42501" {
			t.Errorf("api role: %s: error %v, want permission denied", q, err)
		}
	}
	for _, table := range []string{"audit_leaves", "audit_tree_hashes", "audit_tree_checkpoints", "audit_sequencer"} {
		if _, err := db.App.Pool().Exec(ctx, `SELECT count(*) FROM `+table); err != nil {
			t.Errorf("api role cannot read %s: %v", table, err)
		}
	}
	for _, q := range inserts {
		if _, err := worker.Pool().Exec(ctx, q); err != nil {
			t.Errorf("worker role: %s: %v", q, err)
		}
	}
	for _, table := range []string{"audit_leaves", "audit_tree_hashes", "audit_tree_checkpoints"} {
		for _, q := range []string{`UPDATE ` + table + ` SET hash = NULL`, `DELETE FROM ` + table, `TRUNCATE ` + table} {
			q = strings.Replace(q, "audit_tree_checkpoints SET hash", "audit_tree_checkpoints SET root", 1)
			if _, err := worker.Pool().Exec(ctx, q); sqlState(err) != "42501" {
				t.Errorf("worker role: %s: error %v, want permission denied", q, err)
			}
			if _, err := db.Owner.Pool().Exec(ctx, q); err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("owner: %s: error %v, want the append-only trigger", q, err)
			}
		}
	}
}
