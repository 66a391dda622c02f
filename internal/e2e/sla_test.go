package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regcase/regcase/internal/redistest"
)

// SLABreached is the event type of an SLA breach.
const SLABreached = "gov.regcase.case.sla_breached"

// TestSLABreachExactlyOnce: three workers scan for SLA breaches every
// second; one thousand cases become overdue at once (an owner-role UPDATE
// of due_at). Each case must get exactly one breach: one audit record
// case.sla_breached, one outbox event, one priority step up, and the
// webhook receiver subscribed to the breach events gets 1000 distinct
// events.
func TestSLABreachExactlyOnce(t *testing.T) {
	needBinary(t)
	t.Parallel()
	began := time.Now()
	rd := redistest.Start(t)
	s := newPGStack(t, sharedPG(t), map[string]string{
		"REDIS_URL":                 rd.URL(),
		"REGCASE_SLA_SCAN_INTERVAL": "1s",
		"REGCASE_SLA_BREACH_POLICY": "escalate",
	})
	rcv := newReceiver(t, "breaches")
	api := s.start("api", "api", nil)
	s.subscribe(api, rcv, SLABreached)
	workers := []*proc{s.start("worker-1", "worker", nil), s.start("worker-2", "worker", nil), s.start("worker-3", "worker", nil)}

	const n = 1000
	ids := s.createCases(api, n, 8)
	opened := time.Since(began)
	tag, err := s.owner.Exec(context.Background(), `UPDATE cases SET due_at = now() - interval '1 hour' WHERE id = ANY($1)`, ids)
	if err != nil || tag.RowsAffected() != n {
		t.Fatalf("make the cases overdue: %v (%d rows)", err, tag.RowsAffected())
	}
	overdueAt := time.Now()

	breachedIn := waitFor(t, 120*time.Second, "1000 breach audit records", func() bool {
		return s.count(`SELECT count(*) FROM audit_records WHERE action = 'case.sla_breached'`) >= n
	})
	rcv.WaitAcked(n, 120*time.Second)
	deliveredIn := time.Since(overdueAt)
	time.Sleep(3 * time.Second) // three more scans by each worker: nothing more may happen

	audits := s.count(`SELECT count(*) FROM audit_records WHERE action = 'case.sla_breached'`)
	auditCases := s.count(`SELECT count(DISTINCT entity_id) FROM audit_records WHERE action = 'case.sla_breached' AND entity_type = 'case' AND entity_id = ANY($1)`, ids)
	multi := s.count(`SELECT count(*) FROM (SELECT entity_id FROM audit_records WHERE action = 'case.sla_breached' GROUP BY entity_id HAVING count(*) > 1) m`)
	events := s.count(`SELECT count(*) FROM outbox WHERE type = $1`, SLABreached)
	eventCases := s.count(`SELECT count(DISTINCT subject) FROM outbox WHERE type = $1`, SLABreached)
	marked := s.count(`SELECT count(*) FROM cases WHERE id = ANY($1) AND breached_at IS NOT NULL AND priority = 'high'`, ids)
	if audits != n || auditCases != n || multi != 0 {
		t.Errorf("audit: %d case.sla_breached records for %d distinct cases (%d cases with more than one), want %d for %d and 0", audits, auditCases, multi, n, n)
	}
	if events != n || eventCases != n {
		t.Errorf("outbox: %d %s events for %d distinct subjects, want %d and %d", events, SLABreached, eventCases, n, n)
	}
	if marked != n {
		t.Errorf("%d cases are marked breached and escalated normal → high, want %d", marked, n)
	}
	c := rcv.Counts()
	subjects := rcv.Subjects()
	for _, id := range ids {
		if subjects["cases/"+id] != 1 {
			t.Errorf("case %s: %d distinct breach events received, want 1", id, subjects["cases/"+id])
			break
		}
	}
	if c.Unique != n {
		t.Errorf("receiver: %d distinct breach events, want %d", c.Unique, n)
	}
	var split []string
	total := 0.0
	for _, w := range workers {
		v := w.Metric("regcase_sla_breaches_total")
		total += v
		split = append(split, fmt.Sprintf("%s %.0f", w.Name, v))
	}
	if total != n {
		t.Errorf("regcase_sla_breaches_total summed over the workers = %.0f, want %d", total, n)
	}
	t.Logf("FIGURES sla: cases %d (opened in %s), breach audit records %d (distinct cases %d, cases with >1: %d), breach events %d, "+
		"escalated %d, received %d distinct (requests %d, duplicates %d); breaches per worker: %s; all marked %s and delivered %s after the UPDATE; test %s",
		n, opened.Round(time.Millisecond), audits, auditCases, multi, events, marked, c.Unique, c.Requests, c.Duplicates,
		strings.Join(split, ", "), breachedIn.Round(time.Millisecond), deliveredIn.Round(time.Millisecond), time.Since(began).Round(time.Second))
}

// createCases opens n cases as a supervisor through the API.
func (s *stack) createCases(api *proc, n, conc int) []string {
	s.t.Helper()
	var mu sync.Mutex
	var ids, errs []string
	var next atomic.Int64
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				r, err := s.call(api.URL, http.MethodPost, "/v1/cases", "supervisor", map[string]any{
					"title": fmt.Sprintf("e2e SLA case %d", i), "subject": map[string]any{"name": "Acme Foods Ltd"},
					"category": "food_safety", "priority": "normal",
				})
				mu.Lock()
				switch {
				case err != nil:
					errs = append(errs, err.Error())
				case r.Status != http.StatusCreated:
					errs = append(errs, r.String())
				default:
					var c struct {
						ID string `json:"id"`
					}
					if jerr := json.Unmarshal(r.Body, &c); jerr != nil || c.ID == "" {
						errs = append(errs, "no id: "+r.String())
					} else {
						ids = append(ids, c.ID)
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		s.t.Fatalf("%d of %d cases could not be opened: %s", len(errs), n, joinFirst(errs, 5))
	}
	return ids
}
