package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"testing"
	"time"

	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// receiver is a webhook endpoint on 127.0.0.1 that checks every request
// with independent implementations — the Standard Webhooks Go library for
// the signature and the CloudEvents Go SDK for the body — and counts
// deliveries by webhook-id. A request that fails a check is answered 400
// and reported as a test failure when the test ends: no test passes with a
// signature or event those libraries reject.
type receiver struct {
	t    *testing.T
	name string
	srv  *httptest.Server

	mu       sync.Mutex
	verifier *standardwebhooks.Webhook
	secret   string
	delay    time.Duration          // before answering
	failN    int                    // answer 500 to the first failN attempts of each id
	failAll  bool                   // answer 500 to everything
	requests int                    // verified requests
	seen     map[string][]time.Time // webhook-id → arrival times of verified requests
	acked    map[string]int         // webhook-id → 2xx answers given
	types    map[string]string      // webhook-id → CloudEvent type
	subjects map[string]string      // webhook-id → CloudEvent subject
	rejected []string               // why requests were rejected
	sample   *sample                // the first verified request
	changed  chan struct{}          // closed and replaced on every verified request
	traces   map[string]seenTrace   // webhook-id → trace context of its last verified request
}

// seenTrace is the trace context a delivery came with: the traceparent
// header of the request and the CloudEvent's traceparent extension.
type seenTrace struct{ Header, Event string }

// Traces returns the trace context of each webhook-id's last request.
func (r *receiver) Traces() map[string]seenTrace {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]seenTrace, len(r.traces))
	for k, v := range r.traces {
		out[k] = v
	}
	return out
}

func newReceiver(t *testing.T, name string) *receiver {
	r := &receiver{t: t, name: name, seen: map[string][]time.Time{}, acked: map[string]int{},
		types: map[string]string{}, subjects: map[string]string{}, changed: make(chan struct{})}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(func() {
		r.srv.CloseClientConnections()
		r.srv.Close()
		r.mu.Lock()
		defer r.mu.Unlock()
		if n := len(r.rejected); n > 0 {
			t.Errorf("receiver %s rejected %d request(s) that the Standard Webhooks library or the CloudEvents SDK did not accept; first ones:\n%s",
				name, n, joinFirst(r.rejected, 5))
		}
	})
	return r
}

// URL is where subscriptions point.
func (r *receiver) URL() string { return r.srv.URL + "/hook/" + r.name }

// SetSecret gives the receiver the subscription's whsec_ secret.
func (r *receiver) SetSecret(secret string) {
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		r.t.Fatalf("receiver %s: standardwebhooks.NewWebhook: %v", r.name, err)
	}
	r.mu.Lock()
	r.verifier, r.secret = wh, secret
	r.mu.Unlock()
}

func (r *receiver) SetDelay(d time.Duration) { r.mu.Lock(); r.delay = d; r.mu.Unlock() }
func (r *receiver) SetFailFirst(n int)       { r.mu.Lock(); r.failN = n; r.mu.Unlock() }
func (r *receiver) SetFailAll(b bool)        { r.mu.Lock(); r.failAll = b; r.mu.Unlock() }

func (r *receiver) reject(w http.ResponseWriter, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.mu.Lock()
	r.rejected = append(r.rejected, msg)
	r.mu.Unlock()
	http.Error(w, msg, http.StatusBadRequest)
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	arrived := time.Now()
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return // the sender went away (killed mid-request)
	}
	id := req.Header.Get(standardwebhooks.HeaderWebhookID)
	r.mu.Lock()
	verifier := r.verifier
	r.mu.Unlock()
	switch {
	case req.Method != http.MethodPost:
		r.reject(w, "method %s, want POST", req.Method)
		return
	case verifier == nil:
		r.reject(w, "request %s before the test set the secret", id)
		return
	}
	if err := verifier.Verify(body, req.Header); err != nil {
		r.reject(w, "webhook-id %q: Standard Webhooks verification failed: %v (webhook-timestamp %q, webhook-signature %q)",
			id, err, req.Header.Get(standardwebhooks.HeaderWebhookTimestamp), req.Header.Get(standardwebhooks.HeaderWebhookSignature))
		return
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/cloudevents+json" {
		r.reject(w, "webhook-id %q: Content-Type %q, want application/cloudevents+json", id, ct)
		return
	}
	// The SDK reads the request as a CloudEvents HTTP binding would.
	clone := req.Clone(req.Context())
	clone.Body = io.NopCloser(bytes.NewReader(body))
	ev, err := cehttp.NewEventFromHTTPRequest(clone)
	if err != nil {
		r.reject(w, "webhook-id %q: the CloudEvents SDK cannot read the request: %v; body %.300s", id, err, body)
		return
	}
	if err := ev.Validate(); err != nil {
		r.reject(w, "webhook-id %q: invalid CloudEvent: %v; body %.300s", id, err, body)
		return
	}
	if ev.SpecVersion() != "1.0" || ev.ID() != id || ev.Type() == "" || ev.Source() == "" || ev.Time().IsZero() {
		r.reject(w, "webhook-id %q: CloudEvent specversion %q id %q type %q source %q time %v: want 1.0, id = webhook-id, type, source and time set",
			id, ev.SpecVersion(), ev.ID(), ev.Type(), ev.Source(), ev.Time())
		return
	}

	r.mu.Lock()
	if r.sample == nil {
		r.sample = &sample{Header: req.Header.Clone(), Body: body}
	}
	r.requests++
	r.seen[id] = append(r.seen[id], arrived)
	r.types[id] = ev.Type()
	r.subjects[id] = ev.Subject()
	if r.traces == nil {
		r.traces = map[string]seenTrace{}
	}
	tp, _ := ev.Extensions()["traceparent"].(string)
	r.traces[id] = seenTrace{Header: req.Header.Get("traceparent"), Event: tp}
	attempt := len(r.seen[id])
	delay, fail := r.delay, r.failAll || attempt <= r.failN
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()

	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-req.Context().Done():
			return
		}
	}
	if fail {
		http.Error(w, "failing on purpose", http.StatusInternalServerError)
		return
	}
	r.mu.Lock()
	r.acked[id]++
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// sample is a request as received.
type sample struct {
	Header http.Header
	Body   []byte
}

// Sample returns the first verified request (nil before one came).
func (r *receiver) Sample() *sample {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sample
}

// Types returns the number of distinct ids received per CloudEvent type.
func (r *receiver) Types() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for _, t := range r.types {
		out[t]++
	}
	return out
}

// counts is what the receiver saw.
type counts struct {
	Requests   int // verified requests
	Unique     int // distinct webhook-ids
	Duplicates int // Requests - Unique: the at-least-once redeliveries
	Acked      int // distinct webhook-ids answered 2xx
}

func (r *receiver) Counts() counts {
	r.mu.Lock()
	defer r.mu.Unlock()
	return counts{Requests: r.requests, Unique: len(r.seen), Duplicates: r.requests - len(r.seen), Acked: len(r.acked)}
}

// IDs returns the distinct webhook-ids received, sorted.
func (r *receiver) IDs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.seen))
	for id := range r.seen {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// Subjects returns the CloudEvent subjects received (one per distinct id).
func (r *receiver) Subjects() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for _, s := range r.subjects {
		out[s]++
	}
	return out
}

// Arrivals returns the arrival times of the verified requests with id.
func (r *receiver) Arrivals(id string) []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time(nil), r.seen[id]...)
}

// Rejected returns the number of rejected requests.
func (r *receiver) Rejected() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.rejected)
}

// WaitAcked waits until want distinct ids have been answered 2xx and
// returns how long that took; the timeout fails the test.
func (r *receiver) WaitAcked(want int, timeout time.Duration) time.Duration {
	r.t.Helper()
	start := time.Now()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		n, ch, bad := len(r.acked), r.changed, len(r.rejected)
		r.mu.Unlock()
		if n >= want {
			return time.Since(start)
		}
		if bad > 0 {
			r.t.Fatalf("receiver %s rejected %d request(s) (see below) while waiting for %d deliveries", r.name, bad, want)
		}
		select {
		case <-ch:
		case <-time.After(100 * time.Millisecond):
		case <-deadline.C:
			c := r.Counts()
			r.t.Fatalf("receiver %s: %d of %d events acknowledged after %s (requests %d, unique %d)", r.name, n, want, timeout, c.Requests, c.Unique)
		}
	}
}

// WaitSeen waits until at least n distinct ids arrived.
func (r *receiver) WaitSeen(n int, timeout time.Duration) {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	for r.Counts().Unique < n {
		if time.Now().After(deadline) {
			r.t.Fatalf("receiver %s: %d distinct events after %s, want %d", r.name, r.Counts().Unique, timeout, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func joinFirst(s []string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	var b bytes.Buffer
	for _, l := range s {
		b.WriteString("  " + l + "\n")
	}
	return b.String()
}
