package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// arrival is the first verified request of one webhook-id.
type arrival struct {
	At      time.Time
	EvTime  time.Time
	Subject string
}

// receiver is the webhook endpoint: every request is verified with the
// Standard Webhooks library (a request that fails is answered 400 and
// counted as rejected), parsed for the CloudEvents id, time and subject, and
// recorded once per webhook-id; later copies count as duplicates. It answers
// 204 after Delay.
type receiver struct {
	verifier *standardwebhooks.Webhook
	delay    time.Duration
	srv      *http.Server

	mu         sync.Mutex
	first      map[string]arrival
	requests   int
	duplicates int
	rejected   int
	whyRejects []string
	notify     chan struct{} // gets a token (non-blocking) on each new id
}

func newReceiver(secret string, delay time.Duration) (*receiver, error) {
	v, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return nil, fmt.Errorf("receiver secret: %w", err)
	}
	return &receiver{verifier: v, delay: delay, first: make(map[string]arrival, 1<<16), notify: make(chan struct{}, 1)}, nil
}

// start listens on addr (loopback) and serves until close.
func (r *receiver) start(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("receiver: %w", err)
	}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	return nil
}

func (r *receiver) close() { _ = r.srv.Close() }

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	at := time.Now()
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		return
	}
	id := req.Header.Get(standardwebhooks.HeaderWebhookID)
	if err := r.verifier.Verify(body, req.Header); err != nil {
		r.reject(w, "webhook-id %q: %v", id, err)
		return
	}
	var ev struct {
		ID      string    `json:"id"`
		Time    time.Time `json:"time"`
		Subject string    `json:"subject"`
	}
	if err := json.Unmarshal(body, &ev); err != nil || ev.ID != id || ev.Time.IsZero() {
		r.reject(w, "webhook-id %q: body is not a CloudEvent with this id and a time (%v)", id, err)
		return
	}
	r.mu.Lock()
	r.requests++
	if _, seen := r.first[id]; seen {
		r.duplicates++
	} else {
		r.first[id] = arrival{At: at, EvTime: ev.Time, Subject: ev.Subject}
	}
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
	if r.delay > 0 {
		t := time.NewTimer(r.delay)
		select {
		case <-t.C:
		case <-req.Context().Done():
		}
		t.Stop()
	}
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) reject(w http.ResponseWriter, format string, args ...any) {
	r.mu.Lock()
	r.rejected++
	if len(r.whyRejects) < 5 {
		r.whyRejects = append(r.whyRejects, fmt.Sprintf(format, args...))
	}
	r.mu.Unlock()
	http.Error(w, "rejected", http.StatusBadRequest)
}

// count returns how many of the ids in want arrived, and the latest
// arrival among them.
func (r *receiver) count(want map[string]bool) (int, time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, last := 0, time.Time{}
	for id, a := range r.first {
		if want[subjectKey(a.Subject, id)] {
			n++
			if a.At.After(last) {
				last = a.At
			}
		}
	}
	return n, last
}

// total is how many distinct webhook-ids arrived.
func (r *receiver) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.first)
}

// eventIDs returns the IDs of the events that arrived and match want.
func (r *receiver) eventIDs(want map[string]bool) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []string
	for id, a := range r.first {
		if want[subjectKey(a.Subject, id)] {
			ids = append(ids, id)
		}
	}
	return ids
}

// snapshot copies what the receiver recorded.
func (r *receiver) snapshot() (first map[string]arrival, requests, duplicates, rejected int, why []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	first = make(map[string]arrival, len(r.first))
	for k, v := range r.first {
		first[k] = v
	}
	return first, r.requests, r.duplicates, r.rejected, append([]string(nil), r.whyRejects...)
}

// subjectKey is how an arrival is matched to what this run sent: the
// report ID in the event's subject ("reports/<id>") in pipeline mode, the
// event ID in bare mode (subject "bare").
func subjectKey(subject, eventID string) string {
	if subject == "bare" {
		return eventID
	}
	return subject
}
