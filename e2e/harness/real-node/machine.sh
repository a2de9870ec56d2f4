#!/usr/bin/env bash
# The "machine" of a real node (e2e/harness/real-node.ts): it powers the node on, and on again each
# time the node reboots, until the harness stops it. Each boot gets what a real boot gets:
#   - a network namespace of its own, made new (no pod network survives a reboot): loopback, a
#     veth interface with the node's address, and the `kubernetes` Service's ClusterIP sent to the
#     node's forwarder of the API server (what kube-proxy would do);
#   - a PID namespace whose PID 1 is the node's init (init.sh), never this machine's;
#   - a mount namespace with its own /proc and a fresh /run (init.sh), so a new boot ID.
# init.sh exits 0 when the node reboots (the reboot command signals it) and anything else when it
# fails; this script starts the next boot after a 0 and stops after anything else.
#
# Usage: machine.sh <node dir>   (the harness writes <node dir>/node.env first)
set -euo pipefail

node_dir=$1
# shellcheck source=/dev/null
source "$node_dir/node.env" # NODE_NAME NETNS NODE_IP SERVICE_IP API_PORT_IN_NODE CGROUP_PARENT
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

log() { printf '[machine %s %s] %s\n' "$NODE_NAME" "$(date +%H:%M:%S.%3N)" "$*"; }

network() {
  ip netns delete "$NETNS" 2>/dev/null || true
  ip netns add "$NETNS"
  ip -n "$NETNS" link set lo up
  # The node's "NIC": one end of a veth pair whose other end leads nowhere (this kernel has no
  # dummy interfaces). Its address is the node's; nothing outside the namespace routes to it.
  ip -n "$NETNS" link add node0 type veth peer name node0-wire
  ip -n "$NETNS" addr add "$NODE_IP/32" dev node0
  ip -n "$NETNS" link set node0-wire up
  ip -n "$NETNS" link set node0 up
  ip -n "$NETNS" route add default dev node0
  ip netns exec "$NETNS" sysctl -q -w net.ipv4.ip_forward=1
  local chain
  for chain in PREROUTING OUTPUT; do
    ip netns exec "$NETNS" iptables -t nat -A "$chain" -d "$SERVICE_IP/32" -p tcp --dport 443 \
      -j DNAT --to-destination "$NODE_IP:$API_PORT_IN_NODE"
  done
}

# The kubelet's cgroups (cgroupfs driver, under its cgroupRoot): a power cycle leaves them empty,
# and a real boot starts without them.
cgroups() {
  local c
  for c in /sys/fs/cgroup/*/; do
    case $1 in
      clean)
        mkdir -p "$c$CGROUP_PARENT"
        find "$c$CGROUP_PARENT" -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null || true
        ;;
      remove) find "$c$CGROUP_PARENT" -depth -type d -exec rmdir {} + 2>/dev/null || true ;;
    esac
  done
}

# A power-off (SIGTERM from the harness) goes to the node's init, which stops the node; this
# script then waits for it and stops too.
init_pid=''
powering_off=''
trap 'powering_off=1; [[ -n $init_pid ]] && kill -TERM "$init_pid" 2>/dev/null' TERM

# This machine's cgroup mounts, which the node mounts again: `ip netns exec` gives the node a
# sysfs of its own network namespace, on which /sys/fs/cgroup is empty.
awk '{ for (i = 7; $i != "-"; i++); if ($(i + 1) ~ /^cgroup2?$/) print $(i + 1), $5, $(i + 3) }' /proc/self/mountinfo \
  >"$node_dir/cgroup-mounts"

boots=0
while [[ -z $powering_off ]]; do
  boots=$((boots + 1))
  network
  cgroups clean
  log "boot $boots"
  ip netns exec "$NETNS" unshare --pid --mount --fork --mount-proc --propagation private \
    bash "$here/init.sh" "$node_dir" &
  unshare_pid=$!
  # The node's init as this machine sees it: the one child of unshare (PID 1 in its namespace).
  for _ in $(seq 1 100); do
    init_pid=$(pgrep -P "$unshare_pid" | head -1 || true)
    [[ -n $init_pid ]] && break
    sleep 0.05
  done
  echo "$init_pid" >"$node_dir/init.pid"
  [[ -n $powering_off && -n $init_pid ]] && kill -TERM "$init_pid" 2>/dev/null
  status=0
  wait "$unshare_pid" || status=$?
  # `wait` returns early when SIGTERM arrives (the trap runs): wait again until unshare is gone.
  while kill -0 "$unshare_pid" 2>/dev/null; do
    status=0
    wait "$unshare_pid" || status=$?
  done
  init_pid=''
  rm -f "$node_dir/init.pid"
  if [[ -n $powering_off || $status != 0 ]]; then
    log "the node stopped (init exited $status)"
    break
  fi
  log "reboot: power cycle"
  sleep 1
done
ip netns delete "$NETNS" 2>/dev/null || true
cgroups remove
[[ -n $powering_off ]] && exit 0
exit "$status"
