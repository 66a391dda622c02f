package e2e

import (
	"testing"
	"time"

	"github.com/regcase/regcase/internal/redistest"
)

// TestKillWorkerMidDelivery: PostgreSQL + Redis, one API and two workers,
// a slow receiver; worker-1 is killed with SIGKILL in the middle of the
// deliveries. Every event must reach the receiver, which, deduping by
// webhook-id, sees each exactly once (redeliveries are allowed and
// counted: delivery is at least once).
func TestKillWorkerMidDelivery(t *testing.T) {
	needBinary(t)
	t.Parallel()
	began := time.Now()
	rd := redistest.Start(t)
	s := newPGStack(t, sharedPG(t), map[string]string{
		"REDIS_URL":                   rd.URL(),
		"REGCASE_WEBHOOK_CONCURRENCY": "4",
		"REGCASE_WORKER_CONCURRENCY":  "4",
	})
	rcv := newReceiver(t, "slow")
	rcv.SetDelay(150 * time.Millisecond)
	api := s.start("api", "api", nil)
	hook := s.subscribe(api, rcv, ReportReceived)
	w1 := s.start("worker-1", "worker", nil)
	w2 := s.start("worker-2", "worker", nil)

	const n = 400
	type result struct{ ids, errs []string }
	intakeDone := make(chan result, 1)
	go func() {
		ids, errs := s.tryIntake(api.URL, n, 4)
		intakeDone <- result{ids, errs}
	}()

	// Kill worker-1 once a quarter of the events went out.
	rcv.WaitSeen(n/4, 90*time.Second)
	w1Handled := w1.Metric("regcase_worker_events_total", "group=webhook_delivery", "result=handled")
	w2Handled := w2.Metric("regcase_worker_events_total", "group=webhook_delivery", "result=handled")
	atKill := rcv.Counts()
	w1.Kill()
	killedAt := time.Now()
	if atKill.Acked >= n {
		t.Fatalf("every event was delivered before the kill (%d): slow the receiver down", atKill.Acked)
	}
	t.Logf("killed worker-1 (SIGKILL) after %d distinct deliveries; worker-1 had recorded %.0f, worker-2 %.0f", atKill.Unique, w1Handled, w2Handled)
	if w1Handled <= 0 {
		t.Errorf("worker-1 had delivered nothing before it was killed (metric %v): the kill did not hit a worker at work", w1Handled)
	}

	res := <-intakeDone
	if len(res.errs) > 0 {
		t.Fatalf("%d of %d submissions failed: %s", len(res.errs), n, joinFirst(res.errs, 5))
	}
	rcv.WaitAcked(n, 120*time.Second)
	recovered := time.Since(killedAt)

	created := s.outboxEvents(ReportReceived)
	if len(created) != n {
		t.Errorf("outbox holds %d %s events, want %d (one per submission)", len(created), ReportReceived, n)
	}
	compare(t, "after kill -9 of a worker", created, rcv.IDs())
	subjects := rcv.Subjects()
	for _, id := range res.ids {
		if subjects["reports/"+id] != 1 {
			t.Errorf("report %s: %d distinct events received, want 1", id, subjects["reports/"+id])
		}
	}
	if !w2.Running() {
		t.Errorf("worker-2 is not running")
	}
	// Nothing more may arrive once everything was delivered.
	time.Sleep(2 * time.Second)
	s.checkAllDelivered(api, hook, created)
	c := rcv.Counts()
	if c.Unique != n {
		t.Errorf("receiver saw %d distinct webhook-ids, want %d", c.Unique, n)
	}
	t.Logf("FIGURES kill-9: events created %d, distinct received %d, requests %d, duplicates seen %d (at-least-once), "+
		"all delivered %s after the kill, test %s",
		len(created), c.Unique, c.Requests, c.Duplicates, recovered.Round(time.Millisecond), time.Since(began).Round(time.Second))
}
