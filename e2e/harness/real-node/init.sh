#!/usr/bin/env bash
# PID 1 of a real node's boot (machine.sh starts it in the node's own PID, mount and network
# namespaces). It boots the node: a fresh /run, a new boot ID bound over the kernel's, the node's
# private directories, the API server's forwarder, containerd and the kubelet. Then it waits:
#   SIGUSR1  reboot: stop the kubelet and containerd, kill every process of the node, exit 0;
#   SIGTERM  power off: the same, exit 143.
# Its own log is <node dir>/log/init.log, the components' logs are beside it.
set -uo pipefail

node_dir=$1
# shellcheck source=/dev/null
source "$node_dir/node.env" # NODE_NAME NODE_IP API_SOCKET API_PORT_IN_NODE KUBELET KUBELET_LABELS NODE_BIN TCP_TO_UNIX
log() { printf '[init %s] %s\n' "$(date +%H:%M:%S.%3N)" "$*" >>"$node_dir/log/init.log"; }

if [[ $$ != 1 ]]; then
  echo "init.sh must be PID 1 of the node's own PID namespace (it is $$)" >&2
  exit 2
fi
mkdir -p "$node_dir/log"

# A boot: /run is a new tmpfs (Debian's /var/run is a link to it, so the reboot sentinel is gone),
# the boot ID is new, and what the node keeps across boots lives in <node dir>.
mount -t tmpfs -o mode=0755 tmpfs /run || exit 2
mkdir -p /run/node
cat /proc/sys/kernel/random/uuid >/run/node/boot_id
mount --bind -o ro /run/node/boot_id /proc/sys/kernel/random/boot_id || exit 2
# The cgroup hierarchies, as this machine mounts them (machine.sh lists them).
mount -t tmpfs -o mode=0755 cgroup /sys/fs/cgroup || exit 2
while read -r fstype target options; do
  mkdir -p "$target" && mount -t "$fstype" -o "$options" cgroup "$target" || exit 2
done <"$node_dir/cgroup-mounts"
# /var/log is the node's own (the kubelet writes /var/log/pods and /var/log/containers).
mount --bind "$node_dir/varlog" /var/log || exit 2
log "boot $(cat /proc/sys/kernel/random/boot_id)"

children=''
start() {
  local name=$1
  shift
  "$@" >>"$node_dir/log/$name.log" 2>&1 &
  children="$children $!"
  log "started $name (pid $!)"
}

stopping=''
shutdown() {
  [[ -n $stopping ]] && return
  stopping=$1
  log "shutdown ($1)"
  # As a reboot does: the services first, with a grace, then whatever is left.
  # shellcheck disable=SC2086 # a list of pids
  kill -TERM $children 2>/dev/null
  for _ in $(seq 1 50); do
    # shellcheck disable=SC2086
    kill -0 $children 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL -1 2>/dev/null
  while wait -n 2>/dev/null; do :; done
  log "every process stopped"
}
trap 'shutdown reboot' USR1
trap 'shutdown poweroff' TERM

# The API server, reached through the machine's Unix socket (nothing else routes out).
start forwarder "$NODE_BIN" "$TCP_TO_UNIX" 0.0.0.0 "$API_PORT_IN_NODE" "$API_SOCKET" /run/node/forwarder.ready
start containerd containerd --config "$node_dir/containerd.toml"
for _ in $(seq 1 100); do
  [[ -S /run/containerd/containerd.sock ]] && break
  sleep 0.1
done
# Images: imported once into the node's containerd (its content store outlives the boots).
for archive in "$node_dir"/images/*.tar; do
  [[ -e $archive ]] || continue
  marker="$node_dir/containerd-imported/$(basename "$archive")"
  [[ -f $marker ]] && continue
  if ctr --address /run/containerd/containerd.sock --namespace k8s.io images import \
    "$archive" >>"$node_dir/log/images.log" 2>&1; then
    mkdir -p "$(dirname "$marker")" && touch "$marker"
  else
    log "import of $archive failed (see images.log)"
  fi
done
start kubelet "$KUBELET" --config="$node_dir/kubelet.yaml" --kubeconfig="$node_dir/kubelet.kubeconfig" \
  --hostname-override="$NODE_NAME" --node-ip="$NODE_IP" --root-dir="$node_dir/kubelet" \
  --container-runtime-endpoint=unix:///run/containerd/containerd.sock --v=1 \
  ${KUBELET_LABELS:+--node-labels="$KUBELET_LABELS"}

# PID 1 reaps every orphan; `wait` returns early when a trapped signal arrives.
while [[ -z $stopping ]]; do
  wait -n 2>/dev/null || sleep 0.2
done
log "exit ($stopping)"
[[ $stopping == reboot ]] && exit 0
exit 143
