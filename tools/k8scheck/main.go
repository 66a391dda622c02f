// Command k8scheck validates rendered Kubernetes manifests offline, without a cluster or
// downloaded schemas, and gates kube-score results against a list of accepted findings.
//
//	k8scheck validate [-f rendered.yaml]...        (stdin without -f)
//	k8scheck score-gate --set NAME --accepted FILE < kube-score.json
//
// validate decodes every document STRICTLY into its k8s.io/api type (an unknown field, a wrong
// type or an unparsable quantity is an error; an unknown apiVersion/kind too), then checks what
// the API server would refuse or what silently breaks a workload: object names and label values,
// selectors that do not match their pod template, probes and Services naming ports that do not
// exist, volume mounts without a volume, invalid environment variable names, duplicate names.
// Output: one line per problem, "N objects valid" at the end; exit 1 on any problem.
//
// score-gate reads `kube-score score --output-format json` and prints every CRITICAL or WARNING
// finding with its check id. A finding is accepted when a line "SET CHECK-ID OBJECT-GLOB # reason"
// of the accepted file matches it (SET may be *); the reason is printed with it. Exit 1 when a
// CRITICAL finding is not accepted, or when an accepted line has no reason.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"

	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: k8scheck validate [-f FILE]... | k8scheck score-gate --set NAME --accepted FILE")
		return 64
	}
	switch args[0] {
	case "validate":
		return validateCmd(args[1:], stdin, stdout, stderr)
	case "score-gate":
		return scoreGateCmd(args[1:], stdin, stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, "usage: k8scheck validate [-f FILE]... | k8scheck score-gate --set NAME --accepted FILE")
		return 0
	}
	fmt.Fprintf(stderr, "k8scheck: unknown command %q\n", args[0])
	return 64
}

type files []string

func (f *files) String() string     { return strings.Join(*f, ",") }
func (f *files) Set(v string) error { *f = append(*f, v); return nil }

// kinds maps apiVersion/kind to a constructor of its typed object. Only what the chart may render
// (and a few neighbours) is known: anything else is reported, not skipped.
var kinds = map[string]func() any{
	"v1/ConfigMap":                                    func() any { return &corev1.ConfigMap{} },
	"v1/Secret":                                       func() any { return &corev1.Secret{} },
	"v1/Service":                                      func() any { return &corev1.Service{} },
	"v1/ServiceAccount":                               func() any { return &corev1.ServiceAccount{} },
	"v1/Namespace":                                    func() any { return &corev1.Namespace{} },
	"v1/PersistentVolumeClaim":                        func() any { return &corev1.PersistentVolumeClaim{} },
	"apps/v1/Deployment":                              func() any { return &appsv1.Deployment{} },
	"apps/v1/StatefulSet":                             func() any { return &appsv1.StatefulSet{} },
	"apps/v1/DaemonSet":                               func() any { return &appsv1.DaemonSet{} },
	"batch/v1/Job":                                    func() any { return &batchv1.Job{} },
	"batch/v1/CronJob":                                func() any { return &batchv1.CronJob{} },
	"networking.k8s.io/v1/Ingress":                    func() any { return &networkingv1.Ingress{} },
	"networking.k8s.io/v1/NetworkPolicy":              func() any { return &networkingv1.NetworkPolicy{} },
	"policy/v1/PodDisruptionBudget":                   func() any { return &policyv1.PodDisruptionBudget{} },
	"autoscaling/v2/HorizontalPodAutoscaler":          func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"rbac.authorization.k8s.io/v1/Role":               func() any { return &rbacv1.Role{} },
	"rbac.authorization.k8s.io/v1/RoleBinding":        func() any { return &rbacv1.RoleBinding{} },
	"rbac.authorization.k8s.io/v1/ClusterRole":        func() any { return &rbacv1.ClusterRole{} },
	"rbac.authorization.k8s.io/v1/ClusterRoleBinding": func() any { return &rbacv1.ClusterRoleBinding{} },
}

func validateCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var in files
	fs.Var(&in, "f", "manifest file (repeatable; default stdin)")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return 64
	}
	type source struct {
		name string
		data []byte
	}
	var srcs []source
	if len(in) == 0 {
		b, err := io.ReadAll(stdin)
		if err != nil {
			fmt.Fprintln(stderr, "k8scheck:", err)
			return 2
		}
		srcs = append(srcs, source{"stdin", b})
	}
	for _, f := range in {
		b, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintln(stderr, "k8scheck:", err)
			return 2
		}
		srcs = append(srcs, source{f, b})
	}
	total, bad := 0, 0
	for _, s := range srcs {
		objs, problems := Validate(s.data)
		total += objs
		for _, p := range problems {
			fmt.Fprintf(stdout, "%s: %s\n", s.name, p)
		}
		bad += len(problems)
		if objs == 0 {
			fmt.Fprintf(stdout, "%s: no Kubernetes object\n", s.name)
			bad++
		}
	}
	if bad > 0 {
		fmt.Fprintf(stderr, "k8scheck: %d problem(s) in %d object(s)\n", bad, total)
		return 1
	}
	fmt.Fprintf(stdout, "%d objects valid (strict k8s.io/api decoding + reference checks)\n", total)
	return 0
}

// splitDocs splits a multi-document YAML stream on "---" lines.
func splitDocs(b []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1024*1024), 16*1024*1024)
	flush := func() {
		if strings.TrimSpace(stripComments(cur.String())) != "" {
			docs = append(docs, append([]byte(nil), cur.Bytes()...))
		}
		cur.Reset()
	}
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "---") && strings.TrimSpace(strings.TrimPrefix(line, "---")) == "" {
			flush()
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
	}
	flush()
	return docs
}

func stripComments(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// Validate decodes and checks every document; it returns the number of objects and the problems.
func Validate(b []byte) (int, []string) {
	var problems []string
	seen := map[string]bool{}
	var services []*corev1.Service
	var pods []podRef
	n := 0
	for i, doc := range splitDocs(b) {
		var tm struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			problems = append(problems, fmt.Sprintf("document %d: not YAML: %v", i+1, err))
			continue
		}
		gvk := tm.APIVersion + "/" + tm.Kind
		mk, ok := kinds[gvk]
		if !ok {
			problems = append(problems, fmt.Sprintf("document %d: unknown or unsupported apiVersion/kind %q", i+1, gvk))
			continue
		}
		obj := mk()
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			problems = append(problems, fmt.Sprintf("%s (document %d): %v", gvk, i+1, err))
			continue
		}
		n++
		id, errs := checkObject(obj)
		if seen[id] {
			errs = append(errs, "duplicate object")
		}
		seen[id] = true
		for _, e := range errs {
			problems = append(problems, id+": "+e)
		}
		switch o := obj.(type) {
		case *corev1.Service:
			services = append(services, o)
		case *appsv1.Deployment:
			pods = append(pods, podRef{id, o.Spec.Template.Labels, o.Spec.Template.Spec})
		case *appsv1.StatefulSet:
			pods = append(pods, podRef{id, o.Spec.Template.Labels, o.Spec.Template.Spec})
		case *appsv1.DaemonSet:
			pods = append(pods, podRef{id, o.Spec.Template.Labels, o.Spec.Template.Spec})
		}
	}
	problems = append(problems, checkServices(services, pods)...)
	return n, problems
}

type podRef struct {
	id     string
	labels map[string]string
	spec   corev1.PodSpec
}

func checkObject(obj any) (string, []string) {
	var errs []string
	add := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }
	metaOf := func(kind, name string, labels map[string]string) string {
		if name == "" {
			add("metadata.name is empty")
		} else if e := validation.IsDNS1123Subdomain(name); len(e) > 0 {
			add("metadata.name %q: %s", name, strings.Join(e, "; "))
		}
		for k, v := range labels {
			if e := validation.IsQualifiedName(k); len(e) > 0 {
				add("label key %q: %s", k, strings.Join(e, "; "))
			}
			if e := validation.IsValidLabelValue(v); len(e) > 0 {
				add("label %s=%q: %s", k, v, strings.Join(e, "; "))
			}
		}
		return kind + "/" + name
	}
	selectorMatches := func(sel map[string]string, labels map[string]string) {
		if len(sel) == 0 {
			add("empty selector")
		}
		for k, v := range sel {
			if labels[k] != v {
				add("selector %s=%s does not match the pod template labels", k, v)
			}
		}
	}
	switch o := obj.(type) {
	case *appsv1.Deployment:
		id := metaOf("deployment", o.Name, o.Labels)
		if o.Spec.Selector == nil {
			add("no selector")
		} else {
			selectorMatches(o.Spec.Selector.MatchLabels, o.Spec.Template.Labels)
		}
		errs = append(errs, checkPodSpec(o.Spec.Template.Spec)...)
		return id, errs
	case *appsv1.StatefulSet:
		id := metaOf("statefulset", o.Name, o.Labels)
		if o.Spec.Selector != nil {
			selectorMatches(o.Spec.Selector.MatchLabels, o.Spec.Template.Labels)
		}
		errs = append(errs, checkPodSpec(o.Spec.Template.Spec)...)
		return id, errs
	case *appsv1.DaemonSet:
		id := metaOf("daemonset", o.Name, o.Labels)
		errs = append(errs, checkPodSpec(o.Spec.Template.Spec)...)
		return id, errs
	case *batchv1.Job:
		id := metaOf("job", o.Name, o.Labels)
		if rp := o.Spec.Template.Spec.RestartPolicy; rp != corev1.RestartPolicyNever && rp != corev1.RestartPolicyOnFailure {
			add("a Job's restartPolicy must be Never or OnFailure, not %q", rp)
		}
		errs = append(errs, checkPodSpec(o.Spec.Template.Spec)...)
		return id, errs
	case *batchv1.CronJob:
		id := metaOf("cronjob", o.Name, o.Labels)
		errs = append(errs, checkPodSpec(o.Spec.JobTemplate.Spec.Template.Spec)...)
		return id, errs
	case *corev1.Service:
		id := metaOf("service", o.Name, o.Labels)
		if e := validation.IsDNS1035Label(o.Name); len(e) > 0 {
			add("a Service name must be a DNS-1035 label: %s", strings.Join(e, "; "))
		}
		for _, p := range o.Spec.Ports {
			if p.Port < 1 || p.Port > 65535 {
				add("port %d out of range", p.Port)
			}
		}
		return id, errs
	case *networkingv1.Ingress:
		id := metaOf("ingress", o.Name, o.Labels)
		for _, r := range o.Spec.Rules {
			if r.Host != "" {
				if e := validation.IsFullyQualifiedDomainName(nil, r.Host); len(e) > 0 {
					add("host %q: %v", r.Host, e.ToAggregate())
				}
			}
		}
		return id, errs
	case *networkingv1.NetworkPolicy:
		return metaOf("networkpolicy", o.Name, o.Labels), errs
	case *policyv1.PodDisruptionBudget:
		id := metaOf("poddisruptionbudget", o.Name, o.Labels)
		if (o.Spec.MinAvailable == nil) == (o.Spec.MaxUnavailable == nil) {
			add("exactly one of minAvailable and maxUnavailable must be set")
		}
		return id, errs
	case *autoscalingv2.HorizontalPodAutoscaler:
		id := metaOf("horizontalpodautoscaler", o.Name, o.Labels)
		if o.Spec.MinReplicas != nil && *o.Spec.MinReplicas > o.Spec.MaxReplicas {
			add("minReplicas %d > maxReplicas %d", *o.Spec.MinReplicas, o.Spec.MaxReplicas)
		}
		return id, errs
	case *corev1.ConfigMap:
		id := metaOf("configmap", o.Name, o.Labels)
		for k := range o.Data {
			if e := validation.IsConfigMapKey(k); len(e) > 0 {
				add("key %q: %s", k, strings.Join(e, "; "))
			}
		}
		return id, errs
	case *corev1.Secret:
		return metaOf("secret", o.Name, o.Labels), errs
	case *corev1.ServiceAccount:
		return metaOf("serviceaccount", o.Name, o.Labels), errs
	case *corev1.Namespace:
		return metaOf("namespace", o.Name, o.Labels), errs
	case *corev1.PersistentVolumeClaim:
		return metaOf("persistentvolumeclaim", o.Name, o.Labels), errs
	case *rbacv1.Role:
		return metaOf("role", o.Name, o.Labels), errs
	case *rbacv1.RoleBinding:
		return metaOf("rolebinding", o.Name, o.Labels), errs
	case *rbacv1.ClusterRole:
		return metaOf("clusterrole", o.Name, o.Labels), errs
	case *rbacv1.ClusterRoleBinding:
		return metaOf("clusterrolebinding", o.Name, o.Labels), errs
	}
	return fmt.Sprintf("%T", obj), errs
}

func checkPodSpec(p corev1.PodSpec) []string {
	var errs []string
	add := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }
	if len(p.Containers) == 0 {
		add("pod has no container")
	}
	vols := map[string]bool{}
	for _, v := range p.Volumes {
		if vols[v.Name] {
			add("volume %q defined twice", v.Name)
		}
		vols[v.Name] = true
	}
	names := map[string]bool{}
	for _, c := range append(append([]corev1.Container(nil), p.InitContainers...), p.Containers...) {
		prefix := "container " + c.Name + ": "
		if names[c.Name] {
			add("%sduplicate container name", prefix)
		}
		names[c.Name] = true
		if e := validation.IsDNS1123Label(c.Name); len(e) > 0 {
			add(prefix+"name: %s", strings.Join(e, "; "))
		}
		if c.Image == "" {
			add("%sno image", prefix)
		}
		ports := map[string]bool{}
		for _, port := range c.Ports {
			if port.Name != "" {
				if e := validation.IsValidPortName(port.Name); len(e) > 0 {
					add(prefix+"port name %q: %s", port.Name, strings.Join(e, "; "))
				}
				ports[port.Name] = true
			}
		}
		for what, pr := range map[string]*corev1.Probe{"startupProbe": c.StartupProbe, "livenessProbe": c.LivenessProbe, "readinessProbe": c.ReadinessProbe} {
			if pr != nil && pr.HTTPGet != nil && pr.HTTPGet.Port.StrVal != "" && !ports[pr.HTTPGet.Port.StrVal] {
				add(prefix+"%s uses port %q, which the container does not declare", what, pr.HTTPGet.Port.StrVal)
			}
		}
		envs := map[string]bool{}
		for _, e := range c.Env {
			if errs2 := validation.IsEnvVarName(e.Name); len(errs2) > 0 {
				add(prefix+"env %q: %s", e.Name, strings.Join(errs2, "; "))
			}
			if envs[e.Name] {
				add(prefix+"env %q set twice", e.Name)
			}
			envs[e.Name] = true
			if e.ValueFrom != nil && e.ValueFrom.ResourceFieldRef != nil {
				r := e.ValueFrom.ResourceFieldRef.Resource
				kind := strings.TrimPrefix(strings.TrimPrefix(r, "limits."), "requests.")
				res := c.Resources.Limits
				if strings.HasPrefix(r, "requests.") {
					res = c.Resources.Requests
				}
				if _, ok := res[corev1.ResourceName(kind)]; !ok {
					add(prefix+"env %s derives from %s, which the container does not set", e.Name, r)
				}
			}
		}
		mounts := map[string]bool{}
		for _, m := range c.VolumeMounts {
			if !vols[m.Name] {
				add(prefix+"volumeMount %q has no volume", m.Name)
			}
			if mounts[m.MountPath] {
				add(prefix+"two mounts at %s", m.MountPath)
			}
			mounts[m.MountPath] = true
		}
	}
	return errs
}

// checkServices: every Service with a selector selects some rendered pod template, and a named
// targetPort exists on a container of those pods.
func checkServices(svcs []*corev1.Service, pods []podRef) []string {
	var errs []string
	for _, s := range svcs {
		if len(s.Spec.Selector) == 0 {
			continue
		}
		var matched []podRef
		for _, p := range pods {
			ok := true
			for k, v := range s.Spec.Selector {
				if p.labels[k] != v {
					ok = false
					break
				}
			}
			if ok {
				matched = append(matched, p)
			}
		}
		if len(matched) == 0 {
			errs = append(errs, fmt.Sprintf("service/%s: selector matches no rendered pod template", s.Name))
			continue
		}
		for _, sp := range s.Spec.Ports {
			if sp.TargetPort.StrVal == "" {
				continue
			}
			found := false
			for _, p := range matched {
				for _, c := range p.spec.Containers {
					for _, cp := range c.Ports {
						if cp.Name == sp.TargetPort.StrVal {
							found = true
						}
					}
				}
			}
			if !found {
				errs = append(errs, fmt.Sprintf("service/%s: targetPort %q is not a container port of %s", s.Name, sp.TargetPort.StrVal, matched[0].id))
			}
		}
	}
	return errs
}

// ---------------------------------------------------------------------------------------------

type scoreObject struct {
	ObjectName string `json:"object_name"`
	TypeMeta   struct {
		Kind string `json:"kind"`
	} `json:"type_meta"`
	ObjectMeta struct {
		Name string `json:"name"`
	} `json:"object_meta"`
	Checks []struct {
		Check struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"check"`
		Grade    int  `json:"grade"`
		Skipped  bool `json:"skipped"`
		Comments []struct {
			Path        string `json:"path"`
			Summary     string `json:"summary"`
			Description string `json:"description"`
		} `json:"comments"`
	} `json:"checks"`
}

type acceptance struct {
	set, check, glob, reason string
	line                     int
	used                     bool
}

func loadAccepted(file string) ([]*acceptance, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var out []*acceptance
	for i, l := range strings.Split(string(b), "\n") {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		rule, reason, _ := strings.Cut(t, "#")
		f := strings.Fields(rule)
		if len(f) != 3 {
			return nil, fmt.Errorf("%s:%d: want \"SET CHECK-ID OBJECT-GLOB # reason\"", file, i+1)
		}
		if strings.TrimSpace(reason) == "" {
			return nil, fmt.Errorf("%s:%d: an accepted finding needs a reason after #", file, i+1)
		}
		out = append(out, &acceptance{set: f[0], check: f[1], glob: f[2], reason: strings.TrimSpace(reason), line: i + 1})
	}
	return out, nil
}

func scoreGateCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("score-gate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	set := fs.String("set", "", "name of the values set (matches the first column of the accepted file)")
	acceptedFile := fs.String("accepted", "", "file of accepted findings")
	if err := fs.Parse(args); err != nil || *set == "" || *acceptedFile == "" {
		return 64
	}
	accepted, err := loadAccepted(*acceptedFile)
	if err != nil {
		fmt.Fprintln(stderr, "k8scheck:", err)
		return 2
	}
	var objs []scoreObject
	if err := json.NewDecoder(stdin).Decode(&objs); err != nil {
		fmt.Fprintln(stderr, "k8scheck: kube-score JSON:", err)
		return 2
	}
	if len(objs) == 0 {
		fmt.Fprintln(stderr, "k8scheck: kube-score scored no object")
		return 2
	}
	var lines []string
	unexplained, checks := 0, 0
	for _, o := range objs {
		for _, c := range o.Checks {
			checks++
			if c.Skipped || c.Grade >= 7 { // 10 all OK, 7 almost OK
				continue
			}
			level := "WARNING"
			if c.Grade <= 1 {
				level = "CRITICAL"
			}
			obj := strings.ToLower(o.TypeMeta.Kind) + "/" + o.ObjectMeta.Name
			var summary []string
			for _, cm := range c.Comments {
				summary = append(summary, strings.TrimSpace(cm.Path+" "+cm.Summary))
			}
			what := fmt.Sprintf("%s %s %s: %s", level, c.Check.ID, obj, strings.Join(summary, "; "))
			if a := match(accepted, *set, c.Check.ID, obj); a != nil {
				a.used = true
				lines = append(lines, "accepted   "+what+"\n           reason: "+a.reason)
				continue
			}
			if level == "CRITICAL" {
				unexplained++
				lines = append(lines, "UNEXPLAINED "+what)
			} else {
				lines = append(lines, "warning    "+what+" (not listed as accepted)")
			}
		}
	}
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Fprintln(stdout, l)
	}
	for _, a := range accepted {
		if !a.used && (a.set == *set) {
			fmt.Fprintf(stdout, "note: accepted line %d (%s %s %s) matched nothing in set %s: remove it when it is obsolete\n", a.line, a.set, a.check, a.glob, *set)
		}
	}
	fmt.Fprintf(stdout, "kube-score %s: %d objects, %d checks, %d unexplained critical finding(s)\n", *set, len(objs), checks, unexplained)
	if unexplained > 0 {
		return 1
	}
	return 0
}

func match(acc []*acceptance, set, check, obj string) *acceptance {
	for _, a := range acc {
		if a.set != "*" && a.set != set {
			continue
		}
		if a.check != check {
			continue
		}
		if ok, err := path.Match(a.glob, obj); err == nil && ok {
			return a
		}
	}
	return nil
}
