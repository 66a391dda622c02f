// Command sqliteloop is the embedded mode's hardware reference for
// BENCHMARKS.md: one writer looping the statements of one SQLite intake
// (internal/sqlite: Intake — report row, new audit chain, its head read,
// the first audit record, the head moved, the outbox event) straight into
// a migrated SQLite file, one BEGIN IMMEDIATE … COMMIT per intake, with
// prepared statements and the synchronous setting given. It prints the
// committed transactions per second.
//
//	go run ./scripts/bench/sqliteloop -db /tmp/x/loop.db -sync FULL -duration 10s
package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/regcase/regcase/internal/sqlite"
)

var stmts = []string{
	`INSERT INTO reports (id, tracking_code, status_secret_hash, channel, category,
		subject_name, subject_registry_id, description, location, occurred_at,
		received_at, updated_at, status, dismiss_reason, case_id,
		has_reporter, reporter_cipher, wrapped_key, erased_at, idempotency_key, request_hash)
	VALUES (?, ?, ?, 'api', 'food_safety', 'Harbour Fish Market', 'FBO-10442',
		'Fish displayed without ice at noon; strong smell near the counter.', '', NULL,
		?, ?, 'received', '', NULL, 0, NULL, NULL, NULL, NULL, ?)`,
	`INSERT INTO audit_chains (chain, seq, head_hash, checkpointed_seq) VALUES (?, 0, NULL, 0)
		ON CONFLICT (chain) DO NOTHING`,
	`SELECT seq, head_hash FROM audit_chains WHERE chain = ?`,
	`INSERT INTO audit_records (chain, seq, at, actor_id, actor_role, actor_addr, request_id,
		action, entity_type, entity_id, data, prev_hash, hash)
	VALUES (?, 1, ?, 'token:bench', 'intake', '127.0.0.1', 'c0ffee0123456789abcdef01', 'report.received', 'report', ?,
		'{"category":"food_safety","channel":"api","has_reporter":false,"subject":{"name":"Harbour Fish Market","registry_id":"FBO-10442"},"tracking_code":"ABCD-EFGH-JKMN"}',
		?, ?) RETURNING id`,
	`UPDATE audit_chains SET seq = 1, head_hash = ? WHERE chain = ?`,
	`INSERT INTO outbox (event_id, type, source, subject, time, data, request_id, partition_key, created_at)
	VALUES (?, 'gov.regcase.report.received', '/regcase', ?, ?,
		'{"category":"food_safety","channel":"api","has_reporter":false,"subject":{"name":"Harbour Fish Market","registry_id":"FBO-10442"},"tracking_code":"ABCD-EFGH-JKMN"}',
		'c0ffee0123456789abcdef01', ?, ?)`,
}

func main() {
	path := flag.String("db", "", "SQLite file to create (must not exist)")
	sync := flag.String("sync", "FULL", "synchronous setting: FULL or NORMAL")
	duration := flag.Duration("duration", 10*time.Second, "how long to loop")
	flag.Parse()
	if *path == "" {
		log.Fatal("-db is required")
	}
	if _, err := os.Stat(*path); err == nil {
		log.Fatalf("%s exists: give a new file", *path)
	}
	ctx := context.Background()
	store, err := sqlite.Open(ctx, *path) // creates the file with the project's schema
	if err != nil {
		log.Fatal(err)
	}
	if _, err := store.Migrate(ctx); err != nil {
		log.Fatal(err)
	}
	_ = store.Close()

	db, err := sql.Open("sqlite", *path+"?_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=synchronous("+*sync+")&_txlock=immediate")
	if err != nil {
		log.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	prepared := make([]*sql.Stmt, len(stmts))
	for i, q := range stmts {
		if prepared[i], err = db.Prepare(q); err != nil {
			log.Fatalf("prepare %d: %v", i, err)
		}
	}
	var n int
	start := time.Now()
	for time.Since(start) < *duration {
		if err := intake(ctx, db, prepared); err != nil {
			log.Fatal(err)
		}
		n++
	}
	el := time.Since(start)
	fmt.Printf("%.0f tx/s (%d intakes in %s, synchronous=%s)\n", float64(n)/el.Seconds(), n, el.Round(time.Millisecond), *sync)
}

func intake(ctx context.Context, db *sql.DB, s []*sql.Stmt) error {
	id, tracking, event := newID(), newID()[:14], newID()
	chain := "report:" + id
	now := time.Now().UTC().Format("2006-01-02T15:04:05.000000Z")
	hash := sha256.Sum256([]byte(id))
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	var seq int64
	var head []byte
	var recID int64
	steps := []func() error{
		func() error { _, err := tx.Stmt(s[0]).Exec(id, tracking, hash[:], now, now, hash[:]); return err },
		func() error { _, err := tx.Stmt(s[1]).Exec(chain); return err },
		func() error { return tx.Stmt(s[2]).QueryRow(chain).Scan(&seq, &head) },
		func() error {
			return tx.Stmt(s[3]).QueryRow(chain, now, id, make([]byte, 32), hash[:]).Scan(&recID)
		},
		func() error { _, err := tx.Stmt(s[4]).Exec(hash[:], chain); return err },
		func() error { _, err := tx.Stmt(s[5]).Exec(event, "reports/"+id, now, chain, now); return err },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			return fmt.Errorf("statement %d: %w", i, err)
		}
	}
	return tx.Commit()
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
