package pgtest

import (
	"context"
	"testing"
	"time"
)

// StartDedicated starts a server of tb's own (or connects to
// REGCASE_TEST_POSTGRES_URL), stopped and removed when tb ends. Tests that
// Stop or Restart the server use one, so that the server shared by the
// other tests of the binary stays up.
func StartDedicated(tb testing.TB) *Server {
	tb.Helper()
	s, stop, err := StartMain()
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	tb.Cleanup(stop)
	return s
}

// Stop shuts the server down the way an operator's restart does (pg_ctl
// stop -m fast: sessions are ended, the server exits cleanly) and waits
// until it has. Its port and data stay; Start brings it back. Only a
// server this package started can be stopped: with
// REGCASE_TEST_POSTGRES_URL the test is skipped. Stopping the server
// returned by Start affects every test of the binary; prefer
// StartDedicated.
func (s *Server) Stop(tb testing.TB) {
	tb.Helper()
	s.mustBeLocal(tb, "stop")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := s.local.run(ctx, "pg_ctl", "-D", s.local.dataDir(), "-m", "fast", "-w", "-t", "60", "stop"); err != nil {
		tb.Fatalf("pgtest: pg_ctl stop: %v\n%s", err, out)
	}
	s.admin.Reset() // its connections died with the server
}

// Start starts a stopped server again on the same port and data directory
// and waits until it accepts connections.
func (s *Server) Start(tb testing.TB) {
	tb.Helper()
	s.mustBeLocal(tb, "start")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := s.local.run(ctx, "pg_ctl", "-D", s.local.dataDir(), "-l", s.local.logFile(), "-w", "-t", "60", "start"); err != nil {
		tb.Fatalf("pgtest: pg_ctl start: %v\n%s", err, out)
	}
	s.admin.Reset()
	for {
		err := s.admin.Ping(ctx)
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			tb.Fatalf("pgtest: server does not answer after start: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Restart is Stop then Start.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	s.Stop(tb)
	s.Start(tb)
}

func (s *Server) mustBeLocal(tb testing.TB, what string) {
	tb.Helper()
	if s.local == nil {
		tb.Skipf("pgtest: cannot %s the external server named by %s", what, EnvURL)
	}
}
