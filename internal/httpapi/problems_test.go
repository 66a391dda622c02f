package httpapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/regcase/regcase/internal/regcase"
)

// TestProblemForClientCancel: a store failure caused by the client
// abandoning the request (as each engine reports it) is a 499 logged at
// info; the same failure with the client still there is a 5xx logged as an
// ERROR.
func TestProblemForClientCancel(t *testing.T) {
	errs := map[string]error{
		"SQLite": regcase.Internal(fmt.Errorf("sqlite: begin: %w", context.Canceled)),
		"PostgreSQL": &regcase.Error{Code: regcase.EUnavailable, Message: "database unavailable",
			Err: fmt.Errorf("postgres: insert report: %w", context.Canceled)},
	}
	for name, err := range errs {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(slog.NewTextHandler(&buf, nil))
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			var p *Problem
			if !errors.As(problemFor(ctx, log, err), &p) || p.Status != StatusClientClosedRequest {
				t.Errorf("canceled request: problem %+v, want status %d", p, StatusClientClosedRequest)
			}
			if got := buf.String(); !strings.Contains(got, "level=INFO") || strings.Contains(got, "level=ERROR") {
				t.Errorf("canceled request logged %q, want one INFO line", got)
			}

			buf.Reset()
			if !errors.As(problemFor(context.Background(), log, err), &p) || p.Status < 500 {
				t.Errorf("live request: problem %+v, want a 5xx", p)
			}
			if got := buf.String(); !strings.Contains(got, "level=ERROR") {
				t.Errorf("live request logged %q, want an ERROR line", got)
			}
		})
	}
}
