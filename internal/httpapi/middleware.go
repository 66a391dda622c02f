package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/regcase/regcase/internal/regcase"
	"github.com/regcase/regcase/internal/reqinfo"
	"github.com/regcase/regcase/internal/telemetry"
	"github.com/regcase/regcase/internal/throttle"
)

func jsonEncode(w io.Writer, v any) error { return json.NewEncoder(w).Encode(v) }

func infoFrom(ctx context.Context) *reqinfo.Info { return reqinfo.From(ctx) }

func requestID(ctx context.Context) string {
	if i := infoFrom(ctx); i != nil {
		return i.ID
	}
	return ""
}

// actorFrom returns the caller resolved by the auth middleware.
func actorFrom(ctx context.Context) regcase.Actor {
	if i := infoFrom(ctx); i != nil {
		return i.Actor
	}
	return regcase.Actor{ID: "public", Role: regcase.RoleAnonymous}
}

var requestIDRE = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

func newRequestID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// httpMetrics are the request metrics, labelled by route template only.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inflight prometheus.Gauge
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total", Help: "HTTP requests by route template, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "http_request_duration_seconds", Help: "HTTP request latency by route template and method.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "method"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "http_requests_in_flight", Help: "HTTP requests being served.",
		}),
	}
	reg.MustRegister(m.requests, m.duration, m.inflight)
	return m
}

// observe is the outermost middleware: request id, client address, recovery,
// one log line per request and the request metrics.
func (s *server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := &reqinfo.Info{ID: r.Header.Get("X-Request-ID"), Actor: regcase.Actor{ID: "public", Role: regcase.RoleAnonymous}}
		if !requestIDRE.MatchString(info.ID) {
			info.ID = newRequestID()
		}
		info.Client = s.clientAddr(r)
		info.Actor.Addr = info.Client
		info.Actor.RequestID = info.ID
		w.Header().Set("X-Request-ID", info.ID)
		if strings.HasPrefix(r.URL.Path, "/v1/") {
			// Every API answer may carry a status secret, a token or
			// webhook secret, reporter contact details or case data: no
			// browser, proxy or CDN may keep a copy.
			w.Header().Set("Cache-Control", "no-store")
		}
		sw := &statusWriter{ResponseWriter: w}
		s.metrics.inflight.Inc()
		defer func() {
			s.metrics.inflight.Dec()
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic serving request", slog.String("request_id", info.ID), slog.Any("panic", v))
				if sw.status == 0 {
					writeProblem(sw, http.StatusInternalServerError, string(regcase.EInternal), "internal error")
				}
			}
			route := info.Route
			if route == "" {
				route = "unmatched"
			}
			d := time.Since(start)
			if (sw.status >= 500 || sw.status == 0) && clientGone(r.Context()) {
				sw.status = StatusClientClosedRequest // nobody got the answer; not a server error
			}
			s.metrics.requests.WithLabelValues(route, r.Method, strconv.Itoa(sw.status)).Inc()
			s.metrics.duration.WithLabelValues(route, r.Method).Observe(d.Seconds())
			if route == "/health/live" || route == "/health/ready" || route == "/metrics" {
				return // probes and scrapes would drown the log
			}
			attrs := []slog.Attr{
				slog.String("request_id", info.ID), slog.String("method", r.Method), slog.String("route", route),
				slog.Int("status", sw.status), slog.Float64("duration_ms", float64(d.Microseconds())/1000),
				slog.Int64("bytes", sw.bytes), slog.String("actor", info.Actor.ID), slog.String("role", string(info.Actor.Role)),
			}
			// An anonymous caller (a reporter) is logged with what the
			// address policy keeps (nothing by default), like its audit record.
			a := info.Actor
			a.Addr = info.Client
			client := s.svc.KeptAddr(a)
			if client != "" {
				attrs = append(attrs, slog.String("client", client))
			}
			// trace_id and span_id are added by the log handler
			// (telemetry.LogHandler) from the request's context.
			s.log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
		}()
		next.ServeHTTP(sw, r.WithContext(reqinfo.With(r.Context(), info)))
	})
}

// capturePattern runs right around the mux, which sets r.Pattern on the
// request it routes; the route template is copied to the request info.
func capturePattern(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { // deferred, so a panicking handler is still labelled
			if i := infoFrom(r.Context()); i != nil && r.Pattern != "" {
				_, path, found := strings.Cut(r.Pattern, " ")
				if !found {
					path = r.Pattern
				}
				i.Route = path
				telemetry.SetRoute(r, path)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func (s *server) clientAddr(r *http.Request) string {
	return throttle.ClientAddr(r, s.deps.TrustedProxies)
}

// authenticate resolves the bearer token, if any. A bad token is a 401 even
// on public routes, so a client never mistakes a broken token for access.
func (s *server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		if h == "" {
			next.ServeHTTP(w, r)
			return
		}
		scheme, token, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="regcase"`)
			writeProblem(w, http.StatusUnauthorized, string(regcase.EUnauthorized), "Authorization must be 'Bearer <token>'")
			return
		}
		actor, err := s.resolveToken(r.Context(), token)
		if err != nil {
			code := regcase.ErrorCodeOf(err)
			status := codeStatus[code]
			if (status == 0 || status >= 500) && clientGone(r.Context()) {
				s.log.Info("request canceled by the client", slog.String("request_id", requestID(r.Context())), slog.Any("error", err))
				writeProblem(w, StatusClientClosedRequest, "client_closed_request", "the client canceled the request")
				return
			}
			if status == 0 || status >= 500 {
				s.log.Error("authentication failed", slog.String("request_id", requestID(r.Context())), slog.Any("error", err))
				writeProblem(w, http.StatusServiceUnavailable, string(regcase.EUnavailable), "cannot authenticate right now")
				return
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="regcase", error="invalid_token"`)
			writeProblem(w, status, string(code), regcase.ErrorMessage(err))
			return
		}
		if i := infoFrom(r.Context()); i != nil {
			actor.Addr, actor.RequestID = i.Client, i.ID
			i.Actor = actor
		}
		next.ServeHTTP(w, r)
	})
}

func (s *server) resolveToken(ctx context.Context, token string) (regcase.Actor, error) {
	if strings.HasPrefix(token, regcase.TokenPrefix) || s.deps.OIDC == nil {
		return s.deps.Service.Authenticate(ctx, token)
	}
	return s.deps.OIDC.Verify(ctx, token)
}
