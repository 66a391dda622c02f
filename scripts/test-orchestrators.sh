#!/usr/bin/env bash
# test-orchestrators.sh — check the Swarm stack and the Kubernetes chart; run the Swarm drills.
#
# Usage: scripts/test-orchestrators.sh [--no-engine] [--drill-args "ARGS"] [--no-cluster]
#                                       [--cluster-args "ARGS"]
#
#   --no-engine        only the offline checks (no Swarm drill even when an engine answers)
#   --drill-args ARGS  extra arguments for scripts/drill-swarm.sh (e.g. "--only rolling,kill")
#   --no-cluster       no multi-node drill (scripts/drill-cluster.sh), even when the engine can
#   --cluster-args A   arguments for scripts/drill-cluster.sh instead of the CI set
#                      (default "$CLUSTER_CI_ARGS"; e.g. "--only rolling,badimage,drain,nodeloss,registry,quorum,secret")
#
# Offline (always; needs Go, the docker CLI, network access to the Go module proxy the first time):
#   tools    Helm (pinned $HELM_VERSION) and kube-score (pinned $KUBE_SCORE_VERSION) built from
#            the Go module proxy into $REGCASE_TOOLS_CACHE (default ~/.cache/regcase-tools),
#            skipped when the pinned binary exists (delete the directory to rebuild);
#            tools/k8scheck (go vet, go test, build) and regcase-policy / regcase-e2e (tools/policy)
#            built into bin/.
#   helm     `helm lint --strict` and `helm template` of deploy/helm/regcase for every values set of
#            deploy/k8s-values (dev, prod), rendered into dist/k8s/<set>.yaml; the chart must
#            refuse a :latest tag, a missing audit public key and a secret-looking config key.
#   schema   every rendered object decoded strictly into its k8s.io/api type, plus reference
#            checks (tools/k8scheck validate): no downloaded schema needed.
#   score    kube-score on every rendered set; each CRITICAL finding must be listed with its
#            reason in deploy/k8s-values/kube-score-accepted.txt (tools/k8scheck score-gate).
#   policy   regcase-policy kube on every rendered set; regcase-policy stack on stack.yml.
#   stack    `docker stack config -c stack.yml` (no daemon needed) with the example environment,
#            and its refusal without the required variables; scripts/deploy-stack.sh --check-only.
#   scripts  the Swarm scripts parse, run in strict mode and answer --help.
# Engine (only when `docker info` answers; otherwise "SKIP drills: <reason>"):
#   scripts/drill-swarm.sh (bounded; its own checks are added to the totals).
#   scripts/drill-cluster.sh (3 managers + 2 workers, one dockerd per network namespace, images
#   through a local registry; bounded by --max-seconds): its checks are added to the totals; it
#   prints "SKIP cluster drill: <reason>" only when the machine cannot run it (its exit 2: no
#   root, no engine, a tool that cannot be built); every other failure fails this script.
# Last line: "N passed, N failed". Exit 1 when anything failed.
set -Eeuo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=lib/checks.sh
source "$REPO_ROOT/scripts/lib/checks.sh"

HELM_VERSION="${HELM_VERSION:-v3.22.0}"
KUBE_SCORE_VERSION="${KUBE_SCORE_VERSION:-v1.20.0}"
KUBE_VERSION="${KUBE_VERSION:-1.33.0}" # the cluster version the chart is rendered for

use_engine=1 drill_args="" use_cluster=1 cluster_args=""
CLUSTER_CI_ARGS="--only drain,nodeloss,registry,quorum --max-seconds 720"
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) print_help "$0"; exit 0 ;;
    --no-engine) use_engine=0 ;;
    --drill-args) drill_args="${2:?}"; shift ;;
    --no-cluster) use_cluster=0 ;;
    --cluster-args) cluster_args="${2:?}"; shift ;;
    *) die "unknown argument: $1 (see --help)" 64 ;;
  esac
  shift
done
cd "$REPO_ROOT"
need go docker

T0=$SECONDS
WORK="$(mktemp -d /tmp/regcase-orch.XXXXXX)"
trap 'in_main_shell && rm -rf "$WORK"' EXIT
RENDER="$REPO_ROOT/dist/k8s"
mkdir -p "$RENDER" "$REPO_ROOT/bin"
# --- tools ----------------------------------------------------------------------------------------
echo "== tools (pinned, cached in $TOOLS_CACHE)"
HELM="$TOOLS_CACHE/helm/$HELM_VERSION/helm"
KUBE_SCORE="$TOOLS_CACHE/kube-score/$KUBE_SCORE_VERSION/kube-score"
K8SCHECK="$REPO_ROOT/bin/k8scheck"
POLICY="$REPO_ROOT/bin/regcase-policy"
go_install() { # BIN_PATH MODULE@VERSION: `go install` outside any module, into BIN_PATH's directory
  local bin="$1" mod="$2"
  if [[ -x "$bin" ]]; then echo "present: $bin"; return 0; fi
  mkdir -p "$(dirname "$bin")"
  (cd "$(dirname "$bin")" && GOFLAGS= GOBIN="$(dirname "$bin")" go install "$mod")
  [[ -x "$bin" ]]
}
check --timeout 900 "Helm $HELM_VERSION (go install helm.sh/helm/v3/cmd/helm, cached)" \
  go_install "$HELM" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" || true
check --timeout 600 "kube-score $KUBE_SCORE_VERSION (go install, cached)" \
  go_install "$KUBE_SCORE" "github.com/zegl/kube-score/cmd/kube-score@$KUBE_SCORE_VERSION" || true
# One build configuration for test, vet and build, so that k8s.io/api is compiled once (cold: ~2 min).
check --timeout 900 "tools/k8scheck: go test, go vet, build (k8s.io/api strict decoding)" \
  bash -c "cd tools/k8scheck && export CGO_ENABLED=0 && go test -count=1 ./... && go vet ./... && go build -o '$K8SCHECK' ." || true
check --timeout 600 "tools/policy: build regcase-policy and regcase-e2e (static)" \
  bash -c "cd tools/policy && CGO_ENABLED=0 go build -trimpath -o '$POLICY' ./cmd/regcase-policy && CGO_ENABLED=0 go build -trimpath -o '$REPO_ROOT/bin/regcase-e2e' ./cmd/regcase-e2e" || true

# --- Kubernetes chart -------------------------------------------------------------------------------
echo "== Kubernetes: chart deploy/helm/regcase (rendered for Kubernetes $KUBE_VERSION)"
CHART=deploy/helm/regcase
SETS=()
for f in deploy/k8s-values/*.yaml; do SETS+=("$(basename "$f" .yaml)"); done
for set in "${SETS[@]}"; do
  vals="deploy/k8s-values/$set.yaml"
  check "helm lint --strict -f $vals" "$HELM" lint "$CHART" --strict --kube-version "$KUBE_VERSION" -f "$vals" || true
  render() { "$HELM" template regcase "$CHART" --namespace regcase --kube-version "$KUBE_VERSION" -f "$1" >"$2" && [[ -s "$2" ]] && grep -c '^kind:' "$2"; }
  check "helm template -f $vals > dist/k8s/$set.yaml" render "$vals" "$RENDER/$set.yaml" || true
  [[ -s "$RENDER/$set.yaml" ]] || continue
  check "strict k8s.io/api decoding + reference checks of dist/k8s/$set.yaml (k8scheck validate)" \
    "$K8SCHECK" validate -f "$RENDER/$set.yaml" || true
  score() { "$KUBE_SCORE" score --output-format json "$RENDER/$1.yaml" >"$RENDER/$1.kube-score.json" || true
            "$K8SCHECK" score-gate --set "$1" --accepted deploy/k8s-values/kube-score-accepted.txt \
              <"$RENDER/$1.kube-score.json" | tee "$RENDER/$1.kube-score.txt"; }
  if check "kube-score on dist/k8s/$set.yaml: no unexplained critical finding" score "$set"; then
    tail -1 "$RENDER/$set.kube-score.txt" | sed 's/^/     /'
  fi
  check "regcase-policy kube -f dist/k8s/$set.yaml (production rules for manifests)" "$POLICY" kube -f "$RENDER/$set.yaml" || true
done
expect_refusal() { # WANT ARGS…: helm template must fail with WANT in its output
  local want="$1" out; shift
  if out="$("$HELM" template r "$CHART" --kube-version "$KUBE_VERSION" "$@" 2>&1)"; then echo "rendered, but should have refused"; return 1; fi
  grep -q -- "$want" <<<"$out" || { echo "$out"; return 1; }
}
check "the chart refuses image.tag=latest (values schema)" expect_refusal image/tag -f deploy/k8s-values/prod.yaml --set image.digest= --set image.tag=latest || true
check "the chart refuses to render without config.REGCASE_AUDIT_PUBLIC_KEY" expect_refusal REGCASE_AUDIT_PUBLIC_KEY || true
check "the chart refuses a secret in config (schema: DATABASE_URL)" expect_refusal DATABASE_URL -f deploy/k8s-values/prod.yaml --set config.DATABASE_URL=postgres://u:p@h/d || true
no_secret_objects() { ! grep -h -A3 '^kind: Secret' "$RENDER"/*.yaml | grep -q .; }
check "no Secret object in any rendered set (references only)" no_secret_objects || true
hook_ok() {
  local f="$RENDER/prod.yaml"
  awk '/^kind: Job/{j=1} j && /helm.sh\/hook: pre-install,pre-upgrade/{h=1} j && /backoffLimit:/{b=1} j && /activeDeadlineSeconds:/{a=1} END{exit !(h && b && a)}' "$f"
}
check "migration Job: pre-install/pre-upgrade hook, backoffLimit, activeDeadlineSeconds" hook_ok || true
ingress_paths() { # the Ingress routes the api, console, docs and public pages, never /metrics or /health
  local set f paths rc=0
  for set in "${SETS[@]}"; do
    f="$RENDER/$set.yaml"
    paths="$(awk '/^kind: /{ing=($2=="Ingress")} ing && /- path: /{print $3}' "$f" | tr '\n' ' ')"
    echo "$set: $paths"
    [[ -n "$paths" ]] || { echo "$set: no Ingress paths"; rc=1; continue; }
    grep -qw -- '/v1' <<<"$paths" && grep -qw -- '/console' <<<"$paths" || { echo "$set: /v1 or /console not routed"; rc=1; }
    if grep -qE '(^| )/(metrics|health)' <<<"$paths"; then echo "$set: /metrics or /health routed"; rc=1; fi
    # "/" may only be an exact match (the landing page): as a Prefix it would route /metrics.
    if awk '/^kind: /{ing=($2=="Ingress")} ing && /- path: \/$/{getline; if ($2 != "Exact") bad=1} END{exit !bad}' "$f"; then echo "$set: / is a Prefix"; rc=1; fi
  done
  return $rc
}
check "Ingress routes only the public pages, console, API and docs (never /metrics, /health)" ingress_paths || true

# --- Swarm stack --------------------------------------------------------------------------------------
echo "== Swarm: stack.yml"
STACK_VARS=(REGCASE_MIGRATE_IMAGE=registry.example.org/regcase/regcase:1.0.0 NGINX_CONF_VERSION=000000000000
            REDIS_CONF_VERSION=000000000000 POSTGRES_INITDB_VERSION=000000000000)
stack_env() { # the example environment + what deploy-stack.sh computes, nothing from this shell
  env -i PATH="$PATH" HOME="$HOME" ${DOCKER_CONFIG:+DOCKER_CONFIG="$DOCKER_CONFIG"} \
    $(grep -E '^[A-Z_][A-Z0-9_]*=' deploy/swarm/stack.env.example) "${STACK_VARS[@]}" "$@"
}
stack_config() { stack_env docker stack config -c stack.yml >"$WORK/stack.resolved.yml" && grep -c 'image:' "$WORK/stack.resolved.yml"; }
check "docker stack config -c stack.yml (example environment)" stack_config || true
stack_refuses() {
  local out
  if out="$(env -i PATH="$PATH" HOME="$HOME" docker stack config -c stack.yml 2>&1)"; then echo "loaded without variables"; return 1; fi
  grep -q 'is required' <<<"$out" || { echo "$out"; return 1; }
}
check "stack.yml refuses to load without its required variables" stack_refuses || true
stack_shape() { # the shape ADR 0002 gives the stack, read from the resolved file
  local f="$WORK/stack.resolved.yml"
  [[ -s "$f" ]] || stack_env docker stack config -c stack.yml >"$f"
  grep -q 'mode: replicated-job' "$f" || { echo "no one-shot migrate job"; return 1; }
  [[ "$(grep -c 'failure_action: rollback' "$f")" -ge 3 ]] || { echo "api/worker/proxy must roll back on failure"; return 1; }
  [[ "$(grep -c 'order: start-first' "$f")" -ge 4 ]] || { echo "start-first updates and rollbacks"; return 1; }
  grep -q 'attachable: true' "$f" && { echo "an attachable network"; return 1; }
  # 13 required secrets + the two of the optional features (SMTP password, S3 secret key)
  [[ "$(grep -c 'external: true' "$f")" -eq 15 ]] || { echo "15 external secrets expected"; return 1; }
  grep -q 'name: regcase_nginx_conf_000000000000' "$f" || { echo "configs are not content-versioned"; return 1; }
  echo "stack shape ok"
}
check "stack.yml: migrate job, rollback on failure, start-first, no attachable network, external secrets, versioned configs" stack_shape || true
check "regcase-policy stack -c stack.yml (production rules for a stack)" stack_env "$POLICY" stack -c stack.yml || true
check_only() { stack_env REGCASE_STATE_DIR="$WORK/state" REGCASE_POLICY="$POLICY" scripts/deploy-stack.sh --env-file deploy/swarm/stack.env.example --stack orchestrators-check --check-only && ls "$WORK"/state/stack/orchestrators-check/deployments/*/stack.resolved.yml; }
check "scripts/deploy-stack.sh --check-only: resolve, policy, record (no engine)" check_only || true
scripts_ok() {
  local rc=0
  scripts_sane deploy-stack rollback-stack rotate-stack drill-swarm test-orchestrators \
    drill-cluster registry-local promote-image || rc=1
  bash -n scripts/lib/swarm.sh || rc=1
  bash -n scripts/lib/cluster.sh || rc=1
  return $rc
}
check "Swarm scripts parse, run in strict mode and answer --help" scripts_ok || true
OFFLINE_S=$((SECONDS - T0))
echo "offline checks took ${OFFLINE_S}s"

# --- engine: the Swarm drills ----------------------------------------------------------------------
reason=""
if [[ $use_engine -eq 0 ]]; then reason="--no-engine given"
elif ! docker info >/dev/null 2>&1; then reason="docker info failed: $(docker info 2>&1 | grep -i -m1 'error\|cannot' || echo 'no engine')"
fi
if [[ -n "$reason" ]]; then
  echo "SKIP drills: $reason"
else
  echo "== Swarm drills (scripts/drill-swarm.sh, bounded)"
  t=$SECONDS
  rc=0
  # shellcheck disable=SC2086
  timeout --kill-after=30 1800 scripts/drill-swarm.sh $drill_args 2>&1 | tee "$WORK/drill.log" || rc=$?
  add_summary drill-swarm "$WORK/drill.log" "$rc"
  echo "drills took $((SECONDS - t))s"
fi

# --- engine: the multi-node drill (scripts/drill-cluster.sh) ----------------------------------------
if [[ -n "$reason" || $use_cluster -eq 0 ]]; then
  echo "SKIP cluster drill: ${reason:---no-cluster given}"
else
  echo "== multi-node Swarm drills (scripts/drill-cluster.sh ${cluster_args:-$CLUSTER_CI_ARGS})"
  t=$SECONDS
  rc=0
  # shellcheck disable=SC2086
  timeout --kill-after=60 1500 scripts/drill-cluster.sh ${cluster_args:-$CLUSTER_CI_ARGS} 2>&1 | tee "$WORK/cluster.log" || rc=$?
  if [[ $rc -eq 2 ]]; then
    echo "SKIP cluster drill: $(grep -v '^ *$' "$WORK/cluster.log" | tail -1)"
  else
    add_summary drill-cluster "$WORK/cluster.log" "$rc"
  fi
  echo "cluster drill took $((SECONDS - t))s"
fi

echo
[[ $FAIL -eq 0 ]] || echo "failed: ${FAILED_NAMES[*]}"
echo "orchestrator checks took $((SECONDS - T0))s (offline ${OFFLINE_S}s)"
checks_summary
[[ $FAIL -eq 0 ]]
