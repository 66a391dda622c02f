// Command pipeline measures regcase's event pipeline end to end, for
// BENCHMARKS.md (scripts/bench-pipeline.sh runs it, one scenario per run):
//
//   - a webhook receiver on loopback verifies every request with the
//     Standard Webhooks Go library, dedupes by webhook-id and records, per
//     event, latency = arrival − the event's CloudEvents `time` (set in the
//     API's transaction, before its commit);
//   - an open-loop load generator POSTs /v1/reports at a fixed rate (each
//     report is one gov.regcase.report.received event) and counts errors;
//   - meanwhile it samples the backlog: the workers' /metrics
//     (regcase_outbox_backlog_events, regcase_stream_consumer_lag_events,
//     regcase_stream_pending_events) and, with -db, the pending webhook
//     deliveries;
//   - after the load it waits (bounded) until every event arrived, then
//     reports counts, latency percentiles, the backlog's maximum and slope,
//     the workers' metric deltas, CPU per process tree and, with -db, where
//     each event's time went (relay, stream + fan-out, delivery queue, HTTP).
//
// -mode bare is the hardware reference: the same generator POSTs signed
// events straight to the receiver (no regcase), so the figures of a scenario
// can stand next to what one HTTP hop costs on the same machine.
//
// Secrets come from the environment (PIPEBENCH_TOKEN, PIPEBENCH_SECRET), not
// from flags, so that they stay out of the process list.
//
//	PIPEBENCH_TOKEN=… PIPEBENCH_SECRET=whsec_… go run ./scripts/bench/pipeline \
//	    -api http://127.0.0.1:18181 -listen 127.0.0.1:18190 -rate 200 -duration 60s \
//	    -metrics http://127.0.0.1:18182/metrics -db postgres://… -json out.json
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pipeline bench:", err)
		os.Exit(1)
	}
}

// config is what one run measures, from flags and the environment.
type config struct {
	Mode      string        `json:"mode"` // "pipeline" or "bare"
	Name      string        `json:"name"`
	API       string        `json:"api,omitempty"`
	Listen    string        `json:"listen"`
	Rate      float64       `json:"rate"`
	Duration  time.Duration `json:"-"`
	Conns     int           `json:"conns"`
	Delay     time.Duration `json:"-"`
	Metrics   []string      `json:"metrics,omitempty"`
	Workers   int           `json:"workers"`
	Sample    time.Duration `json:"-"`
	Wait      time.Duration `json:"-"`
	Settle    time.Duration `json:"-"`
	MaxDrain  time.Duration `json:"-"`
	MaxBehind time.Duration `json:"-"`
	Procs     []proc        `json:"-"`
	JSONOut   string        `json:"-"`
	DBURL     string        `json:"-"`
	Token     string        `json:"-"`
	Secret    string        `json:"-"`
	DurationS float64       `json:"duration_s"`
	DelayMS   float64       `json:"receiver_delay_ms"`
}

// proc names a process whose CPU time (with its descendants') is measured.
type proc struct {
	Name string
	PID  int
}

func parseConfig(args []string, getenv func(string) string) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("pipeline", flag.ContinueOnError)
	fs.StringVar(&c.Mode, "mode", "pipeline", `"pipeline" (load regcase, receive its webhooks) or "bare" (the reference: POST straight to the receiver)`)
	fs.StringVar(&c.Name, "name", "", "scenario name (in the output)")
	fs.StringVar(&c.API, "api", "http://127.0.0.1:18181", "regcase API base URL")
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:18190", "receiver address (loopback)")
	fs.Float64Var(&c.Rate, "rate", 200, "events (reports) per second, open loop")
	fs.DurationVar(&c.Duration, "duration", 60*time.Second, "how long the load runs")
	fs.IntVar(&c.Conns, "conns", 128, "most requests in flight (and HTTP connections) of the generator")
	fs.DurationVar(&c.Delay, "delay", 0, "receiver: wait this long before answering each request (a slow receiver)")
	metrics := fs.String("metrics", "", "comma-separated /metrics URLs of the workers")
	fs.IntVar(&c.Workers, "workers", 0, "number of workers running (a label in the output)")
	fs.DurationVar(&c.Sample, "sample", 500*time.Millisecond, "backlog sampling interval")
	fs.DurationVar(&c.Wait, "wait", 120*time.Second, "after the load, wait at most this long for every event to arrive")
	fs.DurationVar(&c.Settle, "settle", 120*time.Second, "before the load, wait at most this long for an empty backlog")
	fs.DurationVar(&c.MaxDrain, "max-drain", 5*time.Second, "sustained: the last event arrives within this long after the load ended")
	fs.DurationVar(&c.MaxBehind, "max-behind", 10*time.Second, "stop the load when the generator is this far behind schedule (target out of reach)")
	procs := fs.String("procs", "", "CPU accounting: comma-separated name=pid (each with its descendants)")
	fs.StringVar(&c.JSONOut, "json", "", "write the full result (samples included) as JSON to this file")
	fs.StringVar(&c.DBURL, "db", "", "PostgreSQL URL (read only): pending deliveries and the per-stage breakdown")
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(os.Stderr)
			fs.PrintDefaults()
		}
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if c.Mode != "pipeline" && c.Mode != "bare" {
		return nil, fmt.Errorf("-mode %q: want pipeline or bare", c.Mode)
	}
	if c.Rate <= 0 || c.Duration <= 0 || c.Conns < 1 {
		return nil, errors.New("-rate, -duration and -conns must be positive")
	}
	for _, u := range strings.Split(*metrics, ",") {
		if u = strings.TrimSpace(u); u != "" {
			c.Metrics = append(c.Metrics, u)
		}
	}
	for _, p := range strings.Split(*procs, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		name, pid, ok := strings.Cut(p, "=")
		n, err := strconv.Atoi(pid)
		if !ok || err != nil || n <= 0 {
			return nil, fmt.Errorf("-procs: %q is not name=pid", p)
		}
		c.Procs = append(c.Procs, proc{Name: name, PID: n})
	}
	c.Token, c.Secret = getenv("PIPEBENCH_TOKEN"), getenv("PIPEBENCH_SECRET")
	if c.Mode == "pipeline" && (c.Token == "" || c.Secret == "") {
		return nil, errors.New("PIPEBENCH_TOKEN (a bearer token that may submit reports) and PIPEBENCH_SECRET (the subscription's whsec_ secret) must be set")
	}
	if c.Name == "" {
		c.Name = fmt.Sprintf("%s-%g", c.Mode, c.Rate)
	}
	c.DurationS, c.DelayMS = c.Duration.Seconds(), float64(c.Delay)/float64(time.Millisecond)
	return c, nil
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	c, err := parseConfig(args, getenv)
	if err != nil {
		return err
	}
	res, err := measure(ctx, c)
	if err != nil {
		return err
	}
	if c.JSONOut != "" {
		b, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(c.JSONOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	res.writeSummary(stdout)
	return nil
}
