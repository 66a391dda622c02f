package e2e

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/regcase/regcase/internal/redistest"
)

// TestIntakeRateLimitSharedAcrossReplicas: two `regcase api` replicas on
// one Redis share the public-intake limit (burst 10, 0.2/s): 30 quick
// anonymous submissions alternating between the replicas get about 10
// 201s in all — not 10 per replica — and the rest are 429 problems with
// Retry-After, from both replicas.
func TestIntakeRateLimitSharedAcrossReplicas(t *testing.T) {
	needBinary(t)
	t.Parallel()
	const rate, burst, n = 0.2, 10, 30
	rd := redistest.Start(t)
	s := newPGStack(t, sharedPG(t), map[string]string{
		"REDIS_URL":            rd.URL(),
		"REGCASE_INTAKE_RATE":  fmt.Sprint(rate),
		"REGCASE_INTAKE_BURST": fmt.Sprint(burst),
	})
	apis := []*proc{s.start("api-1", "api", nil), s.start("api-2", "api", nil)}

	start := time.Now()
	created := map[string]int{}
	limited := map[string]int{}
	for i := range n {
		api := apis[i%2]
		r, err := s.call(api.URL, http.MethodPost, "/v1/reports", "", reportBody(i))
		if err != nil {
			t.Fatalf("submission %d: %v", i, err)
		}
		switch r.Status {
		case http.StatusCreated:
			created[api.Name]++
		case http.StatusTooManyRequests:
			limited[api.Name]++
			var p struct {
				Type   string `json:"type"`
				Status int    `json:"status"`
			}
			ra, raErr := strconv.Atoi(r.Header.Get("Retry-After"))
			if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") ||
				json.Unmarshal(r.Body, &p) != nil || p.Status != 429 || p.Type != "urn:regcase:problem:rate_limited" || raErr != nil || ra < 1 {
				t.Errorf("429 from %s: Content-Type %q Retry-After %q body %s; want a rate_limited problem and Retry-After ≥ 1 s",
					api.Name, ct, r.Header.Get("Retry-After"), r)
			}
		default:
			t.Fatalf("submission %d to %s: %s", i, api.Name, r)
		}
	}
	elapsed := time.Since(start)
	allowed := created["api-1"] + created["api-2"]
	ceiling := burst + int(math.Ceil(rate*elapsed.Seconds())) + 1
	if allowed > ceiling {
		t.Errorf("%d submissions accepted in %s (api-1 %d, api-2 %d), want at most %d: the limit is not shared through Redis (per process it would be %d)",
			allowed, elapsed.Round(time.Millisecond), created["api-1"], created["api-2"], ceiling, 2*burst)
	}
	if allowed < burst {
		t.Errorf("%d submissions accepted, want at least the burst %d", allowed, burst)
	}
	if limited["api-1"] == 0 || limited["api-2"] == 0 {
		t.Errorf("429s per replica: %v; want both replicas limiting", limited)
	}
	if keys, err := rd.Client().Keys(t.Context(), "*").Result(); err == nil {
		t.Logf("Redis keys: %v", keys)
	}
	t.Logf("FIGURES rate-limit: %d submissions in %s over 2 replicas: accepted %d (api-1 %d, api-2 %d; ceiling %d), 429 %d (api-1 %d, api-2 %d)",
		n, elapsed.Round(time.Millisecond), allowed, created["api-1"], created["api-2"], ceiling,
		limited["api-1"]+limited["api-2"], limited["api-1"], limited["api-2"])
}
