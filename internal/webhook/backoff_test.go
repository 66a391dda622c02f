package webhook

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	const base, max = 10 * time.Second, 6 * time.Hour
	zero := func() float64 { return 0 }
	almostOne := func() float64 { return math.Nextafter(1, 0) }

	t.Run("OKExponential", func(t *testing.T) {
		for attempt, want := range map[int]time.Duration{
			1: 10 * time.Second, 2: 20 * time.Second, 3: 40 * time.Second, 4: 80 * time.Second,
			10: 5120 * time.Second, 11: 10240 * time.Second, 12: 20480 * time.Second, 13: max, 14: max, 100: max,
		} {
			if got := Backoff(attempt, base, max, zero); got != want/2 {
				t.Errorf("Backoff(%d) with rnd 0 = %v, want %v", attempt, got, want/2)
			}
			if got := Backoff(attempt, base, max, func() float64 { return 0.5 }); got != want*3/4 {
				t.Errorf("Backoff(%d) with rnd 0.5 = %v, want %v", attempt, got, want*3/4)
			}
			if got := Backoff(attempt, base, max, almostOne); got >= want || got < want-time.Millisecond {
				t.Errorf("Backoff(%d) with rnd ~1 = %v, want just under %v", attempt, got, want)
			}
		}
	})
	t.Run("OKBounds", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(1, 2))
		prevFixed := time.Duration(0)
		for attempt := 1; attempt <= 200; attempt++ {
			d := time.Duration(math.Min(float64(max), float64(base)*math.Pow(2, float64(attempt-1))))
			for range 100 {
				got := Backoff(attempt, base, max, rng.Float64)
				if got < d/2 || got >= d {
					t.Fatalf("Backoff(%d) = %v, want in [%v, %v)", attempt, got, d/2, d)
				}
			}
			fixed := Backoff(attempt, base, max, zero)
			if fixed < prevFixed {
				t.Fatalf("fixed half went down: Backoff(%d) = %v < %v", attempt, fixed, prevFixed)
			}
			prevFixed = fixed
			if hi := Backoff(attempt, base, max, almostOne); hi > max {
				t.Fatalf("Backoff(%d) = %v exceeds the cap %v", attempt, hi, max)
			}
		}
	})
	t.Run("OKJitterSpreads", func(t *testing.T) {
		seen := map[time.Duration]bool{}
		for range 50 {
			seen[Backoff(5, base, max, nil)] = true
		}
		if len(seen) < 10 {
			t.Errorf("50 draws with the default source gave %d distinct delays", len(seen))
		}
	})
	t.Run("OKEdges", func(t *testing.T) {
		for _, tc := range []struct {
			name      string
			attempt   int
			base, max time.Duration
			rnd       func() float64
			want      time.Duration
		}{
			{"AttemptZero", 0, base, max, zero, base / 2},
			{"AttemptNegative", -3, base, max, zero, base / 2},
			{"ZeroBase", 5, 0, max, zero, 0},
			{"MaxBelowBase", 5, base, time.Second, zero, base / 2},
			{"HugeAttemptNoOverflow", math.MaxInt, time.Hour, time.Duration(math.MaxInt64), zero, time.Duration(math.MaxInt64) / 2},
			{"HugeBase", 3, time.Duration(math.MaxInt64/2 + 1), time.Duration(math.MaxInt64), zero, time.Duration(math.MaxInt64) / 2},
			{"RndOutOfRange", 1, base, max, func() float64 { return 1.5 }, base / 2},
			{"RndNegative", 1, base, max, func() float64 { return -1 }, base / 2},
			{"RndNaN", 1, base, max, math.NaN, base / 2},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if got := Backoff(tc.attempt, tc.base, tc.max, tc.rnd); got != tc.want {
					t.Errorf("Backoff = %v, want %v", got, tc.want)
				}
			})
		}
	})
}
