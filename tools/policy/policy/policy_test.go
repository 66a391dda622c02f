package policy

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// goodBase is a compose model that passes every rule: each table case merges a deliberately
// bad override onto it, the way an operator's own override file would be merged.
const goodBase = `
name: policytest
services:
  app:
    image: registry.example.org/app:1.2.3
    user: "1000:1000"
    read_only: true
    cap_drop: [ALL]
    security_opt: ["no-new-privileges:true"]
    restart: unless-stopped
    healthcheck:
      test: ["CMD", "/app", "healthcheck"]
    logging:
      driver: json-file
      options: {max-size: 10m, max-file: "3"}
    deploy:
      resources:
        limits: {cpus: "0.5", memory: 128M}
    environment:
      DATABASE_URL_FILE: /run/secrets/database_url
      REDIS_URL: redis://redis:6379/0
      AUDIT_PUBLIC_KEY: MCowBQYDK2VwAyEA
    networks: [app, data]
  proxy:
    image: registry.example.org/proxy:1.28.0
    user: "101:101"
    read_only: true
    cap_drop: [ALL]
    security_opt: ["no-new-privileges"]
    restart: always
    healthcheck:
      test: ["CMD", "true"]
    logging:
      driver: local
      options: {max-size: 10m, max-file: "3"}
    mem_limit: 64m
    cpus: 0.25
    ports: ["443:8443"]
    networks: [edge]
  postgres:
    image: postgres@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
    user: "999:999"
    read_only: true
    cap_drop: [ALL]
    security_opt: ["no-new-privileges=true"]
    deploy:
      restart_policy: {condition: any}
      resources:
        limits: {cpus: "1", memory: 1G}
    healthcheck:
      test: ["CMD", "pg_isready"]
    logging:
      driver: journald
    networks: [data]
  migrate:
    image: registry.example.org/app:1.2.3
    user: "1000:1000"
    read_only: true
    cap_drop: [ALL]
    security_opt: ["no-new-privileges:true"]
    restart: "no"
    logging:
      driver: json-file
      options: {max-size: 10m, max-file: "3"}
    deploy:
      resources:
        limits: {cpus: "0.5", memory: 128M}
    networks: [data]
  backup:
    image: registry.example.org/app:1.2.3
    profiles: [ops]
    labels: {org.regcase.oneshot: "true"}
    user: "1000:1000"
    read_only: true
    cap_drop: [ALL]
    security_opt: ["no-new-privileges:true"]
    logging:
      driver: json-file
      options: {max-size: 10m, max-file: "3"}
    deploy:
      resources:
        limits: {cpus: "0.5", memory: 128M}
    networks: [data]
  consumer:
    image: registry.example.org/app:sha-0123abcd
    user: "1000"
    read_only: true
    cap_drop: [all]
    security_opt: ["no-new-privileges:true"]
    restart: on-failure:5
    healthcheck:
      test: ["CMD", "/app", "healthcheck"]
    logging:
      driver: json-file
      options: {max-size: 10m, max-file: "3"}
    deploy:
      resources:
        limits: {cpus: "0.5", memory: 128M}
    depends_on:
      migrate:
        condition: service_completed_successfully
    networks: [app]
networks:
  edge: {}
  app: {}
  data: {internal: true}
`

type want struct{ service, rule string }

func load(t *testing.T, docs ...string) []Finding {
	t.Helper()
	return loadOpts(t, Options{}, docs...)
}

func loadOpts(t *testing.T, o Options, docs ...string) []Finding {
	t.Helper()
	dir := t.TempDir()
	var files []string
	for i, d := range docs {
		f := filepath.Join(dir, "compose"+string(rune('a'+i))+".yml")
		if err := os.WriteFile(f, []byte(d), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	p, err := Load(context.Background(), files, nil, nil)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return Check(p, o)
}

func TestGoodBasePasses(t *testing.T) {
	if f := load(t, goodBase); len(f) != 0 {
		t.Fatalf("the good model should pass, got:\n%s", join(f))
	}
}

func TestEachRuleFires(t *testing.T) {
	cases := []struct {
		name     string
		override string
		want     []want
		notIn    string // a string that must not appear in any message (secret values)
	}{
		{"root uid", `services: {app: {user: "0:0"}}`, []want{{"app", RuleUser}}, ""},
		{"root uid padded", `services: {app: {user: "000"}}`, []want{{"app", RuleUser}}, ""},
		{"user by name", `services: {app: {user: nginx}}`, []want{{"app", RuleUser}}, ""},
		{"no user", "services:\n  app:\n    user: !reset \"\"\n", []want{{"app", RuleUser}}, ""},
		{"writable root fs", `services: {app: {read_only: false}}`, []want{{"app", RuleReadOnly}}, ""},
		{"capabilities kept", "services:\n  app:\n    cap_drop: !reset []\n", []want{{"app", RuleCapDrop}}, ""},
		{"only some capabilities dropped", "services:\n  app:\n    cap_drop: !override [NET_RAW]\n", []want{{"app", RuleCapDrop}}, ""},
		{"capability added", `services: {app: {cap_add: [SYS_ADMIN]}}`, []want{{"app", RuleCapAdd}}, ""},
		{"no-new-privileges missing", "services:\n  app:\n    security_opt: !reset []\n", []want{{"app", RuleNoNewPrivileges}}, ""},
		{"no-new-privileges false", "services:\n  app:\n    security_opt: !override [\"no-new-privileges:false\"]\n", []want{{"app", RuleNoNewPrivileges}}, ""},
		{"privileged", `services: {app: {privileged: true}}`, []want{{"app", RulePrivileged}}, ""},
		{"host pid", `services: {app: {pid: host}}`, []want{{"app", RuleHostNamespace}}, ""},
		{"docker socket", `services: {app: {volumes: ["/var/run/docker.sock:/var/run/docker.sock:ro"]}}`, []want{{"app", RuleDockerSocket}}, ""},
		{"database publishes", `services: {postgres: {ports: ["5432:5432"]}}`, []want{{"postgres", RuleDataPort}}, ""},
		{"database publishes on loopback", `services: {postgres: {ports: ["127.0.0.1:5432:5432"]}}`, []want{{"postgres", RuleDataPort}}, ""},
		{"anything on the data network publishes", `services: {migrate: {ports: ["9000:9000"]}}`, []want{{"migrate", RuleDataPort}}, ""},
		{"app publishes", `services: {consumer: {ports: ["8080:8080"]}}`, []want{{"consumer", RulePort}}, ""},
		{"healthcheck disabled", `services: {app: {healthcheck: {disable: true}}}`, []want{{"app", RuleHealthcheck}}, ""},
		{"healthcheck missing", "services:\n  consumer:\n    healthcheck: !reset {}\n", []want{{"consumer", RuleHealthcheck}}, ""},
		{"no restart", `services: {app: {restart: "no"}}`, []want{{"app", RuleRestart}}, ""},
		{"swarm restart none", "services:\n  postgres:\n    deploy:\n      restart_policy: {condition: none}\n", []want{{"postgres", RuleRestart}}, ""},
		{"one-shot restarts forever", `services: {migrate: {restart: always}}`, []want{{"migrate", RuleRestart}}, ""},
		{"labelled one-shot restarts forever", `services: {backup: {restart: unless-stopped}}`, []want{{"backup", RuleRestart}}, ""},
		{"no rotation options", "services:\n  app:\n    logging:\n      options: !reset {}\n", []want{{"app", RuleLogRotation}}, ""},
		{"max-file missing", "services:\n  app:\n    logging:\n      options: !override {max-size: 10m}\n", []want{{"app", RuleLogRotation}}, ""},
		{"logging section missing", "services:\n  migrate:\n    logging: !reset {}\n", []want{{"migrate", RuleLogRotation}}, ""},
		{"logs discarded", `services: {app: {logging: {driver: none}}}`, []want{{"app", RuleLogRotation}}, ""},
		{"no limits", "services:\n  app:\n    deploy: !reset {}\n", []want{{"app", RuleResources}}, ""},
		{"memory only", "services:\n  app:\n    deploy:\n      resources:\n        limits: !override {memory: 128M}\n", []want{{"app", RuleResources}}, ""},
		{"cpu only", "services:\n  proxy:\n    mem_limit: !reset 0\n", []want{{"proxy", RuleResources}}, ""},
		{"latest", `services: {app: {image: "registry.example.org/app:latest"}}`, []want{{"app", RuleImage}}, ""},
		{"untagged", `services: {app: {image: "registry.example.org:5000/app"}}`, []want{{"app", RuleImage}}, ""},
		{"floating major tag", `services: {postgres: {image: "postgres:16-bookworm"}}`, []want{{"postgres", RuleImage}}, ""},
		{"floating word tag", `services: {proxy: {image: "nginx:stable-alpine"}}`, []want{{"proxy", RuleImage}}, ""},
		{"bad digest", `services: {app: {image: "app@sha256:xyz"}}`, []want{{"app", RuleImage}}, ""},
		{"no image", "services:\n  app:\n    image: !reset \"\"\n    build: .\n", []want{{"app", RuleImage}}, ""},
		{"password in env", `services: {app: {environment: {POSTGRES_PASSWORD: hunter2hunter2}}}`, []want{{"app", RuleSecretEnv}}, "hunter2"},
		{"secret in env list form", `services: {app: {environment: ["SESSION_SECRET=s3cr3t-value"]}}`, []want{{"app", RuleSecretEnv}}, "s3cr3t"},
		{"token in env", `services: {app: {environment: {GITHUB_TOKEN: ghp_abcdef}}}`, []want{{"app", RuleSecretEnv}}, "ghp_"},
		{"key in env", `services: {app: {environment: {REGCASE_DATA_KEY: "c2VjcmV0"}}}`, []want{{"app", RuleSecretEnv}}, "c2VjcmV0"},
		{"database url with password", `services: {app: {environment: {DATABASE_URL: "postgres://regcase_api:pw-123@postgres:5432/regcase"}}}`, []want{{"app", RuleSecretEnv}}, "pw-123"},
		{"redis url with password", `services: {app: {environment: {REDIS_URL: "redis://:verysecret@redis:6379/0"}}}`, []want{{"app", RuleSecretEnv}}, "verysecret"},
		{"several at once", `services: {consumer: {user: root, privileged: true, ports: ["80:80"], image: "app"}}`,
			[]want{{"consumer", RuleUser}, {"consumer", RulePrivileged}, {"consumer", RulePort}, {"consumer", RuleImage}}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := load(t, goodBase, c.override)
			if len(got) != len(c.want) {
				t.Errorf("want exactly %v, got:\n%s", c.want, join(got))
			}
			for _, w := range c.want {
				if !slices.ContainsFunc(got, func(f Finding) bool { return f.Service == w.service && f.Rule == w.rule }) {
					t.Errorf("rule %s did not fire for %s; got:\n%s", w.rule, w.service, join(got))
				}
			}
			if c.notIn != "" && strings.Contains(join(got), c.notIn) {
				t.Errorf("a finding leaks the secret value %q:\n%s", c.notIn, join(got))
			}
		})
	}
}

func TestAllowed(t *testing.T) {
	cases := []struct{ name, override string }{
		{"edge proxy publishes", `services: {proxy: {ports: ["80:8080"]}}`},
		{"NET_BIND_SERVICE", `services: {proxy: {cap_add: [NET_BIND_SERVICE]}}`},
		{"secret files", `services: {app: {environment: {POSTGRES_PASSWORD_FILE: /run/secrets/pw, GF_SECURITY_ADMIN_PASSWORD__FILE: /run/secrets/g}}}`},
		{"public key", `services: {app: {environment: {REGCASE_AUDIT_PUBLIC_KEY: "MCowBQYDK2VwAyEA"}}}`},
		{"url without credentials", `services: {app: {environment: {DATABASE_URL: "postgres://postgres:5432/regcase", WEBHOOK_URL: "https://user@example.org/hook"}}}`},
		{"empty secret-looking var", `services: {app: {environment: {API_TOKEN: ""}}}`},
		{"version tags", `services: {app: {image: "registry.example.org/app:v2.3"}, proxy: {image: "nginx:1.28.0-bookworm"}}`},
		{"git sha tag", `services: {app: {image: "registry.example.org/app:3f9c2a1b7d4e"}}`},
		{"one-shot needs no healthcheck or restart", `services: {migrate: {restart: "no"}}`},
		{"on-failure restart", `services: {app: {restart: "on-failure:3"}}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := load(t, goodBase, c.override); len(got) != 0 {
				t.Errorf("want no finding, got:\n%s", join(got))
			}
		})
	}
}

func TestRequireDigest(t *testing.T) {
	got := loadOpts(t, Options{RequireDigest: true}, goodBase)
	var svcs []string
	for _, f := range got {
		if f.Rule != RuleImage {
			t.Errorf("unexpected %s", f)
		}
		svcs = append(svcs, f.Service)
	}
	// everything but postgres (pinned by digest) is a version tag
	if want := []string{"app", "backup", "consumer", "migrate", "proxy"}; !slices.Equal(svcs, want) {
		t.Errorf("require-digest flagged %v, want %v", svcs, want)
	}
}

func TestOptionsRoles(t *testing.T) {
	// With another edge service, the proxy's published port becomes a finding.
	got := loadOpts(t, Options{EdgeServices: []string{"consumer"}}, goodBase)
	if len(got) != 1 || got[0].Service != "proxy" || got[0].Rule != RulePort {
		t.Errorf("got:\n%s", join(got))
	}
}

// --- the repository's real models -----------------------------------------------------------

func repo(t *testing.T, parts ...string) string {
	t.Helper()
	p := filepath.Join(append([]string{"..", "..", ".."}, parts...)...)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("%s not found: %v", p, err)
	}
	return p
}

func loadRepo(t *testing.T, envFile string, files ...string) ([]Finding, error) {
	t.Helper()
	var paths []string
	for _, f := range files {
		paths = append(paths, repo(t, f))
	}
	var envFiles []string
	if envFile != "" {
		envFiles = []string{repo(t, envFile)}
	}
	p, err := Load(context.Background(), paths, envFiles, nil)
	if err != nil {
		return nil, err
	}
	return Check(p, Options{}), nil
}

func TestRealProductionModelPasses(t *testing.T) {
	for _, files := range [][]string{
		{"compose.yml", "compose.prod.yml"},
		{"compose.yml", "compose.prod.yml", "compose.observability.yml"},
	} {
		got, err := loadRepo(t, "env/prod.env.example", files...)
		if err != nil {
			t.Fatalf("%v: %v", files, err)
		}
		if len(got) != 0 {
			t.Errorf("%v must pass the production policy:\n%s", files, join(got))
		}
	}
}

func TestRealProductionModelRequiresItsVariables(t *testing.T) {
	_, err := loadRepo(t, "", "compose.yml", "compose.prod.yml")
	if err == nil || !strings.Contains(err.Error(), "REGCASE_IMAGE") {
		t.Fatalf("loading compose.prod.yml without REGCASE_IMAGE must fail naming it, got %v", err)
	}
}

func TestRealDevelopmentModelIsNotProductionReady(t *testing.T) {
	got, err := loadRepo(t, "", "compose.yml", "compose.dev.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, rule := range []string{RuleRestart, RuleLogRotation, RuleResources, RuleImage} {
		if !slices.ContainsFunc(got, func(f Finding) bool { return f.Rule == rule }) {
			t.Errorf("the dev model should breach %s", rule)
		}
	}
	// …but its hardening is the production one.
	for _, f := range got {
		switch f.Rule {
		case RuleUser, RuleReadOnly, RuleCapDrop, RuleNoNewPrivileges, RulePrivileged, RuleDockerSocket, RuleDataPort, RulePort, RuleSecretEnv:
			t.Errorf("dev model breaks a hardening rule: %s", f)
		}
	}
}

func join(f []Finding) string {
	var b strings.Builder
	for _, x := range f {
		b.WriteString("  " + x.String() + "\n")
	}
	return b.String()
}

func TestDataStoreImageIsDataService(t *testing.T) {
	got := load(t, goodBase, `services: {cache: {image: "docker.io/library/redis:7.4.2", user: "999:999", read_only: true, cap_drop: [ALL], security_opt: ["no-new-privileges:true"], restart: always, healthcheck: {test: ["CMD", "redis-cli", "ping"]}, logging: {driver: journald}, mem_limit: 64m, cpus: 0.5, ports: ["6379:6379"], networks: [app]}}`)
	if len(got) != 1 || got[0].Service != "cache" || got[0].Rule != RuleDataPort {
		t.Errorf("got:\n%s", join(got))
	}
}
