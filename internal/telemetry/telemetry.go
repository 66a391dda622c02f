// Package telemetry sets up OpenTelemetry tracing from the standard OTEL_*
// environment variables and holds the small instrumentation helpers the
// adapters share (HTTP server spans, database and Redis client spans, the
// W3C trace context of events, trace ids in log lines).
//
// Tracing is on only when an OTLP endpoint is configured
// (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT). Off,
// Setup starts nothing: no exporter, no batch processor goroutine, no
// connection; the global tracer provider stays OpenTelemetry's no-op, and
// the only work left is carrying an incoming traceparent along (into log
// lines, outbox events and webhook requests) so that correlation survives.
//
// Instrumentation takes its tracer from the OpenTelemetry global provider
// (otel.Tracer), which Setup installs once per process; that is the
// library convention of OpenTelemetry and keeps the adapters free of
// wiring parameters.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/regcase/regcase/internal/buildinfo"
	"github.com/regcase/regcase/internal/config"
)

// ScopeName is the instrumentation scope of every span regcase makes.
const ScopeName = "github.com/regcase/regcase"

// Tracer is the tracer of regcase's own spans (the global provider's).
func Tracer() trace.Tracer { return otel.Tracer(ScopeName) }

// Config is the tracing configuration read from the environment.
type Config struct {
	// Endpoint is the OTLP/HTTP traces URL (…/v1/traces); "" = tracing off.
	Endpoint string
	// Headers are sent with every export (OTEL_EXPORTER_OTLP_HEADERS or
	// the file named by OTEL_EXPORTER_OTLP_HEADERS_FILE); a secret: never
	// logged.
	Headers map[string]string
	// ServiceName is service.name (OTEL_SERVICE_NAME, else regcase-<role>).
	ServiceName string
	// Sampler is OTEL_TRACES_SAMPLER (default parentbased_always_on) and
	// SamplerArg its ratio for the traceidratio samplers (default 1).
	Sampler    string
	SamplerArg float64
	// Timeout bounds one export (OTEL_EXPORTER_OTLP_TIMEOUT, milliseconds).
	Timeout time.Duration
	// Resource holds OTEL_RESOURCE_ATTRIBUTES (key=value,…); service.name
	// in it is overridden by ServiceName.
	Resource map[string]string
}

// Enabled reports whether spans are exported.
func (c Config) Enabled() bool { return c.Endpoint != "" }

var samplers = map[string]bool{
	"always_on": true, "always_off": true, "traceidratio": true,
	"parentbased_always_on": true, "parentbased_always_off": true, "parentbased_traceidratio": true,
}

// FromEnv reads the tracing configuration. role (all, api, worker) names
// the default service. A malformed value is a *config.Error naming the
// variable (exit 78). OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none
// turn tracing off whatever else is set; only the otlp exporter over
// http/protobuf is supported.
func FromEnv(getenv func(string) string, role string) (Config, error) {
	c := Config{ServiceName: strings.TrimSpace(getenv("OTEL_SERVICE_NAME")), Sampler: "parentbased_always_on", SamplerArg: 1, Timeout: 10 * time.Second}
	if c.ServiceName == "" {
		c.ServiceName = "regcase"
		if role == "api" || role == "worker" {
			c.ServiceName += "-" + role
		}
	}
	if v := strings.TrimSpace(getenv("OTEL_SDK_DISABLED")); v != "" {
		off, err := strconv.ParseBool(v)
		if err != nil {
			return c, &config.Error{Var: "OTEL_SDK_DISABLED", Msg: "must be true or false"}
		}
		if off {
			return c, nil
		}
	}
	switch v := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")); v {
	case "", "otlp":
	case "none":
		return c, nil
	default:
		return c, &config.Error{Var: "OTEL_TRACES_EXPORTER", Msg: fmt.Sprintf("%q is not supported (otlp or none)", v)}
	}
	for _, k := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if v := strings.TrimSpace(getenv(k)); v != "" {
			if v != "http/protobuf" {
				return c, &config.Error{Var: k, Msg: fmt.Sprintf("%q is not supported: regcase exports OTLP over HTTP (http/protobuf)", v)}
			}
			break
		}
	}
	if v := strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")); v != "" {
		if err := checkURL(v); err != nil {
			return c, &config.Error{Var: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", Msg: err.Error()}
		}
		c.Endpoint = v // used as is (the signal path included)
	} else if v := strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_ENDPOINT")); v != "" {
		if err := checkURL(v); err != nil {
			return c, &config.Error{Var: "OTEL_EXPORTER_OTLP_ENDPOINT", Msg: err.Error()}
		}
		c.Endpoint = strings.TrimRight(v, "/") + "/v1/traces"
	}
	if !c.Enabled() {
		return c, nil
	}
	headersVar, headers := "OTEL_EXPORTER_OTLP_HEADERS", strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_HEADERS"))
	if f := strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_HEADERS_FILE")); f != "" {
		// The headers usually hold a credential: like every secret, they
		// may come from a file.
		b, err := os.ReadFile(f)
		if err != nil {
			return c, &config.Error{Var: "OTEL_EXPORTER_OTLP_HEADERS_FILE", Msg: fmt.Sprintf("cannot read: %v", errors.Unwrap(err))}
		}
		headersVar, headers = "OTEL_EXPORTER_OTLP_HEADERS_FILE", strings.TrimSpace(string(b))
	}
	if headers != "" {
		h, err := parseHeaders(headers)
		if err != nil {
			return c, &config.Error{Var: headersVar, Msg: err.Error()}
		}
		c.Headers = h
	}
	if v := strings.TrimSpace(getenv("OTEL_RESOURCE_ATTRIBUTES")); v != "" {
		r, err := parseHeaders(v)
		if err != nil {
			return c, &config.Error{Var: "OTEL_RESOURCE_ATTRIBUTES", Msg: err.Error()}
		}
		c.Resource = r
		if n := r["service.name"]; n != "" && strings.TrimSpace(getenv("OTEL_SERVICE_NAME")) == "" {
			c.ServiceName = n
		}
	}
	if v := strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_TIMEOUT")); v != "" {
		ms, err := strconv.Atoi(v)
		if err != nil || ms <= 0 {
			return c, &config.Error{Var: "OTEL_EXPORTER_OTLP_TIMEOUT", Msg: "must be a positive number of milliseconds"}
		}
		c.Timeout = time.Duration(ms) * time.Millisecond
	}
	if v := strings.TrimSpace(getenv("OTEL_TRACES_SAMPLER")); v != "" {
		if !samplers[v] {
			return c, &config.Error{Var: "OTEL_TRACES_SAMPLER", Msg: fmt.Sprintf("unknown sampler %q (always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio)", v)}
		}
		c.Sampler = v
	}
	if v := strings.TrimSpace(getenv("OTEL_TRACES_SAMPLER_ARG")); v != "" && strings.HasSuffix(c.Sampler, "traceidratio") {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || f > 1 {
			return c, &config.Error{Var: "OTEL_TRACES_SAMPLER_ARG", Msg: "must be a ratio between 0 and 1"}
		}
		c.SamplerArg = f
	}
	return c, nil
}

func checkURL(v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("must be an http:// or https:// URL")
	}
	if u.User != nil {
		return errors.New("must not carry credentials (use OTEL_EXPORTER_OTLP_HEADERS)")
	}
	return nil
}

// parseHeaders reads the W3C-baggage-like list (OTLP headers and resource
// attributes alike) key1=value1,key2=value2
// (values percent-encoded).
func parseHeaders(v string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(kv, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, errors.New("must be a list of key=value pairs separated by commas")
		}
		dec, err := url.PathUnescape(strings.TrimSpace(val))
		if err != nil {
			return nil, fmt.Errorf("header %s: %v", k, err)
		}
		out[k] = dec
	}
	return out, nil
}

// LogAttrs describes the configuration for the startup log line; header
// values are never shown.
func (c Config) LogAttrs() []any {
	if !c.Enabled() {
		return []any{slog.Bool("tracing", false)}
	}
	u, _ := url.Parse(c.Endpoint)
	return []any{slog.Bool("tracing", true), slog.String("otlp_endpoint", u.Redacted()), slog.String("service_name", c.ServiceName),
		slog.String("sampler", c.Sampler), slog.Float64("sampler_arg", c.SamplerArg), slog.Int("otlp_headers", len(c.Headers))}
}

func (c Config) sampler() sdktrace.Sampler {
	switch c.Sampler {
	case "always_on":
		return sdktrace.AlwaysSample()
	case "always_off":
		return sdktrace.NeverSample()
	case "traceidratio":
		return sdktrace.TraceIDRatioBased(c.SamplerArg)
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample())
	case "parentbased_traceidratio":
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(c.SamplerArg))
	default:
		return sdktrace.ParentBased(sdktrace.AlwaysSample())
	}
}

// Propagator is the only propagation format regcase reads and writes: W3C
// Trace Context. Baggage is deliberately not propagated (it could carry
// anything, PII included, into our logs and events).
var Propagator propagation.TextMapPropagator = propagation.TraceContext{}

// Setup installs the W3C Trace Context propagator and, when c is enabled, a
// tracer provider exporting over OTLP/HTTP with a batch span processor. The
// returned shutdown flushes and stops it (a no-op when off). log receives
// export errors.
func Setup(ctx context.Context, c Config, log *slog.Logger) (shutdown func(context.Context) error, err error) {
	otel.SetTextMapPropagator(Propagator)
	if !c.Enabled() {
		return func(context.Context) error { return nil }, nil
	}
	opts := []otlptracehttp.Option{otlptracehttp.WithEndpointURL(c.Endpoint), otlptracehttp.WithTimeout(c.Timeout)}
	if len(c.Headers) > 0 {
		opts = append(opts, otlptracehttp.WithHeaders(c.Headers))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("OTLP exporter: %w", err)
	}
	res, err := newResource(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("tracing resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res), sdktrace.WithSampler(c.sampler()))
	otel.SetTracerProvider(tp)
	otel.SetErrorHandler(errorHandler{log: log})
	active.Store(true)
	return func(ctx context.Context) error {
		active.Store(false)
		return tp.Shutdown(ctx)
	}, nil
}

// active mirrors the OpenTelemetry global provider: true while Setup's
// provider exports.
var active atomic.Bool

// Active reports whether spans are being exported. Off, instrumentation
// skips building span attributes altogether and only carries a remote
// trace context along.
func Active() bool { return active.Load() }

// newResource is service.version and the commit (vcs.ref.head.revision)
// from the build, then OTEL_RESOURCE_ATTRIBUTES, then service.name.
func newResource(ctx context.Context, c Config) (*resource.Resource, error) {
	bi := buildinfo.Get()
	attrs := []attribute.KeyValue{semconv.ServiceVersion(bi.Version), semconv.VCSRefHeadRevision(bi.Commit),
		semconv.ProcessRuntimeName("go"), semconv.ProcessRuntimeVersion(bi.GoVersion)}
	for k, v := range c.Resource {
		attrs = append(attrs, attribute.String(k, v))
	}
	attrs = append(attrs, semconv.ServiceName(c.ServiceName))
	return resource.New(ctx, resource.WithSchemaURL(semconv.SchemaURL), resource.WithAttributes(attrs...))
}

// errorHandler logs the SDK's errors (a failed export) at warn level.
type errorHandler struct{ log *slog.Logger }

func (h errorHandler) Handle(err error) {
	h.log.Warn("tracing: OpenTelemetry SDK error", slog.Any("error", err))
}
