package app_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/regcase/regcase/internal/regcase"
)

// BenchmarkTracingOverhead measures intake (POST /v1/reports, anonymous)
// and case read (GET /v1/cases/{id}, supervisor) through the whole server
// (`regcase all` on SQLite, loopback HTTP, one client at a time) with
// tracing off, on at 1 % sampling (parentbased_traceidratio 0.01) and on
// at 100 % (parentbased_always_on). The OTLP/HTTP endpoint is an
// in-process sink that reads and discards every export, so the figures
// hold the SDK's whole cost (spans, batching, protobuf encoding, the HTTP
// export) but no backend's; cpu-ns/op is the process's CPU time per
// request. BENCHMARKS.md "Tracing overhead" has a run.
//
//	go test -run '^$' -bench BenchmarkTracingOverhead -benchtime 3s -count 6 ./internal/app/
func BenchmarkTracingOverhead(b *testing.B) {
	var exports, exportedBytes atomic.Int64
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		exports.Add(1)
		exportedBytes.Add(n)
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}))
	b.Cleanup(sink.Close)
	modes := []struct {
		name string
		env  []string
	}{
		{"off", nil},
		{"sampled=1%", []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + sink.URL, "OTEL_TRACES_SAMPLER=parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG=0.01"}},
		{"sampled=100%", []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + sink.URL, "OTEL_TRACES_SAMPLER=parentbased_always_on"}},
	}
	for _, m := range modes {
		// Off first: an in-process server leaves the OpenTelemetry global
		// provider of the last traced run behind (shut down, so no-op).
		b.Run("mode="+m.name, func(b *testing.B) {
			ts := startServer(b, "sqlite", append([]string{"REGCASE_INTAKE_RATE=1000000", "REGCASE_INTAKE_BURST=1000000"}, m.env...)...)
			c := ts.createCase(b, "bench")
			before := exports.Load()
			b.Run("op=case_read", func(b *testing.B) {
				cpu := cpuTime()
				for b.Loop() {
					ts.must(b, http.StatusOK, http.MethodGet, "/v1/cases/"+c.ID, regcase.RoleSupervisor, nil)
				}
				b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
			})
			b.Run("op=intake", func(b *testing.B) {
				cpu := cpuTime()
				for b.Loop() {
					ts.must(b, http.StatusCreated, http.MethodPost, "/v1/reports", regcase.RoleAnonymous, map[string]any{
						"channel": "web", "category": "food_safety", "subject": map[string]any{"name": "Bench Ltd"},
						"description": "benchmark report"})
				}
				b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
			})
			ts.Stop(b) // flushes the exporter
			if m.env == nil && exports.Load() != before {
				b.Errorf("tracing off, yet %d OTLP export(s) arrived", exports.Load()-before)
			}
		})
	}
	b.Logf("OTLP sink: %d exports, %d bytes", exports.Load(), exportedBytes.Load())
}

// cpuTime is the CPU time (user + system) this process has used, in ns:
// client, server and background work (the relay, the span exporter)
// together. On a shared machine it is steadier than wall time, which
// waits for the other processes' turns too.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
