package stream_test

import (
	"slices"
	"testing"

	"github.com/regcase/regcase/internal/stream"
)

func TestTrim(t *testing.T) {
	t.Parallel()
	_, c := setup(t, stream.Options{})
	ctx := testCtx(t)
	trim := func(want int64) {
		t.Helper()
		n, err := c.Trim(ctx)
		if err != nil {
			t.Fatalf("Trim: %v", err)
		}
		if n != want {
			t.Errorf("Trim removed %d, want %d", n, want)
		}
	}
	remaining := func() []string {
		t.Helper()
		xs, err := c.Redis().XRange(ctx, "regcase:events", "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, x := range xs {
			ids = append(ids, x.Values["id"].(string))
		}
		return ids
	}

	trim(0) // no stream
	publish(t, c, 0, 6)
	trim(0) // no group: nothing is known to be done

	for _, g := range []string{"g1", "g2"} {
		if err := c.EnsureGroup(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	trim(0) // new groups need everything

	all := read(t, c, "g1", "a", 10)
	if err := c.Ack(ctx, "g1", streamIDs(all)...); err != nil {
		t.Fatal(err)
	}
	g2 := read(t, c, "g2", "b", 4) // e0..e3
	if err := c.Ack(ctx, "g2", g2[0].StreamID, g2[2].StreamID); err != nil {
		t.Fatal(err)
	}
	t.Run("KeepsPending", func(t *testing.T) {
		trim(1) // e0; e1 is pending in g2
		if got, want := remaining(), []string{"e1", "e2", "e3", "e4", "e5"}; !slices.Equal(got, want) {
			t.Errorf("left %v, want %v", got, want)
		}
		trim(0)
	})
	t.Run("KeepsUndelivered", func(t *testing.T) {
		if err := c.Ack(ctx, "g2", g2[1].StreamID, g2[3].StreamID); err != nil {
			t.Fatal(err)
		}
		trim(3) // e1..e3; g2 has not had e4 yet
		if got, want := remaining(), []string{"e4", "e5"}; !slices.Equal(got, want) {
			t.Errorf("left %v, want %v", got, want)
		}
	})
	t.Run("RemovesAllAcknowledged", func(t *testing.T) {
		rest := read(t, c, "g2", "b", 10)
		if err := c.Ack(ctx, "g2", streamIDs(rest)...); err != nil {
			t.Fatal(err)
		}
		trim(2)
		if got := remaining(); len(got) != 0 {
			t.Errorf("left %v, want nothing", got)
		}
		publish(t, c, 6, 1)
		for _, g := range []string{"g1", "g2"} {
			if got := eventIDs(read(t, c, g, "x", 10)); !slices.Equal(got, []string{"e6"}) {
				t.Errorf("%s read %v after the trim, want [e6]", g, got)
			}
		}
		trim(0) // e6 is pending in both
	})
}

func TestStats(t *testing.T) {
	t.Parallel()
	_, c := setup(t, stream.Options{})
	ctx := testCtx(t)

	length, groups, err := c.Stats(ctx)
	if err != nil || length != 0 || groups != nil {
		t.Fatalf("Stats without a stream = %d, %v, %v; want 0, nil, nil", length, groups, err)
	}
	if err := c.EnsureGroup(ctx, "g1"); err != nil {
		t.Fatal(err)
	}
	publish(t, c, 0, 5)
	msgs := read(t, c, "g1", "a", 3)
	if err := c.Ack(ctx, "g1", msgs[0].StreamID); err != nil {
		t.Fatal(err)
	}
	if err := c.EnsureGroup(ctx, "g2"); err != nil {
		t.Fatal(err)
	}

	length, groups, err = c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []stream.GroupStats{
		{Name: "g1", Lag: 2, Pending: 2, Consumers: 1},
		{Name: "g2", Lag: 5, Pending: 0, Consumers: 0},
	}
	if length != 5 || !slices.Equal(groups, want) {
		t.Errorf("Stats = %d, %+v; want 5, %+v", length, groups, want)
	}

	t.Run("LagUnknownToRedis", func(t *testing.T) {
		// Deleting an entry from the middle makes Redis 7 report lag as nil.
		xs, err := c.Redis().XRange(ctx, "regcase:events", "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Redis().XDel(ctx, "regcase:events", xs[3].ID).Err(); err != nil { // e3, not yet read by g1
			t.Fatal(err)
		}
		length, groups, err := c.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if length != 4 {
			t.Errorf("length = %d, want 4", length)
		}
		g1 := groups[0]
		// True lag is 1 (e4): the estimate may be above it, never below.
		if !g1.LagEstimated || g1.Lag < 1 || g1.Lag > 2 {
			t.Errorf("g1 = %+v, want an estimated lag of 1 or 2", g1)
		}
		read(t, c, "g1", "a", 10)
		_, groups, err = c.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if groups[0].Lag != 0 {
			t.Errorf("after reading everything g1 = %+v, want lag 0", groups[0])
		}
	})
}
