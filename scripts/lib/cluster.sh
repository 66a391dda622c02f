# shellcheck shell=bash
# A multi-node Docker Swarm on ONE machine, for drills and rehearsals: every node is its own
# `dockerd` (own data root, exec root, socket, pidfile, containerd) inside its own network
# namespace, wired to a bridge this file creates. Sourced after lib/common.sh, never executed.
# Needs root, iproute2 and dockerd (scripts/install-platform-tools.sh cluster installs them).
#
#   cluster_up            create the bridge, the namespaces and the daemons; init + join the swarm
#   cluster_probe         can this machine run it (netns, veth, DOCKER-USER)? prints the refusal
#   cluster_down          remove everything cluster_up made (also after a failed cluster_up)
#   nd NODE CMD...        run `docker CMD...` against NODE's daemon (m1 m2 m3 w1 w2)
#   node_stop / node_start NODE    stop / start one node's daemon (node loss, quorum loss)
#   cluster_force_new NODE; cluster_rejoin_manager NODE VIA   quorum-loss recovery
#                         (`swarm init --force-new-cluster`, then the other managers re-join)
#
# Addresses: CLUSTER_PREFIX (default 10.213.7, i.e. 10.213.7.0/24, a private range nobody else on this machine
# uses; change it if yours does): .1 is the bridge on the host (the registry listens there),
# managers are .11-.13, workers .21-.22. Nothing listens outside this /24 and loopback.
# State lives under CLUSTER_ROOT (default /var/lib/regcase-cluster) and CLUSTER_RUN
# (/run/regcase-cluster); cluster_down removes both.

CLUSTER_PREFIX="${CLUSTER_PREFIX:-10.213.7}"
CLUSTER_BRIDGE="${CLUSTER_BRIDGE:-rcbr0}"
CLUSTER_ROOT="${CLUSTER_ROOT:-/var/lib/regcase-cluster}"
CLUSTER_RUN="${CLUSTER_RUN:-/run/regcase-cluster}"
CLUSTER_MANAGERS=(m1 m2 m3)
CLUSTER_WORKERS=(${CLUSTER_WORKERS_LIST:-w1 w2})
# The registry as the nodes see it (bridge address); the daemons trust it over plain HTTP
# (insecure-registries: these test daemons ONLY, never the host engine or production).
CLUSTER_REGISTRY="${CLUSTER_REGISTRY:-$CLUSTER_PREFIX.1:5000}"
# Storage driver of the node daemons: overlay2 when the kernel lets a daemon mount it on this
# file system, else vfs (always works, copies layers: slower, more disk).
CLUSTER_STORAGE="${CLUSTER_STORAGE:-}"

CLUSTER_FWD_RULE=(-i "$CLUSTER_BRIDGE" -o "$CLUSTER_BRIDGE" -m comment --comment regcase-cluster -j ACCEPT)

cluster_nodes() { printf '%s\n' "${CLUSTER_MANAGERS[@]}" "${CLUSTER_WORKERS[@]}"; }
node_ip() {
  case "$1" in
    m[1-9]) echo "$CLUSTER_PREFIX.1${1#m}" ;;
    w[1-9]) echo "$CLUSTER_PREFIX.2${1#w}" ;;
    *) die "unknown cluster node $1" 64 ;;
  esac
}
node_ns() { echo "rcnode-$1"; }
node_sock() { echo "$CLUSTER_RUN/$1/docker.sock"; }
nd() { local n="$1"; shift; DOCKER_HOST="unix://$(node_sock "$n")" docker "$@"; }
node_host() { echo "unix://$(node_sock "$1")"; }

# node_start NODE: starts NODE's dockerd in its namespace (idempotent); waits until it answers.
node_start() {
  local n="$1" run="$CLUSTER_RUN/$1" root="$CLUSTER_ROOT/$1" ns
  ns="$(node_ns "$n")"
  mkdir -p "$run" "$root"
  if [[ -f "$run/dockerd.pid" ]] && kill -0 "$(cat "$run/dockerd.pid")" 2>/dev/null; then return 0; fi
  # setsid: the daemon survives the calling script's process group (drills stop it explicitly)
  # nsenter (not `ip netns exec`, which remounts /sys and hides the cgroup mounts dockerd needs)
  setsid nsenter --net="/var/run/netns/$ns" dockerd \
    --config-file "$run/daemon.json" \
    >>"$root/dockerd.log" 2>&1 </dev/null &
  disown $! 2>/dev/null || true # its SIGKILL (node loss, teardown) is expected: no job report
  local i
  for i in $(seq 1 120); do
    nd "$n" version >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  tail -20 "$root/dockerd.log" >&2
  die "node $n: dockerd did not answer within 60 s (log above, $root/dockerd.log)"
}

# node_stop NODE [SIGNAL]: stops NODE's daemon (TERM: its containers are stopped with it; KILL:
# the host "dies") and waits until it is gone.
node_stop() {
  local n="$1" sig="${2:-TERM}" pidf="$CLUSTER_RUN/$1/dockerd.pid" pid i
  [[ -f "$pidf" ]] || return 0
  pid="$(cat "$pidf")"
  kill -0 "$pid" 2>/dev/null || { rm -f "$pidf"; return 0; }
  if [[ "$sig" == KILL ]]; then
    # a dead host: the daemon, its containerd and every container process die at once. The
    # shims re-parent to init, so the roots are the daemon AND every process in the node's
    # namespace (containerd, shims); the container processes are the shims' children (in their
    # own namespaces), found by walking the process tree down from those roots.
    # Repeated until nothing is left: a process can be forked (a healthcheck exec) between
    # listing and killing.
    local cpids roots sweep
    for sweep in $(seq 1 20); do
      roots="$pid $(ip netns pids "$(node_ns "$n")" 2>/dev/null | tr '\n' ' ')"
      cpids="$(ps -e -o pid=,ppid=,stat= | awk -v r="$roots" 'BEGIN{n=split(r,a," "); for(i=1;i<=n;i++) k[a[i]]=1}
        $3 !~ /^Z/ {pp[$1]=$2} END{do{c=0; for(x in pp) if(!(x in k) && (pp[x] in k)){k[x]=1;c=1}}while(c); for(x in k) if(x in pp) print x}')"
      [[ -n "$cpids" ]] || break
      # shellcheck disable=SC2086
      kill -KILL $cpids 2>/dev/null || true
      sleep 0.3
    done
  else
    kill -TERM "$pid" 2>/dev/null || true
  fi
  for i in $(seq 1 120); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pidf"
}

# cluster_probe: can this machine run the harness at all? Creates and removes one namespace
# with a veth pair; prints the exact refusal and fails when it cannot.
cluster_probe() {
  local c ns=rcprobe-$$ out
  for c in ip nsenter dockerd docker iptables; do command -v "$c" >/dev/null || { echo "$c is not installed"; return 1; }; done
  out="$(ip netns add "$ns" 2>&1)" || { echo "ip netns add: $out"; return 1; }
  if ! out="$(ip link add "rcp$$" type veth peer name eth0 netns "$ns" 2>&1)"; then
    ip netns del "$ns" 2>/dev/null; echo "veth into a namespace: $out"; return 1
  fi
  ip link del "rcp$$" 2>/dev/null || true
  ip netns del "$ns"
  iptables -S DOCKER-USER >/dev/null 2>&1 || { echo "no DOCKER-USER iptables chain (is the host engine running with iptables?)"; return 1; }
}

cluster_pick_storage() {
  [[ -n "$CLUSTER_STORAGE" ]] && return 0
  local d; d="$(mktemp -d "$CLUSTER_ROOT/.probe.XXXXXX")"
  mkdir -p "$d"/{l,u,w,m}
  if mount -t overlay overlay -o "lowerdir=$d/l,upperdir=$d/u,workdir=$d/w" "$d/m" 2>/dev/null; then
    umount "$d/m"; CLUSTER_STORAGE=overlay2
  else
    CLUSTER_STORAGE=vfs
  fi
  rm -rf "$d"
}

# cluster_up: bridge + namespaces + daemons + swarm (3 managers, the workers). Idempotent per part.
cluster_up() {
  need ip dockerd docker
  [[ $(id -u) -eq 0 ]] || die "the cluster harness needs root (network namespaces, dockerd)" 77
  mkdir -p "$CLUSTER_ROOT" "$CLUSTER_RUN"
  chmod 0700 "$CLUSTER_ROOT" "$CLUSTER_RUN"
  cluster_pick_storage
  if ! ip link show "$CLUSTER_BRIDGE" >/dev/null 2>&1; then
    ip link add "$CLUSTER_BRIDGE" type bridge
    ip addr add "$CLUSTER_PREFIX.1/24" dev "$CLUSTER_BRIDGE"
    ip link set "$CLUSTER_BRIDGE" up
  fi
  # The host engine's FORWARD policy is DROP and bridged frames pass iptables
  # (bridge-nf-call-iptables): let node-to-node traffic cross this bridge, nothing else.
  iptables -C DOCKER-USER "${CLUSTER_FWD_RULE[@]}" 2>/dev/null || iptables -I DOCKER-USER "${CLUSTER_FWD_RULE[@]}"
  local n ns ip
  for n in $(cluster_nodes); do
    ns="$(node_ns "$n")" ip="$(node_ip "$n")"
    if ! ip netns list | grep -qw "$ns"; then
      ip netns add "$ns"
      ip link add "rcv-$n" type veth peer name eth0 netns "$ns"
      ip link set "rcv-$n" master "$CLUSTER_BRIDGE" up
      ip -n "$ns" addr add "$ip/24" dev eth0
      ip -n "$ns" link set lo up
      ip -n "$ns" link set eth0 up
      ip -n "$ns" route add default via "$CLUSTER_PREFIX.1"
    fi
    mkdir -p "$CLUSTER_RUN/$n" "$CLUSTER_ROOT/$n/data"
    cat >"$CLUSTER_RUN/$n/daemon.json" <<JSON
{
  "data-root": "$CLUSTER_ROOT/$n/data",
  "exec-root": "$CLUSTER_RUN/$n/exec",
  "pidfile": "$CLUSTER_RUN/$n/dockerd.pid",
  "hosts": ["unix://$(node_sock "$n")"],
  "storage-driver": "$CLUSTER_STORAGE",
  "insecure-registries": ["$CLUSTER_REGISTRY"],
  "log-driver": "json-file",
  "log-opts": {"max-size": "5m", "max-file": "2"},
  "no-new-privileges": true,
  "bip": "172.31.250.1/24",
  "default-address-pools": [{"base": "172.30.0.0/16", "size": 24}],
  "mtu": 1400
}
JSON
  done
  for n in $(cluster_nodes); do node_start "$n"; done
  local st
  st="$(nd m1 info -f '{{.Swarm.LocalNodeState}}')"
  if [[ "$st" != active ]]; then
    nd m1 swarm init --advertise-addr "$(node_ip m1)" --listen-addr "$(node_ip m1):2377" \
      --default-addr-pool 10.214.0.0/16 >/dev/null
  fi
  local mt wt
  mt="$(nd m1 swarm join-token -q manager)" wt="$(nd m1 swarm join-token -q worker)"
  for n in "${CLUSTER_MANAGERS[@]:1}"; do
    [[ "$(nd "$n" info -f '{{.Swarm.LocalNodeState}}')" == active ]] \
      || nd "$n" swarm join --token "$mt" --advertise-addr "$(node_ip "$n")" --listen-addr "$(node_ip "$n"):2377" "$(node_ip m1):2377" >/dev/null
  done
  for n in "${CLUSTER_WORKERS[@]}"; do
    [[ "$(nd "$n" info -f '{{.Swarm.LocalNodeState}}')" == active ]] \
      || nd "$n" swarm join --token "$wt" --advertise-addr "$(node_ip "$n")" "$(node_ip m1):2377" >/dev/null
  done
  cluster_map_ids
}

# cluster_map_ids: records each node's swarm node ID (hostnames are all the machine's, so nodes
# are told apart by address; a node that left and joined again has a new ID: Ready ones win).
cluster_map_ids() {
  local id addr st n
  for id in $(nd m1 node ls -q); do
    read -r addr st < <(nd m1 node inspect -f '{{.Status.Addr}} {{.Status.State}}' "$id")
    for n in $(cluster_nodes); do
      if [[ "$addr" == "$(node_ip "$n")" ]] && [[ "$st" == ready || ! -s "$CLUSTER_RUN/$n/node-id" ]]; then
        printf '%s\n' "$id" >"$CLUSTER_RUN/$n/node-id"
      fi
    done
  done
}

# cluster_force_new NODE: the quorum-loss recovery: `docker swarm init --force-new-cluster` on
# manager NODE (it becomes the only manager and keeps services, secrets, configs and workers).
cluster_force_new() {
  nd "$1" swarm init --force-new-cluster --advertise-addr "$(node_ip "$1")" --listen-addr "$(node_ip "$1"):2377" >/dev/null
}

# cluster_rejoin_manager NODE VIA: after a forced new cluster, NODE (a former manager whose Raft
# state is stale) is removed from the swarm, leaves it locally and joins again as a manager
# through manager VIA.
cluster_rejoin_manager() {
  local n="$1" via="$2" old tok
  old="$(node_id "$n")"
  nd "$via" node demote "$old" >/dev/null 2>&1 || true
  nd "$via" node rm --force "$old" >/dev/null 2>&1 || true
  node_start "$n"
  nd "$n" swarm leave --force >/dev/null 2>&1 || true
  tok="$(nd "$via" swarm join-token -q manager)"
  # on a busy machine the join can answer "Timeout was reached before node joined" and go on
  # in the background: the caller waits for the manager to be Ready
  nd "$n" swarm join --token "$tok" --advertise-addr "$(node_ip "$n")" --listen-addr "$(node_ip "$n"):2377" "$(node_ip "$via"):2377" >/dev/null || true
  rm -f "$CLUSTER_RUN/$n/node-id"
  cluster_map_ids
}

# node_id NODE: the swarm node ID of NODE.
node_id() { cat "$CLUSTER_RUN/$1/node-id"; }

# cluster_down: everything cluster_up made goes: daemons (their containers with them), mounts
# under the data roots, namespaces (and with them their interfaces, docker_gwbridge, overlay
# and VXLAN devices), the veths, the bridge, the state directories.
cluster_down() {
  local n ns m
  for n in $(cluster_nodes); do node_stop "$n" KILL; done
  for n in $(cluster_nodes); do
    ns="$(node_ns "$n")"
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
  done
  # mounts the daemons left (overlay layers, shm, netns bind mounts of sandboxes), deepest first
  for m in $(awk -v a="$CLUSTER_ROOT" -v b="$CLUSTER_RUN" '$2 ~ "^"a || $2 ~ "^"b {print $2}' /proc/self/mounts | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
  for n in $(cluster_nodes); do
    ns="$(node_ns "$n")"
    ip netns del "$ns" 2>/dev/null || true
    ip link del "rcv-$n" 2>/dev/null || true
  done
  ip link del "$CLUSTER_BRIDGE" 2>/dev/null || true
  while iptables -D DOCKER-USER "${CLUSTER_FWD_RULE[@]}" 2>/dev/null; do :; done
  rm -rf "$CLUSTER_ROOT" "$CLUSTER_RUN"
}

# cluster_leftovers: prints whatever of the cluster still exists (empty = clean).
cluster_leftovers() {
  ip netns list 2>/dev/null | grep -o '^rcnode-[a-z0-9]*' || true
  ip -br link 2>/dev/null | awk '{print $1}' | grep -E "^($CLUSTER_BRIDGE|rcv-)" || true
  grep -E " ($CLUSTER_ROOT|$CLUSTER_RUN)" /proc/self/mounts | awk '{print $2}' || true
  [[ -e "$CLUSTER_ROOT" ]] && echo "$CLUSTER_ROOT"
  [[ -e "$CLUSTER_RUN" ]] && echo "$CLUSTER_RUN"
  pgrep -f "dockerd --config-file $CLUSTER_RUN/" || true
  iptables -S DOCKER-USER 2>/dev/null | grep -F regcase-cluster || true
  return 0
}
