package redistest_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/regcase/regcase/internal/redistest"
)

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestStart(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	ctx := ctxT(t)

	t.Run("URL", func(t *testing.T) {
		if got, want := srv.URL(), "redis://"+srv.Addr()+"/0"; got != want {
			t.Errorf("URL = %q, want %q", got, want)
		}
		opt, err := redis.ParseURL(srv.URL())
		if err != nil {
			t.Fatal(err)
		}
		c := redis.NewClient(opt)
		defer c.Close()
		if err := c.Ping(ctx).Err(); err != nil {
			t.Errorf("PING via URL: %v", err)
		}
	})
	t.Run("LoopbackOnly", func(t *testing.T) {
		host, _, _ := net.SplitHostPort(srv.Addr())
		if host != "127.0.0.1" {
			t.Errorf("Addr host = %q, want 127.0.0.1", host)
		}
		cfg, err := srv.Client().ConfigGet(ctx, "bind").Result()
		if err != nil {
			t.Fatal(err)
		}
		if got, want := cfg["bind"], "127.0.0.1"; got != want {
			t.Errorf("bind = %q, want %q", got, want)
		}
	})
	t.Run("AOF", func(t *testing.T) {
		cfg, err := srv.Client().ConfigGet(ctx, "*").Result()
		if err != nil {
			t.Fatal(err)
		}
		for k, want := range map[string]string{"appendonly": "yes", "appendfsync": "everysec", "save": "", "protected-mode": "yes", "dir": srv.Dir()} {
			if got := cfg[k]; got != want {
				t.Errorf("%s = %q, want %q", k, got, want)
			}
		}
	})
	t.Run("DistinctPorts", func(t *testing.T) {
		other := redistest.Start(t)
		if other.Addr() == srv.Addr() {
			t.Fatalf("two servers on %s", srv.Addr())
		}
		if err := other.Client().Set(ctx, "k", "other", 0).Err(); err != nil {
			t.Fatal(err)
		}
		if n, err := srv.Client().Exists(ctx, "k").Result(); err != nil || n != 0 {
			t.Errorf("key written to the other server is visible here: n=%d err=%v", n, err)
		}
	})
}

func TestStopStartKeepsStream(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	ctx := ctxT(t)
	c := srv.Client()
	for _, v := range []string{"a", "b", "c"} {
		if err := c.XAdd(ctx, &redis.XAddArgs{Stream: "s", Values: []string{"v", v}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.XGroupCreate(ctx, "s", "g", "0").Err(); err != nil {
		t.Fatal(err)
	}
	addr := srv.Addr()

	srv.Stop()
	if srv.Running() {
		t.Fatal("Running after Stop")
	}
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("PING answered while stopped")
	}
	srv.Stop() // stopping twice is fine

	srv.Start()
	if got := srv.Addr(); got != addr {
		t.Errorf("restarted on %s, want the same address %s", got, addr)
	}
	msgs, err := c.XRange(ctx, "s", "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range msgs {
		got = append(got, m.Values["v"].(string))
	}
	if strings.Join(got, ",") != "a,b,c" {
		t.Errorf("after restart the stream holds %v, want [a b c]", got)
	}
	groups, err := c.XInfoGroups(ctx, "s").Result()
	if err != nil || len(groups) != 1 || groups[0].Name != "g" {
		t.Errorf("after restart groups = %+v, %v; want group g", groups, err)
	}
}

func TestKill(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	ctx := ctxT(t)
	c := srv.Client()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	if srv.Running() {
		t.Fatal("Running after Kill")
	}
	start := time.Now()
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("PING answered after Kill")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("PING to a killed server took %s", d)
	}
	srv.Start()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING after restart: %v", err)
	}
	// The AOF was written (not necessarily fsynced) before the reply, and a
	// process crash does not lose the page cache.
	if got, err := c.Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Errorf("after kill and restart k = %q, %v; want v", got, err)
	}
}

func TestPassword(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.WithPassword("s3cret"))
	ctx := ctxT(t)
	if !strings.Contains(srv.URL(), ":s3cret@") {
		t.Errorf("URL %q lacks the password", srv.URL())
	}
	if err := srv.Client().Ping(ctx).Err(); err != nil {
		t.Errorf("Client with password: %v", err)
	}
	anon := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer anon.Close()
	if err := anon.Set(ctx, "k", "v", 0).Err(); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Errorf("without password: %v, want NOAUTH", err)
	}
}

func TestStopOnCleanup(t *testing.T) {
	t.Parallel()
	var addr string
	t.Run("Start", func(t *testing.T) {
		addr = redistest.Start(t).Addr()
	})
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		conn.Close()
		t.Errorf("server on %s still accepts connections after its test ended", addr)
	}
}

func TestPause(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), ReadTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer c.Close()
	ctx := ctxT(t)
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	srv.Pause()
	start := time.Now()
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("a paused server answered PING")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("PING to a paused server failed after %s, want the 200ms read timeout", d)
	}
	srv.Resume()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Errorf("PING after Resume: %v", err)
	}
	srv.Pause() // cleanup must still stop a paused server
}
