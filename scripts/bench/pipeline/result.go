package main

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"
)

// pct summarises a distribution in milliseconds.
type pct struct {
	N    int     `json:"n"`
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
}

func summarize(ds []time.Duration) pct {
	if len(ds) == 0 {
		return pct{}
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	at := func(q float64) float64 { return ms(s[min(len(s)-1, int(math.Ceil(q*float64(len(s))))-1)]) }
	return pct{N: len(s), Mean: ms(sum / time.Duration(len(s))), P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: ms(s[len(s)-1])}
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e4) / 100 }

// histMS summarises a histogram delta in milliseconds (quantiles are
// bucket estimates, as histogram_quantile gives).
type histMS struct {
	Count float64 `json:"count"`
	Mean  float64 `json:"mean"`
	P50   float64 `json:"p50"`
	P99   float64 `json:"p99"`
}

func (h hist) ms() histMS {
	out := histMS{Count: h.Count}
	if h.Count > 0 {
		out.Mean = round2(1000 * h.Sum / h.Count)
		out.P50 = round2(1000 * h.quantile(0.5))
		out.P99 = round2(1000 * h.quantile(0.99))
	}
	return out
}

func round2(f float64) float64 {
	if math.IsNaN(f) {
		return -1
	}
	return math.Round(f*100) / 100
}

// workerStats are the deltas of one worker's metrics over the scenario.
type workerStats struct {
	URL               string  `json:"url"`
	Published         float64 `json:"relay_published"`
	FanoutHandled     float64 `json:"fanout_handled"`
	FanoutFailed      float64 `json:"fanout_failed"`
	DeliveriesOK      float64 `json:"deliveries_handled"`
	DeliveriesRetried float64 `json:"deliveries_retried"`
	DeliveriesFailed  float64 `json:"deliveries_failed"`
	Fanout            histMS  `json:"fanout_ms"`        // regcase_worker_event_duration_seconds{group="webhooks"}
	Send              histMS  `json:"send_ms"`          // regcase_webhook_delivery_duration_seconds{outcome="success"}
	EventLatency      histMS  `json:"event_latency_ms"` // regcase_webhook_event_latency_seconds
	PoolWaitS         float64 `json:"db_pool_wait_s"`
	CPUSeconds        float64 `json:"cpu_s"`
}

type backlogStats struct {
	Max             float64 `json:"max"`
	MaxOutbox       float64 `json:"max_outbox"`
	MaxLag          float64 `json:"max_stream_lag"`
	MaxDeliveries   float64 `json:"max_deliveries_pending"`
	AtLoadEnd       float64 `json:"at_load_end"`
	Slope           float64 `json:"slope_per_s"`           // least squares over the load
	SlopeLastHalf   float64 `json:"slope_last_half_per_s"` // over its second half
	OutboxSlope     float64 `json:"outbox_slope_last_half_per_s"`
	Grew            bool    `json:"grew"`
	GrowthLimitPerS float64 `json:"growth_limit_per_s"`
}

// result is one scenario's figures.
type result struct {
	Config        *config      `json:"config"`
	When          string       `json:"when"`
	Load          *loadResult  `json:"load"`
	AchievedRate  float64      `json:"achieved_rate"`
	IntakeMS      pct          `json:"intake_ms"`
	Requests      int          `json:"receiver_requests"`
	Delivered     int          `json:"delivered_unique"`
	Missing       int          `json:"missing"`
	Duplicates    int          `json:"duplicates"`
	Foreign       int          `json:"foreign"` // arrivals not sent by this run (earlier scenarios)
	Rejected      int          `json:"rejected"`
	RejectSamples []string     `json:"reject_samples,omitempty"`
	LatencyMS     pct          `json:"latency_ms"`
	FirstFifthP50 float64      `json:"latency_first_fifth_p50_ms"`
	LastFifthP50  float64      `json:"latency_last_fifth_p50_ms"`
	DrainS        float64      `json:"drain_s"`       // load end → last arrival
	DeliveryRate  float64      `json:"delivery_rate"` // events/s at the receiver, first to last arrival
	Backlog       backlogStats `json:"backlog"`
	Settle        struct {
		Seconds float64 `json:"seconds"`
		Empty   bool    `json:"empty"`
	} `json:"settle"`
	Stages   []stage            `json:"stages,omitempty"`
	DB       *dbStats           `json:"db,omitempty"`
	Workers  []workerStats      `json:"workers,omitempty"`
	CPUCores map[string]float64 `json:"cpu_cores"` // CPU seconds per wall second during the load
	// CPU seconds from the load's end to the end of the wait (AfterS long):
	// the pipeline catching up, without intake.
	CPUSecondsAfter  map[string]float64 `json:"cpu_seconds_after_load"`
	AfterS           float64            `json:"after_load_s"`
	MachineBusyAfter float64            `json:"machine_busy_after_load"`
	MachineBusy      float64            `json:"machine_busy"`
	Steal            float64            `json:"steal"`
	Sustained        bool               `json:"sustained"`
	Why              []string           `json:"why_not_sustained,omitempty"`
	Samples          []sample           `json:"samples,omitempty"`
}

type stage struct {
	Name string `json:"name"`
	MS   pct    `json:"ms"`
}

// build computes the figures; cpu holds the snapshots at the load's start,
// its end and the end of the wait for the last events.
func (res *result) build(lr *loadResult, rcv *receiver, samples []sample, before, after []metricSet, cpu [3]cpuSnapshot, st map[string]stamps) {
	c := res.Config
	res.Load, res.Samples = lr, samples
	if span := lr.LastSend.Sub(lr.Start).Seconds(); span > 0 {
		res.AchievedRate = math.Round(float64(lr.Accepted) / (span + 1/c.Rate))
	}
	res.IntakeMS = summarize(lr.ReqLatency)

	first, requests, dups, rejected, why := rcv.snapshot()
	res.Requests, res.Duplicates, res.Rejected, res.RejectSamples = requests, dups, rejected, why
	type hit struct {
		id string
		a  arrival
	}
	var hits []hit
	var firstAt, last time.Time
	for id, a := range first {
		if !lr.Keys[subjectKey(a.Subject, id)] {
			res.Foreign++
			continue
		}
		hits = append(hits, hit{id, a})
		if a.At.After(last) {
			last = a.At
		}
		if firstAt.IsZero() || a.At.Before(firstAt) {
			firstAt = a.At
		}
	}
	if span := last.Sub(firstAt).Seconds(); span > 0 {
		res.DeliveryRate = math.Round(float64(len(hits)-1) / span)
	}
	res.Delivered = len(hits)
	res.Missing = lr.Accepted - len(hits)
	if !last.IsZero() {
		res.DrainS = round2(max(0, last.Sub(lr.End).Seconds()))
	}
	sort.Slice(hits, func(i, j int) bool { return hits[i].a.EvTime.Before(hits[j].a.EvTime) })
	lat := make([]time.Duration, len(hits))
	for i, h := range hits {
		lat[i] = h.a.At.Sub(h.a.EvTime)
	}
	res.LatencyMS = summarize(lat)
	if n := len(lat) / 5; n > 0 {
		res.FirstFifthP50, res.LastFifthP50 = summarize(lat[:n]).P50, summarize(lat[len(lat)-n:]).P50
	}

	res.Backlog = backlogOf(samples, c, lr.LastSend.Sub(lr.Start).Seconds())

	if len(st) > 0 {
		names := []string{"commit → relay marked published (outbox poll, SELECT, XADD, UPDATE)",
			"published → fan-out starts (stream read; < 0: read before the relay's UPDATE)",
			"fan-out starts → POST starts (fan-out transaction, delivery queue)",
			"POST starts → receiver (HTTP, signing)",
			"total (commit → receiver)"}
		per := make([][]time.Duration, len(names))
		for _, h := range hits {
			s, ok := st[h.id]
			if !ok {
				continue
			}
			for i, d := range []time.Duration{s.Published.Sub(s.Time), s.FannedOut.Sub(s.Published),
				s.SendStart.Sub(s.FannedOut), h.a.At.Sub(s.SendStart), h.a.At.Sub(s.Time)} {
				per[i] = append(per[i], d)
			}
		}
		for i, n := range names {
			res.Stages = append(res.Stages, stage{Name: n, MS: summarize(per[i])})
		}
	}

	for i := range after {
		if after[i] == nil {
			continue
		}
		var b metricSet
		if i < len(before) {
			b = before[i]
		}
		d := func(name string, match map[string]string) float64 {
			return after[i].sum(name, match) - b.sum(name, match)
		}
		h := func(name string, match map[string]string) histMS {
			return after[i].histogram(name, match).minus(b.histogram(name, match)).ms()
		}
		res.Workers = append(res.Workers, workerStats{URL: c.Metrics[i],
			Published:         d("regcase_relay_published_events_total", nil),
			FanoutHandled:     d("regcase_worker_events_total", map[string]string{"group": "webhooks", "result": "handled"}),
			FanoutFailed:      d("regcase_worker_events_total", map[string]string{"group": "webhooks", "result": "failed"}),
			DeliveriesOK:      d("regcase_worker_events_total", map[string]string{"group": "webhook_delivery", "result": "handled"}),
			DeliveriesRetried: d("regcase_worker_events_total", map[string]string{"group": "webhook_delivery", "result": "retried"}),
			DeliveriesFailed:  d("regcase_worker_events_total", map[string]string{"group": "webhook_delivery", "result": "failed"}),
			Fanout:            h("regcase_worker_event_duration_seconds", map[string]string{"group": "webhooks"}),
			Send:              h("regcase_webhook_delivery_duration_seconds", map[string]string{"outcome": "success"}),
			EventLatency:      h("regcase_webhook_event_latency_seconds", nil),
			PoolWaitS:         round2(d("regcase_db_pool_wait_seconds_total", nil)),
			CPUSeconds:        round2(d("process_cpu_seconds_total", nil)),
		})
	}

	cpu0, cpu1, cpu2 := cpu[0], cpu[1], cpu[2]
	wall := cpu1.At.Sub(cpu0.At).Seconds()
	res.CPUCores, res.CPUSecondsAfter = map[string]float64{}, map[string]float64{}
	res.AfterS = round2(cpu2.At.Sub(cpu1.At).Seconds())
	for name, t1 := range cpu1.Trees {
		if t0, ok := cpu0.Trees[name]; ok && wall > 0 {
			res.CPUCores[name] = round2((t1 - t0) / wall)
		}
		if t2, ok := cpu2.Trees[name]; ok {
			res.CPUSecondsAfter[name] = round2(t2 - t1)
		}
	}
	if cpu0.Present && cpu1.Present && cpu1.Total > cpu0.Total {
		res.MachineBusy = round2((cpu1.Busy - cpu0.Busy) / (cpu1.Total - cpu0.Total))
		res.Steal = round2((cpu1.Steal - cpu0.Steal) / (cpu1.Total - cpu0.Total))
	}
	if cpu2.Present && cpu2.Total > cpu1.Total {
		res.MachineBusyAfter = round2((cpu2.Busy - cpu1.Busy) / (cpu2.Total - cpu1.Total))
	}

	if lr.Aborted {
		res.Why = append(res.Why, fmt.Sprintf("the generator fell %v behind schedule and stopped", c.MaxBehind))
	}
	if lr.Errors > 0 {
		res.Why = append(res.Why, fmt.Sprintf("%d intake errors", lr.Errors))
	}
	if res.AchievedRate < 0.97*c.Rate {
		res.Why = append(res.Why, fmt.Sprintf("achieved %.0f/s of %.0f/s", res.AchievedRate, c.Rate))
	}
	if res.Missing > 0 {
		res.Why = append(res.Why, fmt.Sprintf("%d events not delivered within %v", res.Missing, c.Wait))
	}
	if res.DrainS > c.MaxDrain.Seconds() {
		res.Why = append(res.Why, fmt.Sprintf("the last event arrived %.1f s after the load ended", res.DrainS))
	}
	if res.LastFifthP50 > res.FirstFifthP50+latencyGrowthMS {
		res.Why = append(res.Why, fmt.Sprintf("latency grew: p50 %.0f ms for the first fifth of the events, %.0f ms for the last", res.FirstFifthP50, res.LastFifthP50))
	}
	if res.Backlog.Grew {
		res.Why = append(res.Why, fmt.Sprintf("backlog grew %.0f events/s", res.Backlog.SlopeLastHalf))
	}
	res.Sustained = len(res.Why) == 0
}

// latencyGrowthMS is how much later the last fifth of a run's events may
// arrive (median) than the first fifth while the run still counts as
// sustained: a queue that built up and then held steady is growth too.
const latencyGrowthMS = 250

// backlogOf: maximum and least-squares slope of the backlog during the
// load (d seconds). It "grew" when, over the load's second half, its
// fitted slope exceeds max(2, 1% of the rate, 50 events per half) events
// per second — a pipeline that keeps up hovers around a constant, with the
// relay's batches as noise.
func backlogOf(samples []sample, c *config, d float64) backlogStats {
	var b backlogStats
	var xs, ys, xs2, ys2, os2 []float64
	for _, s := range samples {
		if s.T < 0 || s.T > d {
			continue
		}
		t := s.total()
		b.Max = max(b.Max, t)
		b.MaxOutbox = max(b.MaxOutbox, s.Outbox)
		b.MaxLag = max(b.MaxLag, s.Lag)
		b.MaxDeliveries = max(b.MaxDeliveries, s.Deliveries)
		b.AtLoadEnd = t
		xs, ys = append(xs, s.T), append(ys, t)
		if s.T >= d/2 {
			xs2, ys2, os2 = append(xs2, s.T), append(ys2, t), append(os2, max(s.Outbox, 0))
		}
	}
	b.Slope, b.SlopeLastHalf, b.OutboxSlope = round2(slope(xs, ys)), round2(slope(xs2, ys2)), round2(slope(xs2, os2))
	b.GrowthLimitPerS = round2(max(2, 0.01*c.Rate, 50/max(d/2, 1)))
	b.Grew = b.SlopeLastHalf > b.GrowthLimitPerS
	return b
}

func slope(xs, ys []float64) float64 {
	n := float64(len(xs))
	if n < 2 {
		return 0
	}
	var sx, sy, sxx, sxy float64
	for i := range xs {
		sx, sy, sxx, sxy = sx+xs[i], sy+ys[i], sxx+xs[i]*xs[i], sxy+xs[i]*ys[i]
	}
	den := n*sxx - sx*sx
	if den == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / den
}

func (res *result) writeSummary(w io.Writer) {
	c := res.Config
	fmt.Fprintf(w, "### %s (%s, %.0f events/s for %v, %d worker(s), receiver delay %v)\n\n", c.Name, c.Mode, c.Rate, c.Duration, c.Workers, c.Delay)
	fmt.Fprintf(w, "- sent %d, accepted %d (%.0f/s), errors %d %v; generator at most %.1f ms behind schedule\n",
		res.Load.Attempted, res.Load.Accepted, res.AchievedRate, res.Load.Errors, res.Load.ErrorKinds, res.Load.MaxBehindMS)
	fmt.Fprintf(w, "- request (intake) p50 %.1f ms, p99 %.1f ms\n", res.IntakeMS.P50, res.IntakeMS.P99)
	fmt.Fprintf(w, "- delivered %d unique (%.0f/s at the receiver), missing %d, duplicates %d, foreign %d, rejected %d; last arrival %.2f s after the load\n",
		res.Delivered, res.DeliveryRate, res.Missing, res.Duplicates, res.Foreign, res.Rejected, res.DrainS)
	l := res.LatencyMS
	fmt.Fprintf(w, "- latency ms: p50 %.1f, p90 %.1f, p99 %.1f, max %.1f (p50 first fifth %.1f, last fifth %.1f)\n",
		l.P50, l.P90, l.P99, l.Max, res.FirstFifthP50, res.LastFifthP50)
	b := res.Backlog
	fmt.Fprintf(w, "- backlog: max %.0f (outbox %.0f, stream lag %.0f, deliveries %.0f), at load end %.0f, slope %.1f/s (second half %.1f/s, limit %.1f) grew=%v\n",
		b.Max, b.MaxOutbox, b.MaxLag, b.MaxDeliveries, b.AtLoadEnd, b.Slope, b.SlopeLastHalf, b.GrowthLimitPerS, b.Grew)
	var cpus []string
	for k, v := range res.CPUCores {
		cpus = append(cpus, fmt.Sprintf("%s %.2f", k, v))
	}
	sort.Strings(cpus)
	fmt.Fprintf(w, "- CPU (cores): %s; machine busy %.0f%% of %s\n", strings.Join(cpus, ", "), 100*res.MachineBusy, "all cores")
	for _, s := range res.Stages {
		fmt.Fprintf(w, "- stage %s: p50 %.1f, p90 %.1f, p99 %.1f ms\n", s.Name, s.MS.P50, s.MS.P90, s.MS.P99)
	}
	if res.DB != nil {
		fmt.Fprintf(w, "- database: %d statements, %.0f ms executing (%.2f ms per event)\n", res.DB.Calls, res.DB.TotalMS, res.DB.TotalMS/max(1, float64(res.Load.Accepted)))
		for _, s := range res.DB.Top {
			fmt.Fprintf(w, "  - %.0f ms, %d calls (%.2f per event), mean %.2f ms: %s\n", s.TotalMS, s.Calls, float64(s.Calls)/max(1, float64(res.Load.Accepted)), s.MeanMS, s.Query)
		}
	}
	for _, wk := range res.Workers {
		fmt.Fprintf(w, "- worker %s: published %.0f, fan-out %.0f (mean %.1f ms, p99 %.1f), deliveries %.0f (send mean %.1f ms, p99 %.1f), pool wait %.2f s, cpu %.1f s\n",
			wk.URL, wk.Published, wk.FanoutHandled, wk.Fanout.Mean, wk.Fanout.P99, wk.DeliveriesOK, wk.Send.Mean, wk.Send.P99, wk.PoolWaitS, wk.CPUSeconds)
	}
	fmt.Fprintf(w, "- sustained: %v %s\n\n", res.Sustained, strings.Join(res.Why, "; "))
}
