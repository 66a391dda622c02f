package stream_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/regcase/regcase/internal/redistest"
	"github.com/regcase/regcase/internal/stream"
)

// waitUp polls Ping until Redis answers again.
func waitUp(t *testing.T, c *stream.Client) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Redis did not come back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestRedisDown(t *testing.T) {
	t.Parallel()
	srv, c := setup(t, stream.Options{})
	ctx := testCtx(t)
	if err := c.EnsureGroup(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	publish(t, c, 0, 2)
	before := read(t, c, "g", "a", 1) // e0 stays pending across the restart

	srv.Stop()
	calls := map[string]func(context.Context) error{
		"Ping":        c.Ping,
		"Publish":     func(ctx context.Context) error { return c.Publish(ctx, []stream.Outgoing{{EventID: "x"}}) },
		"Full":        func(ctx context.Context) error { _, err := c.Full(ctx); return err },
		"EnsureGroup": func(ctx context.Context) error { return c.EnsureGroup(ctx, "g") },
		"Read": func(ctx context.Context) error {
			_, err := c.Read(ctx, "g", "a", 10, time.Second)
			return err
		},
		"Reclaim": func(ctx context.Context) error {
			_, err := c.Reclaim(ctx, "g", "a", 0, 10)
			return err
		},
		"Ack":        func(ctx context.Context) error { return c.Ack(ctx, "g", "1-1") },
		"DeadLetter": func(ctx context.Context) error { return c.DeadLetter(ctx, stream.Message{}, "h", "r") },
		"Trim":       func(ctx context.Context) error { _, err := c.Trim(ctx); return err },
		"Stats":      func(ctx context.Context) error { _, _, err := c.Stats(ctx); return err },
		"RemoveIdleConsumers": func(ctx context.Context) error {
			_, err := c.RemoveIdleConsumers(ctx, "g", time.Hour)
			return err
		},
	}
	t.Run("Stopped", func(t *testing.T) {
		for name, call := range calls {
			t.Run("Err"+name, func(t *testing.T) {
				t.Parallel()
				start := time.Now()
				err := call(ctx) // no tight deadline: the client's own timeouts must end it
				if err == nil {
					t.Errorf("%s succeeded with Redis stopped", name)
				}
				if d := time.Since(start); d > 5*time.Second {
					t.Errorf("%s took %s to fail", name, d)
				}
			})
		}
	})

	srv.Start()
	waitUp(t, c)
	t.Run("WorksAfterRestart", func(t *testing.T) {
		publish(t, c, 2, 1)
		if got := eventIDs(read(t, c, "g", "a", 10)); !slices.Equal(got, []string{"e1", "e2"}) {
			t.Errorf("read %v after restart, want [e1 e2]", got)
		}
		got, err := c.Reclaim(ctx, "g", "b", 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 || got[0].StreamID != before[0].StreamID || got[0].Deliveries != 2 {
			t.Errorf("Reclaim after restart = %+v, want e0 (still pending, 2 deliveries) first of 3", got)
		}
	})
}

func TestTimeouts(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	// A short read timeout, to show that Read's block is not cut by it.
	c := open(t, srv.URL()+"?read_timeout=300ms", stream.Options{})
	ctx := testCtx(t)
	if err := c.EnsureGroup(ctx, "g"); err != nil {
		t.Fatal(err)
	}

	t.Run("BlockLongerThanReadTimeout", func(t *testing.T) {
		start := time.Now()
		msgs, err := c.Read(ctx, "g", "a", 10, 700*time.Millisecond)
		if err != nil || msgs != nil {
			t.Fatalf("Read = %v, %v; want nil, nil", msgs, err)
		}
		if d := time.Since(start); d < 650*time.Millisecond {
			t.Errorf("Read returned after %s, want the full 700ms block", d)
		}
	})
	t.Run("ContextDeadlineEndsBlock", func(t *testing.T) {
		dctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := c.Read(dctx, "g", "a", 10, 5*time.Second)
		if err == nil {
			t.Error("Read past its context deadline succeeded")
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("Read with a 200ms deadline took %s", d)
		}
		if err := c.Ping(ctx); err != nil {
			t.Errorf("Ping after a cut read: %v", err)
		}
	})
	t.Run("KillDuringBlock", func(t *testing.T) {
		errc := make(chan error, 1)
		go func() {
			_, err := c.Read(ctx, "g", "a", 10, 5*time.Second)
			errc <- err
		}()
		time.Sleep(100 * time.Millisecond)
		srv.Kill()
		select {
		case err := <-errc:
			if err == nil {
				t.Error("Read survived the server's death without an error")
			}
		case <-time.After(4 * time.Second):
			t.Fatal("Read still blocked 4s after the server died")
		}
		srv.Start()
		waitUp(t, c)
	})
	t.Run("HungServer", func(t *testing.T) {
		srv.Pause()
		defer srv.Resume()
		for _, tc := range []struct {
			name     string
			deadline time.Duration // 0: none; the 300ms read timeout must end it
			within   time.Duration
		}{
			{"ReadTimeout", 0, 3 * time.Second}, // go-redis retries a timed-out read
			{"ContextDeadline", 150 * time.Millisecond, time.Second},
		} {
			cctx, cancel := context.WithCancel(ctx)
			if tc.deadline > 0 {
				cctx, cancel = context.WithTimeout(ctx, tc.deadline)
			}
			start := time.Now()
			_, err := c.Full(cctx)
			cancel()
			if err == nil {
				t.Errorf("%s: Full succeeded against a hung server", tc.name)
			}
			if d := time.Since(start); d > tc.within {
				t.Errorf("%s: Full against a hung server took %s, want under %s", tc.name, d, tc.within)
			}
		}
	})
}
