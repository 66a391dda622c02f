package e2e

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/regcase/regcase/internal/pgtest"
	"github.com/regcase/regcase/internal/redistest"
)

// TestRedisOutage: Redis is stopped for 30 s while public intake runs at
// 10 requests/s. Every intake request must succeed (the outbox holds the
// events); once Redis is back the backlog drains and every event is
// delivered. The figure is the drain time: from Redis's return to the
// delivery of the last event created before it.
func TestRedisOutage(t *testing.T) {
	needBinary(t)
	t.Parallel()
	began := time.Now()
	rd := redistest.Start(t)
	s := newPGStack(t, sharedPG(t), map[string]string{"REDIS_URL": rd.URL()})
	rcv := newReceiver(t, "outage")
	api := s.start("api", "api", nil)
	hook := s.subscribe(api, rcv, ReportReceived)
	w1 := s.start("worker-1", "worker", nil)
	w2 := s.start("worker-2", "worker", nil)
	mon := monitorReady(t, 200*time.Millisecond, api, w1, w2)

	load := s.startLoad(api.URL, 10)
	time.Sleep(5 * time.Second)
	load.Phase("redis down")
	downAt := time.Now()
	rd.Stop()
	time.Sleep(30 * time.Second)
	backlog := s.count(`SELECT count(*) FROM outbox WHERE published_at IS NULL`)
	rd.Start()
	upAt := time.Now()
	load.Phase("redis back")
	time.Sleep(5 * time.Second)
	load.Stop()
	mon.Stop()

	load.mu.Lock()
	statuses, ids, maxLat, errs := load.statuses, load.ids, load.maxLat, load.errs
	downStatuses := load.byPhase["redis down"]
	load.mu.Unlock()
	total := 0
	for _, n := range statuses {
		total += n
	}
	if statuses[http.StatusCreated] != total {
		t.Errorf("intake: %v of %d requests (status → count), want every one 201; first failures: %s", statuses, total, joinFirst(errs, 5))
	}
	if len(downStatuses) < 250 {
		t.Errorf("only %d intake requests were sent while Redis was down, want about 300", len(downStatuses))
	}

	created := s.outboxEvents(ReportReceived)
	if len(created) != len(ids) {
		t.Errorf("outbox holds %d %s events, %d submissions succeeded", len(created), ReportReceived, len(ids))
	}
	rcv.WaitAcked(len(created), 120*time.Second)
	compare(t, "after a Redis outage", created, rcv.IDs())
	subjects := rcv.Subjects()
	for _, id := range ids {
		if subjects["reports/"+id] != 1 {
			t.Errorf("report %s: %d distinct events received, want 1", id, subjects["reports/"+id])
		}
	}

	// Drain: the last first-arrival of an event created before Redis came
	// back.
	var drain time.Duration
	before := 0
	for id, at := range s.outboxCreated(ReportReceived) {
		if at.After(upAt) {
			continue
		}
		before++
		if arr := rcv.Arrivals(id); len(arr) > 0 && arr[0].Sub(upAt) > drain {
			drain = arr[0].Sub(upAt)
		}
	}
	s.checkAllDelivered(api, hook, created)

	// Readiness: the workers depend on Redis (503 while it is down, 200
	// after); the API's intake does not.
	for _, p := range []*proc{w1, w2} {
		ch := mon.Changes(p.Name)
		if !wentDownAndBack(ch, downAt, upAt) {
			t.Errorf("%s readiness during the Redis outage: %s; want 503 within the outage and 200 after", p.Name, describe(ch, began))
		}
	}
	c := rcv.Counts()
	t.Logf("FIGURES redis-outage: intake requests %d (during outage %d, all 201: %v, slowest %s), events %d, "+
		"outbox backlog when Redis returned %d, events created before the return %d, drain after return %s, "+
		"distinct received %d, duplicates seen %d; readiness api: %s; worker-1: %s; worker-2: %s; test %s",
		total, len(downStatuses), statuses[http.StatusCreated] == total, maxLat.Round(time.Millisecond), len(created),
		backlog, before, drain.Round(time.Millisecond), c.Unique, c.Duplicates,
		describe(mon.Changes(api.Name), began), describe(mon.Changes(w1.Name), began), describe(mon.Changes(w2.Name), began),
		time.Since(began).Round(time.Second))
}

// TestPostgresRestart: PostgreSQL (a cluster of the test's own) is stopped
// for 6 s and started again while intake runs. The API and both workers
// must recover without being restarted: readiness goes 503 then back to
// 200, intake succeeds again, and every event committed is delivered.
func TestPostgresRestart(t *testing.T) {
	needBinary(t)
	t.Parallel()
	began := time.Now()
	pg := pgtest.StartDedicated(t)
	rd := redistest.Start(t)
	s := newPGStack(t, pg, map[string]string{"REDIS_URL": rd.URL()})
	rcv := newReceiver(t, "pgrestart")
	api := s.start("api", "api", nil)
	hook := s.subscribe(api, rcv, ReportReceived)
	w1 := s.start("worker-1", "worker", nil)
	w2 := s.start("worker-2", "worker", nil)
	procs := []*proc{api, w1, w2}
	mon := monitorReady(t, 100*time.Millisecond, procs...)

	load := s.startLoad(api.URL, 10)
	time.Sleep(4 * time.Second)
	load.Phase("pg down")
	downAt := time.Now()
	pg.Stop(t)
	time.Sleep(6 * time.Second)
	pg.Start(t)
	upAt := time.Now()
	load.Phase("pg back")
	readyIn := waitFor(t, 60*time.Second, "API and workers ready again after PostgreSQL restarted", func() bool {
		for _, p := range procs {
			if p.status("/health/ready") != http.StatusOK {
				return false
			}
		}
		return true
	})
	load.Phase("recovered")
	time.Sleep(4 * time.Second)
	load.Stop()
	for _, p := range procs {
		if !p.Running() {
			t.Errorf("%s exited during the PostgreSQL restart", p.Name)
		}
	}

	load.mu.Lock()
	statuses, ids := load.statuses, load.ids
	down, back, recovered := load.byPhase["pg down"], load.byPhase["pg back"], load.byPhase["recovered"]
	load.mu.Unlock()
	for _, st := range recovered {
		if st != http.StatusCreated {
			t.Errorf("intake after recovery: status %d, want 201 (statuses after recovery: %v)", st, tally(recovered))
			break
		}
	}
	if len(recovered) < 20 {
		t.Errorf("only %d intake requests after recovery", len(recovered))
	}

	created := s.outboxEvents(ReportReceived)
	subjects := map[string]bool{}
	for _, subj := range created {
		subjects[subj] = true
	}
	for _, id := range ids {
		if !subjects["reports/"+id] {
			t.Errorf("report %s was answered 201 but has no %s event in the outbox", id, ReportReceived)
		}
	}
	deliveredIn := waitFor(t, 120*time.Second, "every event delivered after the PostgreSQL restart", func() bool {
		return rcv.Counts().Acked >= len(created)
	})
	deliveredAfterUp := time.Since(upAt)
	_ = deliveredIn
	compare(t, "after a PostgreSQL restart", created, rcv.IDs())
	s.checkAllDelivered(api, hook, created)

	for _, p := range procs {
		ch := mon.Changes(p.Name)
		if !wentDownAndBack(ch, downAt, upAt) {
			t.Errorf("%s readiness around the PostgreSQL restart: %s; want 503 while it is down and 200 after", p.Name, describe(ch, began))
		}
	}
	var firstDown []string
	for _, p := range procs {
		for _, c := range mon.Changes(p.Name) {
			if c.At.After(downAt) && c.Status != http.StatusOK {
				firstDown = append(firstDown, fmt.Sprintf("%s %s", p.Name, c.At.Sub(downAt).Round(time.Millisecond)))
				break
			}
		}
	}
	c := rcv.Counts()
	t.Logf("FIGURES pg-restart: intake %v (while down %v, just after start %v, after recovery %v); events %d, distinct received %d, duplicates seen %d; "+
		"not ready after the stop: %s; all ready %s after PostgreSQL started; all delivered %s after it started; test %s",
		tally(flatten(statuses)), tally(down), tally(back), tally(recovered), len(created), c.Unique, c.Duplicates,
		strings.Join(firstDown, ", "), readyIn.Round(time.Millisecond), deliveredAfterUp.Round(time.Millisecond),
		time.Since(began).Round(time.Second))
}

// wentDownAndBack reports whether readiness was not 200 at some point
// between down and up+15s, and is 200 at the end.
func wentDownAndBack(ch []readyChange, down, up time.Time) bool {
	if len(ch) == 0 || ch[len(ch)-1].Status != http.StatusOK {
		return false
	}
	for _, c := range ch {
		if c.Status != http.StatusOK && c.At.After(down) && c.At.Before(up.Add(15*time.Second)) {
			return true
		}
	}
	return false
}

func describe(ch []readyChange, since time.Time) string {
	var parts []string
	for _, c := range ch {
		parts = append(parts, fmt.Sprintf("%d@%.1fs", c.Status, c.At.Sub(since).Seconds()))
	}
	return strings.Join(parts, " → ")
}

func tally(statuses []int) string {
	m := map[int]int{}
	for _, s := range statuses {
		m[s]++
	}
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d×%d", m[k], k))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func flatten(m map[int]int) []int {
	var out []int
	for k, n := range m {
		for range n {
			out = append(out, k)
		}
	}
	return out
}

// outboxCreated returns the creation time of the outbox events of type typ.
func (s *stack) outboxCreated(typ string) map[string]time.Time {
	s.t.Helper()
	rows, err := s.owner.Query(context.Background(), `SELECT event_id, created_at FROM outbox WHERE type = $1`, typ)
	if err != nil {
		s.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var id string
		var at time.Time
		if err := rows.Scan(&id, &at); err != nil {
			s.t.Fatal(err)
		}
		out[id] = at
	}
	return out
}
