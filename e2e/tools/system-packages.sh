#!/usr/bin/env bash
# The Debian packages the images and the real node of the e2e suite need (e2e/tools/images.sh,
# e2e/harness/real-node.ts), installed when they are missing. ./run test runs it as root; without
# root or apt-get it only says what is missing, and e2e/real-node.e2e.ts is then skipped with the
# reason (the rest of the suite needs none of them).
#
# Usage: e2e/tools/system-packages.sh [--check]   --check: list what is missing, install nothing
set -euo pipefail

# package:a file it installs (how "installed" is told without dpkg)
PACKAGES='buildah:/usr/bin/buildah debootstrap:/usr/sbin/debootstrap containerd:/usr/bin/containerd runc:/usr/sbin/runc containernetworking-plugins:/usr/lib/cni/bridge iptables:/usr/sbin/iptables'

missing=''
for entry in $PACKAGES; do
  [[ -e ${entry#*:} ]] || missing="$missing ${entry%%:*}"
done
if [[ -z $missing ]]; then
  exit 0
fi
if [[ ${1:-} == --check || $(id -u) != 0 ]] || ! hash apt-get 2>/dev/null; then
  printf 'system-packages: missing Debian packages%s (e2e/real-node.e2e.ts will be skipped)\n' "$missing" >&2
  exit 0
fi
printf 'system-packages: installing%s (for the images and the real node of the e2e suite)\n' "$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086 # package names
apt-get install -y -qq $missing >/dev/null
