// Package pgtest gives tests a real PostgreSQL: a throwaway cluster on
// loopback (one per test binary), or the server named by
// REGCASE_TEST_POSTGRES_URL, and a fresh database per test with an owner
// role and an application role, dropped when the test ends.
//
// Typical use:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
//	func TestX(t *testing.T) {
//		db := pgtest.Start(t).NewDatabase(t)
//		…
//	}
//
// The cluster lives in /dev/shm when that tmpfs has room (CREATE DATABASE
// is ~10x faster there), listens on 127.0.0.1 only, runs with fsync off,
// and is removed when the tests end — even when the test binary is killed,
// by a small watchdog process.
//
// There is no silent skip: without PostgreSQL binaries (and without
// REGCASE_TEST_POSTGRES_URL) every test that asks for a server fails and
// says to run scripts/install-test-deps.sh.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// EnvURL names the environment variable holding a superuser URL of an
// existing server to use instead of starting one.
const EnvURL = "REGCASE_TEST_POSTGRES_URL"

// Server is a PostgreSQL server reachable with a superuser.
type Server struct {
	// URL is a superuser URL of the server's "postgres" database.
	URL string

	base  *url.URL      // URL, parsed
	admin *pgxpool.Pool // superuser connections for creating databases
	local *cluster      // nil when the server is external
}

var (
	sharedOnce sync.Once
	shared     *Server
	sharedStop func()
	sharedErr  error
)

// Start returns the server shared by the whole test binary, starting it on
// first use. It is stopped by Main, or, without Main, when the test binary
// exits (a watchdog process stops it and removes its files). A missing
// PostgreSQL installation fails tb.
func Start(tb testing.TB) *Server {
	tb.Helper()
	sharedOnce.Do(func() { shared, sharedStop, sharedErr = StartMain() })
	if sharedErr != nil {
		tb.Fatalf("pgtest: %v", sharedErr)
	}
	return shared
}

// Main runs the tests and then stops the shared server (if Start started
// one) before exiting with the tests' status. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if sharedStop != nil {
		sharedStop()
	}
	os.Exit(code)
}

// StartMain starts a dedicated server (or connects to REGCASE_TEST_POSTGRES_URL)
// and returns it with the function that stops it. For TestMain functions
// that want their own server; most tests use Start.
func StartMain() (*Server, func(), error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := &Server{}
	if u := os.Getenv(EnvURL); u != "" {
		s.URL = u
	} else {
		c, err := startCluster(ctx)
		if err != nil {
			return nil, nil, err
		}
		s.local, s.URL = c, c.url()
	}
	stop := func() {
		if s.admin != nil {
			s.admin.Close()
		}
		if s.local != nil {
			s.local.stop()
		}
	}
	base, err := url.Parse(s.URL)
	if err != nil || (base.Scheme != "postgres" && base.Scheme != "postgresql") {
		stop()
		return nil, nil, fmt.Errorf("%s must be a postgres:// URL", EnvURL)
	}
	s.base = base
	if s.admin, err = pgxpool.New(ctx, s.URL); err != nil {
		stop()
		return nil, nil, fmt.Errorf("connect to %s: %w", redact(base), err)
	}
	if err := s.admin.Ping(ctx); err != nil {
		stop()
		return nil, nil, fmt.Errorf("connect to %s: %w", redact(base), err)
	}
	return s, stop, nil
}

// redact returns u without its password, for messages.
func redact(u *url.URL) string {
	c := *u
	if c.User != nil {
		c.User = url.User(c.User.Username())
	}
	return c.String()
}

// cluster is a PostgreSQL cluster this package started in a temp dir.
type cluster struct {
	bin      string // directory of initdb, pg_ctl, postgres
	dir      string // temp dir: data/, the socket, the log
	port     int
	asUser   string // OS user running the cluster ("" = current user)
	watchdog *exec.Cmd
}

func (c *cluster) dataDir() string { return filepath.Join(c.dir, "data") }
func (c *cluster) logFile() string { return filepath.Join(c.dir, "postgres.log") }

func (c *cluster) url() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

// debianBinDirs is where Debian and Ubuntu install PostgreSQL versions.
const debianBinDirs = "/usr/lib/postgresql/*/bin"

// findBinDir returns the directory holding initdb and pg_ctl: the highest
// version matching glob, else the one on PATH.
func findBinDir(glob string) (string, error) {
	dirs, _ := filepath.Glob(glob)
	slices.SortFunc(dirs, func(a, b string) int { return versionOf(b) - versionOf(a) })
	for _, d := range dirs {
		if isExecutable(filepath.Join(d, "initdb")) && isExecutable(filepath.Join(d, "pg_ctl")) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		d := filepath.Dir(p)
		if isExecutable(filepath.Join(d, "pg_ctl")) {
			return d, nil
		}
	}
	return "", errors.New("no PostgreSQL server binaries found (looked for initdb and pg_ctl in /usr/lib/postgresql/*/bin and on PATH): " +
		"run scripts/install-test-deps.sh, or set " + EnvURL + " to a superuser URL of a running server")
}

// versionOf extracts the version from /usr/lib/postgresql/<version>/bin.
func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// startCluster runs initdb and pg_ctl start in a new temp dir. As root both
// run as the postgres OS user, which owns the dir (initdb refuses root).
func startCluster(ctx context.Context) (*cluster, error) {
	bin, err := findBinDir(debianBinDirs)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(baseDir(), "regcase-pgtest-")
	if err != nil {
		return nil, err
	}
	c := &cluster{bin: bin, dir: dir}
	if os.Geteuid() == 0 {
		if err := c.chownToPostgres(); err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
	}
	if out, err := c.run(ctx, "initdb", "-D", c.dataDir(), "-U", "postgres", "--auth=trust",
		"--encoding=UTF8", "--locale=C", "--no-sync"); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	var lastErr error
	for range 3 { // a free port can be taken between the probe and the bind
		if c.port, err = freePort(); err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
		if err := c.configure(); err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
		out, err := c.run(ctx, "pg_ctl", "-D", c.dataDir(), "-l", c.logFile(), "-w", "-t", "60", "start")
		if err == nil {
			c.startWatchdog()
			return c, nil
		}
		log, _ := os.ReadFile(c.logFile())
		lastErr = fmt.Errorf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
	_ = os.RemoveAll(dir)
	return nil, lastErr
}

// baseDir is where clusters live: /dev/shm when it is a tmpfs with room
// (file creation there is an order of magnitude faster than on a disk, and
// CREATE DATABASE creates hundreds of files), else the temp dir. Docker's
// default 64 MB /dev/shm is too small and is skipped.
func baseDir() string {
	const shm, minFree = "/dev/shm", 1 << 30
	var st syscall.Statfs_t
	if err := syscall.Statfs(shm, &st); err != nil || uint64(st.Bavail)*uint64(st.Bsize) < minFree {
		return os.TempDir()
	}
	if f, err := os.CreateTemp(shm, "regcase-pgtest-probe-"); err == nil {
		f.Close()
		os.Remove(f.Name())
		return shm
	}
	return os.TempDir()
}

// chownToPostgres hands the temp dir to the postgres OS user.
func (c *cluster) chownToPostgres() error {
	u, err := user.Lookup("postgres")
	if err != nil {
		return fmt.Errorf("running as root needs the postgres OS user to run initdb (run scripts/install-test-deps.sh): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(c.dir, uid, gid); err != nil {
		return err
	}
	c.asUser = "postgres"
	return nil
}

// run runs a PostgreSQL program from the bin dir, as c.asUser when set.
func (c *cluster) run(ctx context.Context, prog string, args ...string) ([]byte, error) {
	path := filepath.Join(c.bin, prog)
	var cmd *exec.Cmd
	if c.asUser != "" {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", c.asUser, "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC")
	return cmd.CombinedOutput()
}

// configure appends the test settings to postgresql.conf (later lines win,
// so a retry with another port just appends again).
func (c *cluster) configure() error {
	conf := fmt.Sprintf(`
# regcase pgtest
listen_addresses = '127.0.0.1'
port = %d
unix_socket_directories = '%s'
fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = minimal      # CREATE DATABASE ~8x faster
max_wal_senders = 0
max_connections = 200
shared_buffers = 64MB
timezone = 'UTC'
log_min_messages = warning
`, c.port, c.dir)
	f, err := os.OpenFile(filepath.Join(c.dataDir(), "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(conf); err != nil {
		f.Close()
		return err
	}
	return f.Close()
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

// startWatchdog starts a detached shell that, once this process has exited
// (even by a test timeout or a kill), shuts the postmaster down immediately
// and removes the temp dir. stop kills it when it is no longer needed.
func (c *cluster) startWatchdog() {
	const script = `while kill -0 "$1" 2>/dev/null; do sleep 1; done
pid=$(head -n 1 "$2/postmaster.pid" 2>/dev/null) && kill -QUIT "$pid" 2>/dev/null
for i in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
rm -rf "$3"`
	cmd := exec.Command("/bin/sh", "-c", script, "pgtest-watchdog",
		strconv.Itoa(os.Getpid()), c.dataDir(), c.dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // survives ^C to the test's group
	if cmd.Start() == nil {
		c.watchdog = cmd
	}
}

// stop shuts the cluster down and removes its files.
func (c *cluster) stop() {
	if c.watchdog != nil {
		_ = c.watchdog.Process.Kill()
		_ = c.watchdog.Wait()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := c.run(ctx, "pg_ctl", "-D", c.dataDir(), "-m", "immediate", "-w", "stop"); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: pg_ctl stop: %v\n%s\n", err, strings.TrimSpace(string(out)))
	}
	_ = os.RemoveAll(c.dir)
}
