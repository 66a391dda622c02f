// Package policy checks a merged Compose model against regcase's production-readiness rules
// (docs/operations.md, "Production rules for deployment files"): every service runs as a
// numeric non-root user on a read-only root filesystem with all capabilities dropped and
// no-new-privileges, nothing is privileged or holds the Docker socket, only the edge proxy
// publishes ports and never a data service, long-running services have a healthcheck and a
// restart policy, logs rotate, CPU and memory are limited, images are immutable, and secrets
// arrive as files, not as plain environment.
package policy

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// Rule identifiers, printed with every finding.
const (
	RuleUser            = "user-nonroot"
	RuleReadOnly        = "read-only-rootfs"
	RuleCapDrop         = "cap-drop-all"
	RuleCapAdd          = "cap-add"
	RuleNoNewPrivileges = "no-new-privileges"
	RulePrivileged      = "privileged"
	RuleHostNamespace   = "host-namespace"
	RuleDockerSocket    = "docker-socket"
	RuleDataPort        = "data-port-published"
	RulePort            = "port-published"
	RuleHealthcheck     = "healthcheck"
	RuleRestart         = "restart-policy"
	RuleLogRotation     = "log-rotation"
	RuleResources       = "resource-limits"
	RuleImage           = "image-immutable"
	RuleSecretEnv       = "secret-in-env"
)

// Rules describes every rule, in the order they are checked.
var Rules = []struct{ ID, Text string }{
	{RuleUser, "user: set to a numeric, non-zero UID (\"UID:GID\"); a name or no user may mean root"},
	{RuleReadOnly, "read_only: true (writable paths as tmpfs or volumes)"},
	{RuleCapDrop, "cap_drop: [ALL]"},
	{RuleCapAdd, "no cap_add other than NET_BIND_SERVICE"},
	{RuleNoNewPrivileges, "security_opt: [no-new-privileges:true]"},
	{RulePrivileged, "privileged: false"},
	{RuleHostNamespace, "no network_mode/pid/ipc/userns_mode: host"},
	{RuleDockerSocket, "no bind mount of the Docker socket"},
	{RuleDataPort, "data services (postgres, redis, a data-store image, anything on a data network) publish no port"},
	{RulePort, "only the edge proxy publishes ports"},
	{RuleHealthcheck, "long-running services have an enabled healthcheck"},
	{RuleRestart, "long-running services restart (unless-stopped/always/on-failure); one-shot jobs do not restart forever"},
	{RuleLogRotation, "logging: json-file/local with max-size and max-file (or a shipping driver)"},
	{RuleResources, "memory and CPU limits (deploy.resources.limits or mem_limit/cpus)"},
	{RuleImage, "image pinned by digest or an immutable version tag; never untagged, :latest or a floating tag"},
	{RuleSecretEnv, "no secret-looking variable (…PASSWORD, …SECRET, …TOKEN, …KEY, URLs with credentials) in plain environment: use NAME_FILE and a secret"},
}

// Finding is one breach of one rule by one service.
type Finding struct {
	Service string
	Rule    string
	Message string
}

func (f Finding) String() string { return f.Service + ": " + f.Rule + ": " + f.Message }

// Options tune which services play which role.
type Options struct {
	// EdgeServices may publish ports (default: proxy).
	EdgeServices []string
	// DataNetworks mark every attached service as a data-plane service (default: data).
	DataNetworks []string
	// DataServices are data services whatever their networks (default: postgres, redis).
	DataServices []string
	// RequireDigest rejects version tags too: every image must be pinned by @sha256 digest.
	RequireDigest bool
	// OneShotLabel marks a one-shot job (besides being the target of a
	// service_completed_successfully dependency). Default: org.regcase.oneshot.
	OneShotLabel string
}

func (o Options) withDefaults() Options {
	if o.EdgeServices == nil {
		o.EdgeServices = []string{"proxy"}
	}
	if o.DataNetworks == nil {
		o.DataNetworks = []string{"data"}
	}
	if o.DataServices == nil {
		o.DataServices = []string{"postgres", "redis"}
	}
	if o.OneShotLabel == "" {
		o.OneShotLabel = "org.regcase.oneshot"
	}
	return o
}

// Load merges Compose files the way `docker compose -f … -f …` does, with every profile
// enabled so that optional services are checked too. env is the interpolation environment
// (nil: none besides the env files); envFiles are read like `--env-file`.
func Load(ctx context.Context, files, envFiles []string, env []string) (*types.Project, error) {
	opts := []cli.ProjectOptionsFn{
		cli.WithEnv(env),
		cli.WithEnvFiles(envFiles...),
		cli.WithDotEnv,
		cli.WithProfiles([]string{"*"}),
		cli.WithResolvedPaths(true),
	}
	if len(envFiles) == 0 {
		opts[1] = cli.WithDiscardEnvFile
	}
	po, err := cli.NewProjectOptions(files, opts...)
	if err != nil {
		return nil, err
	}
	return po.LoadProject(ctx)
}

// Check returns every finding, sorted by service then rule order.
func Check(p *types.Project, opts Options) []Finding {
	o := opts.withDefaults()
	oneShot := map[string]bool{}
	for _, s := range p.Services {
		for dep, d := range s.DependsOn {
			if d.Condition == types.ServiceConditionCompletedSuccessfully {
				oneShot[dep] = true
			}
		}
		if strings.EqualFold(s.Labels[o.OneShotLabel], "true") {
			oneShot[s.Name] = true
		}
	}
	names := make([]string, 0, len(p.Services))
	for n := range p.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []Finding
	for _, n := range names {
		out = append(out, checkService(p.Services[n], oneShot[n], o)...)
	}
	return out
}

var uidRE = regexp.MustCompile(`^([0-9]+)(:[0-9]+)?$`)

func checkService(s types.ServiceConfig, oneShot bool, o Options) []Finding {
	var f []Finding
	add := func(rule, format string, args ...any) {
		f = append(f, Finding{Service: s.Name, Rule: rule, Message: fmt.Sprintf(format, args...)})
	}

	// Identity and privileges.
	switch m := uidRE.FindStringSubmatch(s.User); {
	case s.User == "":
		add(RuleUser, "no user: the image default may be root; set user: \"UID:GID\" with a numeric non-zero UID")
	case m == nil:
		add(RuleUser, "user %q is not numeric UID[:GID]: names resolve inside the image and may be root", s.User)
	case strings.TrimLeft(m[1], "0") == "":
		add(RuleUser, "runs as root (uid 0)")
	}
	if !s.ReadOnly {
		add(RuleReadOnly, "root filesystem is writable: set read_only: true and mount tmpfs/volumes for writable paths")
	}
	if !containsFold(s.CapDrop, "ALL") {
		add(RuleCapDrop, "capabilities not dropped: set cap_drop: [ALL]")
	}
	for _, c := range s.CapAdd {
		if n := strings.TrimPrefix(strings.ToUpper(c), "CAP_"); n != "NET_BIND_SERVICE" {
			add(RuleCapAdd, "adds capability %s", n)
		}
	}
	if !noNewPrivileges(s.SecurityOpt) {
		add(RuleNoNewPrivileges, "security_opt lacks no-new-privileges:true")
	}
	if s.Privileged {
		add(RulePrivileged, "privileged: true gives the container the host")
	}
	for what, mode := range map[string]string{"network_mode": s.NetworkMode, "pid": s.Pid, "ipc": s.Ipc, "userns_mode": s.UserNSMode} {
		if mode == "host" {
			add(RuleHostNamespace, "%s: host shares the host's namespace", what)
		}
	}
	for _, v := range s.Volumes {
		if strings.Contains(v.Source, "docker.sock") || strings.HasSuffix(v.Target, "docker.sock") {
			add(RuleDockerSocket, "mounts the Docker socket (%s): control of the daemon is control of the host", v.Source)
		}
	}

	// Exposure.
	if len(s.Ports) > 0 {
		ports := make([]string, 0, len(s.Ports))
		for _, p := range s.Ports {
			ports = append(ports, portString(p))
		}
		switch {
		case isDataService(s, o):
			add(RuleDataPort, "data service publishes %s: reach it over the data network only", strings.Join(ports, ", "))
		case !slices.Contains(o.EdgeServices, s.Name):
			add(RulePort, "publishes %s: only %s may publish ports", strings.Join(ports, ", "), strings.Join(o.EdgeServices, "/"))
		}
	}

	// Lifecycle.
	restart := restartMode(s)
	if oneShot {
		if restart == "always" || restart == "unless-stopped" {
			add(RuleRestart, "one-shot job with restart %q would run again and again", restart)
		}
	} else {
		if s.HealthCheck == nil || s.HealthCheck.Disable || len(s.HealthCheck.Test) == 0 || s.HealthCheck.Test[0] == "NONE" {
			add(RuleHealthcheck, "long-running service without a healthcheck")
		}
		if restart == "" || restart == "no" || restart == "none" {
			add(RuleRestart, "long-running service without a restart policy (restart: unless-stopped)")
		}
	}

	// Logs.
	switch drv := loggingDriver(s); drv {
	case "json-file", "local":
		opts := map[string]string{}
		if s.Logging != nil {
			opts = s.Logging.Options
		}
		var missing []string
		for _, k := range []string{"max-size", "max-file"} {
			if opts[k] == "" {
				missing = append(missing, k)
			}
		}
		if len(missing) > 0 {
			add(RuleLogRotation, "%s logging without %s: logs grow until the disk is full", drv, strings.Join(missing, ", "))
		}
	case "none":
		add(RuleLogRotation, "logging driver none discards the logs")
	}

	// Resources.
	var mem, cpu bool
	mem = s.MemLimit > 0
	cpu = s.CPUS > 0
	if s.Deploy != nil && s.Deploy.Resources.Limits != nil {
		mem = mem || s.Deploy.Resources.Limits.MemoryBytes > 0
		cpu = cpu || s.Deploy.Resources.Limits.NanoCPUs > 0
	}
	switch {
	case !mem && !cpu:
		add(RuleResources, "no memory and no CPU limit")
	case !mem:
		add(RuleResources, "no memory limit")
	case !cpu:
		add(RuleResources, "no CPU limit")
	}

	// Image.
	if msg := imageProblem(s.Image, o.RequireDigest); msg != "" {
		add(RuleImage, "%s", msg)
	}

	// Secrets.
	keys := make([]string, 0, len(s.Environment))
	for k := range s.Environment {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := s.Environment[k]
		if v == nil || *v == "" {
			continue
		}
		if msg := secretEnvProblem(k, *v); msg != "" {
			add(RuleSecretEnv, "%s", msg)
		}
	}
	return f
}

func containsFold(list []string, want string) bool {
	for _, s := range list {
		if strings.EqualFold(strings.TrimSpace(s), want) {
			return true
		}
	}
	return false
}

func noNewPrivileges(opts []string) bool {
	for _, o := range opts {
		switch strings.ToLower(strings.ReplaceAll(strings.TrimSpace(o), "=", ":")) {
		case "no-new-privileges", "no-new-privileges:true":
			return true
		}
	}
	return false
}

// dataImages are images of data stores: a service running one is a data service whatever its
// name or networks.
var dataImages = []string{"postgres", "postgis", "mysql", "mariadb", "redis", "valkey", "keydb",
	"mongo", "memcached", "elasticsearch", "opensearch", "rabbitmq", "nats", "kafka", "etcd", "minio"}

func imageBase(image string) string {
	if i := strings.IndexByte(image, '@'); i >= 0 {
		image = image[:i]
	}
	if i := strings.LastIndexByte(image, ':'); i > strings.LastIndexByte(image, '/') {
		image = image[:i]
	}
	return image[strings.LastIndexByte(image, '/')+1:]
}

func isDataService(s types.ServiceConfig, o Options) bool {
	if slices.Contains(o.DataServices, s.Name) || slices.Contains(dataImages, imageBase(s.Image)) {
		return true
	}
	for n := range s.Networks {
		if slices.Contains(o.DataNetworks, n) {
			return true
		}
	}
	return false
}

func portString(p types.ServicePortConfig) string {
	s := fmt.Sprintf("%d", p.Target)
	if p.Published != "" {
		s = p.Published + ":" + s
		if p.HostIP != "" {
			s = p.HostIP + ":" + s
		}
	}
	return s
}

func restartMode(s types.ServiceConfig) string {
	r := strings.ToLower(s.Restart)
	if strings.HasPrefix(r, "on-failure") {
		r = "on-failure"
	}
	if s.Deploy != nil && s.Deploy.RestartPolicy != nil {
		switch s.Deploy.RestartPolicy.Condition {
		case "any":
			return "always"
		case "on-failure":
			return "on-failure"
		case "none":
			if r == "" {
				return "no"
			}
		}
	}
	return r
}

func loggingDriver(s types.ServiceConfig) string {
	if s.Logging == nil || s.Logging.Driver == "" {
		return "json-file" // the engine's default unless the daemon says otherwise
	}
	return s.Logging.Driver
}

var (
	digestRE     = regexp.MustCompile(`@sha256:[0-9a-f]{64}$`)
	versionTagRE = regexp.MustCompile(`^v?[0-9]+\.[0-9]+([.\-+_].*)?$`)
	shaTagRE     = regexp.MustCompile(`^(sha-)?[0-9a-f]{7,64}$`)
)

func imageProblem(image string, requireDigest bool) string {
	if image == "" {
		return "no image: production runs a released image, it does not build on the host"
	}
	if digestRE.MatchString(image) {
		return ""
	}
	if strings.Contains(image, "@") {
		return fmt.Sprintf("image %q has a malformed digest", image)
	}
	if requireDigest {
		return fmt.Sprintf("image %q is not pinned by digest (@sha256:…)", image)
	}
	name, tag := image, ""
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		name, tag = image[:i], image[i+1:]
	}
	switch {
	case tag == "":
		return fmt.Sprintf("image %q has no tag (means :latest): pin a digest or a version", name)
	case tag == "latest":
		return fmt.Sprintf("image %q uses :latest: pin a digest or a version", image)
	case versionTagRE.MatchString(tag), shaTagRE.MatchString(tag):
		return ""
	default:
		return fmt.Sprintf("image %q uses the floating tag %q: pin a digest or a full version (e.g. 16.10, 1.4.2)", image, tag)
	}
}

var secretNameRE = regexp.MustCompile(`(?i)(^|_)(PASSWORD|PASSWD|PASS|PWD|SECRET|TOKEN|KEY|APIKEY|CREDENTIALS?|PRIVATE_KEY)$`)

func secretEnvProblem(name, value string) string {
	up := strings.ToUpper(name)
	if strings.HasSuffix(up, "_FILE") || strings.HasSuffix(up, "_PATH") {
		return ""
	}
	if secretNameRE.MatchString(up) && !strings.HasSuffix(up, "PUBLIC_KEY") {
		return fmt.Sprintf("%s is passed as plain environment (visible in docker inspect and to every process): use %s_FILE with a secret", name, name)
	}
	if strings.Contains(value, "://") {
		if u, err := url.Parse(value); err == nil && u.User != nil {
			if pw, ok := u.User.Password(); ok && pw != "" {
				return fmt.Sprintf("%s carries credentials in plain environment: put the URL in a secret and use %s_FILE", name, name)
			}
		}
	}
	return ""
}
