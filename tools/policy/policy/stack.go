package policy

// Swarm stack rules (ops/adr/0002-orchestrators.md): the Compose rules of Check, adapted to what a Swarm service can
// express, plus the release-safety rules a stack file must encode — rolling updates that roll
// back by themselves, placement, reservations, external versioned secrets, versioned configs,
// overlay networks without an attachable data plane, migrations as a one-shot job.

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// Swarm rule identifiers, printed with every finding.
const (
	RuleSwarmReplicas    = "swarm-replicas"
	RuleSwarmUpdate      = "swarm-update-config"
	RuleSwarmRollback    = "swarm-rollback-config"
	RuleSwarmPlacement   = "swarm-placement"
	RuleSwarmReservation = "swarm-reservations"
	RuleSwarmSecret      = "swarm-secret-external"
	RuleSwarmConfig      = "swarm-config-versioned"
	RuleSwarmNetwork     = "swarm-network"
	RuleSwarmJob         = "swarm-oneshot-job"
	RuleGoMemLimit       = "gomemlimit"
)

// StackRules describes the Swarm-specific rules, in the order they are checked. CheckStack also
// applies every rule of Rules except no-new-privileges (see CheckStack).
var StackRules = []struct{ ID, Text string }{
	{RuleSwarmReplicas, "stateless long-running services run at least 2 replicas"},
	{RuleSwarmUpdate, "update_config: parallelism >= 1, a monitor window, max_failure_ratio 0; stateless: order start-first and failure_action rollback; stateful: order stop-first"},
	{RuleSwarmRollback, "rollback_config is set (its own order and monitor window)"},
	{RuleSwarmPlacement, "placement constraints say where each service may run"},
	{RuleSwarmReservation, "CPU and memory reservations (honest scheduling), besides the limits"},
	{RuleSwarmSecret, "secrets are external Swarm objects with an explicit (versioned) name, never files on the manager"},
	{RuleSwarmConfig, "configs have an explicit, versioned name (a changed config is a new object and a rolling update)"},
	{RuleSwarmNetwork, "overlay networks; a network that carries data services is internal and not attachable"},
	{RuleSwarmJob, "one-shot services (migrations) are replicated-job/global-job with a bounded restart policy"},
	{RuleGoMemLimit, "GOMEMLIMIT, when set, is below the memory limit"},
}

// CheckStack checks a Swarm stack file loaded with Load. It returns the findings of Check for
// every rule except no-new-privileges — a Swarm service cannot set it on Engine 20.10 / API 1.41
// (the engine-wide "no-new-privileges": true of daemon.json is the control, ops/runbook-swarm.md)
// — followed by the Swarm rules, sorted by service.
func CheckStack(p *types.Project, opts Options) []Finding {
	o := opts.withDefaults()
	var out []Finding
	for _, f := range Check(p, o) {
		if f.Rule != RuleNoNewPrivileges {
			out = append(out, f)
		}
	}
	dataNets := map[string]bool{}
	names := make([]string, 0, len(p.Services))
	for n := range p.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s := p.Services[n]
		// Stateful = a data store by name or image (isDataService also counts every service on a
		// data network, which api and worker are as clients).
		data := slices.Contains(o.DataServices, s.Name) || slices.Contains(dataImages, imageBase(s.Image))
		if data {
			for net := range s.Networks {
				dataNets[net] = true
			}
		}
		out = append(out, checkSwarmService(s, data, isOneShot(p, s, o))...)
	}
	out = append(out, checkSwarmObjects(p, dataNets)...)
	return out
}

func isOneShot(p *types.Project, s types.ServiceConfig, o Options) bool {
	if strings.EqualFold(s.Labels[o.OneShotLabel], "true") {
		return true
	}
	if s.Deploy != nil && strings.HasSuffix(s.Deploy.Mode, "-job") {
		return true
	}
	for _, other := range p.Services {
		if d, ok := other.DependsOn[s.Name]; ok && d.Condition == types.ServiceConditionCompletedSuccessfully {
			return true
		}
	}
	return false
}

func checkSwarmService(s types.ServiceConfig, data, oneShot bool) []Finding {
	var f []Finding
	add := func(rule, format string, args ...any) {
		f = append(f, Finding{Service: s.Name, Rule: rule, Message: fmt.Sprintf(format, args...)})
	}
	d := s.Deploy
	if d == nil {
		add(RuleSwarmUpdate, "no deploy section: no replicas, placement, resources or update policy")
		return f
	}
	if oneShot {
		if !strings.HasSuffix(d.Mode, "-job") {
			add(RuleSwarmJob, "one-shot service runs in mode %q: use replicated-job so that it runs once and completes", orDefault(d.Mode, "replicated"))
		}
		if rp := d.RestartPolicy; rp == nil || rp.Condition == "any" || (rp.Condition == "on-failure" && (rp.MaxAttempts == nil || *rp.MaxAttempts == 0)) {
			add(RuleSwarmJob, "one-shot job without a bounded restart policy (condition on-failure with max_attempts)")
		}
	} else {
		if !data && (d.Replicas == nil || *d.Replicas < 2) && d.Mode != "global" {
			add(RuleSwarmReplicas, "stateless service with %s: one task is one point of failure and no rolling update without downtime", replicasText(d.Replicas))
		}
		checkUpdateConfig(add, "update_config", d.UpdateConfig, data, true)
		if d.RollbackConfig == nil {
			add(RuleSwarmRollback, "no rollback_config: a rollback would use the defaults (stop-first, no monitor window)")
		} else {
			checkUpdateConfig(add, "rollback_config", d.RollbackConfig, data, false)
		}
	}
	if len(d.Placement.Constraints) == 0 {
		add(RuleSwarmPlacement, "no placement constraint: tasks may land on any node, managers included")
	}
	if r := d.Resources.Reservations; r == nil || r.MemoryBytes == 0 || r.NanoCPUs == 0 {
		add(RuleSwarmReservation, "no CPU and memory reservation: the scheduler cannot keep room for the tasks (start-first needs it)")
	}
	if v := s.Environment["GOMEMLIMIT"]; v != nil && *v != "" && *v != "off" {
		limit := int64(0)
		if d.Resources.Limits != nil {
			limit = int64(d.Resources.Limits.MemoryBytes)
		}
		if n, ok := parseGoBytes(*v); !ok {
			add(RuleGoMemLimit, "GOMEMLIMIT %q is not a Go memory limit (e.g. 460MiB)", *v)
		} else if limit > 0 && n >= limit {
			add(RuleGoMemLimit, "GOMEMLIMIT %s is not below the memory limit %d bytes: the kernel OOM-kills before the Go GC reacts", *v, limit)
		}
	}
	return f
}

func checkUpdateConfig(add func(string, string, ...any), what string, u *types.UpdateConfig, data, update bool) {
	rule := RuleSwarmUpdate
	if !update {
		rule = RuleSwarmRollback
	}
	if u == nil {
		add(rule, "no %s", what)
		return
	}
	if u.Parallelism == nil || *u.Parallelism == 0 {
		add(rule, "%s.parallelism is unset or 0 (0 = all tasks at once)", what)
	}
	if u.Monitor == 0 {
		add(rule, "%s.monitor is unset: a task failing right after it started would not count", what)
	}
	if u.MaxFailureRatio != 0 {
		add(rule, "%s.max_failure_ratio is %g: any failed task must stop the rollout", what, u.MaxFailureRatio)
	}
	switch {
	case data && u.Order == "start-first":
		add(rule, "%s.order start-first on a stateful service runs two processes on one data directory", what)
	case !data && u.Order != "start-first":
		add(rule, "%s.order is %q: stateless services start the new task before stopping the old one (start-first)", what, orDefault(u.Order, "stop-first"))
	}
	if update && !data && u.FailureAction != "rollback" {
		add(rule, "%s.failure_action is %q: a failed rollout must roll back by itself (rollback)", what, orDefault(u.FailureAction, "pause"))
	}
}

func checkSwarmObjects(p *types.Project, dataNets map[string]bool) []Finding {
	var f []Finding
	add := func(obj, rule, format string, args ...any) {
		f = append(f, Finding{Service: obj, Rule: rule, Message: fmt.Sprintf(format, args...)})
	}
	for _, k := range sortedKeys(p.Secrets) {
		s := p.Secrets[k]
		switch {
		case !bool(s.External):
			add("secret "+k, RuleSwarmSecret, "defined from %s: create it out of band (docker secret create) and declare it external", orDefault(s.File, "environment/content"))
		case s.Name == "" || s.Name == k:
			add("secret "+k, RuleSwarmSecret, "external secret without a versioned name (name: <key>_v2…): rotation would need to delete the one in use")
		}
	}
	for _, k := range sortedKeys(p.Configs) {
		c := p.Configs[k]
		if c.Name == "" || c.Name == k || c.Name == p.Name+"_"+k {
			add("config "+k, RuleSwarmConfig, "config without a versioned name: Swarm configs are immutable, a changed file cannot be deployed under the same name")
		}
	}
	for _, k := range sortedKeys(p.Networks) {
		n := p.Networks[k]
		if bool(n.External) {
			continue
		}
		if n.Driver != "overlay" {
			add("network "+k, RuleSwarmNetwork, "driver %q: a stack spans nodes over overlay networks", orDefault(n.Driver, "default"))
		}
		if dataNets[k] {
			if n.Attachable {
				add("network "+k, RuleSwarmNetwork, "attachable network carries data services: any `docker run --network` container could reach the database")
			}
			if !n.Internal {
				add("network "+k, RuleSwarmNetwork, "network of data services is not internal: the data plane has a route out")
			}
		}
	}
	return f
}

func sortedKeys[M ~map[string]V, V any](m M) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func replicasText(r *int) string {
	if r == nil {
		return "no replicas set (1)"
	}
	return fmt.Sprintf("replicas %d", *r)
}

// parseGoBytes parses a GOMEMLIMIT value: a number with an optional B, KiB, MiB, GiB or TiB
// suffix (the Go runtime's syntax).
func parseGoBytes(s string) (int64, bool) {
	mult := int64(1)
	for _, u := range []struct {
		suf string
		m   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(s, u.suf) {
			s, mult = strings.TrimSuffix(s, u.suf), u.m
			break
		}
	}
	var n int64
	if s == "" {
		return 0, false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n * mult, true
}
