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

// ClientAddr is the caller's address; X-Forwarded-For counts only when the
// direct peer is in trusted.
func ClientAddr(r *http.Request, trusted []*net.IPNet) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return host
	}
	for _, n := range trusted {
		if n.Contains(ip) {
			if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
				first, _, _ := strings.Cut(xff, ",")
				if fip := net.ParseIP(strings.TrimSpace(first)); fip != nil {
					return fip.String()
				}
			}
		}
	}
	return host
}
