package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/regcase/regcase/internal/throttle"
)

func retryAfter(d time.Duration) string { return strconv.Itoa(int(d.Seconds()) + 1) }

// clientAddr is the caller's address; X-Forwarded-For counts only from a
// trusted proxy.
func (c *Console) clientAddr(r *http.Request) string {
	return throttle.ClientAddr(r, c.deps.TrustedProxies)
}
