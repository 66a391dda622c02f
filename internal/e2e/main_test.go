package e2e

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regcase/regcase/internal/pgtest"
)

// binary is the regcase executable built by TestMain; buildErr says why
// there is none.
var (
	binary   string
	buildErr error
)

// TestMain builds the regcase binary once (without -race: the processes
// under test are subprocesses), runs the tests and stops the PostgreSQL
// cluster they shared.
func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(run(m))
}

// EnvBinary names an environment variable holding a regcase binary to
// test instead of building one.
const EnvBinary = "REGCASE_E2E_BINARY"

func run(m *testing.M) int {
	if b := os.Getenv(EnvBinary); b != "" && !testing.Short() {
		binary = b
		if _, err := os.Stat(b); err != nil {
			buildErr = fmt.Errorf("%s: %w", EnvBinary, err)
		}
	} else if !testing.Short() {
		dir, err := os.MkdirTemp("", "regcase-e2e-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			return 1
		}
		defer os.RemoveAll(dir)
		start := time.Now()
		binary, buildErr = build(filepath.Join(dir, "regcase"))
		if buildErr == nil && testing.Verbose() {
			fmt.Fprintf(os.Stderr, "e2e: built %s in %s\n", binary, time.Since(start).Round(time.Millisecond))
		}
	}
	code := m.Run()
	pgMu.Lock()
	if pgStop != nil {
		pgStop()
	}
	pgMu.Unlock()
	return code
}

// build compiles ./cmd/regcase of the module holding the working directory.
func build(out string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("the go command is needed to build regcase: %w", err)
	}
	cmd := exec.Command(goBin, "build", "-o", out, "./cmd/regcase")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/regcase in %s: %v\n%s", root, err, strings.TrimSpace(string(b)))
	}
	return out, nil
}

// moduleRoot walks up from the working directory to the go.mod of
// github.com/regcase/regcase.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/regcase/regcase") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod of github.com/regcase/regcase above the working directory")
		}
		dir = parent
	}
}

// needBinary skips the test under -short and fails it when the build
// failed.
func needBinary(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("system test: builds and runs regcase, PostgreSQL and Redis as processes; skipped with -short")
	}
	if buildErr != nil {
		t.Fatalf("cannot run the system tests, building regcase failed: %v", buildErr)
	}
}

// The PostgreSQL cluster shared by the tests that do not restart it.
var (
	pgMu     sync.Mutex
	pgShared *pgtest.Server
	pgStop   func()
)

func sharedPG(t *testing.T) *pgtest.Server {
	t.Helper()
	pgMu.Lock()
	defer pgMu.Unlock()
	if pgShared == nil {
		s, stop, err := pgtest.StartMain()
		if err != nil {
			t.Fatalf("pgtest: %v", err)
		}
		pgShared, pgStop = s, stop
	}
	return pgShared
}
