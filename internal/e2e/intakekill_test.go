package e2e

import (
	"database/sql"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestEmbeddedKillMidIntake: `regcase all` on SQLite is killed with
// SIGKILL while 16 clients submit reports as fast as they can (the writer
// commits them in groups). Every report the clients saw a 201 for must be
// in the database afterwards, with its audit record and its outbox event.
func TestEmbeddedKillMidIntake(t *testing.T) {
	needBinary(t)
	t.Parallel()
	s := newSQLiteStack(t, map[string]string{"REGCASE_INTAKE_RATE": "1000000", "REGCASE_INTAKE_BURST": "1000000"})
	all := s.start("all", "all", nil)

	var (
		mu     sync.Mutex
		acked  []string
		next   atomic.Int64
		failed atomic.Int64
		stop   atomic.Bool
		wg     sync.WaitGroup
	)
	for range 16 {
		wg.Go(func() {
			for !stop.Load() {
				id, status, err := s.submit(all.URL, int(next.Add(1)))
				if err != nil || status != http.StatusCreated {
					failed.Add(1)
					if !all.Running() {
						return
					}
					continue
				}
				mu.Lock()
				acked = append(acked, id)
				mu.Unlock()
			}
		})
	}
	waitFor(t, 60*time.Second, "300 acknowledged reports", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 300
	})
	all.Kill()
	stop.Store(true)
	wg.Wait()
	t.Logf("killed regcase all (SIGKILL) after %d acknowledged reports (%d requests without a 201, most after the kill)", len(acked), failed.Load())

	db, err := sql.Open("sqlite", filepath.Join(s.dir, "regcase.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	missing := 0
	for _, id := range acked {
		var reports, records, events int
		err := db.QueryRow(`SELECT
			(SELECT count(*) FROM reports WHERE id = ?),
			(SELECT count(*) FROM audit_records WHERE chain = ?),
			(SELECT count(*) FROM outbox WHERE subject = ?)`, id, "report:"+id, "reports/"+id).Scan(&reports, &records, &events)
		if err != nil {
			t.Fatalf("read the database after the kill: %v", err)
		}
		if reports != 1 || records < 1 || events < 1 {
			missing++
			if missing <= 5 {
				t.Errorf("report %s (201 seen): %d report rows, %d audit records, %d outbox events; want 1, ≥1, ≥1", id, reports, records, events)
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged reports are incomplete after kill -9", missing, len(acked))
	}
}
