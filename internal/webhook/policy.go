package webhook

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/regcase/regcase/internal/regcase"
)

// MaxURLLength is the longest subscription URL CheckURL accepts.
const MaxURLLength = 2048

// Policy decides where deliveries may go: the guard against server-side
// request forgery (a subscriber pointing the platform at its own network).
// The zero Policy refuses every non-public address and allows http and https.
type Policy struct {
	// Allow lists addresses allowed even though they are private, loopback
	// or link-local (tests and on-premises receivers).
	Allow []*net.IPNet
	// RequireHTTPS allows only https URLs (production).
	RequireHTTPS bool
}

// RefusedError is why the policy refused a connection or a URL. Its message
// ("refused: 10.0.0.5 is a private address") is safe to store and show.
type RefusedError struct {
	Addr   netip.Addr // the refused address; invalid when the refusal is not about one
	Reason string     // "a private address", "plain http (https is required)"
}

func (e *RefusedError) Error() string {
	if e.Addr.IsValid() {
		return "refused: " + e.Addr.String() + " is " + e.Reason
	}
	return "refused: " + e.Reason
}

// CheckURL validates a subscription URL when it is created: an absolute
// http or https URL (https only when RequireHTTPS) with a host, no userinfo,
// no fragment, a port (if any) in 1..65535, at most MaxURLLength bytes. An
// IP-literal host must be Allowed; a host name must not look numeric (such
// as "2130706433" or "0x7f.1", which some resolvers read as addresses), and
// "localhost" is refused unless the policy allows loopback. Host names are
// not resolved here: Client checks every address it connects to.
// Errors are *regcase.Error with code EInvalid and field "url"; the
// message never repeats the URL's query or credentials.
func (p Policy) CheckURL(raw string) error {
	const field = "url"
	if raw == "" {
		return regcase.FieldError(field, "url is required")
	}
	if len(raw) > MaxURLLength {
		return regcase.FieldError(field, "the URL is longer than %d bytes", MaxURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return regcase.FieldError(field, "not a valid URL")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if p.RequireHTTPS {
			return regcase.FieldError(field, "the URL must use https")
		}
	case "":
		return regcase.FieldError(field, "the URL must be absolute (https://host/path)")
	default:
		return regcase.FieldError(field, "the URL scheme must be http or https, not %q", u.Scheme)
	}
	if u.Opaque != "" {
		return regcase.FieldError(field, "the URL must be absolute (https://host/path)")
	}
	if u.User != nil {
		return regcase.FieldError(field, "the URL must not contain credentials (user:password@)")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return regcase.FieldError(field, "the URL must not contain a fragment (#...)")
	}
	host := u.Hostname()
	if host == "" {
		return regcase.FieldError(field, "the URL has no host")
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return regcase.FieldError(field, "the URL port must be 1 to 65535")
		}
	}
	return p.checkHost(host, strings.HasPrefix(u.Host, "["))
}

// checkHost is CheckURL's rule for the host part (without brackets).
func (p Policy) checkHost(host string, bracketed bool) error {
	const field = "url"
	if addr, err := netip.ParseAddr(host); err == nil {
		if addr.Zone() != "" {
			return regcase.FieldError(field, "the URL host must not name an IPv6 zone")
		}
		if why := p.refusal(addr); why != "" {
			return regcase.FieldError(field, "the URL host %s is %s; deliveries to it are refused", addr, why)
		}
		return nil
	}
	if bracketed {
		return regcase.FieldError(field, "the URL host %q is not a valid IPv6 address", host)
	}
	name := strings.ToLower(strings.TrimSuffix(host, "."))
	labels := strings.Split(name, ".")
	if last := labels[len(labels)-1]; last == "" || numeric(last) {
		return regcase.FieldError(field, "the URL host %q is neither an IP address nor a host name", host)
	}
	if (name == "localhost" || strings.HasSuffix(name, ".localhost")) &&
		p.refusal(netip.IPv6Loopback()) != "" && p.refusal(netip.AddrFrom4([4]byte{127, 0, 0, 1})) != "" {
		return regcase.FieldError(field, "the URL host %s is a loopback address; deliveries to it are refused", host)
	}
	return nil
}

// numeric reports whether a host label reads as a number (decimal, octal or
// 0x-hex): no top-level domain does, but inet_aton-style resolvers take
// such names for IPv4 addresses.
func numeric(label string) bool {
	if strings.HasPrefix(label, "0x") {
		return true
	}
	for _, c := range label {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Allowed reports whether ip may be dialed. Refused are the unspecified,
// loopback, private (RFC 1918, fc00::/7), link-local, multicast, CGNAT
// (100.64.0.0/10), "this network" (0.0.0.0/8), reserved (240.0.0.0/4 with
// the broadcast address), documentation and benchmarking addresses, the
// IPv6 forms that embed IPv4 addresses (IPv4-mapped ones are judged by
// their IPv4 address; NAT64, 6to4, Teredo and IPv4-compatible ones are
// refused) and site-local fec0::/10 — unless ip is inside one of p.Allow.
func (p Policy) Allowed(ip net.IP) bool {
	addr, ok := netip.AddrFromSlice(ip)
	return ok && p.refusal(addr) == ""
}

// refusal returns why addr may not be dialed ("a private address"), or ""
// when it may.
func (p Policy) refusal(addr netip.Addr) string {
	addr = addr.WithZone("")
	if !addr.IsValid() {
		return "not an IP address"
	}
	plain := addr.Unmap()
	for _, n := range p.Allow {
		if n != nil && (n.Contains(plain.AsSlice()) || n.Contains(addr.AsSlice())) {
			return ""
		}
	}
	return classify(plain)
}

// classify returns the kind of a non-public address, "" for a public one.
func classify(addr netip.Addr) string {
	switch {
	case addr.IsUnspecified():
		return "an unspecified address"
	case addr.IsLoopback():
		return "a loopback address"
	case addr.IsPrivate():
		return "a private address"
	case addr.IsLinkLocalUnicast():
		return "a link-local address"
	case addr.IsMulticast():
		return "a multicast address"
	}
	for _, r := range refusedRanges {
		if r.prefix.Contains(addr) {
			return r.what
		}
	}
	return ""
}

// refusedRanges are the refused ranges that netip does not classify.
var refusedRanges = []struct {
	prefix netip.Prefix
	what   string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "a \"this network\" address"},
	{netip.MustParsePrefix("100.64.0.0/10"), "a shared (CGNAT) address"},
	{netip.MustParsePrefix("192.0.0.0/24"), "a reserved address"},
	{netip.MustParsePrefix("192.0.2.0/24"), "a documentation address"},
	{netip.MustParsePrefix("192.88.99.0/24"), "a reserved address"},
	{netip.MustParsePrefix("198.18.0.0/15"), "a benchmarking address"},
	{netip.MustParsePrefix("198.51.100.0/24"), "a documentation address"},
	{netip.MustParsePrefix("203.0.113.0/24"), "a documentation address"},
	{netip.MustParsePrefix("255.255.255.255/32"), "the broadcast address"},
	{netip.MustParsePrefix("240.0.0.0/4"), "a reserved address"},
	{netip.MustParsePrefix("::/96"), "an IPv4-compatible address"},
	{netip.MustParsePrefix("::ffff:0:0:0/96"), "an IPv4-translated address"},
	{netip.MustParsePrefix("64:ff9b::/96"), "a NAT64 address"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "a NAT64 address"},
	{netip.MustParsePrefix("100::/64"), "a discard address"},
	{netip.MustParsePrefix("2001::/23"), "a reserved address"}, // Teredo, benchmarking, ORCHID
	{netip.MustParsePrefix("2001:db8::/32"), "a documentation address"},
	{netip.MustParsePrefix("2002::/16"), "a 6to4 address"},
	{netip.MustParsePrefix("3fff::/20"), "a documentation address"},
	{netip.MustParsePrefix("fec0::/10"), "a site-local address"},
}

// Client returns the *http.Client for deliveries. Its dialer's Control hook
// refuses every connection to an address that is not Allowed — checked
// after name resolution, for every address tried, so neither DNS rebinding
// nor a host name pointing inside reaches an internal address — with a
// *RefusedError. It ignores proxy settings from the environment, does not
// follow redirects (the 3xx answer is returned), gives up after timeout in
// all (0 = no limit), speaks TLS 1.2 or later, keeps a small idle pool, and
// refuses plain http when RequireHTTPS is set.
func (p Policy) Client(timeout time.Duration) *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: p.control}
	if timeout > 0 && timeout < dialer.Timeout {
		dialer.Timeout = timeout
	}
	tr := &http.Transport{
		Proxy:                  nil, // never a proxy from the environment
		DialContext:            dialer.DialContext,
		ForceAttemptHTTP2:      true,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    10 * time.Second,
		MaxIdleConns:           32,
		MaxIdleConnsPerHost:    2,
		IdleConnTimeout:        60 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
		DisableCompression:     true, // the answer is discarded: no need to inflate it
	}
	var rt http.RoundTripper = tr
	if p.RequireHTTPS {
		rt = httpsOnly{tr}
	}
	return &http.Client{
		Transport: rt,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// control is the dialer's Control hook: it runs after name resolution and
// before connecting, once for every address tried.
func (p Policy) control(network, address string, _ syscall.RawConn) error {
	if network != "tcp4" && network != "tcp6" {
		return &RefusedError{Reason: "not a TCP connection"}
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &RefusedError{Reason: "not an IP address"}
	}
	if why := p.refusal(ap.Addr()); why != "" {
		return &RefusedError{Addr: ap.Addr(), Reason: why}
	}
	return nil
}

// httpsOnly refuses requests that are not https.
type httpsOnly struct{ next *http.Transport }

func (h httpsOnly) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "https" {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, &RefusedError{Reason: "plain http (https is required)"}
	}
	return h.next.RoundTrip(req)
}
