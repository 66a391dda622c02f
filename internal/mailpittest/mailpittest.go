// Package mailpittest gives tests a real SMTP server: a Mailpit child
// process on 127.0.0.1 and two free ports (SMTP and its HTTP API), its
// database in a temp dir, stopped when the test ends. The test asserts on
// what arrived through Mailpit's API.
//
// Without the mailpit binary (scripts/install-test-deps.sh installs it from
// the Go module proxy), Start skips the test — unless
// REGCASE_REQUIRE_MAILPIT=1 (scripts/test.sh sets it), when it fails.
package mailpittest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// EnvRequire names the variable that, set to "1", turns a missing mailpit
// into a test failure instead of a skip.
const EnvRequire = "REGCASE_REQUIRE_MAILPIT"

// Server is a Mailpit child process.
type Server struct {
	tb       testing.TB
	bin, dir string
	args     []string
	SMTPPort int
	HTTPPort int

	mu   sync.Mutex
	proc *exec.Cmd
	done chan struct{}
}

// Option adds command-line settings (e.g. STARTTLS certificates).
type Option func(*Server)

// WithArgs passes extra mailpit flags.
func WithArgs(args ...string) Option { return func(s *Server) { s.args = append(s.args, args...) } }

func binary() (string, error) {
	if p, err := exec.LookPath("mailpit"); err == nil {
		return p, nil
	}
	home, _ := os.UserHomeDir()
	for _, p := range []string{os.Getenv("GOBIN"), filepath.Join(os.Getenv("GOPATH"), "bin"), filepath.Join(home, "go", "bin")} {
		if p == "" {
			continue
		}
		if st, err := os.Stat(filepath.Join(p, "mailpit")); err == nil && st.Mode()&0o111 != 0 {
			return filepath.Join(p, "mailpit"), nil
		}
	}
	return "", errors.New("mailpit not found; run scripts/install-test-deps.sh (go install github.com/axllent/mailpit@v1.33.1)")
}

// Start starts Mailpit and waits until its API answers.
func Start(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	bin, err := binary()
	if err != nil {
		if os.Getenv(EnvRequire) == "1" {
			tb.Fatalf("mailpittest: %v (%s=1)", err, EnvRequire)
		}
		tb.Skipf("mailpittest: %v", err)
	}
	s := &Server{tb: tb, bin: bin, dir: tb.TempDir()}
	for _, o := range opts {
		o(s)
	}
	if s.SMTPPort, err = freePort(); err == nil {
		s.HTTPPort, err = freePort()
	}
	if err != nil {
		tb.Fatalf("mailpittest: free port: %v", err)
	}
	tb.Cleanup(func() { _ = s.stop() })
	s.Start()
	return s
}

// SMTPAddr is host:port of the SMTP listener.
func (s *Server) SMTPAddr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.SMTPPort)) }

// APIURL is the base URL of the HTTP API.
func (s *Server) APIURL() string {
	return "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(s.HTTPPort))
}

// Start (re)starts a stopped server on the same ports and database.
func (s *Server) Start() {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		return
	}
	args := append([]string{"--smtp", s.SMTPAddr(), "--listen", "127.0.0.1:" + strconv.Itoa(s.HTTPPort),
		"--database", filepath.Join(s.dir, "mailpit.db"), "--quiet", "--smtp-disable-rdns", "--max", "100000"}, s.args...)
	var last error
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		cmd := exec.Command(s.bin, args...)
		logf, err := os.OpenFile(filepath.Join(s.dir, "mailpit.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			s.tb.Fatalf("mailpittest: log: %v", err)
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			logf.Close()
			s.tb.Fatalf("mailpittest: start: %v", err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
		if last = waitUp(s.APIURL(), s.SMTPAddr(), done); last == nil {
			s.proc, s.done = cmd, done
			return
		}
		_ = cmd.Process.Kill()
		<-done
		time.Sleep(200 * time.Millisecond) // the port may still be held by the old process
	}
	log, _ := os.ReadFile(filepath.Join(s.dir, "mailpit.log"))
	s.tb.Fatalf("mailpittest: not up within 20s: %v\n%s", last, log)
}

func waitUp(api, smtp string, done chan struct{}) error {
	deadline := time.Now().Add(5 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return errors.New("mailpit exited")
		default:
		}
		var resp *http.Response
		if resp, err = http.Get(api + "/api/v1/messages?limit=1"); err == nil {
			resp.Body.Close()
			var c net.Conn
			if c, err = net.DialTimeout("tcp", smtp, time.Second); err == nil {
				c.Close()
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return err
}

// Stop stops the server (SIGTERM), keeping its database, so Start brings
// back the same mailbox; the SMTP port refuses connections meanwhile.
func (s *Server) Stop() {
	s.tb.Helper()
	if err := s.stop(); err != nil {
		s.tb.Fatalf("mailpittest: stop: %v", err)
	}
}

func (s *Server) stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return nil
	}
	_ = s.proc.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.proc.Process.Kill()
		<-s.done
	}
	s.proc = nil
	return nil
}

// Address is a mail address in Mailpit's API.
type Address struct {
	Name    string `json:"Name"`
	Address string `json:"Address"`
}

// Message is one received message, as listed by the API.
type Message struct {
	ID        string    `json:"ID"`
	MessageID string    `json:"MessageID"`
	From      Address   `json:"From"`
	To        []Address `json:"To"`
	Subject   string    `json:"Subject"`
	Snippet   string    `json:"Snippet"`
}

// Recipients are the To addresses of m.
func (m Message) Recipients() []string {
	out := make([]string, 0, len(m.To))
	for _, a := range m.To {
		out = append(out, a.Address)
	}
	return out
}

// Messages lists every received message, newest first.
func (s *Server) Messages(tb testing.TB) []Message {
	tb.Helper()
	var page struct {
		Messages []Message `json:"messages"`
	}
	s.getJSON(tb, "/api/v1/messages?limit=100000", &page)
	return page.Messages
}

// Text returns the plain-text body of message id.
func (s *Server) Text(tb testing.TB, id string) string {
	tb.Helper()
	var m struct {
		Text string `json:"Text"`
	}
	s.getJSON(tb, "/api/v1/message/"+id, &m)
	return m.Text
}

// WaitFor polls until ok(messages) or the timeout; it returns the last list.
func (s *Server) WaitFor(tb testing.TB, timeout time.Duration, what string, ok func([]Message) bool) []Message {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ms := s.Messages(tb)
		if ok(ms) {
			return ms
		}
		if time.Now().After(deadline) {
			tb.Fatalf("mailpittest: %s not seen within %s; mailbox: %s", what, timeout, describe(ms))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func describe(ms []Message) string {
	b, _ := json.Marshal(ms)
	return string(b)
}

func (s *Server) getJSON(tb testing.TB, path string, v any) {
	tb.Helper()
	resp, err := http.Get(s.APIURL() + path)
	if err != nil {
		tb.Fatalf("mailpittest: GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("mailpittest: GET %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		tb.Fatalf("mailpittest: GET %s: %v", path, err)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// String describes the server for logs.
func (s *Server) String() string {
	return fmt.Sprintf("mailpit smtp %s api %s", s.SMTPAddr(), s.APIURL())
}
