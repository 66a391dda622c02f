// Package throttle limits what one client can do: it finds the client's
// address (believing X-Forwarded-For only from trusted proxies) and keeps a
// token bucket per client. The API and the web console share one Limiter
// for public intake, so a client cannot double its rate by using both.
package throttle

import (
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter is a per-client token bucket; safe for concurrent use.
type Limiter struct {
	mu      sync.Mutex
	rate    rate.Limit
	burst   int
	clients map[string]*rate.Limiter
	reset   time.Time
}

// New returns a limiter allowing perSecond requests per client with burst.
func New(perSecond float64, burst int) *Limiter {
	return &Limiter{rate: rate.Limit(perSecond), burst: burst, clients: map[string]*rate.Limiter{}, reset: time.Now()}
}

// Allow reports whether client may go on now; when not, how long to wait.
// Idle clients are forgotten now and then, so memory stays bounded.
func (l *Limiter) Allow(client string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.clients) > 50_000 || time.Since(l.reset) > 10*time.Minute {
		l.clients, l.reset = map[string]*rate.Limiter{}, time.Now()
	}
	lim, ok := l.clients[client]
	if !ok {
		lim = rate.NewLimiter(l.rate, l.burst)
		l.clients[client] = lim
	}
	res := lim.Reserve()
	if d := res.Delay(); d > 0 {
		res.Cancel()
		return false, d
	}
	return true, 0
}

// ClientAddr is the caller's address. X-Forwarded-For counts only when the
// direct peer is a trusted proxy, and it is read from the right: each
// trusted proxy appends the address it saw, so the rightmost address that
// is not a trusted proxy is the client; everything left of it was written
// by the client and may be forged. Several X-Forwarded-For headers are one
// list in order. An entry that is not an IP address stops the walk at the
// last trusted hop (a proxy wrote nonsense; nothing left of it is
// believed). When every entry is a trusted proxy, the leftmost one is the
// client.
func ClientAddr(r *http.Request, trusted []*net.IPNet) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return host
	}
	if !isTrusted(ip, trusted) {
		return ip.String()
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	last := ip
	for i := len(hops) - 1; i >= 0; i-- {
		hop := parseHop(hops[i])
		if hop == nil {
			break
		}
		if !isTrusted(hop, trusted) {
			return hop.String()
		}
		last = hop
	}
	return last.String()
}

func isTrusted(ip net.IP, trusted []*net.IPNet) bool {
	for _, n := range trusted {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// parseHop parses one X-Forwarded-For entry: an IP address, optionally
// with a port ("198.51.100.7:4711", "[2001:db8::1]:443").
func parseHop(s string) net.IP {
	s = strings.TrimSpace(s)
	if ip := net.ParseIP(s); ip != nil {
		return ip
	}
	if h, _, err := net.SplitHostPort(s); err == nil {
		return net.ParseIP(h)
	}
	return nil
}
