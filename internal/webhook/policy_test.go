package webhook

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/regcase/regcase/internal/regcase"
)

func TestAllowed(t *testing.T) {
	for _, tc := range []struct {
		ip   string
		want bool
		why  string // the refusal reason, for refused ones
	}{
		// IPv4 public
		{"93.184.216.34", true, ""},
		{"8.8.8.8", true, ""},
		{"1.1.1.1", true, ""},
		{"100.63.255.255", true, ""},
		{"100.128.0.0", true, ""},
		{"172.15.255.255", true, ""},
		{"172.32.0.0", true, ""},
		{"192.167.255.255", true, ""},
		{"223.255.255.255", true, ""},
		// IPv4 refused
		{"127.0.0.1", false, "a loopback address"},
		{"127.255.255.254", false, "a loopback address"},
		{"10.0.0.5", false, "a private address"},
		{"172.16.0.1", false, "a private address"},
		{"172.31.255.255", false, "a private address"},
		{"192.168.1.1", false, "a private address"},
		{"169.254.169.254", false, "a link-local address"}, // cloud metadata
		{"0.0.0.0", false, "an unspecified address"},
		{"0.1.2.3", false, "a \"this network\" address"},
		{"100.64.0.1", false, "a shared (CGNAT) address"},
		{"100.127.255.255", false, "a shared (CGNAT) address"},
		{"224.0.0.1", false, "a multicast address"},
		{"239.255.255.250", false, "a multicast address"},
		{"255.255.255.255", false, "the broadcast address"},
		{"240.0.0.1", false, "a reserved address"},
		{"192.0.0.170", false, "a reserved address"},
		{"192.0.2.1", false, "a documentation address"},
		{"198.51.100.7", false, "a documentation address"},
		{"203.0.113.9", false, "a documentation address"},
		{"198.18.0.1", false, "a benchmarking address"},
		// IPv6 public
		{"2606:4700:4700::1111", true, ""},
		{"2a00:1450:4001:82b::200e", true, ""},
		// IPv6 refused
		{"::1", false, "a loopback address"},
		{"::", false, "an unspecified address"},
		{"fc00::1", false, "a private address"},
		{"fd12:3456:789a::1", false, "a private address"},
		{"fe80::1", false, "a link-local address"},
		{"febf::1", false, "a link-local address"},
		{"fec0::1", false, "a site-local address"},
		{"ff02::1", false, "a multicast address"},
		{"ff05::2", false, "a multicast address"},
		{"2001:db8::1", false, "a documentation address"},
		{"64:ff9b::a00:1", false, "a NAT64 address"},
		{"2002:a00:1::1", false, "a 6to4 address"},
		{"2001:0:4136:e378::1", false, "a reserved address"}, // Teredo
		{"::a00:1", false, "an IPv4-compatible address"},
		{"100::1", false, "a discard address"},
		// IPv4-mapped IPv6: judged by the IPv4 address
		{"::ffff:127.0.0.1", false, "a loopback address"},
		{"::ffff:10.0.0.5", false, "a private address"},
		{"::ffff:169.254.169.254", false, "a link-local address"},
		{"::ffff:100.64.0.1", false, "a shared (CGNAT) address"},
		{"::ffff:0.0.0.0", false, "an unspecified address"},
		{"::ffff:93.184.216.34", true, ""},
	} {
		t.Run(tc.ip, func(t *testing.T) {
			ip := net.ParseIP(tc.ip)
			if ip == nil {
				t.Fatalf("bad test address %q", tc.ip)
			}
			var p Policy
			if got := p.Allowed(ip); got != tc.want {
				t.Errorf("Allowed(%s) = %v, want %v", tc.ip, got, tc.want)
			}
			if v4 := ip.To4(); v4 != nil {
				if got := p.Allowed(v4); got != tc.want {
					t.Errorf("Allowed(4-byte %s) = %v, want %v", tc.ip, got, tc.want)
				}
			}
			if got := p.refusal(netip.MustParseAddr(tc.ip)); got != tc.why {
				t.Errorf("refusal(%s) = %q, want %q", tc.ip, got, tc.why)
			}
		})
	}
	t.Run("ErrInvalid", func(t *testing.T) {
		all := Policy{Allow: cidrs(t, "0.0.0.0/0", "::/0")}
		for _, ip := range []net.IP{nil, {}, {1, 2, 3}} {
			if all.Allowed(ip) {
				t.Errorf("Allowed(%#v) = true, want false", ip)
			}
		}
	})
}

func TestAllowed_AllowList(t *testing.T) {
	p := Policy{Allow: cidrs(t, "127.0.0.0/8", "10.1.0.0/16", "fd00:1::/32", "fe80::/10")}
	for ip, want := range map[string]bool{
		"127.0.0.1":        true,
		"127.8.9.10":       true,
		"::ffff:127.0.0.1": true,
		"10.1.2.3":         true,
		"::ffff:10.1.2.3":  true,
		"10.2.0.1":         false,
		"192.168.0.1":      false,
		"::1":              false, // not in the list: IPv6 loopback is not IPv4 loopback
		"fd00:1:2::3":      true,
		"fd00:2::1":        false,
		"fe80::1":          true,
		"169.254.169.254":  false,
		"8.8.8.8":          true, // public stays allowed
	} {
		if got := p.Allowed(net.ParseIP(ip)); got != want {
			t.Errorf("Allowed(%s) = %v, want %v", ip, got, want)
		}
	}
	if got := p.refusal(netip.MustParseAddr("fe80::1%eth0")); got != "" {
		t.Errorf("refusal(zoned fe80::1 in the allow list) = %q, want allowed", got)
	}
	if got := (Policy{Allow: []*net.IPNet{nil}}).refusal(netip.MustParseAddr("10.0.0.1")); got != "a private address" {
		t.Errorf("nil allow entry: refusal = %q", got)
	}
}

func TestCheckURL(t *testing.T) {
	long := "https://example.com/" + strings.Repeat("a", MaxURLLength-len("https://example.com/"))
	for _, tc := range []struct {
		name, url string
		policy    Policy
		wantErr   string // "" = valid; else a part of the message
	}{
		{"OK", "https://hooks.example.com/regcase?token=abc", Policy{RequireHTTPS: true}, ""},
		{"OKHTTPInDev", "http://hooks.example.com/x", Policy{}, ""},
		{"OKUpperScheme", "HTTPS://hooks.example.com/", Policy{RequireHTTPS: true}, ""},
		{"OKPort", "https://hooks.example.com:8443/x", Policy{}, ""},
		{"OKTrailingDot", "https://hooks.example.com./x", Policy{}, ""},
		{"OKPublicIPv4", "https://93.184.216.34/x", Policy{}, ""},
		{"OKPublicIPv6", "https://[2606:4700:4700::1111]:443/x", Policy{}, ""},
		{"OKAllowedLoopback", "http://127.0.0.1:8080/x", Policy{Allow: cidrs(t, "127.0.0.0/8")}, ""},
		{"OKAllowedLocalhost", "http://localhost:8080/x", Policy{Allow: cidrs(t, "127.0.0.0/8")}, ""},
		{"OKMaxLength", long, Policy{}, ""},
		{"OKNumericInnerLabel", "https://123.example.com/", Policy{}, ""},

		{"ErrEmpty", "", Policy{}, "required"},
		{"ErrTooLong", long + "a", Policy{}, "longer than 2048"},
		{"ErrNotURL", "https://exa mple.com/", Policy{}, "not a valid URL"},
		{"ErrControlChar", "https://example.com/\n", Policy{}, "not a valid URL"},
		{"ErrRelative", "/hooks", Policy{}, "absolute"},
		{"ErrNoScheme", "example.com/hooks", Policy{}, "absolute"},
		{"ErrFTP", "ftp://example.com/x", Policy{}, "http or https"},
		{"ErrFile", "file:///etc/passwd", Policy{}, "http or https"},
		{"ErrJavascript", "javascript:alert(1)", Policy{}, "http or https"},
		{"ErrGopher", "gopher://example.com:70/", Policy{}, "http or https"},
		{"ErrOpaque", "https:example.com", Policy{}, "absolute"},
		{"ErrHTTPInProduction", "http://hooks.example.com/x", Policy{RequireHTTPS: true}, "must use https"},
		{"ErrUserinfo", "https://user:hunter2@example.com/", Policy{}, "credentials"},
		{"ErrUserOnly", "https://user@example.com/", Policy{}, "credentials"},
		{"ErrFragment", "https://example.com/x#s3cr3t", Policy{}, "fragment"},
		{"ErrEmptyFragment", "https://example.com/x#", Policy{}, "fragment"},
		{"ErrNoHost", "https:///x", Policy{}, "no host"},
		{"ErrPortOnly", "https://:443/x", Policy{}, "no host"},
		{"ErrPortZero", "https://example.com:0/", Policy{}, "port"},
		{"ErrPortTooBig", "https://example.com:65536/", Policy{}, "port"},
		{"ErrLoopback", "http://127.0.0.1/x", Policy{}, "127.0.0.1 is a loopback address"},
		{"ErrPrivate", "https://10.0.0.5/x", Policy{}, "10.0.0.5 is a private address"},
		{"ErrPrivateAllowListOther", "https://10.0.0.5/x", Policy{Allow: cidrs(t, "127.0.0.0/8")}, "private"},
		{"ErrMetadata", "http://169.254.169.254/latest/meta-data", Policy{}, "link-local"},
		{"ErrUnspecified", "http://0.0.0.0:80/", Policy{}, "unspecified"},
		{"ErrIPv6Loopback", "http://[::1]/", Policy{}, "loopback"},
		{"ErrIPv6Mapped", "http://[::ffff:10.0.0.1]/", Policy{}, "private"},
		{"ErrIPv6ULA", "http://[fd00::1]/", Policy{}, "private"},
		{"ErrIPv6Zone", "http://[fe80::1%25eth0]/", Policy{Allow: cidrs(t, "fe80::/10")}, "zone"},
		{"ErrBadIPv6", "http://[fe80::zz]/", Policy{}, "not a valid"},
		{"ErrLocalhost", "http://localhost:8080/", Policy{}, "loopback"},
		{"ErrLocalhostSub", "http://a.b.LOCALHOST./", Policy{}, "loopback"},
		{"ErrDecimalIP", "http://2130706433/", Policy{}, "neither"},
		{"ErrShortIP", "http://127.1/", Policy{}, "neither"},
		{"ErrHexIP", "http://0x7f000001/", Policy{}, "neither"},
		{"ErrOctalIP", "http://0177.0.0.1/", Policy{}, "neither"},
		{"ErrPercentEncodedHost", "http://%31%32%37.0.0.1/", Policy{}, "not a valid URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.policy.CheckURL(tc.url)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("CheckURL(%q) = %v, want nil", tc.url, err)
				}
				return
			}
			var e *regcase.Error
			if !errors.As(err, &e) || e.Code != regcase.EInvalid || e.Field != "url" {
				t.Fatalf("CheckURL(%q) = %#v, want *regcase.Error EInvalid on field url", tc.url, err)
			}
			if !strings.Contains(e.Message, tc.wantErr) {
				t.Errorf("CheckURL(%q) message = %q, want it to mention %q", tc.url, e.Message, tc.wantErr)
			}
			for _, secret := range []string{"hunter2", "token=", "s3cr3t"} {
				if strings.Contains(tc.url, secret) && strings.Contains(e.Message, secret) {
					t.Errorf("message %q repeats %q from the URL", e.Message, secret)
				}
			}
		})
	}
}

// FuzzCheckURL checks that every URL CheckURL accepts is one a delivery
// may go to.
func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{"https://example.com/x?y=1", "http://127.0.0.1/", "http://[::ffff:10.0.0.1]:80/",
		"https://u:p@h/", "http://0x7f.1/", "https://example.com#f", "http://localhost/", "HTTP://a.b/%2e%2e/"} {
		f.Add(s)
	}
	p := Policy{RequireHTTPS: false}
	f.Fuzz(func(t *testing.T, raw string) {
		if p.CheckURL(raw) != nil {
			return
		}
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("accepted %q, which url.Parse refuses: %v", raw, err)
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.User != nil || u.Host == "" || u.Fragment != "" || len(raw) > MaxURLLength {
			t.Fatalf("accepted %q", raw)
		}
		if addr, err := netip.ParseAddr(u.Hostname()); err == nil && !p.Allowed(addr.AsSlice()) {
			t.Fatalf("accepted %q with a refused address", raw)
		}
		if _, err := http.NewRequest(http.MethodPost, raw, nil); err != nil {
			t.Fatalf("accepted %q, which net/http refuses: %v", raw, err)
		}
	})
}

func TestClient(t *testing.T) {
	_, key := newKey(t)
	body := []byte(`{}`)

	t.Run("ErrLoopbackRefused", func(t *testing.T) {
		srv := newCounted(t, ok)
		s := &Sender{Client: Policy{}.Client(5 * time.Second)}
		res := s.Send(t.Context(), srv.URL+"/x?token=SECRET", key, "m1", body)
		var re *RefusedError
		if !errors.As(res.Err, &re) || re.Addr != netip.MustParseAddr("127.0.0.1") {
			t.Fatalf("Send to 127.0.0.1 = %+v, want a *RefusedError for 127.0.0.1", res)
		}
		if got, want := res.Err.Error(), "refused: 127.0.0.1 is a loopback address"; got != want {
			t.Errorf("error = %q, want %q", got, want)
		}
		if res.StatusCode != 0 || res.OK() || srv.hits.Load() != 0 {
			t.Errorf("status %d, OK %v, hits %d: want nothing to reach the server", res.StatusCode, res.OK(), srv.hits.Load())
		}
	})
	t.Run("ErrHostNameResolvingToLoopback", func(t *testing.T) {
		// A name that resolves inside (what DNS rebinding does) is refused
		// at connection time, whatever CheckURL saw.
		srv := newCounted(t, ok)
		u, _ := url.Parse(srv.URL)
		s := &Sender{Client: Policy{}.Client(5 * time.Second)}
		res := s.Send(t.Context(), "http://localhost:"+u.Port()+"/", key, "m1", body)
		var re *RefusedError
		if !errors.As(res.Err, &re) || !re.Addr.IsLoopback() || !strings.Contains(res.Err.Error(), "is a loopback address") {
			t.Fatalf("Send to localhost = %+v, want a loopback refusal", res)
		}
		if srv.hits.Load() != 0 {
			t.Errorf("server got %d requests", srv.hits.Load())
		}
	})
	t.Run("OKAllowList", func(t *testing.T) {
		srv := newCounted(t, ok)
		s := &Sender{Client: Policy{Allow: cidrs(t, "127.0.0.0/8")}.Client(5 * time.Second)}
		res := s.Send(t.Context(), srv.URL, key, "m1", body)
		if !res.OK() || res.StatusCode != http.StatusNoContent || srv.hits.Load() != 1 {
			t.Fatalf("Send = %+v, hits %d; want one 204", res, srv.hits.Load())
		}
	})
	t.Run("ErrRedirectNotFollowed", func(t *testing.T) {
		for _, code := range []int{http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
			target := newCounted(t, ok)
			srv := newCounted(t, func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, target.URL+"/elsewhere", code)
			})
			res := sender(t, 5*time.Second).Send(t.Context(), srv.URL, key, "m1", body)
			if res.OK() || res.StatusCode != code || res.Err == nil || !strings.HasPrefix(res.Err.Error(), "HTTP 3") {
				t.Errorf("Send to a %d = %+v, want a failed attempt naming the status", code, res)
			}
			if target.hits.Load() != 0 || srv.hits.Load() != 1 {
				t.Errorf("%d: redirect target got %d requests, origin %d; want 0 and 1", code, target.hits.Load(), srv.hits.Load())
			}
		}
	})
	t.Run("ErrHTTPWhenHTTPSRequired", func(t *testing.T) {
		srv := newCounted(t, ok)
		p := loopback(t)
		p.RequireHTTPS = true
		res := (&Sender{Client: p.Client(5 * time.Second)}).Send(t.Context(), srv.URL, key, "m1", body)
		var re *RefusedError
		if !errors.As(res.Err, &re) || res.Err.Error() != "refused: plain http (https is required)" || srv.hits.Load() != 0 {
			t.Fatalf("Send over http = %+v, hits %d; want refused", res, srv.hits.Load())
		}
	})
	t.Run("OKHTTPS", func(t *testing.T) {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.TLS == nil || r.TLS.Version < tls.VersionTLS12 {
				http.Error(w, "want TLS 1.2+", http.StatusBadRequest)
			}
		}))
		srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
		srv.StartTLS()
		t.Cleanup(srv.Close)
		p := loopback(t)
		p.RequireHTTPS = true
		c := p.Client(5 * time.Second)
		s := &Sender{Client: c}

		res := s.Send(t.Context(), srv.URL+"/?token=SECRET", key, "m1", body)
		if res.OK() || !strings.HasPrefix(res.Err.Error(), "TLS certificate not accepted: x509: ") {
			t.Errorf("Send to an untrusted certificate = %+v, want a TLS error", res)
		}
		if strings.Contains(res.Err.Error(), "SECRET") {
			t.Errorf("error %q contains the query", res.Err)
		}

		pool := x509.NewCertPool()
		pool.AddCert(srv.Certificate())
		transport(t, c).TLSClientConfig.RootCAs = pool
		if res := s.Send(t.Context(), srv.URL, key, "m1", body); !res.OK() {
			t.Errorf("Send over https = %+v, want OK", res)
		}
	})
	t.Run("Settings", func(t *testing.T) {
		c := Policy{}.Client(7 * time.Second)
		tr := transport(t, c)
		if c.Timeout != 7*time.Second {
			t.Errorf("Timeout = %v", c.Timeout)
		}
		if tr.Proxy != nil {
			t.Error("the transport uses a proxy function (environment proxies must not apply)")
		}
		if tr.TLSClientConfig == nil || tr.TLSClientConfig.MinVersion != tls.VersionTLS12 {
			t.Error("TLS minimum version is not 1.2")
		}
		if tr.MaxIdleConnsPerHost < 1 || tr.MaxIdleConnsPerHost > 4 || tr.MaxIdleConns > 64 {
			t.Errorf("idle pool %d per host, %d in all: want small", tr.MaxIdleConnsPerHost, tr.MaxIdleConns)
		}
		if c.CheckRedirect == nil {
			t.Error("CheckRedirect is nil: redirects would be followed")
		}
	})
}
