package web

import (
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiter is a per-client token bucket, with the API's intake semantics:
// rate per second and burst per client address, idle clients forgotten.
type limiter struct {
	mu      sync.Mutex
	rate    rate.Limit
	burst   int
	clients map[string]*rate.Limiter
	reset   time.Time
}

func newLimiter(perSecond float64, burst int) *limiter {
	return &limiter{rate: rate.Limit(perSecond), burst: burst, clients: map[string]*rate.Limiter{}, reset: time.Now()}
}

// allow reports whether client may go on now; when not, how long to wait.
func (l *limiter) allow(client string) (bool, time.Duration) {
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

func retryAfter(d time.Duration) string { return strconv.Itoa(int(d.Seconds()) + 1) }

// clientAddr is the caller's address; X-Forwarded-For counts only from a
// trusted proxy.
func (c *Console) clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return host
	}
	for _, n := range c.deps.TrustedProxies {
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
