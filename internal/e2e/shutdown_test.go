package e2e

import (
	"syscall"
	"testing"
	"time"

	"github.com/regcase/regcase/internal/redistest"
)

// TestWorkerSIGTERMStopsTakingWork: a worker busy retrying deliveries to a
// failing receiver gets SIGTERM (REGCASE_SHUTDOWN_TIMEOUT 20s). It must stop
// starting attempts at once, finish what is in flight and exit promptly
// with status 0 — not go on claiming deliveries until a drain deadline.
func TestWorkerSIGTERMStopsTakingWork(t *testing.T) {
	needBinary(t)
	t.Parallel()
	rd := redistest.Start(t)
	s := newPGStack(t, sharedPG(t), map[string]string{
		"REDIS_URL":                    rd.URL(),
		"REGCASE_SHUTDOWN_TIMEOUT":     "20s",
		"REGCASE_WEBHOOK_BACKOFF_BASE": "100ms",
		"REGCASE_WEBHOOK_BACKOFF_MAX":  "200ms",
		"REGCASE_WEBHOOK_MAX_ATTEMPTS": "100",
	})
	rcv := newReceiver(t, "failing")
	rcv.SetFailAll(true)
	api := s.start("api", "api", nil)
	s.subscribe(api, rcv, ReportReceived)
	w := s.start("worker", "worker", nil)
	s.intake(api.URL, 20, 2)
	waitFor(t, 30*time.Second, "retries under way", func() bool { return rcv.Counts().Requests >= 60 })

	before := rcv.Counts().Requests
	termAt := time.Now()
	w.stopOnce.Do(func() {
		_ = w.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-w.done:
		case <-time.After(30 * time.Second):
			_ = w.cmd.Process.Kill()
			<-w.done
		}
	})
	exit := time.Since(termAt)
	late := 0
	for _, id := range rcv.IDs() {
		for _, at := range rcv.Arrivals(id) {
			if at.Sub(termAt) > 500*time.Millisecond {
				late++
			}
		}
	}
	if w.err != nil {
		t.Errorf("worker exited with %v after SIGTERM, want status 0", w.err)
	}
	if late > 0 {
		t.Errorf("%d webhook attempts started more than 500ms after SIGTERM: the worker kept taking work while draining", late)
	}
	if exit > 5*time.Second {
		t.Errorf("worker took %s to exit after SIGTERM with nothing long in flight, want under 5s", exit.Round(time.Millisecond))
	}
	t.Logf("FIGURES sigterm: %d attempts before SIGTERM, %d more than 500ms after it; exit %s after SIGTERM",
		before, late, exit.Round(time.Millisecond))
}
