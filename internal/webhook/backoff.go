package webhook

import (
	"math"
	"math/rand/v2"
	"time"
)

// Backoff returns the wait before attempt number attempt+1, after attempt
// failed attempts (attempt >= 1; smaller counts as 1): the exponential
// delay d = base*2^(attempt-1), capped at max, with "equal jitter" — half
// of d fixed, the other half scaled by rnd() (which returns [0,1); nil uses
// math/rand/v2). The result lies in [d/2, d). base <= 0 gives 0; max below
// base counts as base.
func Backoff(attempt int, base, max time.Duration, rnd func() float64) time.Duration {
	if base <= 0 {
		return 0
	}
	if max < base {
		max = base
	}
	d := base
	for i := 1; i < attempt && d < max; i++ {
		if d > max/2 {
			d = max
			break
		}
		d *= 2
	}
	d = min(d, max)
	if rnd == nil {
		rnd = rand.Float64
	}
	r := rnd()
	if r < 0 || r >= 1 || math.IsNaN(r) { // out of contract: take the fixed half only
		r = 0
	}
	half := d / 2
	jitter := time.Duration(r * float64(d-half))
	if jitter >= d-half { // float rounding for delays of months
		jitter = d - half - 1
	}
	return half + jitter
}
