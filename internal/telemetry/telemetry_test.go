package telemetry

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/regcase/regcase/internal/config"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestFromEnv(t *testing.T) {
	t.Run("OffByDefault", func(t *testing.T) {
		c, err := FromEnv(env(nil), "api")
		if err != nil || c.Enabled() || c.ServiceName != "regcase-api" {
			t.Errorf("FromEnv(empty) = %+v, %v; want off, service regcase-api", c, err)
		}
	})
	t.Run("OKEndpointAndSampler", func(t *testing.T) {
		c, err := FromEnv(env(map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4318/", "OTEL_SERVICE_NAME": "edge",
			"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.01",
			"OTEL_RESOURCE_ATTRIBUTES":   "deployment.environment.name=prod,team=cases%20unit",
			"OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer%20s3cret",
		}), "worker")
		if err != nil {
			t.Fatal(err)
		}
		if c.Endpoint != "http://jaeger:4318/v1/traces" || c.ServiceName != "edge" || c.Sampler != "parentbased_traceidratio" ||
			c.SamplerArg != 0.01 || c.Resource["team"] != "cases unit" || c.Headers["authorization"] != "Bearer s3cret" {
			t.Errorf("FromEnv = %+v", c)
		}
		line := strings.Join(func() []string {
			var out []string
			for _, a := range c.LogAttrs() {
				out = append(out, a.(slog.Attr).String())
			}
			return out
		}(), " ")
		if strings.Contains(line, "s3cret") {
			t.Errorf("the startup log line shows an export header: %s", line)
		}
	})
	t.Run("OKHeadersFromFile", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "otlp-headers")
		if err := os.WriteFile(f, []byte("x-api-key=k3y\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := FromEnv(env(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://j:4318", "OTEL_EXPORTER_OTLP_HEADERS_FILE": f}), "api")
		if err != nil || c.Headers["x-api-key"] != "k3y" {
			t.Errorf("FromEnv = %+v, %v", c, err)
		}
		_, err = FromEnv(env(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://j:4318", "OTEL_EXPORTER_OTLP_HEADERS_FILE": f + ".missing"}), "api")
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Var != "OTEL_EXPORTER_OTLP_HEADERS_FILE" {
			t.Errorf("missing headers file: %v", err)
		}
	})
	t.Run("OKSignalEndpointAsIs", func(t *testing.T) {
		c, err := FromEnv(env(map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://otel.example/custom",
			"OTEL_EXPORTER_OTLP_ENDPOINT": "http://ignored:4318"}), "all")
		if err != nil || c.Endpoint != "https://otel.example/custom" || c.ServiceName != "regcase" {
			t.Errorf("FromEnv = %+v, %v", c, err)
		}
	})
	t.Run("OKDisabled", func(t *testing.T) {
		for _, kv := range [][2]string{{"OTEL_SDK_DISABLED", "true"}, {"OTEL_TRACES_EXPORTER", "none"}} {
			c, err := FromEnv(env(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4318", kv[0]: kv[1]}), "api")
			if err != nil || c.Enabled() {
				t.Errorf("%s=%s: %+v, %v; want off", kv[0], kv[1], c, err)
			}
		}
	})
	bad := map[string]map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT":   {"OTEL_EXPORTER_OTLP_ENDPOINT": "jaeger:4318"},
		"OTEL_EXPORTER_OTLP_PROTOCOL":   {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://j:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
		"OTEL_TRACES_SAMPLER":           {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://j:4318", "OTEL_TRACES_SAMPLER": "sometimes"},
		"OTEL_TRACES_SAMPLER_ARG":       {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://j:4318", "OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"},
		"OTEL_TRACES_EXPORTER":          {"OTEL_TRACES_EXPORTER": "zipkin"},
		"OTEL_SDK_DISABLED":             {"OTEL_SDK_DISABLED": "maybe"},
		"OTEL_EXPORTER_OTLP_HEADERS":    {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://j:4318", "OTEL_EXPORTER_OTLP_HEADERS": "novalue"},
		"OTEL_EXPORTER_OTLP_TIMEOUT":    {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://j:4318", "OTEL_EXPORTER_OTLP_TIMEOUT": "-1"},
		"OTEL_RESOURCE_ATTRIBUTES":      {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://j:4318", "OTEL_RESOURCE_ATTRIBUTES": "=x"},
		"OTEL_EXPORTER_OTLP_ENDPOINT/2": {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://user:pw@j:4318"},
	}
	for name, e := range bad {
		t.Run("ErrConfig/"+name, func(t *testing.T) {
			_, err := FromEnv(env(e), "api")
			var ce *config.Error
			if !errors.As(err, &ce) || ce.Var != strings.Split(name, "/")[0] {
				t.Errorf("FromEnv(%v) = %v; want a configuration error naming %s", e, err, name)
			}
			if err != nil && strings.Contains(err.Error(), "pw") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

func TestSetupOffStartsNothing(t *testing.T) {
	before, goroutines := otel.GetTracerProvider(), runtime.NumGoroutine()
	shutdown, err := Setup(t.Context(), Config{}, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	if n := runtime.NumGoroutine(); n > goroutines {
		t.Errorf("Setup with tracing off started %d goroutine(s)", n-goroutines)
	}
	// No provider is installed: the global one stays OpenTelemetry's
	// default, whose spans never record.
	if Active() || otel.GetTracerProvider() != before {
		t.Error("Setup installed a tracer provider with tracing off")
	}
	if err := shutdown(t.Context()); err != nil {
		t.Error(err)
	}
}

func TestSummarize(t *testing.T) {
	for _, c := range []struct{ q, op, table string }{
		{"SELECT id, name FROM cases WHERE id = $1", "SELECT", "cases"},
		{"\n\t\tINSERT INTO outbox (event_id, type) VALUES (?, ?)", "INSERT", "outbox"},
		{"UPDATE webhook_deliveries SET status = 'dead' FROM webhooks w WHERE x", "UPDATE", "webhook_deliveries"},
		{"DELETE FROM processed_events WHERE at < $1", "DELETE", "processed_events"},
		{"WITH due AS (SELECT id FROM webhook_deliveries) UPDATE webhook_deliveries SET x = 1", "WITH UPDATE", "webhook_deliveries"},
		{"SELECT count(*) FROM (SELECT 1) t", "SELECT", ""},
		{"SELECT 'Acme Foods' FROM \"Reports\"", "SELECT", "reports"},
		{"BEGIN", "BEGIN", ""},
	} {
		op, table := Summarize(c.q)
		if op != c.op || table != c.table {
			t.Errorf("Summarize(%q) = %q, %q; want %q, %q", c.q, op, table, c.op, c.table)
		}
	}
}

// recorder installs an in-memory span recorder as the global provider for
// one test.
func recorder(t *testing.T) *tracetest.SpanRecorder {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	prev := otelProvider()
	setProvider(tp)
	t.Cleanup(func() { setProvider(prev); _ = tp.Shutdown(context.Background()) })
	return rec
}

func TestHTTPServer(t *testing.T) {
	rec := recorder(t)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/cases/{id}", func(w http.ResponseWriter, r *http.Request) {
		SetRoute(r, "/v1/cases/{id}")
		w.WriteHeader(http.StatusInternalServerError)
	})
	h := HTTPServer(true, mux)
	req := httptest.NewRequest(http.MethodGet, "/v1/cases/CASE-42?q=Acme", nil)
	req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	req.Header.Set("User-Agent", "curl/8")
	h.ServeHTTP(httptest.NewRecorder(), req)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/health/ready", nil)) // no span
	spans := rec.Ended()
	if len(spans) != 1 {
		t.Fatalf("%d spans, want 1", len(spans))
	}
	s := spans[0]
	if s.Name() != "GET /v1/cases/{id}" || s.SpanKind() != trace.SpanKindServer ||
		s.Parent().SpanID().String() != "00f067aa0ba902b7" || s.SpanContext().TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("span %q kind %v parent %v", s.Name(), s.SpanKind(), s.Parent())
	}
	attrs := map[attribute.Key]string{}
	for _, a := range s.Attributes() {
		attrs[a.Key] = a.Value.String()
	}
	if attrs["http.route"] != "/v1/cases/{id}" || attrs["http.response.status_code"] != "500" || attrs["error.type"] != "500" ||
		attrs["http.request.method"] != "GET" {
		t.Errorf("attributes %v", attrs)
	}
	for k, v := range attrs {
		if strings.Contains(v, "CASE-42") || strings.Contains(v, "Acme") || strings.Contains(v, "curl") {
			t.Errorf("attribute %s = %q holds the raw path, query or user agent", k, v)
		}
	}
}

func TestHTTPServerOffCarriesTraceparent(t *testing.T) {
	var got trace.SpanContext
	h := HTTPServer(false, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = trace.SpanContextFromContext(r.Context())
	}))
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	h.ServeHTTP(httptest.NewRecorder(), req)
	if !got.IsRemote() || got.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("span context %v; want the caller's, remote", got)
	}
	tp, _ := TraceContext(trace.ContextWithRemoteSpanContext(context.Background(), got))
	if tp != "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" {
		t.Errorf("TraceContext = %q", tp)
	}
}

func TestStartDBNeedsARecordingParent(t *testing.T) {
	rec := recorder(t)
	ctx, end := StartDB(context.Background(), PostgreSQL, "SELECT * FROM cases")
	end(nil)
	if trace.SpanFromContext(ctx).IsRecording() || len(rec.Ended()) != 0 {
		t.Fatal("a database span without a parent span")
	}
	pctx, parent := Tracer().Start(context.Background(), "request")
	_, end = StartDB(pctx, SQLite, "INSERT INTO outbox (a) VALUES ('secret value')")
	end(errors.New("boom 'secret value'"))
	parent.End()
	spans := rec.Ended()
	if len(spans) != 2 || spans[0].Name() != "INSERT outbox" || spans[0].Parent().SpanID() != parent.SpanContext().SpanID() {
		t.Fatalf("spans %v", spans)
	}
	for _, a := range spans[0].Attributes() {
		if strings.Contains(a.Value.String(), "secret") {
			t.Errorf("attribute %s = %q holds a value of the statement or error", a.Key, a.Value.String())
		}
	}
}

func TestLogHandler(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(LogHandler(slog.NewJSONHandler(&buf, nil))).With(slog.String("component", "x"))
	ctx := WithRemoteParent(context.Background(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "")
	log.InfoContext(ctx, "traced")
	log.Info("untraced")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if !strings.Contains(lines[0], `"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7"`) ||
		!strings.Contains(lines[0], `"component":"x"`) {
		t.Errorf("traced line: %s", lines[0])
	}
	if strings.Contains(lines[1], "trace_id") {
		t.Errorf("untraced line: %s", lines[1])
	}
}

func otelProvider() trace.TracerProvider  { return otel.GetTracerProvider() }
func setProvider(tp trace.TracerProvider) { otel.SetTracerProvider(tp) }
