package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// series is one sample of the Prometheus text format.
type series struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// parseProm reads the Prometheus text exposition format (what promhttp
// writes): comments skipped, one "name{labels} value" per line.
func parseProm(r io.Reader) ([]series, error) {
	var out []series
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		s := series{Labels: map[string]string{}}
		rest := line
		if i := strings.IndexAny(line, "{ "); i < 0 {
			return nil, fmt.Errorf("metrics: no value in %q", line)
		} else {
			s.Name, rest = line[:i], line[i:]
		}
		if strings.HasPrefix(rest, "{") {
			var err error
			if rest, err = parseLabels(rest[1:], s.Labels); err != nil {
				return nil, fmt.Errorf("metrics: %q: %w", line, err)
			}
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return nil, fmt.Errorf("metrics: no value in %q", line)
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics: value of %q: %w", line, err)
		}
		s.Value = v
		out = append(out, s)
	}
	return out, sc.Err()
}

// parseLabels reads `a="x",b="y"}` into into and returns what follows the
// closing brace.
func parseLabels(s string, into map[string]string) (string, error) {
	for {
		s = strings.TrimLeft(s, " ,")
		if strings.HasPrefix(s, "}") {
			return s[1:], nil
		}
		eq := strings.IndexByte(s, '=')
		if eq < 0 || len(s) < eq+2 || s[eq+1] != '"' {
			return "", fmt.Errorf("bad label list")
		}
		name := s[:eq]
		s = s[eq+2:]
		var val strings.Builder
		i := 0
		for ; i < len(s) && s[i] != '"'; i++ {
			if s[i] == '\\' && i+1 < len(s) {
				i++
				switch s[i] {
				case 'n':
					val.WriteByte('\n')
				default:
					val.WriteByte(s[i])
				}
				continue
			}
			val.WriteByte(s[i])
		}
		if i == len(s) {
			return "", fmt.Errorf("unterminated label value")
		}
		into[name] = val.String()
		s = s[i+1:]
	}
}

// metricSet is one scrape.
type metricSet []series

// sum adds the values of the series called name whose labels include match.
func (m metricSet) sum(name string, match map[string]string) float64 {
	t := 0.0
	for _, s := range m {
		if s.Name == name && matches(s.Labels, match) {
			t += s.Value
		}
	}
	return t
}

// has reports whether any series called name exists.
func (m metricSet) has(name string) bool {
	for _, s := range m {
		if s.Name == name {
			return true
		}
	}
	return false
}

func matches(labels, match map[string]string) bool {
	for k, v := range match {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// hist is a cumulative Prometheus histogram (or the difference of two).
type hist struct {
	Bounds []float64 // upper bounds, ascending, +Inf last
	Counts []float64 // cumulative
	Sum    float64
	Count  float64
}

func (m metricSet) histogram(name string, match map[string]string) hist {
	by := map[float64]float64{}
	for _, s := range m {
		if s.Name == name+"_bucket" && matches(s.Labels, match) {
			le, err := strconv.ParseFloat(s.Labels["le"], 64)
			if err == nil {
				by[le] += s.Value
			}
		}
	}
	h := hist{Sum: m.sum(name+"_sum", match), Count: m.sum(name+"_count", match)}
	for le := range by {
		h.Bounds = append(h.Bounds, le)
	}
	sort.Float64s(h.Bounds)
	for _, le := range h.Bounds {
		h.Counts = append(h.Counts, by[le])
	}
	return h
}

// minus is h − earlier, bucket by bucket (same layout assumed; an earlier
// scrape with no buckets counts as zero).
func (h hist) minus(earlier hist) hist {
	d := hist{Bounds: h.Bounds, Counts: make([]float64, len(h.Counts)), Sum: h.Sum - earlier.Sum, Count: h.Count - earlier.Count}
	for i := range h.Counts {
		d.Counts[i] = h.Counts[i]
		if i < len(earlier.Counts) {
			d.Counts[i] -= earlier.Counts[i]
		}
	}
	return d
}

// quantile estimates the q-quantile as PromQL's histogram_quantile does:
// linear interpolation inside the bucket; the highest finite bound when the
// quantile falls in the +Inf bucket; NaN without observations.
func (h hist) quantile(q float64) float64 {
	if len(h.Counts) == 0 || h.Counts[len(h.Counts)-1] <= 0 {
		return math.NaN()
	}
	total := h.Counts[len(h.Counts)-1]
	rank := q * total
	for i, c := range h.Counts {
		if c < rank {
			continue
		}
		if math.IsInf(h.Bounds[i], 1) {
			if i == 0 {
				return math.NaN()
			}
			return h.Bounds[i-1]
		}
		lo, below := 0.0, 0.0
		if i > 0 {
			lo, below = h.Bounds[i-1], h.Counts[i-1]
		}
		if c == below {
			return h.Bounds[i]
		}
		return lo + (h.Bounds[i]-lo)*(rank-below)/(c-below)
	}
	return h.Bounds[len(h.Bounds)-1]
}

var scrapeClient = &http.Client{Timeout: 3 * time.Second}

func scrape(ctx context.Context, url string) (metricSet, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := scrapeClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: HTTP %d", url, resp.StatusCode)
	}
	return parseProm(resp.Body)
}

// cpuSnapshot is the CPU time of the process trees and of the machine.
type cpuSnapshot struct {
	At      time.Time
	Trees   map[string]float64 // seconds
	Busy    float64            // machine: non-idle seconds, all cores
	Total   float64            // machine: all seconds, all cores
	Steal   float64
	Present bool
}

const clockTicks = 100 // USER_HZ on Linux

// cpuNow sums, for each proc, the CPU time of the process and its live
// descendants plus what it reaped (cutime, cstime): PostgreSQL backends
// and other children count toward their tree.
func cpuNow(procs []proc) cpuSnapshot {
	snap := cpuSnapshot{At: time.Now(), Trees: map[string]float64{}}
	type st struct {
		ppid      int
		own, dead float64
	}
	all := map[int]st{}
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, path := range dirs {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		s := string(b)
		rp := strings.LastIndexByte(s, ')')
		if rp < 0 {
			continue
		}
		f := strings.Fields(s[rp+1:])
		// after the comm: state(0) ppid(1) … utime(11) stime(12) cutime(13) cstime(14)
		if len(f) < 15 {
			continue
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(strings.SplitN(s, " ", 2)[0]))
		ppid, _ := strconv.Atoi(f[1])
		num := func(i int) float64 { v, _ := strconv.ParseFloat(f[i], 64); return v / clockTicks }
		all[pid] = st{ppid: ppid, own: num(11) + num(12), dead: num(13) + num(14)}
	}
	children := map[int][]int{}
	for pid, s := range all {
		children[s.ppid] = append(children[s.ppid], pid)
	}
	var tree func(pid int) float64
	tree = func(pid int) float64 {
		t := all[pid].own
		for _, c := range children[pid] {
			t += tree(c)
		}
		return t
	}
	for _, p := range procs {
		if _, ok := all[p.PID]; ok {
			snap.Trees[p.Name] = tree(p.PID) + all[p.PID].dead
		}
	}
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		f := strings.Fields(line)
		if len(f) >= 9 && f[0] == "cpu" {
			var vals []float64
			for _, x := range f[1:] {
				v, _ := strconv.ParseFloat(x, 64)
				vals = append(vals, v/clockTicks)
			}
			// user nice system idle iowait irq softirq steal [guest guest_nice]
			for i, v := range vals[:8] {
				snap.Total += v
				if i != 3 && i != 4 {
					snap.Busy += v
				}
			}
			snap.Steal = vals[7]
			snap.Present = true
		}
	}
	return snap
}
