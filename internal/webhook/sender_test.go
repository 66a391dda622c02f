package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestSend_Headers(t *testing.T) {
	_, key := newKey(t)
	now := time.Date(2026, 5, 6, 7, 8, 9, 500_000_000, time.UTC)
	body := []byte(`{"specversion":"1.0","id":"evt_9"}`)
	type received struct {
		method string
		header http.Header
		body   []byte
	}
	got := make(chan received, 2)
	srv := newCounted(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- received{r.Method, r.Header.Clone(), b}
	})
	for _, tc := range []struct{ name, ua, wantUA string }{
		{"OKDefaultUserAgent", "", "regcase-webhooks/1"},
		{"OKUserAgent", "regcase-webhooks/1 (test)", "regcase-webhooks/1 (test)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Sender{Client: loopback(t).Client(5 * time.Second), UserAgent: tc.ua, Now: func() time.Time { return now }}
			res := s.Send(t.Context(), srv.URL+"/hooks/regcase", key, "evt_9", body)
			if !res.OK() || res.StatusCode != http.StatusOK || res.Duration <= 0 {
				t.Fatalf("Send = %+v", res)
			}
			r := <-got
			if r.method != http.MethodPost || !bytes.Equal(r.body, body) {
				t.Errorf("got %s with body %q, want POST with %q", r.method, r.body, body)
			}
			for name, want := range map[string]string{
				"Content-Type":      "application/cloudevents+json",
				"User-Agent":        tc.wantUA,
				"webhook-id":        "evt_9",
				"webhook-timestamp": strconv.FormatInt(now.Unix(), 10),
				"webhook-signature": Sign(key, "evt_9", now, body),
				"Content-Length":    strconv.Itoa(len(body)),
			} {
				if got := r.header.Get(name); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
		})
	}
}

func TestSend_Statuses(t *testing.T) {
	_, key := newKey(t)
	for _, tc := range []struct {
		code    int
		wantErr string
	}{
		{200, ""},
		{201, ""},
		{202, ""},
		{204, ""},
		{299, ""},
		{301, "HTTP 301 (redirects are not followed)"},
		{304, "HTTP 304 (redirects are not followed)"},
		{400, "HTTP 400"},
		{410, "HTTP 410"},
		{429, "HTTP 429"},
		{500, "HTTP 500"},
		{503, "HTTP 503"},
	} {
		t.Run(strconv.Itoa(tc.code), func(t *testing.T) {
			srv := newCounted(t, func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tc.code)
				fmt.Fprint(w, "some answer")
			})
			res := sender(t, 5*time.Second).Send(t.Context(), srv.URL+"?token=SECRET", key, "m", nil)
			if res.StatusCode != tc.code {
				t.Errorf("StatusCode = %d, want %d", res.StatusCode, tc.code)
			}
			if tc.wantErr == "" {
				if !res.OK() || res.Err != nil {
					t.Errorf("Send = %+v, want OK", res)
				}
				return
			}
			if res.OK() || res.Err == nil || res.Err.Error() != tc.wantErr {
				t.Errorf("Send = %+v, want error %q", res, tc.wantErr)
			}
		})
	}
}

func TestSend_Timeout(t *testing.T) {
	_, key := newKey(t)
	release := make(chan struct{})
	srv := newCounted(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow-body" {
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
		}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) }) // before srv.Close (cleanups run last first)

	t.Run("ErrSlowReceiver", func(t *testing.T) {
		const timeout = 300 * time.Millisecond
		res := sender(t, timeout).Send(t.Context(), srv.URL+"/slow?token=SECRET", key, "m", []byte("{}"))
		if res.OK() || res.StatusCode != 0 || res.Err == nil {
			t.Fatalf("Send = %+v, want a failed attempt without status", res)
		}
		if got, want := res.Err.Error(), "timeout after 300ms"; got != want {
			t.Errorf("error = %q, want %q", got, want)
		}
		if !errors.Is(res.Err, context.DeadlineExceeded) {
			t.Errorf("error %v is not context.DeadlineExceeded", res.Err)
		}
		if res.Duration < timeout || res.Duration > timeout+2*time.Second {
			t.Errorf("Duration = %v, want about %v", res.Duration, timeout)
		}
	})
	t.Run("ErrCallerDeadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		res := sender(t, time.Minute).Send(ctx, srv.URL+"/slow", key, "m", []byte("{}"))
		if res.OK() || !strings.HasPrefix(res.Err.Error(), "timeout after 2") || !errors.Is(res.Err, context.DeadlineExceeded) {
			t.Errorf("Send = %+v, want a timeout of about 200ms", res)
		}
		if res.Duration > 5*time.Second {
			t.Errorf("Duration = %v", res.Duration)
		}
	})
	t.Run("ErrCanceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(100*time.Millisecond, cancel)
		res := sender(t, time.Minute).Send(ctx, srv.URL+"/slow", key, "m", []byte("{}"))
		if res.OK() || res.Err.Error() != "canceled" || !errors.Is(res.Err, context.Canceled) {
			t.Errorf("Send = %+v, want canceled", res)
		}
	})
	t.Run("OKSlowBodyAfter2xx", func(t *testing.T) {
		// The answer is a 2xx: its never-ending body does not hold the
		// attempt longer than the timeout, nor turn it into a failure.
		const timeout = 300 * time.Millisecond
		res := sender(t, timeout).Send(t.Context(), srv.URL+"/slow-body", key, "m", []byte("{}"))
		if !res.OK() || res.Duration > timeout+2*time.Second {
			t.Errorf("Send = %+v, want OK within the timeout", res)
		}
	})
}

func TestSend_ResponseLimit(t *testing.T) {
	_, key := newKey(t)
	const total = 256 << 20 // far beyond socket buffers
	type written struct {
		n   int64
		err error
	}
	done := make(chan written, 1)
	srv := newCounted(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(total))
		chunk := bytes.Repeat([]byte("x"), 32<<10)
		var n int64
		var err error
		for n < total && err == nil {
			var k int
			k, err = w.Write(chunk)
			n += int64(k)
		}
		done <- written{n, err}
	})
	s := sender(t, 30*time.Second)
	s.MaxResponseBytes = 1 << 10
	res := s.Send(t.Context(), srv.URL, key, "m", []byte("{}"))
	if !res.OK() {
		t.Fatalf("Send = %+v, want OK", res)
	}
	if res.Duration > 5*time.Second {
		t.Errorf("Send took %v: it read more than it should", res.Duration)
	}
	select {
	case w := <-done:
		if w.err == nil || w.n >= total {
			t.Errorf("server wrote %d of %d bytes (err %v): the client read the whole answer", w.n, total, w.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the server is still writing: the client did not close the connection")
	}
}

func TestSend_Errors(t *testing.T) {
	_, key := newKey(t)
	t.Run("ErrConnectionRefused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		res := sender(t, 5*time.Second).Send(t.Context(), "http://"+addr+"/x?token=SECRET", key, "m", nil)
		if res.OK() || res.StatusCode != 0 || res.Err.Error() != "connection refused" {
			t.Errorf("Send to a closed port = %+v, want connection refused", res)
		}
	})
	t.Run("ErrClosedWithoutAnswer", func(t *testing.T) {
		srv := newCounted(t, func(w http.ResponseWriter, _ *http.Request) {
			c, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				c.Close()
			}
		})
		res := sender(t, 5*time.Second).Send(t.Context(), srv.URL+"?token=SECRET", key, "m", nil)
		if res.OK() || res.StatusCode != 0 || res.Err.Error() != "connection closed before an answer" {
			t.Errorf("Send = %+v, want connection closed", res)
		}
	})
	t.Run("ErrInvalidURL", func(t *testing.T) {
		for _, u := range []string{"http://exa mple.com/?token=SECRET", "ftp://example.com/?token=SECRET", "::"} {
			res := sender(t, time.Second).Send(t.Context(), u, key, "m", nil)
			if res.OK() || res.Err == nil || strings.Contains(res.Err.Error(), "SECRET") {
				t.Errorf("Send(%q) = %+v, want a safe error", u, res)
			}
		}
	})
	t.Run("ErrNoClient", func(t *testing.T) {
		if res := (&Sender{}).Send(t.Context(), "https://example.com", key, "m", nil); res.OK() || res.Err == nil {
			t.Errorf("Send without a client = %+v", res)
		}
	})
}

// TestDescribe checks the messages of failures that cannot be provoked on
// loopback, and that none of them leaks the URL's query or credentials.
func TestDescribe(t *testing.T) {
	u, _ := url.Parse("https://bob:hunter2@hooks.example.com/x?token=SECRET")
	wrap := func(err error) error { return &url.Error{Op: "Post", URL: u.String(), Err: err} }
	opErr := func(err error) error {
		return &net.OpError{Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(93, 184, 216, 34), Port: 443}, Err: err}
	}
	s := &Sender{Client: &http.Client{Timeout: 10 * time.Second}}
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"DNSNotFound", wrap(opErr(&net.DNSError{Err: "no such host", Name: "hooks.example.com", IsNotFound: true})),
			"DNS: no such host hooks.example.com"},
		{"DNSFailure", wrap(opErr(&net.DNSError{Err: "server misbehaving", Name: "hooks.example.com"})),
			"DNS lookup of hooks.example.com failed: server misbehaving"},
		{"Reset", wrap(opErr(syscall.ECONNRESET)), "connection reset by the receiver"},
		{"Unreachable", wrap(opErr(syscall.EHOSTUNREACH)), "host unreachable"},
		{"ClientTimeout", wrap(timeoutError{}), "timeout after 10s"},
		{"Refused", wrap(opErr(&RefusedError{Addr: netip4(10, 0, 0, 5), Reason: "a private address"})),
			"refused: 10.0.0.5 is a private address"},
		{"OtherCarriesTheURL", wrap(fmt.Errorf("odd failure talking to %s (query %s, user %s)", u, u.RawQuery, u.User)),
			"odd failure talking to … (query …, user …)"},
		{"Long", wrap(errors.New(strings.Repeat("é", 300))), strings.Repeat("é", maxErrorLen/2) + "…"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := s.describe(context.Background(), tc.err, u, 10*time.Second).Error()
			if got != tc.want {
				t.Errorf("describe = %q, want %q", got, tc.want)
			}
			for _, leak := range []string{"SECRET", "hunter2", "token"} {
				if strings.Contains(got, leak) {
					t.Errorf("describe = %q leaks %q", got, leak)
				}
			}
		})
	}
}

type timeoutError struct{}

func (timeoutError) Error() string   { return "Client.Timeout exceeded while awaiting headers" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

func TestResultOK(t *testing.T) {
	for _, tc := range []struct {
		r    Result
		want bool
	}{
		{Result{StatusCode: 200}, true},
		{Result{StatusCode: 204}, true},
		{Result{StatusCode: 0}, false},
		{Result{StatusCode: 302}, false},
		{Result{StatusCode: 500}, false},
		{Result{StatusCode: 200, Err: errors.New("x")}, false},
	} {
		if got := tc.r.OK(); got != tc.want {
			t.Errorf("%+v.OK() = %v, want %v", tc.r, got, tc.want)
		}
	}
}

func netip4(a, b, c, d byte) netip.Addr { return netip.AddrFrom4([4]byte{a, b, c, d}) }
