package policy

// Kubernetes manifest rules (ops/adr/0002-orchestrators.md): the production-readiness rules of the Compose checker,
// applied to rendered manifests (helm template output), plus what a cluster deployment must
// carry — probes, disruption budgets, network policies, no service-account token, a bounded
// migration Job, and no Secret values in the chart.
//
// Manifests are decoded into the few fields the rules read (go.yaml.in/yaml/v3), not into the
// full k8s.io/api types: schema validation is tools/k8scheck's job (strict decoding), this file
// is policy.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Kubernetes rule identifiers, printed with every finding.
const (
	RuleK8sSecurityContext = "k8s-security-context"
	RuleK8sProbes          = "k8s-probes"
	RuleK8sResources       = "k8s-resources"
	RuleK8sToken           = "k8s-sa-token"
	RuleK8sHost            = "k8s-host-access"
	RuleK8sPDB             = "k8s-pdb"
	RuleK8sNetworkPolicy   = "k8s-network-policy"
	RuleK8sJob             = "k8s-job-bounded"
	RuleK8sSecretValues    = "k8s-no-secret-values"
	RuleK8sGoRuntime       = "k8s-go-runtime"
)

// KubeRules describes the Kubernetes rules. image-immutable and secret-in-env of Rules apply too.
var KubeRules = []struct{ ID, Text string }{
	{RuleK8sSecurityContext, "runAsNonRoot, a non-zero runAsUser, seccomp RuntimeDefault, readOnlyRootFilesystem, allowPrivilegeEscalation false, capabilities drop ALL, not privileged"},
	{RuleK8sProbes, "long-running containers have startup, liveness and readiness probes"},
	{RuleK8sResources, "CPU and memory requests, memory limit"},
	{RuleK8sToken, "automountServiceAccountToken: false on the pod (the app never calls the API server)"},
	{RuleK8sHost, "no hostNetwork/hostPID/hostIPC, no hostPath volume"},
	{RuleK8sPDB, "every Deployment with more than one replica (or an HPA) is covered by a PodDisruptionBudget"},
	{RuleK8sNetworkPolicy, "every workload's pods are selected by a NetworkPolicy"},
	{RuleK8sJob, "Jobs have backoffLimit and activeDeadlineSeconds (bounded), and never restart Always"},
	{RuleK8sSecretValues, "the rendered chart contains no Secret object with data: only references to Secrets made out of band"},
	{RuleK8sGoRuntime, "Go containers get GOMAXPROCS and GOMEMLIMIT from their limits (resourceFieldRef)"},
}

type kubeObject struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name        string            `yaml:"name"`
		Labels      map[string]string `yaml:"labels"`
		Annotations map[string]string `yaml:"annotations"`
	} `yaml:"metadata"`
	Spec       yaml.Node         `yaml:"spec"`
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
}

type labelSelector struct {
	MatchLabels map[string]string `yaml:"matchLabels"`
}

type workloadSpec struct {
	Replicas              *int          `yaml:"replicas"`
	Selector              labelSelector `yaml:"selector"`
	BackoffLimit          *int          `yaml:"backoffLimit"`
	ActiveDeadlineSeconds *int          `yaml:"activeDeadlineSeconds"`
	Template              struct {
		Metadata struct {
			Labels map[string]string `yaml:"labels"`
		} `yaml:"metadata"`
		Spec podSpec `yaml:"spec"`
	} `yaml:"template"`
}

type podSpec struct {
	AutomountServiceAccountToken *bool           `yaml:"automountServiceAccountToken"`
	HostNetwork                  bool            `yaml:"hostNetwork"`
	HostPID                      bool            `yaml:"hostPID"`
	HostIPC                      bool            `yaml:"hostIPC"`
	RestartPolicy                string          `yaml:"restartPolicy"`
	SecurityContext              securityContext `yaml:"securityContext"`
	Containers                   []container     `yaml:"containers"`
	InitContainers               []container     `yaml:"initContainers"`
	Volumes                      []struct {
		Name     string     `yaml:"name"`
		HostPath *yaml.Node `yaml:"hostPath"`
	} `yaml:"volumes"`
}

type securityContext struct {
	RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
	RunAsUser                *int  `yaml:"runAsUser"`
	ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
	AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
	Privileged               *bool `yaml:"privileged"`
	SeccompProfile           *struct {
		Type string `yaml:"type"`
	} `yaml:"seccompProfile"`
	Capabilities *struct {
		Add  []string `yaml:"add"`
		Drop []string `yaml:"drop"`
	} `yaml:"capabilities"`
}

type container struct {
	Name            string          `yaml:"name"`
	Image           string          `yaml:"image"`
	SecurityContext securityContext `yaml:"securityContext"`
	StartupProbe    *yaml.Node      `yaml:"startupProbe"`
	LivenessProbe   *yaml.Node      `yaml:"livenessProbe"`
	ReadinessProbe  *yaml.Node      `yaml:"readinessProbe"`
	Resources       struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	Env []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom *struct {
			ResourceFieldRef *struct {
				Resource string `yaml:"resource"`
			} `yaml:"resourceFieldRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
}

// KubeObject is one decoded manifest, for callers that list what was checked.
type KubeObject struct{ Kind, Name string }

// LoadKube decodes every YAML document of r (a `helm template` or `kustomize build` output).
func LoadKube(r io.Reader) ([]kubeObject, error) {
	dec := yaml.NewDecoder(r)
	var objs []kubeObject
	for {
		var o kubeObject
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", len(objs)+1, err)
		}
		if o.Kind == "" {
			continue // empty document between separators
		}
		objs = append(objs, o)
	}
}

// CheckKube applies the Kubernetes rules to decoded manifests.
func CheckKube(objs []kubeObject, opts Options) []Finding {
	o := opts.withDefaults()
	var out []Finding
	type workload struct {
		id     string
		labels map[string]string
		multi  bool
	}
	var workloads []workload
	var pdbSelectors, npSelectors []map[string]string
	hpaTargets := map[string]bool{}
	for _, obj := range objs {
		id := strings.ToLower(obj.Kind) + "/" + obj.Metadata.Name
		add := func(rule, format string, args ...any) {
			out = append(out, Finding{Service: id, Rule: rule, Message: fmt.Sprintf(format, args...)})
		}
		switch obj.Kind {
		case "Secret":
			if len(obj.Data) > 0 || len(obj.StringData) > 0 {
				add(RuleK8sSecretValues, "the chart renders secret values: create the Secret out of band (kubectl create secret / an operator) and reference it")
			}
		case "PodDisruptionBudget", "NetworkPolicy":
			var s struct {
				Selector    labelSelector `yaml:"selector"`
				PodSelector labelSelector `yaml:"podSelector"`
			}
			if err := obj.Spec.Decode(&s); err != nil {
				add(RuleK8sPDB, "cannot decode spec: %v", err)
				continue
			}
			if obj.Kind == "PodDisruptionBudget" {
				pdbSelectors = append(pdbSelectors, s.Selector.MatchLabels)
			} else {
				npSelectors = append(npSelectors, s.PodSelector.MatchLabels)
			}
		case "HorizontalPodAutoscaler":
			var s struct {
				ScaleTargetRef struct{ Kind, Name string } `yaml:"scaleTargetRef"`
			}
			if err := obj.Spec.Decode(&s); err == nil {
				hpaTargets[strings.ToLower(s.ScaleTargetRef.Kind)+"/"+s.ScaleTargetRef.Name] = true
			}
		case "Deployment", "StatefulSet", "DaemonSet", "Job":
			var w workloadSpec
			if err := obj.Spec.Decode(&w); err != nil {
				add(RuleK8sSecurityContext, "cannot decode spec: %v", err)
				continue
			}
			job := obj.Kind == "Job"
			out = append(out, checkPod(id, w.Template.Spec, job, o)...)
			if job {
				if w.BackoffLimit == nil {
					add(RuleK8sJob, "no backoffLimit (default 6 retries)")
				}
				if w.ActiveDeadlineSeconds == nil {
					add(RuleK8sJob, "no activeDeadlineSeconds: a stuck migration would hold the release forever")
				}
				if w.Template.Spec.RestartPolicy == "Always" || w.Template.Spec.RestartPolicy == "" {
					add(RuleK8sJob, "restartPolicy must be Never or OnFailure")
				}
			} else {
				multi := obj.Kind == "DaemonSet" || w.Replicas == nil || *w.Replicas > 1
				workloads = append(workloads, workload{id: id, labels: w.Template.Metadata.Labels, multi: multi})
			}
		}
	}
	for _, w := range workloads {
		if (w.multi || hpaTargets[w.id]) && !anySelects(pdbSelectors, w.labels) {
			out = append(out, Finding{Service: w.id, Rule: RuleK8sPDB, Message: "no PodDisruptionBudget selects these pods: a node drain may take every replica at once"})
		}
		if !anySelects(npSelectors, w.labels) {
			out = append(out, Finding{Service: w.id, Rule: RuleK8sNetworkPolicy, Message: "no NetworkPolicy selects these pods: they accept traffic from anywhere in the cluster"})
		}
	}
	return out
}

func anySelects(selectors []map[string]string, labels map[string]string) bool {
	for _, sel := range selectors {
		if len(sel) == 0 {
			return true // an empty selector selects every pod of the namespace
		}
		ok := true
		for k, v := range sel {
			if labels[k] != v {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func checkPod(id string, p podSpec, job bool, o Options) []Finding {
	var f []Finding
	add := func(rule, format string, args ...any) {
		f = append(f, Finding{Service: id, Rule: rule, Message: fmt.Sprintf(format, args...)})
	}
	if p.AutomountServiceAccountToken == nil || *p.AutomountServiceAccountToken {
		add(RuleK8sToken, "the pod mounts a service-account token it does not need")
	}
	if p.HostNetwork || p.HostPID || p.HostIPC {
		add(RuleK8sHost, "shares a host namespace (hostNetwork/hostPID/hostIPC)")
	}
	for _, v := range p.Volumes {
		if v.HostPath != nil {
			add(RuleK8sHost, "volume %s is a hostPath", v.Name)
		}
	}
	for _, c := range append(slices.Clone(p.InitContainers), p.Containers...) {
		cid := func(format string) string { return "container " + c.Name + ": " + format }
		sc := c.SecurityContext
		nonRoot := boolOr(sc.RunAsNonRoot, p.SecurityContext.RunAsNonRoot)
		uid := intOr(sc.RunAsUser, p.SecurityContext.RunAsUser)
		if nonRoot == nil || !*nonRoot {
			add(RuleK8sSecurityContext, "%s", cid("runAsNonRoot is not true"))
		}
		if uid == nil || *uid == 0 {
			add(RuleK8sSecurityContext, "%s", cid("no numeric non-zero runAsUser"))
		}
		seccomp := sc.SeccompProfile
		if seccomp == nil {
			seccomp = p.SecurityContext.SeccompProfile
		}
		if seccomp == nil || (seccomp.Type != "RuntimeDefault" && seccomp.Type != "Localhost") {
			add(RuleK8sSecurityContext, "%s", cid("seccompProfile is not RuntimeDefault"))
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			add(RuleK8sSecurityContext, "%s", cid("readOnlyRootFilesystem is not true"))
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			add(RuleK8sSecurityContext, "%s", cid("allowPrivilegeEscalation is not false"))
		}
		if sc.Privileged != nil && *sc.Privileged {
			add(RuleK8sSecurityContext, "%s", cid("privileged"))
		}
		if sc.Capabilities == nil || !containsFold(sc.Capabilities.Drop, "ALL") {
			add(RuleK8sSecurityContext, "%s", cid("capabilities.drop lacks ALL"))
		} else {
			for _, a := range sc.Capabilities.Add {
				if strings.TrimPrefix(strings.ToUpper(a), "CAP_") != "NET_BIND_SERVICE" {
					add(RuleK8sSecurityContext, "%s", cid("adds capability "+a))
				}
			}
		}
		if !job && !slices.ContainsFunc(p.InitContainers, func(ic container) bool { return ic.Name == c.Name }) {
			var missing []string
			for name, probe := range map[string]*yaml.Node{"startupProbe": c.StartupProbe, "livenessProbe": c.LivenessProbe, "readinessProbe": c.ReadinessProbe} {
				if probe == nil {
					missing = append(missing, name)
				}
			}
			if len(missing) > 0 {
				slices.Sort(missing)
				add(RuleK8sProbes, "%s", cid("no "+strings.Join(missing, ", ")))
			}
		}
		if c.Resources.Requests["cpu"] == "" || c.Resources.Requests["memory"] == "" {
			add(RuleK8sResources, "%s", cid("no CPU and memory requests"))
		}
		if c.Resources.Limits["memory"] == "" {
			add(RuleK8sResources, "%s", cid("no memory limit"))
		}
		if msg := imageProblem(c.Image, o.RequireDigest); msg != "" {
			add(RuleImage, "%s", cid(msg))
		}
		fromLimits := map[string]bool{}
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.ResourceFieldRef != nil && strings.HasPrefix(e.ValueFrom.ResourceFieldRef.Resource, "limits.") {
				fromLimits[e.Name] = true
			}
			if e.ValueFrom == nil && e.Value != "" {
				if msg := secretEnvProblem(e.Name, e.Value); msg != "" {
					add(RuleSecretEnv, "%s", cid(msg))
				}
			}
		}
		if isRegcaseImage(c.Image) && (!fromLimits["GOMAXPROCS"] || !fromLimits["GOMEMLIMIT"]) {
			add(RuleK8sGoRuntime, "%s", cid("GOMAXPROCS and GOMEMLIMIT are not both derived from the container limits (valueFrom.resourceFieldRef)"))
		}
	}
	return f
}

func isRegcaseImage(image string) bool { return imageBase(image) == "regcase" }

func boolOr(a, b *bool) *bool {
	if a != nil {
		return a
	}
	return b
}

func intOr(a, b *int) *int {
	if a != nil {
		return a
	}
	return b
}

// CheckKubeBytes is LoadKube + CheckKube on a byte slice.
func CheckKubeBytes(b []byte, opts Options) ([]Finding, int, error) {
	objs, err := LoadKube(bytes.NewReader(b))
	if err != nil {
		return nil, 0, err
	}
	return CheckKube(objs, opts), len(objs), nil
}
