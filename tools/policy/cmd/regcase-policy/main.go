// Command regcase-policy checks Compose models against regcase's production-readiness rules.
//
//	regcase-policy check -f compose.yml -f compose.prod.yml [--env-file FILE]... [--require-digest]
//	regcase-policy rules
//
// check merges the files like `docker compose -f … -f …` (with every profile enabled), prints one
// line per breach — "SERVICE: RULE: message" — and exits 1 when there is any, 0 when there is
// none, 2 when the model cannot be loaded (e.g. a required ${VAR:?} is unset), 64 on bad usage.
// Users can run it on their own overrides before deploying.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/regcase/regcase/tools/policy/policy"
)

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func usage(w io.Writer) {
	fmt.Fprintln(w, `usage:
  regcase-policy check -f FILE [-f FILE]... [--env-file FILE]... [--require-digest]
                       [--edge SERVICE]... [--data-network NAME]... [--data-service NAME]...
                       [--no-os-env]
  regcase-policy rules`)
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 64
	}
	switch args[0] {
	case "rules":
		for _, r := range policy.Rules {
			fmt.Fprintf(stdout, "%-20s %s\n", r.ID, r.Text)
		}
		return 0
	case "-h", "--help", "help":
		usage(stdout)
		return 0
	case "stack", "kube", "stack-rules", "kube-rules": // orchestrators.go
		return runOrchestrator(args, stdout, stderr)
	case "check":
	default:
		fmt.Fprintf(stderr, "unknown command %q\n", args[0])
		usage(stderr)
		return 64
	}
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var files, envFiles, edge, dataNets, dataSvcs list
	fs.Var(&files, "f", "compose file (repeatable, merged in order)")
	fs.Var(&files, "file", "compose file (repeatable)")
	fs.Var(&envFiles, "env-file", "env file for interpolation (repeatable)")
	fs.Var(&edge, "edge", "service allowed to publish ports (default proxy)")
	fs.Var(&dataNets, "data-network", "network whose services are data services (default data)")
	fs.Var(&dataSvcs, "data-service", "data service name (default postgres, redis)")
	requireDigest := fs.Bool("require-digest", false, "every image must be pinned by digest")
	noOSEnv := fs.Bool("no-os-env", false, "ignore the process environment for interpolation")
	if err := fs.Parse(args[1:]); err != nil {
		return 64
	}
	if len(files) == 0 || fs.NArg() > 0 {
		usage(stderr)
		return 64
	}
	var env []string
	if !*noOSEnv {
		env = os.Environ()
	}
	p, err := policy.Load(context.Background(), files, envFiles, env)
	if err != nil {
		fmt.Fprintf(stderr, "regcase-policy: cannot load %s: %v\n", strings.Join(files, " + "), err)
		return 2
	}
	opts := policy.Options{RequireDigest: *requireDigest}
	if len(edge) > 0 {
		opts.EdgeServices = edge
	}
	if len(dataNets) > 0 {
		opts.DataNetworks = dataNets
	}
	if len(dataSvcs) > 0 {
		opts.DataServices = dataSvcs
	}
	findings := policy.Check(p, opts)
	for _, f := range findings {
		fmt.Fprintln(stdout, f)
	}
	if len(findings) > 0 {
		fmt.Fprintf(stderr, "regcase-policy: %d finding(s) in %d service(s) of %s\n", len(findings), len(p.Services), strings.Join(files, " + "))
		return 1
	}
	fmt.Fprintf(stderr, "regcase-policy: %d service(s) of %s pass all %d rules\n", len(p.Services), strings.Join(files, " + "), len(policy.Rules))
	return 0
}
