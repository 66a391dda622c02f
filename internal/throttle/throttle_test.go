package throttle

import (
	"net"
	"net/http/httptest"
	"testing"
)

func TestAllow(t *testing.T) {
	l := New(1, 2)
	for i, want := range []bool{true, true, false} {
		if got, _ := l.Allow("a"); got != want {
			t.Fatalf("call %d: Allow = %v, want %v", i, got, want)
		}
	}
	if ok, wait := l.Allow("a"); ok || wait <= 0 {
		t.Errorf("exhausted client: ok %v wait %v; want refused with a wait", ok, wait)
	}
	if ok, _ := l.Allow("b"); !ok {
		t.Errorf("another client is refused")
	}
}

func TestClientAddr(t *testing.T) {
	_, proxies, _ := net.ParseCIDR("10.0.0.0/8")
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X-Forwarded-For", "203.0.113.9, 10.0.0.2")
	r.RemoteAddr = "10.1.2.3:5555"
	if got, want := ClientAddr(r, []*net.IPNet{proxies}), "203.0.113.9"; got != want {
		t.Errorf("from a trusted proxy: %q, want %q", got, want)
	}
	if got, want := ClientAddr(r, nil), "10.1.2.3"; got != want {
		t.Errorf("no trusted proxies: %q, want %q", got, want)
	}
	r.RemoteAddr = "192.0.2.7:1"
	if got, want := ClientAddr(r, []*net.IPNet{proxies}), "192.0.2.7"; got != want {
		t.Errorf("untrusted peer: %q, want %q", got, want)
	}
}
