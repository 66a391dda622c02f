package policy

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The Swarm and Kubernetes rules (stack.go, kube.go).

// stackEnv is what scripts/deploy-stack.sh adds to deploy/swarm/stack.env.example.
var stackEnv = []string{"REGCASE_MIGRATE_IMAGE=registry.example.org/regcase/regcase:1.0.0",
	"NGINX_CONF_VERSION=0123456789ab", "REDIS_CONF_VERSION=0123456789ab", "POSTGRES_INITDB_VERSION=0123456789ab"}

func stackFindings(t *testing.T, override string) []Finding {
	t.Helper()
	files := []string{repo(t, "stack.yml")}
	if override != "" {
		f := filepath.Join(t.TempDir(), "override.yml")
		if err := os.WriteFile(f, []byte(override), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	p, err := Load(context.Background(), files, []string{repo(t, "deploy/swarm/stack.env.example")}, stackEnv)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return CheckStack(p, Options{})
}

func TestStackRepo(t *testing.T) {
	if f := stackFindings(t, ""); len(f) != 0 {
		t.Fatalf("stack.yml should pass every stack rule, got:\n%v", f)
	}
}

func TestStackRules(t *testing.T) {
	cases := []struct {
		name, override string
		want           want
	}{
		{"ErrStopFirst", "services:\n  api:\n    deploy:\n      update_config: {order: stop-first}\n", want{"api", RuleSwarmUpdate}},
		{"ErrNoAutoRollback", "services:\n  api:\n    deploy:\n      update_config: {failure_action: pause}\n", want{"api", RuleSwarmUpdate}},
		{"ErrFailureRatio", "services:\n  worker:\n    deploy:\n      update_config: {max_failure_ratio: 0.5}\n", want{"worker", RuleSwarmUpdate}},
		{"ErrStatefulStartFirst", "services:\n  postgres:\n    deploy:\n      update_config: {order: start-first}\n", want{"postgres", RuleSwarmUpdate}},
		{"ErrOneReplica", "services:\n  api:\n    deploy:\n      replicas: 1\n", want{"api", RuleSwarmReplicas}},
		{"ErrNoPlacement", "services:\n  worker:\n    deploy:\n      placement: !reset {}\n", want{"worker", RuleSwarmPlacement}},
		{"ErrNoReservation", "services:\n  api:\n    deploy:\n      resources:\n        reservations: !reset {}\n", want{"api", RuleSwarmReservation}},
		{"ErrMigrateNotJob", "services:\n  migrate:\n    deploy:\n      mode: replicated\n", want{"migrate", RuleSwarmJob}},
		{"ErrGoMemLimit", "services:\n  api:\n    environment: {GOMEMLIMIT: 600MiB}\n", want{"api", RuleGoMemLimit}},
		{"ErrSecretFile", "secrets:\n  data_key: !override {file: ./data_key}\n", want{"secret data_key", RuleSwarmSecret}},
		{"ErrAttachableData", "networks:\n  data: {attachable: true}\n", want{"network data", RuleSwarmNetwork}},
		{"ErrDataNotInternal", "networks:\n  data: {internal: false}\n", want{"network data", RuleSwarmNetwork}},
		{"ErrConfigUnversioned", "configs:\n  redis_conf: !override {file: ./redis.conf}\n", want{"config redis_conf", RuleSwarmConfig}},
		{"ErrDataPort", "services:\n  postgres:\n    ports: [\"5432:5432\"]\n", want{"postgres", RuleDataPort}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := stackFindings(t, c.override)
			for _, f := range got {
				if f.Service == c.want.service && f.Rule == c.want.rule {
					return
				}
			}
			t.Fatalf("want %s: %s, got:\n%v", c.want.service, c.want.rule, got)
		})
	}
}

const goodKube = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: api}
spec:
  replicas: 2
  selector: {matchLabels: {app: regcase, component: api}}
  template:
    metadata: {labels: {app: regcase, component: api}}
    spec:
      automountServiceAccountToken: false
      securityContext: {runAsNonRoot: true, runAsUser: 65532, seccompProfile: {type: RuntimeDefault}}
      containers:
        - name: api
          image: registry.example.org/regcase/regcase:1.2.3
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: {drop: [ALL]}
          startupProbe: {httpGet: {path: /health/startup, port: 8080}}
          livenessProbe: {httpGet: {path: /health/live, port: 8080}}
          readinessProbe: {httpGet: {path: /health/ready, port: 8080}}
          resources: {requests: {cpu: 100m, memory: 64Mi}, limits: {cpu: "1", memory: 512Mi}}
          env:
            - {name: GOMAXPROCS, valueFrom: {resourceFieldRef: {resource: limits.cpu}}}
            - {name: GOMEMLIMIT, valueFrom: {resourceFieldRef: {resource: limits.memory}}}
            - {name: DATABASE_URL_FILE, value: /run/secrets/regcase/database-url-api}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: api}
spec: {maxUnavailable: 1, selector: {matchLabels: {component: api}}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api}
spec: {podSelector: {matchLabels: {app: regcase}}, policyTypes: [Ingress]}
`

func TestKubeRules(t *testing.T) {
	cases := []struct {
		name, from, to string
		want           want
	}{
		{"OK", "", "", want{}},
		{"ErrRoot", "runAsUser: 65532", "runAsUser: 0", want{"deployment/api", RuleK8sSecurityContext}},
		{"ErrWritableRoot", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false", want{"deployment/api", RuleK8sSecurityContext}},
		{"ErrEscalation", "allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true", want{"deployment/api", RuleK8sSecurityContext}},
		{"ErrCaps", "drop: [ALL]", "drop: [NET_RAW]", want{"deployment/api", RuleK8sSecurityContext}},
		{"ErrSeccomp", "seccompProfile: {type: RuntimeDefault}", "seccompProfile: {type: Unconfined}", want{"deployment/api", RuleK8sSecurityContext}},
		{"ErrToken", "automountServiceAccountToken: false", "automountServiceAccountToken: true", want{"deployment/api", RuleK8sToken}},
		{"ErrNoStartupProbe", "startupProbe:", "x-startupProbe:", want{"deployment/api", RuleK8sProbes}},
		{"ErrNoPDB", "selector: {matchLabels: {component: api}}", "selector: {matchLabels: {component: worker}}", want{"deployment/api", RuleK8sPDB}},
		{"ErrNoNetworkPolicy", "podSelector: {matchLabels: {app: regcase}}", "podSelector: {matchLabels: {app: other}}", want{"deployment/api", RuleK8sNetworkPolicy}},
		{"ErrLatest", "regcase:1.2.3", "regcase:latest", want{"deployment/api", RuleImage}},
		{"ErrSecretEnv", "{name: DATABASE_URL_FILE, value: /run/secrets/regcase/database-url-api}", "{name: DATABASE_URL, value: \"postgres://app:hunter2@db/regcase\"}", want{"deployment/api", RuleSecretEnv}},
		{"ErrGoRuntime", "resource: limits.memory", "resource: requests.memory", want{"deployment/api", RuleK8sGoRuntime}},
		{"ErrSecretValues", "---\napiVersion: policy/v1", "---\napiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {k: aGk=}\n---\napiVersion: policy/v1", want{"secret/s", RuleK8sSecretValues}},
		{"ErrJobUnbounded", "---\napiVersion: policy/v1", "---\napiVersion: batch/v1\nkind: Job\nmetadata: {name: m}\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers: []\n---\napiVersion: policy/v1", want{"job/m", RuleK8sJob}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := goodKube
			if c.from != "" {
				if !strings.Contains(doc, c.from) {
					t.Fatalf("test case does not apply: %q", c.from)
				}
				doc = strings.Replace(doc, c.from, c.to, 1)
			}
			got, n, err := CheckKubeBytes([]byte(doc), Options{})
			if err != nil || n < 3 {
				t.Fatalf("load: %d objects, %v", n, err)
			}
			if c.want.rule == "" {
				if len(got) != 0 {
					t.Fatalf("want no finding, got:\n%v", got)
				}
				return
			}
			for _, f := range got {
				if f.Service == c.want.service && f.Rule == c.want.rule {
					return
				}
			}
			t.Fatalf("want %s: %s, got:\n%v", c.want.service, c.want.rule, got)
		})
	}
}

func TestParseGoBytes(t *testing.T) {
	for in, want := range map[string]int64{"460MiB": 460 << 20, "1GiB": 1 << 30, "1000": 1000, "12B": 12} {
		if got, ok := parseGoBytes(in); !ok || got != want {
			t.Errorf("parseGoBytes(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "MiB", "1.5GiB", "12MB"} {
		if _, ok := parseGoBytes(in); ok {
			t.Errorf("parseGoBytes(%q) accepted", in)
		}
	}
}
