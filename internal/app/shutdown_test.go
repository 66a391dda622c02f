package app_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/regcase/regcase/internal/regcase"
)

const inFlight = 100

// metricValue reads one unlabelled gauge or counter from /metrics.
func metricValue(tb testing.TB, ts *testServer, name string) float64 {
	tb.Helper()
	r := ts.must(tb, http.StatusOK, http.MethodGet, "/metrics", regcase.RoleAnonymous, nil)
	sc := bufio.NewScanner(strings.NewReader(string(r.Body)))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				tb.Fatalf("metric %s = %q: %v", name, v, err)
			}
			return f
		}
	}
	tb.Fatalf("metric %s not in /metrics", name)
	return 0
}

// TestGracefulShutdown cancels Run's context (what SIGTERM does in main)
// while 100 submissions are in flight: their bodies are still arriving when
// the drain starts. Readiness must flip to 503 during the drain, every
// request must complete normally, and Run must return 0 within
// REGCASE_SHUTDOWN_TIMEOUT.
func TestGracefulShutdown(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		const timeout = 5 * time.Second
		ts := startServer(t, engine, "REGCASE_DRAIN_DELAY=500ms", "REGCASE_SHUTDOWN_TIMEOUT=5s",
			"REGCASE_INTAKE_RATE=10000", "REGCASE_INTAKE_BURST=100000")

		// Each request sends the first half of its body, then waits.
		release := make(chan struct{})
		type result struct {
			status int
			id     string
			err    error
		}
		results := make(chan result, inFlight)
		for i := range inFlight {
			body, _ := json.Marshal(reportJSON(strings.Repeat("Slow to arrive. ", 500) + strconv.Itoa(i)))
			pr, pw := io.Pipe()
			go func() {
				half := len(body) / 2
				if _, err := pw.Write(body[:half]); err != nil {
					pw.CloseWithError(err)
					return
				}
				<-release
				_, _ = pw.Write(body[half:])
				pw.Close()
			}()
			req := ts.request(t, http.MethodPost, "/v1/reports", regcase.RoleAnonymous, pr)
			go func() {
				resp, err := ts.Client.Do(req)
				if err != nil {
					results <- result{err: err}
					return
				}
				defer resp.Body.Close()
				var s submitted
				err = json.NewDecoder(resp.Body).Decode(&s)
				results <- result{status: resp.StatusCode, id: s.ID, err: err}
			}()
		}

		// Wait until the server is serving all of them (the scrape counts
		// itself too).
		deadline := time.Now().Add(30 * time.Second)
		for metricValue(t, ts, "http_requests_in_flight") < inFlight+1 {
			if time.Now().After(deadline) {
				close(release)
				t.Fatalf("only %v requests in flight after 30s, want %d", metricValue(t, ts, "http_requests_in_flight")-1, inFlight)
			}
			time.Sleep(10 * time.Millisecond)
		}

		// SIGTERM.
		cancelled := time.Now()
		stopped := make(chan int, 1)
		go func() { stopped <- ts.Stop(t) }()

		t.Run("ReadyFlipsTo503WhileDraining", func(t *testing.T) {
			probe := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
			last := "no answer"
			for time.Since(cancelled) < 2*time.Second {
				resp, err := probe.Get(ts.URL + "/health/ready")
				if err != nil {
					last = err.Error()
					break // the listener is closed: too late
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				last = strconv.Itoa(resp.StatusCode) + " " + string(b)
				if resp.StatusCode == http.StatusServiceUnavailable {
					if !strings.Contains(string(b), "draining") {
						t.Errorf("ready during drain: %s, want the reason draining", last)
					}
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
			t.Errorf("/health/ready never answered 503 during the drain (last: %s)", last)
		})

		// Only once the drain delay is over does Shutdown close the
		// listener; then the in-flight bodies finish arriving.
		t.Run("ListenerClosesAfterDrainDelay", func(t *testing.T) {
			addr := strings.TrimPrefix(ts.URL, "http://")
			for time.Since(cancelled) < timeout {
				c, err := net.DialTimeout("tcp", addr, time.Second)
				if err != nil {
					if took := time.Since(cancelled); took < 500*time.Millisecond {
						t.Errorf("listener closed %v after cancel, before the 500ms drain delay", took)
					}
					return
				}
				c.Close()
				time.Sleep(10 * time.Millisecond)
			}
			t.Errorf("listener still accepting %v after cancel", timeout)
		})
		close(release)

		t.Run("InFlightRequestsComplete", func(t *testing.T) {
			ids := map[string]bool{}
			for range inFlight {
				r := <-results
				switch {
				case r.err != nil:
					t.Errorf("in-flight request failed: %v", r.err)
				case r.status != http.StatusCreated:
					t.Errorf("in-flight request: got %d, want 201", r.status)
				default:
					ids[r.id] = true
				}
			}
			if len(ids) != inFlight && !t.Failed() {
				t.Errorf("%d distinct reports, want %d", len(ids), inFlight)
			}
		})

		t.Run("RunReturns0WithinTimeout", func(t *testing.T) {
			select {
			case code := <-stopped:
				if took := time.Since(cancelled); code != 0 || took > timeout+time.Second {
					t.Errorf("Run returned %d after %v, want 0 within %v", code, took, timeout)
				}
			case <-time.After(timeout + 5*time.Second):
				t.Fatalf("Run has not returned %v after cancel", timeout+5*time.Second)
			}
			if log := ts.Stderr.String(); !strings.Contains(log, `"msg":"draining"`) || !strings.Contains(log, `"msg":"stopped"`) {
				t.Errorf("log lacks the draining and stopped lines:\n%s", tail(log, 10))
			}
		})
	})
}
