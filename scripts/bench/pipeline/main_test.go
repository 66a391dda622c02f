package main

import (
	"math"
	"strings"
	"testing"
	"time"
)

const scrapeText = `# HELP regcase_worker_event_duration_seconds Time to handle one event, by handler group.
# TYPE regcase_worker_event_duration_seconds histogram
regcase_worker_event_duration_seconds_bucket{group="webhooks",le="0.01"} 10
regcase_worker_event_duration_seconds_bucket{group="webhooks",le="0.1"} 90
regcase_worker_event_duration_seconds_bucket{group="webhooks",le="+Inf"} 100
regcase_worker_event_duration_seconds_sum{group="webhooks"} 4.5
regcase_worker_event_duration_seconds_count{group="webhooks"} 100
regcase_worker_event_duration_seconds_bucket{group="other",le="0.01"} 7
regcase_worker_event_duration_seconds_bucket{group="other",le="0.1"} 7
regcase_worker_event_duration_seconds_bucket{group="other",le="+Inf"} 7
regcase_stream_consumer_lag_events{group="webhooks"} 42
regcase_outbox_backlog_events 3
weird{msg="a \"quoted\", comma}"} 1e3
`

func TestParseProm(t *testing.T) {
	m, err := parseProm(strings.NewReader(scrapeText))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("OKGauges", func(t *testing.T) {
		if got, want := metricSet(m).sum("regcase_stream_consumer_lag_events", map[string]string{"group": "webhooks"}), 42.0; got != want {
			t.Errorf("lag = %v, want %v", got, want)
		}
		if got, want := metricSet(m).sum("regcase_outbox_backlog_events", nil), 3.0; got != want {
			t.Errorf("backlog = %v, want %v", got, want)
		}
		if got, want := metricSet(m).sum("weird", map[string]string{"msg": `a "quoted", comma}`}), 1000.0; got != want {
			t.Errorf("escaped label value: sum = %v, want %v", got, want)
		}
	})
	t.Run("OKHistogramQuantile", func(t *testing.T) {
		h := metricSet(m).histogram("regcase_worker_event_duration_seconds", map[string]string{"group": "webhooks"})
		if h.Count != 100 || h.Sum != 4.5 || len(h.Bounds) != 3 {
			t.Fatalf("histogram = %+v, want 3 buckets, count 100, sum 4.5", h)
		}
		// rank 50 lies in (0.01, 0.1] holding 80: 0.01 + 0.09*40/80.
		if got, want := h.quantile(0.5), 0.055; math.Abs(got-want) > 1e-9 {
			t.Errorf("p50 = %v, want %v", got, want)
		}
		// rank 99 lies in the +Inf bucket: the highest finite bound.
		if got, want := h.quantile(0.99), 0.1; got != want {
			t.Errorf("p99 = %v, want %v", got, want)
		}
		if d := h.minus(h); d.Count != 0 || !math.IsNaN(d.quantile(0.5)) {
			t.Errorf("h − h = %+v, want empty", d)
		}
	})
	t.Run("ErrNoValue", func(t *testing.T) {
		if _, err := parseProm(strings.NewReader("lonely_name\n")); err == nil {
			t.Error("a line without a value parsed")
		}
	})
}

func TestBacklogGrowth(t *testing.T) {
	c := &config{Rate: 1000}
	var flat, rising []sample
	for i := range 60 {
		tt := float64(i) / 2
		flat = append(flat, sample{T: tt, Outbox: float64(20 + i%3), Lag: 5})
		rising = append(rising, sample{T: tt, Outbox: 100 * tt, Deliveries: 0})
	}
	t.Run("OKFlat", func(t *testing.T) {
		if b := backlogOf(flat, c, 30); b.Grew || b.Max != 27 {
			t.Errorf("flat backlog: %+v, want not grown, max 27", b)
		}
	})
	t.Run("OKRising", func(t *testing.T) {
		b := backlogOf(rising, c, 30)
		if !b.Grew || math.Abs(b.SlopeLastHalf-100) > 0.01 {
			t.Errorf("rising backlog: %+v, want grown at 100/s", b)
		}
	})
}

func TestSummarize(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	p := summarize(ds)
	if p.N != 100 || p.P50 != 50 || p.P90 != 90 || p.P99 != 99 || p.Max != 100 || p.Mean != 50.5 {
		t.Errorf("summarize(1..100 ms) = %+v, want p50 50, p90 90, p99 99, max 100, mean 50.5", p)
	}
}
