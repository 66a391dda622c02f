package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/regcase/regcase/internal/redistest"
)

// deliveryPoll is how often a worker looks for due retries (the
// deliverer's PollEvery in internal/app/pipeline.go): a retry goes out up
// to this long after its backoff ended.
const deliveryPoll = 500 * time.Millisecond

// TestRetryBackoffAndDeadLetter: with REGCASE_WEBHOOK_BACKOFF_BASE=200ms
// and REGCASE_WEBHOOK_MAX_ATTEMPTS=6,
//   - a receiver that fails 5 times then succeeds gets each event on
//     attempt 6, the gaps between attempts being the "equal jitter"
//     backoff: after failure n, between 50% and 100% of 200ms·2^(n-1)
//     (plus at most one delivery poll); the API's history shows the 6
//     attempts;
//   - a receiver that always fails gets 6 attempts, then the delivery is
//     dead, listed with ?status=dead; once the receiver is fixed, POST
//     …/redeliver (202) delivers it.
func TestRetryBackoffAndDeadLetter(t *testing.T) {
	needBinary(t)
	t.Parallel()
	began := time.Now()
	const base, attempts = 200 * time.Millisecond, 6
	rd := redistest.Start(t)
	s := newPGStack(t, sharedPG(t), map[string]string{
		"REDIS_URL":                    rd.URL(),
		"REGCASE_WEBHOOK_BACKOFF_BASE": base.String(),
		"REGCASE_WEBHOOK_BACKOFF_MAX":  "1m",
		"REGCASE_WEBHOOK_MAX_ATTEMPTS": fmt.Sprint(attempts),
	})
	flaky := newReceiver(t, "flaky")
	flaky.SetFailFirst(5)
	broken := newReceiver(t, "broken")
	broken.SetFailAll(true)
	api := s.start("api", "api", nil)
	flakyHook := s.subscribe(api, flaky, ReportReceived)
	brokenHook := s.subscribe(api, broken, ReportReceived)
	s.start("worker", "worker", nil)

	const n = 3
	sampler := s.sampleBackoff(api, flakyHook)
	s.intake(api.URL, n, 1)

	// A receiver failing 5 times, then accepting.
	{
		flaky.WaitAcked(n, 60*time.Second)
		scheduled := sampler.Stop()
		// The scheduled backoffs, read from the API between an attempt
		// and the next (next_attempt_at - last_attempt_at): equal jitter
		// puts backoff n in [50%, 100%) of base·2^(n-1).
		var sched []string
		for failed := 1; failed < attempts; failed++ {
			nominal := base << (failed - 1)
			var got []string
			for _, byAttempt := range scheduled {
				b, ok := byAttempt[failed]
				if !ok {
					continue
				}
				if b < nominal/2-time.Millisecond || b >= nominal+time.Millisecond {
					t.Errorf("backoff after failure %d scheduled %s after the attempt, want in [%s, %s)", failed, b, nominal/2, nominal)
				}
				got = append(got, fmt.Sprintf("%s (%.0f%%)", b.Round(time.Millisecond), 100*float64(b)/float64(nominal)))
			}
			sched = append(sched, fmt.Sprintf("after failure %d (nominal %s): %s", failed, nominal, strings.Join(got, ", ")))
		}
		samples := 0
		for _, byAttempt := range scheduled {
			samples += len(byAttempt)
		}
		if samples < n*(attempts-1)/2 {
			t.Errorf("only %d of %d scheduled backoffs could be read from the API", samples, n*(attempts-1))
		}
		t.Logf("FIGURES scheduled backoff (next_attempt_at - last_attempt_at, %d samples): %s", samples, strings.Join(sched, "; "))
		var table []string
		for _, id := range flaky.IDs() {
			arr := flaky.Arrivals(id)
			if len(arr) != attempts {
				t.Errorf("event %s: %d attempts reached the receiver, want %d", id, len(arr), attempts)
				continue
			}
			var gaps []string
			for i := 1; i < len(arr); i++ {
				failed := i // attempts failed before this one
				nominal := base << (failed - 1)
				gap := arr[i].Sub(arr[i-1])
				lo, hi := nominal/2-20*time.Millisecond, nominal+deliveryPoll+500*time.Millisecond
				if gap < lo || gap > hi {
					t.Errorf("event %s: gap before attempt %d = %s, want between %s (50%% of %s) and %s (100%% + one poll + slack)",
						id, i+1, gap.Round(time.Millisecond), nominal/2, nominal, hi)
				}
				gaps = append(gaps, fmt.Sprintf("%d→%d %s (%.0f%% of %s)", i, i+1, gap.Round(time.Millisecond),
					100*float64(gap)/float64(nominal), nominal))
			}
			table = append(table, "event "+id[:8]+"…: "+strings.Join(gaps, ", "))
		}
		// The receiver answers before the worker records the attempt.
		var ds []deliveryJSON
		waitFor(t, 15*time.Second, "the API to list the flaky receiver's deliveries delivered", func() bool {
			ds = s.deliveries(api, flakyHook, "delivered")
			return len(ds) == n
		})
		for _, d := range ds {
			full := s.delivery(api, flakyHook, d.ID)
			if full.Attempts != attempts || len(full.History) != attempts {
				t.Errorf("delivery %s: attempts %d, history of %d, want %d and %d", d.ID, full.Attempts, len(full.History), attempts, attempts)
				continue
			}
			for i, a := range full.History {
				failed := a.StatusCode != http.StatusNoContent
				if failed != (i < attempts-1) || (failed && (a.StatusCode != 500 || a.Error == "")) {
					t.Errorf("delivery %s attempt %d: status %d error %q; want 500 with an error for attempts 1-5 and 204 for 6", d.ID, i+1, a.StatusCode, a.Error)
				}
			}
		}
		t.Logf("FIGURES backoff (base %s, poll %s): %s", base, deliveryPoll, strings.Join(table, "; "))
	}

	// A receiver failing every time until it is fixed.
	{
		var dead []deliveryJSON
		waitFor(t, 90*time.Second, "the deliveries to the broken receiver to be dead", func() bool {
			dead = s.deliveries(api, brokenHook, "dead")
			return len(dead) == n
		})
		time.Sleep(2 * deliveryPoll) // a dead delivery gets no further attempt
		for _, d := range dead {
			if got := len(broken.Arrivals(d.EventID)); got != attempts {
				t.Errorf("event %s: %d attempts reached the broken receiver, want %d", d.EventID, got, attempts)
			}
			full := s.delivery(api, brokenHook, d.ID)
			if full.Status != "dead" || full.Attempts != attempts || len(full.History) != attempts || full.LastStatus != 500 || full.LastError == "" {
				t.Errorf("dead delivery %s: status %s attempts %d history %d last_status %d last_error %q; want dead, %d, %d, 500 and an error",
					d.ID, full.Status, full.Attempts, len(full.History), full.LastStatus, full.LastError, attempts, attempts)
			}
		}
		if p := s.deliveries(api, brokenHook, "pending"); len(p) != 0 {
			t.Errorf("%d deliveries still pending, want 0", len(p))
		}

		broken.SetFailAll(false)
		for _, d := range dead {
			s.must(http.StatusAccepted, api.URL, http.MethodPost, "/v1/webhooks/"+brokenHook+"/deliveries/"+d.ID+"/redeliver", "admin", nil)
		}
		redeliveredIn := broken.WaitAcked(n, 30*time.Second)
		waitFor(t, 10*time.Second, "the redelivered deliveries to show delivered", func() bool {
			return len(s.deliveries(api, brokenHook, "delivered")) == n
		})
		for _, d := range dead {
			full := s.delivery(api, brokenHook, d.ID)
			if full.Status != "delivered" || full.Attempts != 1 || len(full.History) != attempts+1 {
				t.Errorf("redelivered %s: status %s attempts %d history %d; want delivered, 1 attempt since the request, %d in the history",
					d.ID, full.Status, full.Attempts, len(full.History), attempts+1)
			}
		}
		c := broken.Counts()
		t.Logf("FIGURES dead-letter: %d deliveries dead after %d attempts, listed with ?status=dead; redelivered on request in %s; receiver requests %d for %d events",
			len(dead), attempts, redeliveredIn.Round(time.Millisecond), c.Requests, c.Unique)
	}
	t.Logf("test %s", time.Since(began).Round(time.Second))
}

// backoffSampler polls a subscription's pending deliveries and records,
// for each delivery and failed-attempt count, the backoff scheduled
// (next_attempt_at - last_attempt_at) as first seen — before a worker
// claims it and moves next_attempt_at to the end of its lease.
type backoffSampler struct {
	stop chan struct{}
	done chan struct{}
	got  map[string]map[int]time.Duration
}

func (s *stack) sampleBackoff(api *proc, webhookID string) *backoffSampler {
	b := &backoffSampler{stop: make(chan struct{}), done: make(chan struct{}), got: map[string]map[int]time.Duration{}}
	go func() {
		defer close(b.done)
		for {
			select {
			case <-b.stop:
				return
			case <-time.After(25 * time.Millisecond):
			}
			r, err := s.call(api.URL, http.MethodGet, "/v1/webhooks/"+webhookID+"/deliveries?status=pending&limit=200", "admin", nil)
			if err != nil || r.Status != http.StatusOK {
				continue
			}
			var page struct {
				Items []deliveryJSON `json:"items"`
			}
			if json.Unmarshal(r.Body, &page) != nil {
				continue
			}
			for _, d := range page.Items {
				if d.Attempts == 0 || d.NextAttemptAt == nil || d.LastAttemptAt == nil {
					continue
				}
				if b.got[d.ID] == nil {
					b.got[d.ID] = map[int]time.Duration{}
				}
				if _, seen := b.got[d.ID][d.Attempts]; !seen {
					b.got[d.ID][d.Attempts] = d.NextAttemptAt.Sub(*d.LastAttemptAt)
				}
			}
		}
	}()
	s.t.Cleanup(func() { b.Stop() })
	return b
}

// Stop ends the sampling and returns delivery → failed attempts → backoff.
func (b *backoffSampler) Stop() map[string]map[int]time.Duration {
	select {
	case <-b.stop:
	default:
		close(b.stop)
	}
	<-b.done
	return b.got
}

// delivery reads one delivery with its history.
func (s *stack) delivery(api *proc, webhookID, id string) deliveryJSON {
	s.t.Helper()
	var d deliveryJSON
	s.must(http.StatusOK, api.URL, http.MethodGet, "/v1/webhooks/"+webhookID+"/deliveries/"+id, "admin", nil).decode(s.t, &d)
	return d
}
