package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// EnvRequireJaeger makes the tracing tests fail, instead of skipping, when
// no Jaeger binary is found (scripts/test.sh sets it after
// scripts/install-jaeger.sh provided one).
const EnvRequireJaeger = "REGCASE_REQUIRE_JAEGER"

// jaegerVersion is the build scripts/install-jaeger.sh caches.
const jaegerVersion = "v1.75.0"

// jaegerBinary finds Jaeger v2 (cmd/jaeger): $REGCASE_JAEGER_BINARY, the
// tools cache of scripts/install-jaeger.sh, or jaeger on PATH.
func jaegerBinary(t *testing.T) string {
	t.Helper()
	var tried []string
	if b := os.Getenv("REGCASE_JAEGER_BINARY"); b != "" {
		return b
	}
	cache := os.Getenv("REGCASE_TOOLS_CACHE")
	if cache == "" {
		base := os.Getenv("XDG_CACHE_HOME")
		if base == "" {
			home, _ := os.UserHomeDir()
			base = filepath.Join(home, ".cache")
		}
		cache = filepath.Join(base, "regcase-tools")
	}
	p := filepath.Join(cache, "jaeger", jaegerVersion, "jaeger")
	tried = append(tried, p)
	if st, err := os.Stat(p); err == nil && !st.IsDir() {
		return p
	}
	if p, err := exec.LookPath("jaeger"); err == nil {
		return p
	}
	tried = append(tried, "jaeger on PATH")
	msg := fmt.Sprintf("no Jaeger binary (tried %s); scripts/install-jaeger.sh builds one", strings.Join(tried, ", "))
	if os.Getenv(EnvRequireJaeger) == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// jaeger is a Jaeger v2 process on loopback: OTLP/HTTP in, the query
// HTTP API out, spans in memory.
type jaeger struct {
	t     *testing.T
	OTLP  string // http://127.0.0.1:port (OTEL_EXPORTER_OTLP_ENDPOINT)
	Query string // http://127.0.0.1:port
}

func startJaeger(t *testing.T) *jaeger {
	t.Helper()
	bin := jaegerBinary(t)
	dir := t.TempDir()
	otlp, query, grpc := freePort(t), freePort(t), freePort(t)
	cfg := fmt.Sprintf(`service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: []
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
extensions:
  jaeger_query:
    storage:
      traces: mem
    http:
      endpoint: 127.0.0.1:%d
    grpc:
      endpoint: 127.0.0.1:%d
  jaeger_storage:
    backends:
      mem:
        memory:
          max_traces: 10000
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:%d
exporters:
  jaeger_storage_exporter:
    trace_storage: mem
`, query, grpc, otlp)
	cfgPath := filepath.Join(dir, "jaeger.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "jaeger.log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(bin, "--config", "file:"+cfgPath)
	// Jaeger does not trace itself (it would dial 127.0.0.1:4317).
	cmd.Env = append(baseEnv(), "OTEL_SDK_DISABLED=true", "OTEL_TRACES_EXPORTER=none")
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("jaeger log (tail):\n%s", tailFile(logPath, 30))
		}
	})
	j := &jaeger{t: t, OTLP: fmt.Sprintf("http://127.0.0.1:%d", otlp), Query: fmt.Sprintf("http://127.0.0.1:%d", query)}
	waitFor(t, 30*time.Second, "jaeger query API answering", func() bool {
		select {
		case <-done:
			t.Fatalf("jaeger exited at start:\n%s", tailFile(logPath, 30))
		default:
		}
		resp, err := http.Get(j.Query + "/api/services")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return j
}

// jSpan is a span as Jaeger's query API returns it (references: the
// parent as CHILD_OF, links as FOLLOWS_FROM).
type jSpan struct {
	TraceID       string `json:"traceID"`
	SpanID        string `json:"spanID"`
	OperationName string `json:"operationName"`
	References    []struct {
		RefType string `json:"refType"`
		TraceID string `json:"traceID"`
		SpanID  string `json:"spanID"`
	} `json:"references"`
	Tags []struct {
		Key   string `json:"key"`
		Value any    `json:"value"`
	} `json:"tags"`
	ProcessID string `json:"processID"`
	Service   string `json:"-"` // filled from the trace's processes
}

// Parent is the span id of the CHILD_OF reference ("" for a root).
func (s jSpan) Parent() string {
	for _, r := range s.References {
		if r.RefType == "CHILD_OF" {
			return r.SpanID
		}
	}
	return ""
}

// Links are the FOLLOWS_FROM references (trace id/span id).
func (s jSpan) Links() []string {
	var out []string
	for _, r := range s.References {
		if r.RefType == "FOLLOWS_FROM" {
			out = append(out, r.TraceID+"/"+r.SpanID)
		}
	}
	return out
}

// Tag returns the value of the tag key as text ("" when missing).
func (s jSpan) Tag(key string) string {
	for _, tg := range s.Tags {
		if tg.Key == key {
			return fmt.Sprint(tg.Value)
		}
	}
	return ""
}

// Trace returns the spans of the trace id (nil when Jaeger has none yet).
func (j *jaeger) Trace(id string) []jSpan {
	j.t.Helper()
	resp, err := http.Get(j.Query + "/api/traces/" + id)
	if err != nil {
		j.t.Fatalf("jaeger query: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil
	}
	var out struct {
		Data []struct {
			Spans     []jSpan `json:"spans"`
			Processes map[string]struct {
				ServiceName string `json:"serviceName"`
			} `json:"processes"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		j.t.Fatalf("jaeger query /api/traces/%s: %v", id, err)
	}
	var spans []jSpan
	for _, d := range out.Data {
		for _, s := range d.Spans {
			s.Service = d.Processes[s.ProcessID].ServiceName
			spans = append(spans, s)
		}
	}
	return spans
}
