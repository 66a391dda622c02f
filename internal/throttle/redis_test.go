package throttle

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/regcase/regcase/internal/redistest"
)

const testPrefix = "regcase:rl:test:"

// replica is one process's view: its own connection pool to the shared Redis.
func replica(tb testing.TB, srv *redistest.Server, perSecond float64, burst int, onError func(error)) *RedisLimiter {
	tb.Helper()
	opt, err := redis.ParseURL(srv.URL())
	if err != nil {
		tb.Fatal(err)
	}
	opt.ContextTimeoutEnabled = true
	rdb := redis.NewClient(opt)
	tb.Cleanup(func() { _ = rdb.Close() })
	return NewRedis(rdb, testPrefix, perSecond, burst, New(perSecond, burst), onError)
}

// errorLog counts onError calls.
type errorLog struct {
	mu   sync.Mutex
	errs []error
}

func (e *errorLog) add(err error) { e.mu.Lock(); e.errs = append(e.errs, err); e.mu.Unlock() }
func (e *errorLog) len() int      { e.mu.Lock(); defer e.mu.Unlock(); return len(e.errs) }

func TestRedisSharedBudget(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	const rate, burst = 10.0, 5
	a, b := replica(t, srv, rate, burst, nil), replica(t, srv, rate, burst, nil)

	start := time.Now()
	allowed := 0
	var lastWait time.Duration
	for i := range 2 * burst {
		l := a
		if i%2 == 1 {
			l = b
		}
		ok, wait := l.Allow("2001:db8::1")
		if ok {
			allowed++
			if wait != 0 {
				t.Errorf("allowed with a wait of %s", wait)
			}
		} else {
			lastWait = wait
		}
	}
	elapsed := time.Since(start)
	// Refill adds one token per 100ms; the calls take far less.
	if maxAllowed := burst + int(elapsed.Seconds()*rate); allowed < burst || allowed > maxAllowed {
		t.Fatalf("two replicas allowed %d of %d calls in %s, want %d: the burst is shared", allowed, 2*burst, elapsed, burst)
	}
	if lastWait <= 0 || lastWait > 100*time.Millisecond {
		t.Errorf("retry after %s, want within (0, 100ms]", lastWait)
	}

	t.Run("Refill", func(t *testing.T) {
		ok, wait := b.Allow("2001:db8::1")
		if ok {
			t.Fatal("allowed while exhausted")
		}
		time.Sleep(wait + 5*time.Millisecond)
		if ok, wait := a.Allow("2001:db8::1"); !ok {
			t.Errorf("refused %s after waiting the advised time (retry after %s)", "2001:db8::1", wait)
		}
		if ok, _ := b.Allow("2001:db8::1"); ok {
			t.Error("a second call was allowed after one token refilled")
		}
	})
	t.Run("OtherClientIndependent", func(t *testing.T) {
		if ok, _ := a.Allow("2001:db8::2"); !ok {
			t.Error("another client is refused")
		}
	})
	t.Run("KeyExpires", func(t *testing.T) {
		ttl, err := srv.Client().PTTL(context.Background(), testPrefix+"2001:db8::2").Result()
		if err != nil {
			t.Fatal(err)
		}
		// One token used: full again after one interval.
		if ttl <= 0 || ttl > 100*time.Millisecond {
			t.Errorf("key TTL %s, want within (0, 100ms]", ttl)
		}
	})
}

func TestRedisMatchesLimiter(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	r, l := replica(t, srv, 1, 3, nil), New(1, 3)
	for i := range 5 {
		gotOK, gotWait := r.Allow("c")
		wantOK, wantWait := l.Allow("c")
		if gotOK != wantOK {
			t.Fatalf("call %d: Redis allows %v, Limiter %v", i, gotOK, wantOK)
		}
		if d := gotWait - wantWait; d < -50*time.Millisecond || d > 50*time.Millisecond {
			t.Errorf("call %d: Redis says wait %s, Limiter %s", i, gotWait, wantWait)
		}
	}
}

func TestRedisFallback(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	var errs errorLog
	const burst = 3
	l := replica(t, srv, 1, burst, errs.add)
	clock := time.Now()
	l.now = func() time.Time { return clock }

	firstCall := time.Now()
	if ok, _ := l.Allow("203.0.113.9"); !ok {
		t.Fatal("first call refused")
	}
	srv.Stop()

	t.Run("Stopped", func(t *testing.T) {
		var got []bool
		for range burst + 2 {
			start := time.Now()
			ok, _ := l.Allow("203.0.113.9")
			if d := time.Since(start); d > 500*time.Millisecond {
				t.Errorf("Allow with Redis down took %s", d)
			}
			got = append(got, ok)
		}
		// The in-process fallback has its own, full budget.
		want := []bool{true, true, true, false, false}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("with Redis down Allow gave %v, want the fallback's %v", got, want)
			}
		}
		if n := errs.len(); n != 1 {
			t.Errorf("onError called %d times, want once per 10s", n)
		}
		if err := errs.errs[0]; !strings.Contains(err.Error(), "fallback") {
			t.Errorf("reported %v", err)
		}
		clock = clock.Add(11 * time.Second)
		l.Allow("203.0.113.9")
		if n := errs.len(); n != 2 {
			t.Errorf("after 11s onError called %d times in all, want 2", n)
		}
	})

	t.Run("RecoversAfterRestart", func(t *testing.T) {
		srv.Start()
		deadline := time.Now().Add(10 * time.Second)
		for {
			// A fresh client each time: a key in Redis shows Redis decided.
			client := "recover-" + time.Now().Format("150405.000000000")
			l.Allow(client)
			n, err := srv.Client().Exists(context.Background(), testPrefix+client).Result()
			if err == nil && n == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the limiter did not go back to Redis after the restart")
			}
			time.Sleep(50 * time.Millisecond)
		}
		// The key written before the stop survived (AOF): the client has
		// burst-1 calls left in Redis, plus what refilled since (1/s), and
		// not the exhausted fallback's nothing or a fresh bucket's burst.
		want := min(burst, burst-1+int(time.Since(firstCall).Seconds()))
		allowed := 0
		for range burst + 1 {
			if ok, _ := l.Allow("203.0.113.9"); ok {
				allowed++
			}
		}
		if allowed != want {
			t.Errorf("after restart allowed %d, want %d", allowed, want)
		}
	})

	t.Run("HungRedis", func(t *testing.T) {
		srv.Pause()
		defer srv.Resume()
		start := time.Now()
		ok, _ := l.Allow("hung-client")
		if d := time.Since(start); d > 300*time.Millisecond {
			t.Errorf("Allow against a hung Redis took %s, want about the 50ms timeout", d)
		}
		if !ok {
			t.Error("fresh client refused by the fallback")
		}
	})
}
