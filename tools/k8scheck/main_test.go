package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const goodDeployment = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: example/web:1.0.0
          ports: [{name: http, containerPort: 8080}]
          readinessProbe: {httpGet: {path: /ready, port: http}}
          resources: {limits: {cpu: "1", memory: 64Mi}}
          env:
            - name: GOMEMLIMIT
              valueFrom: {resourceFieldRef: {resource: limits.memory}}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
`

func TestValidate(t *testing.T) {
	cases := []struct {
		name, doc, want string
	}{
		{"OK", goodDeployment, ""},
		{"ErrUnknownField", strings.Replace(goodDeployment, "selector: {matchLabels", "replica: 2\n  selector: {matchLabels", 1), `unknown field "replica"`},
		{"ErrWrongType", strings.Replace(goodDeployment, "containerPort: 8080", "containerPort: http", 1), "cannot unmarshal"},
		{"ErrQuantity", strings.Replace(goodDeployment, "memory: 64Mi", "memory: 64 megs", 1), "quantities must match"},
		{"ErrSelector", strings.Replace(goodDeployment, "metadata: {labels: {app: web}}", "metadata: {labels: {app: other}}", 1), "does not match the pod template"},
		{"ErrProbePort", strings.Replace(goodDeployment, "port: http}}", "port: metrics}}", 1), `uses port "metrics"`},
		{"ErrServicePort", strings.Replace(goodDeployment, "targetPort: http", "targetPort: web", 1), `targetPort "web"`},
		{"ErrResourceRef", strings.Replace(goodDeployment, "limits.memory", "limits.ephemeral-storage", 1), "does not set"},
		{"ErrUnknownKind", "apiVersion: example.org/v1\nkind: Widget\nmetadata: {name: w}\n", "unknown or unsupported"},
		{"ErrLabel", strings.Replace(goodDeployment, "labels: {app: web}}\nspec", "labels: {app: \"not ok!\"}}\nspec", 1), "label app="},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n, problems := Validate([]byte(c.doc))
			got := strings.Join(problems, "\n")
			if c.want == "" {
				if got != "" || n != 2 {
					t.Fatalf("want 2 valid objects, got %d and problems:\n%s", n, got)
				}
				return
			}
			if !strings.Contains(got, c.want) {
				t.Fatalf("want a problem containing %q, got:\n%s", c.want, got)
			}
		})
	}
}

func TestScoreGate(t *testing.T) {
	dir := t.TempDir()
	acc := filepath.Join(dir, "accepted.txt")
	report := `[{"object_name":"x","type_meta":{"kind":"Deployment"},"object_meta":{"name":"web"},
	  "checks":[{"check":{"id":"container-image-pull-policy"},"grade":1,"skipped":false,"comments":[{"summary":"not Always"}]},
	            {"check":{"id":"pod-probes"},"grade":10}]}]`
	run1 := func(accepted string) (int, string) {
		os.WriteFile(acc, []byte(accepted), 0o644)
		var out, errb bytes.Buffer
		code := run([]string{"score-gate", "--set", "dev", "--accepted", acc}, strings.NewReader(report), &out, &errb)
		return code, out.String() + errb.String()
	}
	if code, out := run1("# nothing accepted\n"); code != 1 || !strings.Contains(out, "UNEXPLAINED CRITICAL container-image-pull-policy deployment/web") {
		t.Fatalf("unexplained critical: exit %d\n%s", code, out)
	}
	if code, out := run1("dev container-image-pull-policy deployment/* # images are loaded into kind\n"); code != 0 || !strings.Contains(out, "reason: images are loaded into kind") {
		t.Fatalf("accepted: exit %d\n%s", code, out)
	}
	if code, out := run1("prod container-image-pull-policy deployment/* # other set\n"); code != 1 {
		t.Fatalf("another set's acceptance must not apply: exit %d\n%s", code, out)
	}
	if code, out := run1("dev container-image-pull-policy deployment/*\n"); code != 2 || !strings.Contains(out, "needs a reason") {
		t.Fatalf("an acceptance without a reason: exit %d\n%s", code, out)
	}
}
