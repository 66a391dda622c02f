// Package asynclog is a log writer that takes the write system call off the
// request path: a log line is copied into a bounded in-memory buffer and
// one goroutine writes whatever has accumulated with a single write, so a
// burst of N lines costs one system call instead of N, and a slow log
// destination (a pipe to a busy collector) does not slow the requests.
//
// The bound is never silently exceeded or ignored: when the buffer is full,
// an ERROR or WARN line waits for room (it is never dropped), any other line
// is dropped and counted (Dropped), and the next write tells the log how
// many lines were lost. Close writes everything still buffered.
package asynclog

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultLimit is the buffer bound used when New is given 0: about 4,000
// request log lines.
const DefaultLimit = 1 << 20

// Writer is an io.Writer for a log/slog handler (one Write per record). It
// is safe for concurrent use.
type Writer struct {
	out   io.Writer
	limit int
	json  bool

	mu      sync.Mutex
	room    *sync.Cond // broadcast when the drainer took the buffer
	buf     []byte
	spare   []byte
	pending int64 // lines dropped since the last notice
	closed  bool

	dropped atomic.Int64
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

// New starts a Writer that writes to out, buffering at most limit bytes
// (0 = DefaultLimit). format is "json" or "text": the format of the notice
// that reports dropped lines.
func New(out io.Writer, limit int, format string) *Writer {
	if limit <= 0 {
		limit = DefaultLimit
	}
	w := &Writer{out: out, limit: limit, json: format == "json",
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	w.room = sync.NewCond(&w.mu)
	go w.drain()
	return w
}

// Write queues a copy of p (one log record). It never returns an error: a
// failure of the destination cannot be reported to a log call anyway.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	for !w.closed && len(w.buf) > 0 && len(w.buf)+len(p) > w.limit {
		if !important(p) {
			w.pending++
			w.mu.Unlock()
			w.dropped.Add(1)
			return len(p), nil
		}
		w.room.Wait()
	}
	if w.closed { // after Close: write through, in order
		defer w.mu.Unlock()
		return w.out.Write(p)
	}
	w.buf = append(w.buf, p...)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	return len(p), nil
}

// Dropped returns how many lines were dropped since New.
func (w *Writer) Dropped() int64 { return w.dropped.Load() }

// Close writes everything buffered and stops the goroutine; later writes go
// straight to the destination. It is idempotent.
func (w *Writer) Close() error {
	w.once.Do(func() { close(w.stop) })
	<-w.done
	return nil
}

func (w *Writer) drain() {
	defer close(w.done)
	for {
		stopping := false
		select {
		case <-w.wake:
		case <-w.stop:
			stopping = true
		}
		w.flush(stopping)
		if stopping {
			return
		}
	}
}

// flush writes what is buffered; last marks the Writer closed in the same
// critical section, so no line slips in between.
func (w *Writer) flush(last bool) {
	w.mu.Lock()
	b, n := w.buf, w.pending
	w.buf, w.pending = w.spare[:0], 0
	w.closed = last
	w.room.Broadcast()
	w.mu.Unlock()
	if n > 0 {
		b = w.notice(b, n)
	}
	if len(b) > 0 {
		_, _ = w.out.Write(b)
	}
	w.mu.Lock()
	w.spare = b[:0]
	w.mu.Unlock()
}

// notice appends the line that reports n dropped lines.
func (w *Writer) notice(b []byte, n int64) []byte {
	at := time.Now().Format(time.RFC3339Nano)
	if w.json {
		return fmt.Appendf(b, `{"time":%q,"level":"WARN","msg":"log lines dropped: the log buffer was full","dropped":%d}`+"\n", at, n)
	}
	return fmt.Appendf(b, `time=%s level=WARN msg="log lines dropped: the log buffer was full" dropped=%d`+"\n", at, n)
}

// important reports whether a record is an ERROR or WARN line (slog's JSON
// and text handlers write the level right after the time).
func important(p []byte) bool {
	head := p[:min(len(p), 96)]
	return bytes.Contains(head, []byte(`"level":"ERROR`)) || bytes.Contains(head, []byte(`"level":"WARN`)) ||
		bytes.Contains(head, []byte(`level=ERROR`)) || bytes.Contains(head, []byte(`level=WARN`))
}
