package pipeline_test

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/regcase/regcase/internal/pipeline"
	"github.com/regcase/regcase/internal/regcase"
	"github.com/regcase/regcase/internal/sqlite"
	"github.com/regcase/regcase/internal/webhook"
)

// fixture is a service on a fresh SQLite store with a webhook receiver
// that counts deliveries per webhook-id.
type fixture struct {
	store   *sqlite.DB
	svc     *regcase.Service
	metrics *pipeline.Metrics
	log     *slog.Logger
	mu      sync.Mutex
	got     map[string]int
	fail    atomic.Bool
	hookURL string
}

// openStore opens a migrated SQLite store in a temp dir and a keyring
// with a fresh data key.
func openStore(t *testing.T) (*sqlite.DB, *regcase.Keyring) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "regcase.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	kr, err := regcase.NewKeyring(key, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return db, kr
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db, kr := openStore(t)
	f := &fixture{store: db, got: map[string]int{}, log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		metrics: pipeline.NewMetrics(prometheus.NewRegistry())}
	allow := []*net.IPNet{{IP: net.IPv4(127, 0, 0, 0), Mask: net.CIDRMask(8, 32)}}
	f.svc = regcase.NewService(regcase.Deps{Store: db, Keyring: kr, CheckWebhookURL: webhook.Policy{Allow: allow}.CheckURL})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.fail.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		f.mu.Lock()
		f.got[r.Header.Get("webhook-id")]++
		f.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	f.hookURL = srv.URL
	if _, _, err := f.svc.CreateWebhook(context.Background(), regcase.SystemActor("test"), regcase.NewWebhook{URL: srv.URL}); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) deliverer() *pipeline.Deliverer {
	return &pipeline.Deliverer{Store: f.store, Svc: f.svc, Log: f.log, Metrics: f.metrics,
		Sender:      &webhook.Sender{Client: webhook.Policy{Allow: []*net.IPNet{{IP: net.IPv4(127, 0, 0, 0), Mask: net.CIDRMask(8, 32)}}}.Client(2 * time.Second)},
		MaxAttempts: 3, BackoffBase: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond, Lease: 5 * time.Second,
		Concurrency: 4, PollEvery: 20 * time.Millisecond, Now: time.Now}
}

func (f *fixture) received() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]int{}
	for k, v := range f.got {
		out[k] = v
	}
	return out
}

// TestRepublishedEventsAreHandledOnce: a crash between publishing and
// marking publishes a batch again; the handlers' dedupe makes the second
// publication a no-op — one delivery per event and subscription.
func TestRepublishedEventsAreHandledOnce(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d := f.deliverer()
	go d.Run(ctx)
	fan := &pipeline.Fanout{Store: f.store, Deliverer: d, NewID: f.svc.NewID, Now: time.Now}
	pub := &pipeline.InProcess{Handlers: []pipeline.Handler{fan}, Svc: f.svc, MaxDeliveries: 3, Log: f.log, Metrics: f.metrics}
	for range 5 {
		if _, _, err := f.svc.CreateToken(ctx, regcase.SystemActor("test"), "t"+f.svc.NewID()[30:], regcase.RoleAuditor); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := f.store.PendingOutbox(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 { // published three times over, never marked
		if n, err := pub.Publish(ctx, evs); err != nil || n != len(evs) {
			t.Fatalf("Publish = %d, %v", n, err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(f.received()) < len(evs) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	got := f.received()
	if len(got) != len(evs) {
		t.Fatalf("receiver got %d distinct events, want %d", len(got), len(evs))
	}
	for id, n := range got {
		if n != 1 {
			t.Errorf("event %s delivered %d times, want once", id, n)
		}
	}
}

// failing fails every event.
type failing struct{ calls atomic.Int32 }

func (h *failing) Name() string { return "failing" }
func (h *failing) Handle(context.Context, *regcase.Event) error {
	h.calls.Add(1)
	return errors.New("downstream refused")
}

// TestInProcessDeadLettersAfterLimit: in embedded mode a handler that keeps
// failing on an event stops the pipeline for MaxDeliveries attempts, then
// the event is dead-lettered (visible, replayable) and the pipeline moves on.
func TestInProcessDeadLettersAfterLimit(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	h := &failing{}
	pub := &pipeline.InProcess{Handlers: []pipeline.Handler{h}, Svc: f.svc, MaxDeliveries: 3, Log: f.log, Metrics: f.metrics}
	evs, err := f.store.PendingOutbox(ctx, 1)
	if err != nil || len(evs) != 1 {
		t.Fatalf("PendingOutbox = %v, %v", evs, err)
	}
	for i := 1; i <= 2; i++ {
		if n, err := pub.Publish(ctx, evs); err == nil || n != 0 {
			t.Fatalf("attempt %d: Publish = %d, %v; want 0 and the handler's error", i, n, err)
		}
	}
	if n, err := pub.Publish(ctx, evs); err != nil || n != 1 {
		t.Fatalf("attempt 3: Publish = %d, %v; want 1 (dead-lettered, moved on)", n, err)
	}
	dead, err := f.svc.ListDeadEvents(ctx, regcase.SystemActor("test"), regcase.DeadEventFilter{})
	if err != nil || len(dead) != 1 || dead[0].Event.ID != evs[0].ID || dead[0].Deliveries != 3 || dead[0].Handler != "failing" {
		t.Fatalf("dead letters = %+v, %v", dead, err)
	}
	if _, err := f.svc.ReplayDeadEvent(ctx, regcase.SystemActor("test"), dead[0].ID); err != nil {
		t.Fatal(err)
	}
	back, err := f.store.PendingOutbox(ctx, 10)
	// The event (never marked published here) and the replay's own audit event.
	if err != nil || len(back) != 2 || back[0].ID != evs[0].ID || back[1].Type != "gov.regcase.event.replayed" {
		t.Fatalf("after replay the outbox holds %d events, %v; want the event and gov.regcase.event.replayed", len(back), err)
	}
}

// TestDeliveryRetriesThenDies: a receiver that is down gets
// MaxAttempts attempts with backoff, then the delivery is dead; a
// redelivery after it recovered succeeds.
func TestDeliveryRetriesThenDies(t *testing.T) {
	f := newFixture(t)
	f.fail.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d := f.deliverer()
	go d.Run(ctx)
	fan := &pipeline.Fanout{Store: f.store, Deliverer: d, NewID: f.svc.NewID, Now: time.Now}
	evs, _ := f.store.PendingOutbox(ctx, 1)
	if err := fan.Handle(ctx, &evs[0].Event); err != nil {
		t.Fatal(err)
	}
	hooks, _ := f.store.ListWebhooks(ctx)
	var del *regcase.Delivery
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		ds, err := f.store.ListDeliveries(ctx, regcase.DeliveryFilter{WebhookID: hooks[0].ID, Status: regcase.DeliveryDead, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) == 1 {
			del = ds[0]
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if del == nil {
		t.Fatal("the delivery never died")
	}
	attempts, _ := f.store.ListAttempts(ctx, del.ID)
	if len(attempts) != 3 || del.LastStatus != http.StatusServiceUnavailable {
		t.Fatalf("dead after %d attempts (last status %d), want 3 and 503", len(attempts), del.LastStatus)
	}
	f.fail.Store(false)
	if _, err := f.svc.Redeliver(ctx, regcase.SystemActor("test"), hooks[0].ID, del.ID); err != nil {
		t.Fatal(err)
	}
	for len(f.received()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := f.received(); got[evs[0].ID] != 1 {
		t.Fatalf("after redelivery the receiver got %v, want the event once", got)
	}
}

// recorder is a Publisher that keeps what it was given, failing now and
// then after "publishing" (a crash between publish and mark).
type recorder struct {
	mu    sync.Mutex
	ids   []string
	calls int
}

func (r *recorder) Publish(_ context.Context, evs []*regcase.OutboxEvent) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	for _, e := range evs {
		r.ids = append(r.ids, e.ID)
	}
	if r.calls%3 == 0 {
		return 0, errors.New("connection reset after XADD")
	}
	return len(evs), nil
}

// TestRelayKeepsOutboxOrder: the relay publishes in outbox order across
// batches; a batch whose publication failed after the broker took it is
// published again (at least once), never skipped, and order holds among
// first publications.
func TestRelayKeepsOutboxOrder(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range 20 {
		if _, _, err := f.svc.CreateToken(ctx, regcase.SystemActor("test"), "t"+f.svc.NewID()[28:], regcase.RoleAuditor); err != nil {
			t.Fatal(err)
		}
	}
	want, err := f.store.PendingOutbox(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	r := &pipeline.Relay{Store: f.store, Pub: rec, Holder: "test", Batch: 4, Every: 5 * time.Millisecond, LeaseTTL: time.Second,
		Log: f.log, Metrics: f.metrics, Now: time.Now}
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if left, _ := f.store.PendingOutbox(ctx, 1); len(left) == 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var first []string
	seen := map[string]bool{}
	for _, id := range rec.ids {
		if !seen[id] {
			seen[id] = true
			first = append(first, id)
		}
	}
	if len(first) != len(want) {
		t.Fatalf("published %d distinct events, want %d", len(first), len(want))
	}
	for i, e := range want {
		if first[i] != e.ID {
			t.Fatalf("publication %d is %s, want %s (outbox order)", i, first[i], e.ID)
		}
	}
	if len(rec.ids) == len(want) {
		t.Errorf("no batch was published twice; the failure injection did not bite")
	}
}
