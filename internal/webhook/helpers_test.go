package webhook

import (
	"crypto/rand"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// loopback is a Policy that allows the loopback addresses httptest servers
// listen on.
func loopback(tb testing.TB) Policy {
	tb.Helper()
	return Policy{Allow: cidrs(tb, "127.0.0.0/8", "::1/128")}
}

func cidrs(tb testing.TB, ss ...string) []*net.IPNet {
	tb.Helper()
	var out []*net.IPNet
	for _, s := range ss {
		_, n, err := net.ParseCIDR(s)
		if err != nil {
			tb.Fatalf("ParseCIDR(%q): %v", s, err)
		}
		out = append(out, n)
	}
	return out
}

// newKey returns a fresh secret and its key.
func newKey(tb testing.TB) (string, []byte) {
	tb.Helper()
	secret, err := NewSecret(rand.Reader)
	if err != nil {
		tb.Fatalf("NewSecret: %v", err)
	}
	key, err := ParseSecret(secret)
	if err != nil {
		tb.Fatalf("ParseSecret(NewSecret()): %v", err)
	}
	return secret, key
}

// counted is an httptest server that counts the requests it gets.
type counted struct {
	*httptest.Server
	hits atomic.Int64
}

func newCounted(tb testing.TB, h http.HandlerFunc) *counted {
	tb.Helper()
	c := &counted{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.hits.Add(1)
		h(w, r)
	}))
	tb.Cleanup(c.Close)
	return c
}

// transport returns the *http.Transport under a Client built by Policy.
func transport(tb testing.TB, c *http.Client) *http.Transport {
	tb.Helper()
	switch rt := c.Transport.(type) {
	case *http.Transport:
		return rt
	case httpsOnly:
		return rt.next
	}
	tb.Fatalf("unexpected transport %T", c.Transport)
	return nil
}

func ok(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }

// sender returns a Sender over a loopback-allowing client.
func sender(tb testing.TB, timeout time.Duration) *Sender {
	tb.Helper()
	return &Sender{Client: loopback(tb).Client(timeout)}
}
