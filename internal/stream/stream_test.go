package stream_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/regcase/regcase/internal/redistest"
	"github.com/regcase/regcase/internal/stream"
)

// setup starts a Redis and opens a Client on it with opts.
func setup(tb testing.TB, o stream.Options, srvOpts ...redistest.Option) (*redistest.Server, *stream.Client) {
	tb.Helper()
	srv := redistest.Start(tb, srvOpts...)
	c := open(tb, srv.URL(), o)
	return srv, c
}

func open(tb testing.TB, url string, o stream.Options) *stream.Client {
	tb.Helper()
	c, err := stream.Open(testCtx(tb), url, o)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

func testCtx(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

// publish publishes events e0..e(n-1) of type "t".
func publish(tb testing.TB, c *stream.Client, from, n int) {
	tb.Helper()
	var msgs []stream.Outgoing
	for i := from; i < from+n; i++ {
		msgs = append(msgs, stream.Outgoing{EventID: fmt.Sprintf("e%d", i), Type: "t", Body: fmt.Appendf(nil, `{"n":%d}`, i)})
	}
	if err := c.Publish(testCtx(tb), msgs); err != nil {
		tb.Fatalf("Publish: %v", err)
	}
}

func read(tb testing.TB, c *stream.Client, group, consumer string, count int64) []stream.Message {
	tb.Helper()
	msgs, err := c.Read(testCtx(tb), group, consumer, count, 10*time.Millisecond)
	if err != nil {
		tb.Fatalf("Read(%s, %s): %v", group, consumer, err)
	}
	return msgs
}

func eventIDs(msgs []stream.Message) []string {
	var ids []string
	for _, m := range msgs {
		ids = append(ids, m.EventID)
	}
	return ids
}

func streamIDs(msgs []stream.Message) []string {
	var ids []string
	for _, m := range msgs {
		ids = append(ids, m.StreamID)
	}
	return ids
}

func TestOpen(t *testing.T) {
	t.Parallel()
	const pw = "Very$ecret-pw"
	srv := redistest.Start(t, redistest.WithPassword(pw))
	ctx := testCtx(t)

	t.Run("OK", func(t *testing.T) {
		c := open(t, srv.URL(), stream.Options{})
		if err := c.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		if got, want := c.Options(), (stream.Options{Stream: "regcase:events", DeadStream: "regcase:events:dead", MaxLen: 100000}); got != want {
			t.Errorf("Options = %+v, want %+v", got, want)
		}
	})
	for name, url := range map[string]string{
		"ErrWrongPassword": "redis://:wrong-" + pw + "@" + srv.Addr() + "/0",
		"ErrUnreachable":   "redis://user:" + pw + "@127.0.0.1:1/0",
		"ErrInvalidURL":    "redis://:" + pw + "@host:port%zz/0",
		"ErrScheme":        "http://:" + pw + "@" + srv.Addr() + "/0",
		"ErrDatabase":      "redis://:" + pw + "@" + srv.Addr() + "/x",
		"ErrQuery":         "redis://:" + pw + "@" + srv.Addr() + "/0?dial_timeout=" + pw,
	} {
		t.Run(name, func(t *testing.T) {
			c, err := stream.Open(ctx, url, stream.Options{})
			if err == nil {
				c.Close()
				t.Fatal("Open succeeded")
			}
			if strings.Contains(err.Error(), pw) || strings.Contains(err.Error(), "ecret") {
				t.Errorf("error reveals the password: %v", err)
			}
		})
	}
}

func TestPublishRead(t *testing.T) {
	t.Parallel()
	_, c := setup(t, stream.Options{})
	ctx := testCtx(t)
	if err := c.EnsureGroup(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	if err := c.Publish(ctx, nil); err != nil {
		t.Fatalf("Publish(nil): %v", err)
	}
	publish(t, c, 0, 5)

	msgs := read(t, c, "g", "c1", 10)
	if got, want := eventIDs(msgs), []string{"e0", "e1", "e2", "e3", "e4"}; !slices.Equal(got, want) {
		t.Fatalf("read %v, want %v in order", got, want)
	}
	m := msgs[2]
	if m.Type != "t" || string(m.Body) != `{"n":2}` || m.Deliveries != 1 || m.StreamID == "" {
		t.Errorf("message = %+v, want type t, body {\"n\":2}, 1 delivery and a stream id", m)
	}
	if !slices.IsSortedFunc(msgs, func(a, b stream.Message) int { return strings.Compare(a.StreamID, b.StreamID) }) {
		t.Errorf("stream ids not increasing: %v", streamIDs(msgs))
	}

	t.Run("NothingNew", func(t *testing.T) {
		start := time.Now()
		msgs, err := c.Read(ctx, "g", "c1", 10, 100*time.Millisecond)
		if err != nil || msgs != nil {
			t.Errorf("Read = %v, %v; want nil, nil", msgs, err)
		}
		if d := time.Since(start); d < 90*time.Millisecond {
			t.Errorf("Read returned after %s, want it to block about 100ms", d)
		}
	})
	t.Run("NoBlock", func(t *testing.T) {
		start := time.Now()
		msgs, err := c.Read(ctx, "g", "c1", 10, 0)
		if err != nil || msgs != nil {
			t.Errorf("Read = %v, %v; want nil, nil", msgs, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("Read with block 0 took %s; want no wait", d)
		}
	})
	t.Run("BlockWakesOnPublish", func(t *testing.T) {
		done := make(chan []stream.Message, 1)
		go func() {
			msgs, _ := c.Read(ctx, "g", "c1", 10, 5*time.Second)
			done <- msgs
		}()
		time.Sleep(50 * time.Millisecond)
		publish(t, c, 5, 1)
		select {
		case msgs := <-done:
			if got := eventIDs(msgs); !slices.Equal(got, []string{"e5"}) {
				t.Errorf("blocked Read got %v, want [e5]", got)
			}
		case <-time.After(3 * time.Second):
			t.Fatal("blocked Read did not wake up on Publish")
		}
	})
}

func TestTwoConsumersSplit(t *testing.T) {
	t.Parallel()
	_, c := setup(t, stream.Options{})
	if err := c.EnsureGroup(testCtx(t), "g"); err != nil {
		t.Fatal(err)
	}
	publish(t, c, 0, 6)
	a := read(t, c, "g", "a", 3)
	b := read(t, c, "g", "b", 10)
	if len(a) != 3 || len(b) != 3 {
		t.Fatalf("a got %v, b got %v; want 3 each", eventIDs(a), eventIDs(b))
	}
	all := append(eventIDs(a), eventIDs(b)...)
	slices.Sort(all)
	if want := []string{"e0", "e1", "e2", "e3", "e4", "e5"}; !slices.Equal(all, want) {
		t.Errorf("together they got %v, want each of %v once", all, want)
	}
	if rest := read(t, c, "g", "a", 10); rest != nil {
		t.Errorf("a got %v after everything was delivered", eventIDs(rest))
	}
	t.Run("OtherGroupGetsEverything", func(t *testing.T) {
		if err := c.EnsureGroup(testCtx(t), "other"); err != nil {
			t.Fatal(err)
		}
		if got := read(t, c, "other", "x", 10); len(got) != 6 {
			t.Errorf("second group got %v, want all 6", eventIDs(got))
		}
	})
}

func TestReclaim(t *testing.T) {
	t.Parallel()
	_, c := setup(t, stream.Options{})
	ctx := testCtx(t)
	if err := c.EnsureGroup(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	publish(t, c, 0, 3)
	dead := read(t, c, "g", "dead", 10) // never acknowledged
	if len(dead) != 3 {
		t.Fatalf("read %d, want 3", len(dead))
	}
	const minIdle = 200 * time.Millisecond

	got, err := c.Reclaim(ctx, "g", "alive", minIdle, 10)
	if err != nil || len(got) != 0 {
		t.Fatalf("Reclaim before minIdle = %v, %v; want nothing", eventIDs(got), err)
	}
	time.Sleep(minIdle + 50*time.Millisecond)
	got, err = c.Reclaim(ctx, "g", "alive", minIdle, 10)
	if err != nil {
		t.Fatal(err)
	}
	if ids := eventIDs(got); !slices.Equal(ids, []string{"e0", "e1", "e2"}) {
		t.Fatalf("Reclaim got %v, want [e0 e1 e2]", ids)
	}
	for _, m := range got {
		if m.Deliveries != 2 || m.Type != "t" || len(m.Body) == 0 {
			t.Errorf("reclaimed %+v, want 2 deliveries and the event's fields", m)
		}
	}
	pend, err := c.Redis().XPendingExt(ctx, &redis.XPendingExtArgs{Stream: "regcase:events", Group: "g", Start: "-", End: "+", Count: 10}).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pend {
		if p.Consumer != "alive" {
			t.Errorf("entry %s still owned by %s after Reclaim", p.ID, p.Consumer)
		}
	}

	t.Run("CursorWalks", func(t *testing.T) {
		time.Sleep(minIdle + 50*time.Millisecond)
		var walked []string
		for range 4 {
			got, err := c.Reclaim(ctx, "g", "third", minIdle, 1)
			if err != nil {
				t.Fatal(err)
			}
			walked = append(walked, eventIDs(got)...)
		}
		// e0, e1, e2, then the scan starts over: e0 was claimed a moment
		// ago and is not idle yet.
		if want := []string{"e0", "e1", "e2"}; !slices.Equal(walked, want) {
			t.Errorf("four Reclaim(count 1) calls got %v, want %v", walked, want)
		}
		time.Sleep(minIdle + 50*time.Millisecond)
		got, err := c.Reclaim(ctx, "g", "fourth", minIdle, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 || got[0].Deliveries != 4 {
			t.Errorf("after three claims got %+v, want 4 deliveries", got)
		}
	})
	t.Run("Ack", func(t *testing.T) {
		if err := c.Ack(ctx, "g", streamIDs(got)...); err != nil {
			t.Fatal(err)
		}
		if err := c.Ack(ctx, "g"); err != nil {
			t.Fatalf("Ack of nothing: %v", err)
		}
		time.Sleep(minIdle + 50*time.Millisecond)
		again, err := c.Reclaim(ctx, "g", "alive", minIdle, 10)
		if err != nil || len(again) != 0 {
			t.Errorf("Reclaim after Ack = %v, %v; want nothing", eventIDs(again), err)
		}
		_, groups, err := c.Stats(ctx)
		if err != nil || len(groups) != 1 || groups[0].Pending != 0 {
			t.Errorf("Stats after Ack = %+v, %v; want 0 pending", groups, err)
		}
	})
	t.Run("DeletedEntriesAckedAway", func(t *testing.T) {
		publish(t, c, 10, 2)
		msgs := read(t, c, "g", "dead", 10)
		if err := c.Redis().XDel(ctx, "regcase:events", msgs[0].StreamID).Err(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(minIdle + 50*time.Millisecond)
		var got []stream.Message
		for range 2 { // the cursor may be anywhere; two calls cover the list
			m, err := c.Reclaim(ctx, "g", "alive", minIdle, 10)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, m...)
		}
		if ids := eventIDs(got); !slices.Equal(ids, []string{"e11"}) {
			t.Errorf("Reclaim got %v, want only the surviving e11", ids)
		}
		n, err := c.Redis().XPending(ctx, "regcase:events", "g").Result()
		if err != nil {
			t.Fatal(err)
		}
		if n.Count != 1 {
			t.Errorf("pending = %d, want 1 (the deleted entry acked away)", n.Count)
		}
	})
}

func TestDeadLetter(t *testing.T) {
	t.Parallel()
	_, c := setup(t, stream.Options{DeadStream: "dead", MaxLen: 1000})
	ctx := testCtx(t)
	m := stream.Message{StreamID: "1-1", EventID: "ev", Type: "case.opened", Body: []byte(`{"x":1}`), Deliveries: 5}
	if err := c.DeadLetter(ctx, m, "notify", "boom"); err != nil {
		t.Fatal(err)
	}
	got, err := c.Redis().XRange(ctx, "dead", "-", "+").Result()
	if err != nil || len(got) != 1 {
		t.Fatalf("dead stream = %v, %v; want one entry", got, err)
	}
	want := map[string]any{"id": "ev", "type": "case.opened", "event": `{"x":1}`, "handler": "notify", "reason": "boom", "deliveries": "5", "stream_id": "1-1"}
	for k, v := range want {
		if got[0].Values[k] != v {
			t.Errorf("dead entry %s = %v, want %v", k, got[0].Values[k], v)
		}
	}
	if n, _ := c.Redis().XLen(ctx, "regcase:events").Result(); n != 0 {
		t.Errorf("DeadLetter wrote %d entries to the main stream", n)
	}
}

func TestFull(t *testing.T) {
	t.Parallel()
	_, c := setup(t, stream.Options{MaxLen: 3})
	ctx := testCtx(t)
	for i, want := range []bool{false, false, false, true, true} {
		full, err := c.Full(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if full != want {
			t.Errorf("with %d entries Full = %v, want %v", i, full, want)
		}
		publish(t, c, i, 1)
	}
	if n, _ := c.Redis().XLen(ctx, "regcase:events").Result(); n != 5 {
		t.Errorf("stream holds %d, want all 5: Publish must not trim", n)
	}
}

func TestEnsureGroup(t *testing.T) {
	t.Parallel()
	_, c := setup(t, stream.Options{})
	ctx := testCtx(t)
	publish(t, c, 0, 2) // before the group exists
	for range 2 {
		if err := c.EnsureGroup(ctx, "g"); err != nil {
			t.Fatalf("EnsureGroup: %v", err)
		}
	}
	got := read(t, c, "g", "c", 10)
	if ids := eventIDs(got); !slices.Equal(ids, []string{"e0", "e1"}) {
		t.Errorf("new group read %v, want the earlier [e0 e1]", ids)
	}
	if err := c.EnsureGroup(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	if again := read(t, c, "g", "c", 10); again != nil {
		t.Errorf("EnsureGroup on an existing group reset it: read %v again", eventIDs(again))
	}
	t.Run("MakesStream", func(t *testing.T) {
		_, c := setup(t, stream.Options{Stream: "fresh"})
		if err := c.EnsureGroup(ctx, "g"); err != nil {
			t.Fatal(err)
		}
		if n, err := c.Redis().Exists(ctx, "fresh").Result(); err != nil || n != 1 {
			t.Errorf("stream not created: %d, %v", n, err)
		}
	})
}

func TestNoGroupRecovery(t *testing.T) {
	t.Parallel()
	_, c := setup(t, stream.Options{})
	ctx := testCtx(t)
	if err := c.EnsureGroup(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	publish(t, c, 0, 1)
	read(t, c, "g", "c", 10)
	if err := c.Redis().FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Reclaim(ctx, "g", "c", 0, 10); err != nil || len(got) != 0 {
		t.Errorf("Reclaim without the group = %v, %v; want nothing", got, err)
	}
	publish(t, c, 1, 2)
	got, err := c.Read(ctx, "g", "c", 10, 10*time.Millisecond)
	if err != nil {
		t.Fatalf("Read after FLUSHALL: %v", err)
	}
	if ids := eventIDs(got); !slices.Equal(ids, []string{"e1", "e2"}) {
		t.Errorf("Read after FLUSHALL got %v, want [e1 e2]", ids)
	}
	t.Run("NoStream", func(t *testing.T) {
		if err := c.Redis().FlushAll(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		got, err := c.Read(ctx, "g", "c", 10, 10*time.Millisecond)
		if err != nil || got != nil {
			t.Errorf("Read with no stream at all = %v, %v; want nil, nil", got, err)
		}
	})
}

func TestRemoveIdleConsumers(t *testing.T) {
	t.Parallel()
	_, c := setup(t, stream.Options{})
	ctx := testCtx(t)
	if err := c.EnsureGroup(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	publish(t, c, 0, 3)
	readAndAck := func(consumer string) {
		t.Helper()
		msgs := read(t, c, "g", consumer, 1)
		if err := c.Ack(ctx, "g", streamIDs(msgs)...); err != nil {
			t.Fatal(err)
		}
	}
	readAndAck("gone-clean")
	read(t, c, "g", "gone-pending", 1) // keeps one pending
	time.Sleep(150 * time.Millisecond)
	readAndAck("alive")

	n, err := c.RemoveIdleConsumers(ctx, "g", 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("removed %d consumers, want 1", n)
	}
	cons, err := c.Redis().XInfoConsumers(ctx, "regcase:events", "g").Result()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, x := range cons {
		names = append(names, x.Name)
	}
	slices.Sort(names)
	if want := []string{"alive", "gone-pending"}; !slices.Equal(names, want) {
		t.Errorf("consumers left %v, want %v", names, want)
	}
	if n, err := c.RemoveIdleConsumers(ctx, "nosuchgroup", 0); err != nil || n != 0 {
		t.Errorf("missing group: %d, %v; want 0, nil", n, err)
	}

	t.Run("RemovedConsumerReadsAgain", func(t *testing.T) {
		// On Redis < 7.2 a consumer that waits on an empty stream looks
		// idle and may be removed; the next delivery creates it again.
		time.Sleep(150 * time.Millisecond)
		if n, err := c.RemoveIdleConsumers(ctx, "g", 100*time.Millisecond); err != nil || n != 1 {
			t.Fatalf("removed %d, %v; want alive removed", n, err)
		}
		publish(t, c, 3, 1)
		if got := eventIDs(read(t, c, "g", "alive", 10)); !slices.Equal(got, []string{"e3"}) {
			t.Errorf("removed consumer read %v, want [e3]", got)
		}
	})
}
