package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// proc is one regcase subprocess (api, worker, all) with its output in a
// log file. It is stopped (SIGTERM, then SIGKILL) when its test ends, and
// its log's tail is printed if the test failed.
type proc struct {
	t       *testing.T
	Name    string
	URL     string // http://127.0.0.1:port
	LogPath string

	cmd  *exec.Cmd
	done chan struct{} // closed when the process has been waited for
	err  error         // its exit, once done is closed

	stopOnce sync.Once
	killed   bool
}

// usedPorts keeps the ports handed out so that two processes of one test
// binary never get the same one.
var (
	portsMu   sync.Mutex
	usedPorts = map[int]bool{}
)

func freePort(t *testing.T) int {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		portsMu.Lock()
		taken := usedPorts[port]
		usedPorts[port] = true
		portsMu.Unlock()
		if !taken {
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// baseEnv is the parent's environment without any regcase configuration,
// so that a developer's settings do not leak into the processes.
func baseEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "REGCASE_") || k == "DATABASE_URL" || k == "REDIS_URL" || k == "LOG_FORMAT" ||
			k == "LOG_LEVEL" || strings.HasPrefix(k, "OTEL_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

func envList(env map[string]string) []string {
	out := baseEnv()
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, k+"="+env[k])
	}
	return out
}

// startProc starts `regcase <command>` with env on a free loopback port
// and waits until /health/live answers. logDir holds its log file
// (name.log; a restart under the same name gets name.2.log, …).
func startProc(t *testing.T, logDir, name string, env map[string]string, command string) *proc {
	t.Helper()
	port := freePort(t)
	e := map[string]string{}
	for k, v := range env {
		e[k] = v
	}
	e["REGCASE_HTTP_ADDR"] = fmt.Sprintf("127.0.0.1:%d", port)
	logPath := filepath.Join(logDir, name+".log")
	for i := 2; fileExists(logPath); i++ {
		logPath = filepath.Join(logDir, fmt.Sprintf("%s.%d.log", name, i))
	}
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close() // the child has its own descriptor
	cmd := exec.Command(binary, command)
	cmd.Env = envList(e)
	cmd.Stdout, cmd.Stderr = f, f
	// The kernel kills the process if the test binary dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{t: t, Name: name, URL: fmt.Sprintf("http://127.0.0.1:%d", port), LogPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("--- %s (%s, pid %d): last lines of %s ---\n%s", name, command, cmd.Process.Pid, filepath.Base(logPath), tailFile(logPath, 60))
		}
		if b, _ := os.ReadFile(logPath); strings.Contains(string(b), "panic:") || strings.Contains(string(b), "fatal error:") {
			t.Errorf("%s panicked; its log:\n%s", name, tailFile(logPath, 120))
		}
		if testing.Verbose() {
			if sum := logSummary(logPath); sum != "" {
				t.Logf("%s logged %s", name, sum)
			}
		}
	})
	p.waitStatus("/health/live", http.StatusOK, 60*time.Second)
	return p
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Running reports whether the process is alive.
func (p *proc) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Stop sends SIGTERM and waits up to 40 s for the exit, then kills; an
// exit status other than 0 after SIGTERM fails the test. Later calls do
// nothing.
func (p *proc) Stop() {
	p.stopOnce.Do(func() {
		if !p.Running() {
			if !p.killed && p.err != nil {
				p.t.Errorf("%s exited on its own: %v\n%s", p.Name, p.err, tailFile(p.LogPath, 40))
			}
			return
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		start := time.Now()
		select {
		case <-p.done:
			if d := time.Since(start); d > 3*time.Second {
				p.t.Logf("%s took %s to exit after SIGTERM", p.Name, d.Round(time.Millisecond))
			}
			if p.err != nil {
				p.t.Errorf("%s exited with %v after SIGTERM, want status 0\n%s", p.Name, p.err, tailFile(p.LogPath, 40))
			}
		case <-time.After(40 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
			p.t.Errorf("%s did not exit within 40s of SIGTERM; killed", p.Name)
		}
	})
}

// Kill ends the process with SIGKILL (a crash) and waits for it.
func (p *proc) Kill() {
	p.stopOnce.Do(func() {
		p.killed = true
		_ = p.cmd.Process.Kill()
		<-p.done
	})
}

// status returns the HTTP status of GET path, or 0 when there is no answer.
func (p *proc) status(path string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+path, nil)
	resp, err := probeClient.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

var probeClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

// waitStatus polls GET path until it answers want; the process exiting or
// the timeout fails the test.
func (p *proc) waitStatus(path string, want int, timeout time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	last := 0
	for time.Now().Before(deadline) {
		if last = p.status(path); last == want {
			return
		}
		select {
		case <-p.done:
			p.t.Fatalf("%s exited (%v) before %s answered %d:\n%s", p.Name, p.err, path, want, tailFile(p.LogPath, 60))
		case <-time.After(50 * time.Millisecond):
		}
	}
	p.t.Fatalf("%s: %s answered %d, not %d, for %s:\n%s", p.Name, path, last, want, timeout, tailFile(p.LogPath, 60))
}

// WaitReady waits until /health/ready answers 200.
func (p *proc) WaitReady(timeout time.Duration) {
	p.t.Helper()
	p.waitStatus("/health/ready", http.StatusOK, timeout)
}

// Metric returns the sum of the samples of a Prometheus metric whose
// label set contains every one of labels ("name=value"), scraped from
// /metrics; -1 when the scrape fails.
func (p *proc) Metric(name string, labels ...string) float64 {
	resp, err := probeClient.Get(p.URL + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) || strings.HasPrefix(line, "#") {
			continue
		}
		rest := line[len(name):]
		if rest == "" || (rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		ok := true
		for _, l := range labels {
			k, v, _ := strings.Cut(l, "=")
			if !strings.Contains(rest, k+`="`+v+`"`) {
				ok = false
			}
		}
		if !ok {
			continue
		}
		var f float64
		if i := strings.LastIndexByte(rest, ' '); i >= 0 {
			if _, err := fmt.Sscan(rest[i+1:], &f); err == nil {
				sum += f
			}
		}
	}
	return sum
}

// tailFile returns the last n lines of a file.
func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// logSummary counts the WARN and ERROR lines of a JSON log by message.
func logSummary(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	counts := map[string]int{}
	for _, l := range strings.Split(string(b), "\n") {
		var line struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
		}
		if json.Unmarshal([]byte(l), &line) == nil && (line.Level == "WARN" || line.Level == "ERROR") {
			counts[line.Level+" "+strconv.Quote(line.Msg)]++
		}
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, counts[k]))
	}
	return strings.Join(parts, "; ")
}

// runCLI runs a short regcase command (migrate, token create, …) and
// returns its stdout; a non-zero exit fails the test.
func runCLI(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = envList(env)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("regcase %s: exit %d\n%s", strings.Join(args, " "), ee.ExitCode(), stderr.String())
		}
		t.Fatalf("regcase %s: %v", strings.Join(args, " "), err)
	}
	return stdout.String()
}
