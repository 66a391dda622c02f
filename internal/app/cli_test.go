package app_test

import (
	"context"
	"encoding/base64"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/regcase/regcase/internal/app"
	"github.com/regcase/regcase/internal/pgtest"
	"github.com/regcase/regcase/internal/regcase"
)

// runCLI runs one regcase command with exactly env (no server), bounded so
// that a command that wrongly starts serving fails the test instead of
// hanging it.
func runCLI(tb testing.TB, env map[string]string, args ...string) (code int, stdout, stderr string) {
	tb.Helper()
	var out, errOut syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	code = app.Run(ctx, args, lookup(env), &out, &errOut)
	if ctx.Err() != nil {
		tb.Errorf("regcase %v ran until the 20s test deadline", args)
	}
	return code, out.String(), errOut.String()
}

// sqliteEnv is a minimal configuration on a fresh SQLite file.
func sqliteEnv(tb testing.TB) map[string]string {
	dir := tb.TempDir()
	return map[string]string{
		"REGCASE_ENV":       "test",
		"REGCASE_HTTP_ADDR": "127.0.0.1:0",
		"REGCASE_DATA_DIR":  dir,
		"DATABASE_URL":      "sqlite://" + filepath.ToSlash(filepath.Join(dir, "regcase.db")),
		"LOG_FORMAT":        "json",
	}
}

func with(env map[string]string, kv ...string) map[string]string {
	out := copyEnv(env)
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// noStackTrace fails tb when an operator-facing message looks like a crash.
func noStackTrace(tb testing.TB, what, s string) {
	tb.Helper()
	for _, bad := range []string{"goroutine ", "panic", ".go:", "runtime/"} {
		if strings.Contains(s, bad) {
			tb.Errorf("%s: stderr contains %q:\n%s", what, bad, s)
		}
	}
}

func TestCLIUsage(t *testing.T) {
	env := sqliteEnv(t)
	for _, args := range [][]string{{"frobnicate"}, {"token"}, {"token", "frobnicate"}, {"migrate", "sideways"},
		{"audit", "frobnicate"}, {"api", "extra-argument"}, {"token", "create", "--name", "x", "--bogus", "y"}} {
		t.Run(strings.Join(args, "_")+"/ExitUsage", func(t *testing.T) {
			code, out, errOut := runCLI(t, env, args...)
			if code != 64 {
				t.Errorf("regcase %v exited %d, want 64 (EX_USAGE); stderr:\n%s", args, code, errOut)
			}
			if !strings.Contains(errOut, "usage") {
				t.Errorf("regcase %v: stderr lacks the usage:\n%s", args, errOut)
			}
			if out != "" {
				t.Errorf("regcase %v wrote to stdout: %q", args, out)
			}
			noStackTrace(t, strings.Join(args, " "), errOut)
		})
	}
	t.Run("UnknownCommandNamesIt", func(t *testing.T) {
		_, _, errOut := runCLI(t, env, "frobnicate")
		if !strings.Contains(errOut, "frobnicate") || !strings.Contains(errOut, "commands:") {
			t.Errorf("stderr does not name the command and list the commands:\n%s", errOut)
		}
	})
}

func TestCLIBadConfig(t *testing.T) {
	base := sqliteEnv(t)
	cases := []struct {
		name, variable, value string
		secret                bool // the value must not be echoed
	}{
		{"UnknownEnv", "REGCASE_ENV", "nope", false},
		{"UnknownLogLevel", "LOG_LEVEL", "loud", false},
		{"MySQLURL", "DATABASE_URL", "mysql://root:hunter2-secret@db/x", true},
		{"ShortDataKey", "REGCASE_DATA_KEY", "short-secret-key", true},
		{"BadSigningKey", "REGCASE_AUDIT_SIGNING_KEY", "c2hvcnQ=", true},
		{"BadShutdownTimeout", "REGCASE_SHUTDOWN_TIMEOUT", "soon", false},
		{"BadAddr", "REGCASE_HTTP_ADDR", "no-port-here", false},
		{"BadLogFormat", "LOG_FORMAT", "xml", false},
	}
	for _, c := range cases {
		for _, cmd := range []string{"all", "api", "migrate", "token"} {
			args := []string{cmd}
			if cmd == "token" {
				args = []string{"token", "list"}
			}
			t.Run(c.name+"/"+cmd+"/ExitConfig", func(t *testing.T) {
				code, out, errOut := runCLI(t, with(base, c.variable, c.value), args...)
				if code != 78 {
					t.Errorf("%s=%q regcase %s exited %d, want 78 (EX_CONFIG); stderr:\n%s", c.variable, c.value, cmd, code, errOut)
				}
				if lines := strings.Split(strings.TrimRight(errOut, "\n"), "\n"); len(lines) != 1 || !strings.Contains(lines[0], c.variable) {
					t.Errorf("%s=%q regcase %s: stderr = %q, want one line naming %s", c.variable, c.value, cmd, errOut, c.variable)
				}
				if c.secret && strings.Contains(errOut+out, c.value) {
					t.Errorf("%s: the secret value is echoed: %q", c.variable, errOut)
				}
				noStackTrace(t, c.name, errOut)
			})
		}
	}
}

func TestCLISecretFile(t *testing.T) {
	env := sqliteEnv(t)
	delete(env, "DATABASE_URL")
	dbPath := filepath.Join(t.TempDir(), "from-file.db")
	secretFile := filepath.Join(t.TempDir(), "database_url")
	if err := os.WriteFile(secretFile, []byte("sqlite://"+filepath.ToSlash(dbPath)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("FileVariant/OK", func(t *testing.T) {
		fenv := with(env, "DATABASE_URL_FILE", secretFile)
		if code, _, errOut := runCLI(t, fenv, "migrate"); code != 0 {
			t.Fatalf("migrate with DATABASE_URL_FILE exited %d:\n%s", code, errOut)
		}
		if _, err := os.Stat(dbPath); err != nil {
			t.Fatalf("the database named in DATABASE_URL_FILE was not used: %v", err)
		}
		code, out, errOut := runCLI(t, fenv, "migrate", "status")
		if code != 0 || !strings.Contains(out, "VERSION") || strings.Contains(out, "pending") {
			t.Errorf("migrate status via DATABASE_URL_FILE exited %d:\n%s%s", code, out, errOut)
		}
	})
	t.Run("BothSet/ExitConfig", func(t *testing.T) {
		code, _, errOut := runCLI(t, with(env, "DATABASE_URL_FILE", secretFile, "DATABASE_URL", "sqlite:///tmp/other.db"), "migrate")
		if code != 78 || !strings.Contains(errOut, "DATABASE_URL") || strings.Count(strings.TrimRight(errOut, "\n"), "\n") != 0 {
			t.Errorf("both DATABASE_URL and DATABASE_URL_FILE: exited %d, stderr %q; want 78 and one line naming DATABASE_URL", code, errOut)
		}
	})
	t.Run("MissingFile/ExitConfig", func(t *testing.T) {
		code, _, errOut := runCLI(t, with(env, "DATABASE_URL_FILE", filepath.Join(t.TempDir(), "nope")), "migrate")
		if code != 78 || !strings.Contains(errOut, "DATABASE_URL_FILE") {
			t.Errorf("missing DATABASE_URL_FILE: exited %d, stderr %q; want 78 naming DATABASE_URL_FILE", code, errOut)
		}
	})
	t.Run("DataKeyFile/OK", func(t *testing.T) {
		keyFile := filepath.Join(t.TempDir(), "data_key")
		if err := os.WriteFile(keyFile, []byte(base64.StdEncoding.EncodeToString(make([]byte, 32))+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if code, _, errOut := runCLI(t, with(env, "DATABASE_URL_FILE", secretFile, "REGCASE_DATA_KEY_FILE", keyFile), "token", "list"); code != 0 {
			t.Errorf("REGCASE_DATA_KEY_FILE: exited %d:\n%s", code, errOut)
		}
	})
}

func TestCLIVersion(t *testing.T) {
	code, out, errOut := runCLI(t, map[string]string{}, "version")
	if code != 0 {
		t.Fatalf("version exited %d: %s", code, errOut)
	}
	for _, want := range []string{"regcase ", "commit:", "built:", "go:", runtime.Version()} {
		if !strings.Contains(out, want) {
			t.Errorf("version output lacks %q:\n%s", want, out)
		}
	}
}

func TestCLIToken(t *testing.T) {
	env := sqliteEnv(t)
	t.Run("CreateWithoutRole/ExitUsage", func(t *testing.T) {
		if code, _, errOut := runCLI(t, env, "token", "create", "--name", "alice"); code != 64 || !strings.Contains(errOut, "--role") {
			t.Errorf("token create without --role: exited %d, stderr %q; want 64 and a usage naming --role", code, errOut)
		}
	})
	t.Run("CreateWithUnknownRole/ExitUsage", func(t *testing.T) {
		if code, _, errOut := runCLI(t, env, "token", "create", "--role", "overlord", "--name", "alice"); code != 64 {
			t.Errorf("token create --role overlord: exited %d, stderr %q; want 64", code, errOut)
		}
	})
	t.Run("CreateWithoutName/ExitUsage", func(t *testing.T) {
		if code, _, errOut := runCLI(t, env, "token", "create", "--role", "auditor"); code != 64 {
			t.Errorf("token create without --name: exited %d, stderr %q; want 64", code, errOut)
		}
	})
	var secrets []string
	for _, r := range []string{"auditor", "supervisor"} {
		code, out, errOut := runCLI(t, env, "token", "create", "--role", r, "--name", "cli-"+r)
		if code != 0 || !strings.HasPrefix(strings.TrimSpace(out), regcase.TokenPrefix) {
			t.Fatalf("token create --role %s: exited %d, stdout %q, stderr %q", r, code, out, errOut)
		}
		if strings.Contains(errOut, strings.TrimSpace(out)) {
			t.Errorf("token create echoes the secret on stderr too")
		}
		secrets = append(secrets, strings.TrimSpace(out))
	}
	t.Run("ListShowsNoSecrets", func(t *testing.T) {
		code, out, errOut := runCLI(t, env, "token", "list")
		if code != 0 {
			t.Fatalf("token list exited %d: %s", code, errOut)
		}
		for _, want := range []string{"cli-auditor", "auditor", "cli-supervisor", "supervisor"} {
			if !strings.Contains(out, want) {
				t.Errorf("token list lacks %q:\n%s", want, out)
			}
		}
		for _, s := range secrets {
			if strings.Contains(out+errOut, s) || strings.Contains(out+errOut, s[len(regcase.TokenPrefix):len(regcase.TokenPrefix)+12]) {
				t.Errorf("token list shows a secret:\n%s", out)
			}
		}
		if strings.Contains(out, regcase.TokenPrefix) {
			t.Errorf("token list shows %s… values:\n%s", regcase.TokenPrefix, out)
		}
	})
}

func TestCLIMigrateStatus(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		env := sqliteEnv(t)
		if engine == "postgres" {
			owner, _ := pgtest.Start(t).NewDatabase(t)
			env["DATABASE_URL"] = owner
		}
		code, out, errOut := runCLI(t, env, "migrate", "status")
		if engine == "sqlite" {
			// The embedded engine owns its schema: any command migrates it.
			if code != 0 || !strings.Contains(out, "VERSION") {
				t.Fatalf("migrate status on a new SQLite file: exited %d:\n%s%s", code, out, errOut)
			}
		} else if code != 0 || !strings.Contains(out, "VERSION") || !strings.Contains(out, "pending") {
			t.Fatalf("migrate status before migrating: exited %d, want the versions listed as pending:\n%s%s", code, out, errOut)
		}
		if code, _, errOut := runCLI(t, env, "migrate"); code != 0 {
			t.Fatalf("migrate exited %d:\n%s", code, errOut)
		}
		code, out, errOut = runCLI(t, env, "migrate", "status")
		if code != 0 {
			t.Fatalf("migrate status exited %d:\n%s", code, errOut)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) < 2 || !strings.HasPrefix(lines[0], "VERSION") {
			t.Fatalf("migrate status = %q, want a header and one line per version", out)
		}
		for _, l := range lines[1:] {
			f := strings.Fields(l)
			if len(f) < 3 {
				t.Errorf("migrate status line %q: want VERSION NAME APPLIED-AT", l)
				continue
			}
			if _, err := strconv.Atoi(f[0]); err != nil {
				t.Errorf("migrate status line %q: version is not a number", l)
			}
			if _, err := time.Parse(time.RFC3339, f[len(f)-1]); err != nil {
				t.Errorf("migrate status line %q: want an applied-at time after migrating", l)
			}
		}
		// Migrating again is a no-op.
		if code, _, errOut := runCLI(t, env, "migrate"); code != 0 {
			t.Errorf("second migrate exited %d:\n%s", code, errOut)
		}
	})
}

func TestCLIHealthcheck(t *testing.T) {
	t.Run("NothingListening/Exit1", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		code, _, errOut := runCLI(t, map[string]string{"REGCASE_HTTP_ADDR": addr}, "healthcheck")
		if code != 1 {
			t.Errorf("healthcheck with nothing on %s exited %d, want 1:\n%s", addr, code, errOut)
		}
		noStackTrace(t, "healthcheck", errOut)
	})
	t.Run("RunningServer/Exit0", func(t *testing.T) {
		ts := startServer(t, "sqlite")
		u, _ := url.Parse(ts.URL)
		code, _, errOut := runCLI(t, map[string]string{"REGCASE_HTTP_ADDR": ":" + u.Port()}, "healthcheck")
		if code != 0 {
			t.Errorf("healthcheck against %s exited %d, want 0:\n%s", ts.URL, code, errOut)
		}
	})
}

// TestSecretsNotInLogs: the database password, the keys, API tokens, status
// secrets and reporter PII never reach the logs — from startup, migration,
// requests or shutdown.
func TestSecretsNotInLogs(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		dataKey, signingKey := randomKey(t), randomKey(t)
		ts := startServer(t, engine, "REGCASE_DATA_KEY="+dataKey, "REGCASE_AUDIT_SIGNING_KEY="+signingKey)
		secrets := map[string]string{"REGCASE_DATA_KEY": dataKey, "REGCASE_AUDIT_SIGNING_KEY": signingKey}
		if engine == "postgres" {
			u, err := url.Parse(ts.env["DATABASE_URL"])
			if err != nil {
				t.Fatal(err)
			}
			pw, ok := u.User.Password()
			if !ok || pw == "" {
				t.Fatalf("the test database URL has no password to look for")
			}
			secrets["database password"] = pw
		}
		for r, tok := range ts.Tokens {
			secrets["token of "+string(r)] = tok
		}

		sub := ts.submitReport(t, regcase.RoleAnonymous, "Everything logged must be safe.")
		secrets["status secret"] = sub.StatusSecret
		secrets["reporter e-mail"] = "jane@example.org"
		secrets["reporter phone"] = "+44 20 7946 0000"
		ts.must(t, http.StatusOK, http.MethodGet, "/v1/reports/"+sub.ID+"?include_reporter=true", regcase.RoleSupervisor, nil)
		ts.must(t, http.StatusOK, http.MethodGet, "/v1/public/reports/"+sub.TrackingCode, regcase.RoleAnonymous, nil, "X-Status-Secret", sub.StatusSecret)
		ts.do(t, http.MethodGet, "/v1/cases", regcase.RoleAnonymous, nil, "Authorization", "Bearer "+ts.Tokens[regcase.RoleAuditor]+"x")
		ts.must(t, http.StatusOK, http.MethodGet, "/version", regcase.RoleAnonymous, nil)
		version := ts.must(t, http.StatusOK, http.MethodGet, "/version", regcase.RoleAnonymous, nil)
		metrics := ts.must(t, http.StatusOK, http.MethodGet, "/metrics", regcase.RoleAnonymous, nil)
		ts.Stop(t)

		if !strings.Contains(ts.Stderr.String(), `"msg":"starting"`) {
			t.Fatalf("no startup log line to check:\n%s", tail(ts.Stderr.String(), 5))
		}
		places := map[string]string{"server log": ts.Stderr.String(), "server stdout": ts.Stdout.String(),
			"migrate log": ts.MigrateLog, "/version": string(version.Body), "/metrics": string(metrics.Body)}
		for what, secret := range secrets {
			for where, text := range places {
				if strings.Contains(text, secret) {
					t.Errorf("the %s appears in the %s", what, where)
				}
			}
		}
	})
}
