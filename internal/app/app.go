package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/regcase/regcase/internal/config"
	"github.com/regcase/regcase/internal/regcase"
	"github.com/regcase/regcase/internal/telemetry"
)

// Exit statuses (sysexits.h).
const (
	ExitOK       = 0
	ExitFailure  = 1
	ExitUsage    = 64 // EX_USAGE
	ExitDataErr  = 65 // EX_DATAERR: audit verification failed
	ExitUnavail  = 69 // EX_UNAVAILABLE: a dependency cannot be reached
	ExitConfig   = 78 // EX_CONFIG
	usageSummary = `usage: regcase [command]

commands:
  all                 API, web and background work in one process (default)
  api                 HTTP API (stateless; run many)
  worker              background work: audit checkpoints (run many)
  migrate [status]    apply database migrations, or list them
  seed                load idempotent demo data
  healthcheck         exit 0 if /health/ready answers 200 (for HEALTHCHECK)
  version             print version, commit, build time, Go version
  audit verify [--witness PATH|URL] [--keys FILE]
                      verify the tamper-evident audit log (and against a witness copy)
  audit checkpoint    sign the current chain heads and the Merkle log now
  audit export        print the signed checkpoints as JSON lines
  audit keygen        print a new Ed25519 signing key and its public keys
  audit keys          print the audit key set (note verifier keys) for auditors and witnesses
  audit prove --record ID [--size N] | --from N [--to M]
                      print an inclusion or consistency proof (JSON)
  audit check-proof --proof FILE [--checkpoint FILE] --keys FILE
                      verify a proof offline against a checkpoint and a key set
  token create --role ROLE --name NAME
  token list
  token revoke ID

configuration comes from the environment; see README.md.
`
)

// usageError is a command-line mistake (exit 64).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// exitError carries a specific exit status with its one-line message.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// env is what every command gets.
type env struct {
	getenv config.Getenv
	stdout io.Writer
	stderr io.Writer
	args   []string
}

// Run runs the regcase command line and returns the exit status.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cmd := "all"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	e := &env{getenv: getenv, stdout: stdout, stderr: stderr, args: args}
	var err error
	switch cmd {
	case "all", "api":
		err = e.serve(ctx, cmd)
	case "worker":
		err = e.worker(ctx)
	case "migrate":
		err = e.migrate(ctx)
	case "seed":
		err = e.seed(ctx)
	case "healthcheck":
		err = e.healthcheck(ctx)
	case "version", "--version", "-v":
		err = e.version()
	case "audit":
		err = e.audit(ctx)
	case "token":
		err = e.token(ctx)
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usageSummary)
		return ExitOK
	default:
		err = &usageError{msg: fmt.Sprintf("unknown command %q", cmd)}
	}
	return exitCode(err, stderr)
}

func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return ExitOK
	}
	var ue *usageError
	var ce *config.Error
	var ee *exitError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "regcase: %s\n\n%s", ue.msg, usageSummary)
		return ExitUsage
	case errors.As(err, &ce):
		fmt.Fprintf(stderr, "regcase: configuration: %s\n", ce.Error())
		return ExitConfig
	case errors.As(err, &ee):
		fmt.Fprintf(stderr, "regcase: %s\n", ee.msg)
		return ee.code
	case regcase.ErrorCodeOf(err) == regcase.EUnavailable:
		fmt.Fprintf(stderr, "regcase: %s\n", oneLine(err))
		return ExitUnavail
	default:
		fmt.Fprintf(stderr, "regcase: %s\n", oneLine(err))
		return ExitFailure
	}
}

func oneLine(err error) string {
	var de *regcase.Error
	if errors.As(err, &de) && de.Err != nil {
		return strings.ReplaceAll(de.Message+": "+de.Err.Error(), "\n", " ")
	}
	return strings.ReplaceAll(err.Error(), "\n", " ")
}

func newLogger(c *config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	// Records logged with a context get trace_id and span_id.
	if c.LogFormat == "json" {
		return slog.New(telemetry.LogHandler(slog.NewJSONHandler(w, opts)))
	}
	return slog.New(telemetry.LogHandler(slog.NewTextHandler(w, opts)))
}

// flags parses --name value pairs (and --name=value); unknown flags are a
// usage error.
func flags(args []string, known ...string) (map[string]string, []string, error) {
	out := map[string]string{}
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "--") {
			rest = append(rest, a)
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		ok := false
		for _, k := range known {
			ok = ok || k == name
		}
		if !ok {
			return nil, nil, &usageError{msg: fmt.Sprintf("unknown flag --%s", name)}
		}
		if !hasVal {
			if i+1 >= len(args) {
				return nil, nil, &usageError{msg: fmt.Sprintf("flag --%s needs a value", name)}
			}
			i++
			val = args[i]
		}
		out[name] = val
	}
	return out, rest, nil
}
