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

func TestClientAddrTable(t *testing.T) {
	var trusted []*net.IPNet
	for _, c := range []string{"10.0.0.0/8", "2001:db8:ffff::/48"} {
		_, n, _ := net.ParseCIDR(c)
		trusted = append(trusted, n)
	}
	for _, c := range []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"NoHeader", "10.1.2.3:1", nil, "10.1.2.3"},
		{"OneHop", "10.1.2.3:1", []string{"203.0.113.9"}, "203.0.113.9"},
		{"ForgedLeftmostIgnored", "10.1.2.3:1", []string{"6.6.6.6, 203.0.113.9"}, "203.0.113.9"},
		{"TwoTrustedProxies", "10.1.2.3:1", []string{"6.6.6.6, 203.0.113.9, 10.0.0.2"}, "203.0.113.9"},
		{"ForgedTrustedLeftOfClient", "10.1.2.3:1", []string{"10.9.9.9, 203.0.113.9, 10.0.0.2"}, "203.0.113.9"},
		{"SeveralHeadersInOrder", "10.1.2.3:1", []string{"6.6.6.6", "203.0.113.9, 10.0.0.2"}, "203.0.113.9"},
		{"AllTrustedLeftmostWins", "10.1.2.3:1", []string{"10.0.0.7, 10.0.0.2"}, "10.0.0.7"},
		{"GarbageStopsAtLastTrusted", "10.1.2.3:1", []string{"203.0.113.9, not-an-ip, 10.0.0.2"}, "10.0.0.2"},
		{"GarbageRightmost", "10.1.2.3:1", []string{"203.0.113.9, junk"}, "10.1.2.3"},
		{"HopWithPort", "10.1.2.3:1", []string{"203.0.113.9:4711"}, "203.0.113.9"},
		{"IPv6Hop", "[2001:db8:ffff::1]:443", []string{"[2001:db8:1::5]:80, 2001:db8:ffff::2"}, "2001:db8:1::5"},
		{"UntrustedPeerHeaderIgnored", "192.0.2.7:1", []string{"203.0.113.9"}, "192.0.2.7"},
		{"EmptyEntries", "10.1.2.3:1", []string{"203.0.113.9, , "}, "10.1.2.3"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = c.peer
			for _, v := range c.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := ClientAddr(r, trusted); got != c.want {
				t.Errorf("ClientAddr(peer %s, XFF %q) = %q, want %q", c.peer, c.xff, got, c.want)
			}
		})
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
