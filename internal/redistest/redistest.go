// Package redistest gives tests a real Redis: a redis-server child process
// on 127.0.0.1 and a free port, with its data in a temp dir, stopped when the
// test ends.
//
// The server persists like a production Redis configured with AOF
// (appendonly yes, appendfsync everysec, no RDB snapshots), so a Stop and
// Start keeps the data and a Kill loses at most the last second of writes.
//
// Without redis-server on the machine, Start skips the test and says to run
// scripts/install-test-deps.sh — unless REGCASE_REQUIRE_REDIS=1 (as in CI),
// when it fails the test instead.
package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// EnvRequire names the environment variable that, set to "1", turns a
// missing redis-server into a test failure instead of a skip.
const EnvRequire = "REGCASE_REQUIRE_REDIS"

// readyTimeout bounds how long Start waits for the server to answer PING.
const readyTimeout = 10 * time.Second

// Option changes how the server is started.
type Option func(*config)

type config struct {
	password string
	args     []string
}

// WithPassword makes the server require password (requirepass); URL and
// Client carry it.
func WithPassword(password string) Option {
	return func(c *config) { c.password = password }
}

// WithArgs passes extra command-line settings to redis-server, such as
// "--maxmemory", "10mb". They come after the package's own, so they win.
func WithArgs(args ...string) Option {
	return func(c *config) { c.args = append(c.args, args...) }
}

// Server is a redis-server child process. Its methods are safe for
// concurrent use; they fail tb on errors, so call them from the test's
// goroutine.
type Server struct {
	tb   testing.TB
	bin  string
	dir  string
	port int
	cfg  config

	mu     sync.Mutex
	proc   *exec.Cmd
	exited chan struct{} // closed when proc has been waited for
	client *redis.Client
}

// Start starts a fresh redis-server for tb and waits until it answers PING.
// It is stopped, and its files removed, when tb ends.
func Start(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	bin, err := findServer()
	if err != nil {
		if os.Getenv(EnvRequire) == "1" {
			tb.Fatalf("redistest: %v (%s=1)", err, EnvRequire)
		}
		tb.Skipf("redistest: %v; set %s=1 to fail instead of skipping", err, EnvRequire)
	}
	s := &Server{tb: tb, bin: bin, dir: tb.TempDir()}
	for _, o := range opts {
		o(&s.cfg)
	}
	tb.Cleanup(s.cleanup)

	var lastErr error
	for range 3 { // a free port can be taken between the probe and the bind
		if s.port, err = freePort(); err != nil {
			tb.Fatalf("redistest: %v", err)
		}
		if lastErr = s.start(); lastErr == nil {
			return s
		}
	}
	tb.Fatalf("redistest: %v", lastErr)
	return nil
}

// serverPaths are tried when redis-server is not on PATH.
var serverPaths = []string{"/usr/bin/redis-server", "/usr/local/bin/redis-server"}

// findServer locates redis-server on PATH or where Debian installs it.
func findServer() (string, error) {
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p, nil
	}
	for _, p := range serverPaths {
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errors.New("redis-server not found on PATH; run scripts/install-test-deps.sh")
}

// URL is the server's redis:// URL (database 0), with the password when
// the server has one.
func (s *Server) URL() string {
	u := url.URL{Scheme: "redis", Host: s.Addr(), Path: "/0"}
	if s.cfg.password != "" {
		u.User = url.UserPassword("", s.cfg.password)
	}
	return u.String()
}

// Addr is the server's host:port.
func (s *Server) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// Dir is the server's working directory, holding the AOF and its log.
func (s *Server) Dir() string { return s.dir }

// Client returns a client of the server for assertions, closed when the
// test ends. It survives Stop and Start.
func (s *Server) Client() *redis.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client == nil {
		s.client = redis.NewClient(&redis.Options{
			Addr:                  s.Addr(),
			Password:              s.cfg.password,
			DialTimeout:           2 * time.Second,
			ReadTimeout:           3 * time.Second,
			WriteTimeout:          3 * time.Second,
			DialerRetries:         1,
			ContextTimeoutEnabled: true,
			DisableIdentity:       true,
			MaintNotificationsConfig: &maintnotifications.Config{
				Mode: maintnotifications.ModeDisabled,
			},
		})
	}
	return s.client
}

// Stop shuts the server down gracefully (SIGTERM), which flushes the AOF,
// and waits for it to exit. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.tb.Helper()
	if err := s.signalAndWait(syscall.SIGTERM, 30*time.Second); err != nil {
		s.tb.Fatalf("redistest: stop: %v", err)
	}
}

// Kill ends the server with SIGKILL, like a crash, and waits for it to exit.
func (s *Server) Kill() {
	s.tb.Helper()
	if err := s.signalAndWait(syscall.SIGKILL, 30*time.Second); err != nil {
		s.tb.Fatalf("redistest: kill: %v", err)
	}
}

// Pause freezes the server (SIGSTOP): it accepts connections but answers
// nothing, like a hung Redis, until Resume.
func (s *Server) Pause() {
	s.tb.Helper()
	if err := s.signal(syscall.SIGSTOP); err != nil {
		s.tb.Fatalf("redistest: pause: %v", err)
	}
}

// Resume lets a paused server go on (SIGCONT).
func (s *Server) Resume() {
	s.tb.Helper()
	if err := s.signal(syscall.SIGCONT); err != nil {
		s.tb.Fatalf("redistest: resume: %v", err)
	}
}

func (s *Server) signal(sig syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running() {
		return errors.New("server is not running")
	}
	return s.proc.Process.Signal(sig)
}

// Start starts the server again on the same port and data dir after Stop or
// Kill, and waits until it answers PING.
func (s *Server) Start() {
	s.tb.Helper()
	var err error
	deadline := time.Now().Add(readyTimeout)
	for {
		// The port can be briefly unavailable right after the old process
		// exited; retry the bind for a while.
		if err = s.start(); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		s.tb.Fatalf("redistest: restart: %v", err)
	}
}

// Running reports whether the server process is alive.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running()
}

func (s *Server) running() bool {
	if s.proc == nil {
		return false
	}
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// start runs redis-server on s.port and waits for PING.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running() {
		return errors.New("server is already running")
	}
	logPath := filepath.Join(s.dir, "redis.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close() // the child has its own descriptor
	offset, _ := logFile.Seek(0, 2)

	args := []string{
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--protected-mode", "yes",
		"--daemonize", "no",
		"--dir", s.dir,
		"--save", "",
		"--appendonly", "yes",
		"--appendfsync", "everysec",
		"--logfile", "",
		"--loglevel", "warning",
	}
	if s.cfg.password != "" {
		args = append(args, "--requirepass", s.cfg.password)
	}
	args = append(args, s.cfg.args...)
	cmd := exec.Command(s.bin, args...)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.proc, s.exited = cmd, exited

	if err := s.waitReady(exited); err != nil {
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("redis-server on %s: %w\n%s", s.Addr(), err, logTail(logPath, offset))
	}
	return nil
}

// waitReady polls PING until it answers, the process exits or readyTimeout.
// Each attempt uses a fresh client: a pool that failed to dial waits a
// second before dialing again.
func (s *Server) waitReady(exited <-chan struct{}) error {
	deadline := time.Now().Add(readyTimeout)
	var err error
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("exited before answering PING")
		default:
		}
		if err = s.ping(); err == nil {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("no answer to PING within %s: %w", readyTimeout, err)
}

// ping sends one PING on a new connection. It first checks that the port
// accepts connections, so go-redis does not log refused dials.
func (s *Server) ping() error {
	conn, err := net.DialTimeout("tcp", s.Addr(), time.Second)
	if err != nil {
		return err
	}
	_ = conn.Close()
	c := redis.NewClient(&redis.Options{
		Addr: s.Addr(), Password: s.cfg.password,
		DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second,
		MaxRetries: -1, DialerRetries: 1, PoolSize: 1,
		DisableIdentity: true,
		MaintNotificationsConfig: &maintnotifications.Config{
			Mode: maintnotifications.ModeDisabled,
		},
	})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return c.Ping(ctx).Err()
}

// signalAndWait sends sig and waits for the process to exit, escalating to
// SIGKILL after timeout.
func (s *Server) signalAndWait(sig syscall.Signal, timeout time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running() {
		return nil
	}
	if err := s.proc.Process.Signal(sig); err != nil {
		return err
	}
	_ = s.proc.Process.Signal(syscall.SIGCONT) // a paused server must run to exit
	select {
	case <-s.exited:
		return nil
	case <-time.After(timeout):
		_ = s.proc.Process.Kill()
		<-s.exited
		return fmt.Errorf("no exit within %s of %v; killed", timeout, sig)
	}
}

// cleanup closes the client and stops the server at the end of the test.
func (s *Server) cleanup() {
	s.mu.Lock()
	if s.client != nil {
		_ = s.client.Close()
		s.client = nil
	}
	s.mu.Unlock()
	if err := s.signalAndWait(syscall.SIGTERM, 10*time.Second); err != nil {
		s.tb.Errorf("redistest: cleanup: %v", err)
	}
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// logTail is what the server logged since offset, at most the last 4 KiB.
func logTail(path string, offset int64) string {
	b, err := os.ReadFile(path)
	if err != nil || int64(len(b)) < offset {
		return ""
	}
	b = b[offset:]
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return strings.TrimSpace(string(b))
}
