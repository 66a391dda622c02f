package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/regcase/regcase/internal/redistest"
)

// TestRedisLostEvents: Redis loses stream entries the relay had already
// marked published (a crash between its last fsync and our mark, a
// failover, a flush). Simulated exactly: with the workers down, events are
// marked published two minutes ago without ever reaching Redis. A worker
// that starts finds them missing from the stream and never handled, puts
// them back on the outbox, and every one is delivered.
func TestRedisLostEvents(t *testing.T) {
	needBinary(t)
	t.Parallel()
	rd := redistest.Start(t)
	s := newPGStack(t, sharedPG(t), map[string]string{"REDIS_URL": rd.URL()})
	rcv := newReceiver(t, "lost")
	api := s.start("api", "api", nil)
	s.subscribe(api, rcv, ReportReceived)

	const n = 50
	s.intake(api.URL, n, 4)
	tag, err := s.owner.Exec(context.Background(),
		`UPDATE outbox SET published_at = now() - interval '2 minutes' WHERE published_at IS NULL AND type = $1`, ReportReceived)
	if err != nil {
		t.Fatal(err)
	}
	if tag.RowsAffected() != n {
		t.Fatalf("marked %d events as published, want %d", tag.RowsAffected(), n)
	}
	start := time.Now()
	w := s.start("worker", "worker", nil)
	rcv.WaitAcked(n, 60*time.Second)
	t.Logf("%d lost events found and delivered %.1fs after the worker started (republished metric %.0f)",
		n, time.Since(start).Seconds(), w.Metric("regcase_relay_republished_events_total"))
	if got := w.Metric("regcase_relay_republished_events_total"); got < n {
		t.Errorf("regcase_relay_republished_events_total = %v, want >= %d", got, n)
	}
	if c := rcv.Counts(); c.Unique != n {
		t.Errorf("receiver saw %d unique events, want %d", c.Unique, n)
	}
}
