package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func env(m map[string]string) Getenv { return func(k string) string { return m[k] } }

func TestLoadDefaults(t *testing.T) {
	c, err := Load(env(nil), "all")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.HTTPAddr, "127.0.0.1:8080"; got != want {
		t.Errorf("all binds %q by default, want %q (loopback on a laptop)", got, want)
	}
	if !c.IsSQLite() || c.SQLitePath() != "data/regcase.db" {
		t.Errorf("default database = %q, want the SQLite file in the data dir", c.DatabaseURL)
	}
	if c.SQLiteSynchronous != "FULL" {
		t.Errorf("SQLite synchronous = %q by default, want FULL (the safe setting)", c.SQLiteSynchronous)
	}
	c, err = Load(env(nil), "api")
	if err != nil || c.HTTPAddr != ":8080" {
		t.Errorf("api default addr = %v, %v; want :8080", c, err)
	}
}

func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		cmd  string
		want string // the variable named
	}{
		{"ErrEnv", map[string]string{"REGCASE_ENV": "prod"}, "api", "REGCASE_ENV"},
		{"ErrProdNeedsDatabase", map[string]string{"REGCASE_ENV": "production", "REGCASE_DATA_KEY": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}, "api", "DATABASE_URL"},
		{"ErrProdNeedsDataKey", map[string]string{"REGCASE_ENV": "production", "DATABASE_URL": "postgres://a@b/c"}, "api", "REGCASE_DATA_KEY"},
		{"ErrWorkerNeedsSigningKey", map[string]string{"REGCASE_ENV": "production", "DATABASE_URL": "postgres://a@b/c", "REGCASE_DATA_KEY": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}, "worker", "REGCASE_AUDIT_SIGNING_KEY"},
		{"ErrWorkerNeedsDataKey", map[string]string{"REGCASE_ENV": "production", "DATABASE_URL": "postgres://a@b/c"}, "worker", "REGCASE_DATA_KEY"},
		{"ErrRequireHTTPS", map[string]string{"REGCASE_WEBHOOK_REQUIRE_HTTPS": "yes"}, "worker", "REGCASE_WEBHOOK_REQUIRE_HTTPS"},
		{"ErrBreachPolicy", map[string]string{"REGCASE_SLA_BREACH_POLICY": "panic"}, "worker", "REGCASE_SLA_BREACH_POLICY"},
		{"ErrWebhookAllow", map[string]string{"REGCASE_WEBHOOK_ALLOW_NETS": "10.0.0.1"}, "worker", "REGCASE_WEBHOOK_ALLOW_NETS"},
		{"ErrDatabaseScheme", map[string]string{"DATABASE_URL": "mysql://x"}, "api", "DATABASE_URL"},
		{"ErrShortKey", map[string]string{"REGCASE_DATA_KEY": "c2hvcnQ="}, "api", "REGCASE_DATA_KEY"},
		{"ErrDuration", map[string]string{"REGCASE_SHUTDOWN_TIMEOUT": "soon"}, "api", "REGCASE_SHUTDOWN_TIMEOUT"},
		{"ErrPoolBounds", map[string]string{"REGCASE_DB_MAX_CONNS": "2", "REGCASE_DB_MIN_CONNS": "3"}, "api", "REGCASE_DB_MIN_CONNS"},
		{"ErrPprofNotLoopback", map[string]string{"REGCASE_PPROF_ADDR": "0.0.0.0:6060"}, "api", "REGCASE_PPROF_ADDR"},
		{"ErrSQLiteSynchronous", map[string]string{"REGCASE_SQLITE_SYNCHRONOUS": "OFF"}, "all", "REGCASE_SQLITE_SYNCHRONOUS"},
		{"ErrSLA", map[string]string{"REGCASE_SLA_DAYS": "urgent=1"}, "api", "REGCASE_SLA_DAYS"},
		{"ErrOIDCAudience", map[string]string{"REGCASE_OIDC_ISSUER": "https://idp.example"}, "api", "REGCASE_OIDC_AUDIENCE"},
		{"ErrOIDCPublicURL", map[string]string{"REGCASE_OIDC_ISSUER": "https://idp.example", "REGCASE_OIDC_AUDIENCE": "a", "REGCASE_OIDC_CLIENT_ID": "c"}, "api", "REGCASE_PUBLIC_URL"},
		{"ErrProxies", map[string]string{"REGCASE_TRUSTED_PROXIES": "10.0.0.0"}, "api", "REGCASE_TRUSTED_PROXIES"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(env(tc.env), tc.cmd)
			var ce *Error
			if !errors.As(err, &ce) || ce.Var != tc.want {
				t.Fatalf("Load = %v, want a config error naming %s", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
		})
	}
}

func TestSecretFiles(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "db")
	if err := os.WriteFile(f, []byte("postgres://u:pw@db/regcase\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(env(map[string]string{"DATABASE_URL_FILE": f}), "api")
	if err != nil || c.DatabaseURL != "postgres://u:pw@db/regcase" {
		t.Fatalf("DATABASE_URL_FILE: %v, %v", c, err)
	}
	_, err = Load(env(map[string]string{"DATABASE_URL_FILE": f, "DATABASE_URL": "postgres://x@y/z"}), "api")
	if var_ := new(Error); !errors.As(err, &var_) || var_.Var != "DATABASE_URL" {
		t.Errorf("both set: %v, want an error naming DATABASE_URL", err)
	}
	_, err = Load(env(map[string]string{"DATABASE_URL_FILE": filepath.Join(dir, "missing")}), "api")
	if var_ := new(Error); !errors.As(err, &var_) || var_.Var != "DATABASE_URL_FILE" {
		t.Errorf("missing file: %v, want an error naming DATABASE_URL_FILE", err)
	}
}

func TestMaskURL(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:hunter2@db:5432/regcase?sslmode=require": "postgres://u:%2A%2A%2A%2A@db:5432/regcase?sslmode=require",
		"postgres://db/regcase?password=hunter2":               "postgres://db/regcase?password=%2A%2A%2A%2A",
		"redis://:hunter2@redis:6379/0":                        "redis://:%2A%2A%2A%2A@redis:6379/0",
		"sqlite://data/regcase.db":                             "sqlite://data/regcase.db",
		"":                                                     "",
	} {
		got := MaskURL(in)
		if got != want || strings.Contains(got, "hunter2") {
			t.Errorf("MaskURL(%q) = %q, want %q", in, got, want)
		}
	}
}
