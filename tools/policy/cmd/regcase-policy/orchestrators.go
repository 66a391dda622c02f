package main

// The orchestrator checks (Swarm stacks, Kubernetes manifests), registered in main.go's command switch:
//
//	regcase-policy stack -c stack.yml [--env-file FILE]... [--no-os-env] [--require-digest]
//	regcase-policy kube [-f rendered.yaml]...   (stdin when no -f; e.g. helm template … | regcase-policy kube)
//	regcase-policy stack-rules | kube-rules
//
// Exit codes as for check: 0 clean, 1 findings, 2 cannot load, 64 usage.

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/regcase/regcase/tools/policy/policy"
)

func runOrchestrator(args []string, stdout, stderr io.Writer) int {
	switch args[0] {
	case "stack-rules":
		for _, r := range policy.Rules {
			if r.ID != policy.RuleNoNewPrivileges {
				fmt.Fprintf(stdout, "%-22s %s\n", r.ID, r.Text)
			}
		}
		for _, r := range policy.StackRules {
			fmt.Fprintf(stdout, "%-22s %s\n", r.ID, r.Text)
		}
		return 0
	case "kube-rules":
		for _, r := range policy.KubeRules {
			fmt.Fprintf(stdout, "%-22s %s\n", r.ID, r.Text)
		}
		fmt.Fprintf(stdout, "%-22s %s\n%-22s %s\n", policy.RuleImage, "image pinned by digest or an immutable version tag",
			policy.RuleSecretEnv, "no secret-looking variable with a literal value: secretKeyRef / mounted files")
		return 0
	case "stack":
		return runStack(args[1:], stdout, stderr)
	case "kube":
		return runKube(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "unknown command %q\n", args[0])
	return 64
}

func orchestratorUsage(w io.Writer) {
	fmt.Fprintln(w, `usage:
  regcase-policy stack -c stack.yml [--env-file FILE]... [--no-os-env] [--require-digest]
  regcase-policy kube [-f rendered.yaml]... [--require-digest]     (stdin without -f)
  regcase-policy stack-rules | kube-rules`)
}

func runStack(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("stack", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var files, envFiles list
	fs.Var(&files, "c", "stack file (repeatable, merged in order)")
	fs.Var(&files, "compose-file", "stack file (repeatable)")
	fs.Var(&envFiles, "env-file", "env file for interpolation (repeatable)")
	requireDigest := fs.Bool("require-digest", false, "every image must be pinned by digest")
	noOSEnv := fs.Bool("no-os-env", false, "ignore the process environment for interpolation")
	if err := fs.Parse(args); err != nil || len(files) == 0 || fs.NArg() > 0 {
		orchestratorUsage(stderr)
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
	findings := policy.CheckStack(p, policy.Options{RequireDigest: *requireDigest})
	for _, f := range findings {
		fmt.Fprintln(stdout, f)
	}
	n := len(policy.Rules) - 1 + len(policy.StackRules)
	if len(findings) > 0 {
		fmt.Fprintf(stderr, "regcase-policy: %d finding(s) in stack %s\n", len(findings), strings.Join(files, " + "))
		return 1
	}
	fmt.Fprintf(stderr, "regcase-policy: %d service(s) of stack %s pass all %d rules\n", len(p.Services), strings.Join(files, " + "), n)
	return 0
}

func runKube(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("kube", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var files list
	fs.Var(&files, "f", "rendered manifests (repeatable; default stdin)")
	requireDigest := fs.Bool("require-digest", false, "every image must be pinned by digest")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		orchestratorUsage(stderr)
		return 64
	}
	var inputs []string
	var data [][]byte
	if len(files) == 0 {
		b, err := io.ReadAll(os.Stdin)
		if err != nil {
			fmt.Fprintf(stderr, "regcase-policy: reading stdin: %v\n", err)
			return 2
		}
		inputs, data = []string{"stdin"}, [][]byte{b}
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintf(stderr, "regcase-policy: %v\n", err)
			return 2
		}
		inputs, data = append(inputs, f), append(data, b)
	}
	total, objects := 0, 0
	for i, b := range data {
		findings, n, err := policy.CheckKubeBytes(b, policy.Options{RequireDigest: *requireDigest})
		if err != nil {
			fmt.Fprintf(stderr, "regcase-policy: cannot load %s: %v\n", inputs[i], err)
			return 2
		}
		if n == 0 {
			fmt.Fprintf(stderr, "regcase-policy: %s holds no Kubernetes object\n", inputs[i])
			return 2
		}
		objects += n
		total += len(findings)
		for _, f := range findings {
			fmt.Fprintln(stdout, f)
		}
	}
	if total > 0 {
		fmt.Fprintf(stderr, "regcase-policy: %d finding(s) in %d object(s) of %s\n", total, objects, strings.Join(inputs, ", "))
		return 1
	}
	fmt.Fprintf(stderr, "regcase-policy: %d object(s) of %s pass all %d rules\n", objects, strings.Join(inputs, ", "), len(policy.KubeRules)+2)
	return 0
}
