package asynclog

import (
	"bytes"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
)

var noticeRE = regexp.MustCompile(`log lines dropped.*"?dropped"?[=:](\d+)`)

// noticed sums the counts of the drop notices in out.
func noticed(out string) int64 {
	var n int64
	for _, m := range noticeRE.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseInt(m[1], 10, 64)
		n += v
	}
	return n
}

// gate is a destination that blocks every write until opened.
type gate struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	open   chan struct{}
	writes int
}

func (g *gate) Write(p []byte) (int, error) {
	<-g.open
	g.mu.Lock()
	defer g.mu.Unlock()
	g.writes++
	return g.buf.Write(p)
}

func (g *gate) String() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.buf.String()
}

func TestLinesArriveInOrderAndClosed(t *testing.T) {
	g := &gate{open: make(chan struct{})}
	close(g.open)
	w := New(g, 0, "json")
	log := slog.New(slog.NewJSONHandler(w, nil))
	for i := range 1000 {
		log.Info("request", slog.Int("n", i))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	log.Info("after close", slog.Int("n", 1000))
	lines := strings.Split(strings.TrimSpace(g.String()), "\n")
	if len(lines) != 1001 {
		t.Fatalf("%d lines, want 1001", len(lines))
	}
	for i, l := range lines {
		if !strings.Contains(l, fmt.Sprintf(`"n":%d}`, i)) {
			t.Fatalf("line %d = %s, want n=%d (order kept)", i, l, i)
		}
	}
	if g.writes >= 1001 {
		t.Errorf("%d writes for 1001 lines, want fewer (lines batched)", g.writes)
	}
	if w.Dropped() != 0 {
		t.Errorf("Dropped = %d, want 0", w.Dropped())
	}
}

// TestFullBufferDropsInfoNeverErrors: with the destination stuck and the
// buffer full, info lines are dropped and counted, error lines wait; once
// the destination moves, every error line is written and a notice reports
// the dropped count.
func TestFullBufferDropsInfoNeverErrors(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) {
			g := &gate{open: make(chan struct{})}
			w := New(g, 4096, format)
			var h slog.Handler = slog.NewJSONHandler(w, nil)
			if format == "text" {
				h = slog.NewTextHandler(w, nil)
			}
			log := slog.New(h)
			for i := range 500 { // far more than 4 KiB while the destination is stuck
				log.Info("request", slog.Int("n", i))
			}
			if w.Dropped() == 0 {
				t.Fatal("no line dropped with a stuck destination and a full buffer")
			}
			errsDone := make(chan struct{})
			go func() {
				defer close(errsDone)
				for i := range 50 {
					log.Error("request failed", slog.Int("e", i))
				}
			}()
			close(g.open)
			<-errsDone
			dropped := w.Dropped()
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			out := g.String()
			for i := range 50 {
				if !strings.Contains(out, fmt.Sprintf("e=%d\n", i)) && !strings.Contains(out, fmt.Sprintf(`"e":%d}`, i)) {
					t.Errorf("error line %d missing: error lines must never be dropped", i)
				}
			}
			if got := noticed(out); got != dropped {
				t.Errorf("notices report %d dropped lines, want %d", got, dropped)
			}
			kept := strings.Count(out, "msg=request ") + strings.Count(out, `"msg":"request"`)
			if int64(kept)+dropped != 500 {
				t.Errorf("%d info lines kept + %d dropped = %d, want 500", kept, dropped, int64(kept)+dropped)
			}
		})
	}
}
