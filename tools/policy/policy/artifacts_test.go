package policy

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The observability artifacts that compose.observability.yml mounts: Grafana provisioning and
// the dashboard must be valid and consistent with each other and with the alert rules.

func TestGrafanaProvisioningAndDashboard(t *testing.T) {
	var ds struct {
		APIVersion  int `yaml:"apiVersion"`
		Datasources []struct {
			Name, UID, Type, URL string
		} `yaml:"datasources"`
	}
	readYAML(t, repo(t, "deploy/grafana/provisioning/datasources/regcase.yml"), &ds)
	// Prometheus (metrics, the dashboard's datasource) and Jaeger (traces), each
	// at the service name and port compose.observability.yml gives it.
	want := map[string]string{"prometheus": "http://prometheus:9090", "jaeger": "http://jaeger:16686"}
	if len(ds.Datasources) != len(want) {
		t.Fatalf("datasource provisioning: %+v, want exactly %v", ds, want)
	}
	for _, d := range ds.Datasources {
		if url, ok := want[d.UID]; !ok || d.URL != url || d.Type != d.UID {
			t.Errorf("datasource %+v: want uid/type one of %v with its URL", d, want)
		}
	}
	var prov struct {
		Providers []struct {
			Type    string
			Options struct{ Path string }
		} `yaml:"providers"`
	}
	readYAML(t, repo(t, "deploy/grafana/provisioning/dashboards/regcase.yml"), &prov)
	if len(prov.Providers) != 1 || prov.Providers[0].Options.Path == "" {
		t.Fatalf("dashboard provider: %+v", prov)
	}
	compose, err := os.ReadFile(repo(t, "compose.observability.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(compose), "target: "+prov.Providers[0].Options.Path+"/regcase-overview.json") {
		t.Errorf("compose.observability.yml does not mount the dashboard into %s", prov.Providers[0].Options.Path)
	}

	b, err := os.ReadFile(repo(t, "deploy/grafana/dashboards/regcase-overview.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID, Title string
		Panels     []struct {
			Type, Title string
			Datasource  struct{ UID string }
			Targets     []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	if d.UID == "" || d.Title == "" || len(d.Panels) < 10 {
		t.Fatalf("dashboard uid %q title %q panels %d", d.UID, d.Title, len(d.Panels))
	}
	rules, err := os.ReadFile(repo(t, "deploy/prometheus/rules/regcase.rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	metricRE := regexp.MustCompile(`\b(regcase_[a-z_]+|http_[a-z_]+)`)
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		if p.Datasource.UID != "prometheus" {
			t.Errorf("panel %q uses datasource %q", p.Title, p.Datasource.UID)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			for _, m := range metricRE.FindAllString(tg.Expr, -1) {
				base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_sum"), "_count")
				if !strings.Contains(string(rules), base) {
					t.Errorf("panel %q queries %s, which the rules file does not document", p.Title, m)
				}
			}
		}
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
