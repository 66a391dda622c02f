package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// sample is one look at the backlog. T is seconds since the load started
// (negative while settling); -1 means "not measured".
type sample struct {
	T          float64 `json:"t"`
	Outbox     float64 `json:"outbox"`
	Lag        float64 `json:"stream_lag"`
	Pending    float64 `json:"stream_pending"`
	Deliveries float64 `json:"deliveries_pending"`
	Arrived    int     `json:"arrived"`
}

// total is the events somewhere between the outbox and the receiver.
func (s sample) total() float64 {
	return max(s.Outbox, 0) + max(s.Lag, 0) + max(s.Pending, 0) + max(s.Deliveries, 0)
}

// observer samples the backlog from the first worker that answers and,
// with a database, the pending deliveries.
type observer struct {
	urls []string
	pool *pgxpool.Pool
	rcv  *receiver
}

func (o *observer) look(ctx context.Context, t0 time.Time) (sample, error) {
	s := sample{T: time.Since(t0).Seconds(), Outbox: -1, Lag: -1, Pending: -1, Deliveries: -1, Arrived: o.rcv.total()}
	var lastErr error
	for _, u := range o.urls {
		m, err := scrape(ctx, u)
		if err != nil {
			lastErr = err
			continue
		}
		if m.has("regcase_outbox_backlog_events") {
			s.Outbox = m.sum("regcase_outbox_backlog_events", nil)
		}
		if m.has("regcase_stream_consumer_lag_events") {
			s.Lag = m.sum("regcase_stream_consumer_lag_events", map[string]string{"group": "webhooks"})
			s.Pending = m.sum("regcase_stream_pending_events", map[string]string{"group": "webhooks"})
		}
		lastErr = nil
		break
	}
	if o.pool != nil {
		if n, err := pendingDeliveries(ctx, o.pool); err == nil {
			s.Deliveries = n
		} else {
			lastErr = err
		}
		if s.Outbox < 0 { // no worker answers (yet): ask the database
			if n, err := outboxBacklog(ctx, o.pool); err == nil {
				s.Outbox = n
			}
		}
	}
	return s, lastErr
}

// run samples every d until ctx ends.
func (o *observer) run(ctx context.Context, t0 time.Time, d time.Duration, mu *sync.Mutex, out *[]sample) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		if s, err := o.look(ctx, t0); err == nil || s.Outbox >= 0 || s.Deliveries >= 0 {
			mu.Lock()
			*out = append(*out, s)
			mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// measure runs one scenario.
func measure(ctx context.Context, c *config) (*result, error) {
	secret := c.Secret
	if c.Mode == "bare" {
		k := make([]byte, 32)
		_, _ = rand.Read(k)
		secret = "whsec_" + base64.StdEncoding.EncodeToString(k)
	}
	rcv, err := newReceiver(secret, c.Delay)
	if err != nil {
		return nil, err
	}
	if err := rcv.start(c.Listen); err != nil {
		return nil, err
	}
	defer rcv.close()
	client := newClient(c.Conns)
	var send sendFunc
	var pool *pgxpool.Pool
	if c.Mode == "bare" {
		wh, _ := standardwebhooks.NewWebhook(secret)
		send = bareSend(client, "http://"+c.Listen+"/hook", wh)
	} else {
		send = intake(client, c.API, c.Token)
		if c.DBURL != "" {
			if pool, err = openDB(ctx, c.DBURL); err != nil {
				return nil, err
			}
			defer pool.Close()
		}
	}
	obs := &observer{urls: c.Metrics, pool: pool, rcv: rcv}
	res := &result{Config: c, When: time.Now().UTC().Format(time.RFC3339)}

	// Settle: start from an empty pipeline (the previous scenario's
	// stragglers arrive here and are counted as foreign).
	if c.Settle > 0 && (len(c.Metrics) > 0 || pool != nil) {
		t0 := time.Now()
		deadline := t0.Add(c.Settle)
		for {
			s, err := obs.look(ctx, t0)
			if err == nil && s.total() == 0 {
				res.Settle.Empty = true
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				fmt.Fprintf(os.Stderr, "pipeline bench: backlog not empty after %v (last: %+v, err %v); measuring anyway\n", c.Settle, s, err)
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
		res.Settle.Seconds = time.Since(t0).Seconds()
	}
	before := scrapeAll(ctx, c.Metrics)
	selfAndProcs := append([]proc{{Name: "load generator + receiver", PID: os.Getpid()}}, c.Procs...)
	cpu0 := cpuNow(selfAndProcs)

	var mu sync.Mutex
	var samples []sample
	sctx, stopSampling := context.WithCancel(ctx)
	var swg sync.WaitGroup
	t0 := time.Now()
	if len(c.Metrics) > 0 || pool != nil {
		swg.Add(1)
		go func() { defer swg.Done(); obs.run(sctx, t0, c.Sample, &mu, &samples) }()
	}
	stmtsReset := pool != nil && resetStatements(ctx, pool)
	lr := generate(ctx, c.Rate, c.Duration, c.MaxBehind, c.Conns, send)
	cpu1 := cpuNow(selfAndProcs)

	// Wait for every accepted event (bounded).
	deadline := time.Now().Add(c.Wait)
	for ctx.Err() == nil {
		n, _ := rcv.count(lr.Keys)
		if n >= lr.Accepted || time.Now().After(deadline) {
			break
		}
		select {
		case <-rcv.notify:
			time.Sleep(50 * time.Millisecond)
		case <-time.After(250 * time.Millisecond):
		}
	}
	cpu2 := cpuNow(selfAndProcs)
	stopSampling()
	swg.Wait()
	after := scrapeAll(context.WithoutCancel(ctx), c.Metrics)

	var st map[string]stamps
	if pool != nil {
		bg := context.WithoutCancel(ctx)
		if stmtsReset {
			qctx, cancel := context.WithTimeout(bg, 30*time.Second)
			if res.DB, err = dbTime(qctx, pool, 12); err != nil {
				fmt.Fprintf(os.Stderr, "pipeline bench: pg_stat_statements: %v\n", err)
			}
			cancel()
		}
		qctx, cancel := context.WithTimeout(bg, time.Minute)
		st, err = eventStamps(qctx, pool, rcv.eventIDs(lr.Keys))
		cancel()
		if err != nil {
			fmt.Fprintf(os.Stderr, "pipeline bench: stage breakdown: %v\n", err)
		}
	}
	res.build(lr, rcv, samples, before, after, [3]cpuSnapshot{cpu0, cpu1, cpu2}, st)
	return res, nil
}

func scrapeAll(ctx context.Context, urls []string) []metricSet {
	out := make([]metricSet, len(urls))
	for i, u := range urls {
		m, err := scrape(ctx, u)
		if err != nil {
			fmt.Fprintf(os.Stderr, "pipeline bench: %v\n", err)
		}
		out[i] = m
	}
	return out
}
