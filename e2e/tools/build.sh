#!/usr/bin/env bash
# Builds the real control-plane binaries from their Go modules, once per version.
#
# Each component has its own consumer module under e2e/tools/<component> (pinned go.mod + go.sum)
# so their dependency graphs never mix. Binaries land in $BATON_TOOLS_CACHE/<component>-<version>/
# (default ~/.cache/baton/tools), outside the git tree; a component whose stamp file exists is not
# rebuilt. Progress (which component, how long) is printed so a cold build is never a silent wait.
#
# Usage: e2e/tools/build.sh [component ...]   components: etcd k8s kwok helm prometheus kured kubelet
# (default: all but kured, which only the benchmark in bench/ needs, and kubelet, which the
# real-node test builds when the machine can run a real node)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${BATON_TOOLS_CACHE:-$HOME/.cache/baton/tools}
# Pinned versions. Changing one here changes the cache directory, so the new version is built.
K8S_VERSION=v1.35.4
ETCD_VERSION=v3.6.16
KWOK_VERSION=v0.8.0
HELM_VERSION=v3.22.0
# Prometheus 3.16.0 (Go module v0.316.0): promtool checks the chart's PrometheusRule, the server
# is the real alert source of the controller's e2e tests.
PROMETHEUS_VERSION=v0.316.0
# kured for the side-by-side benchmark and the migration tests, from its vendored source: the
# module proxy refuses kured 1.23.0 (its tags have no "v" prefix). The tarball is the repository at
# its release tag (../shared/vendor/README.md); BATON_KURED_SOURCE may name another copy of it.
KURED_VERSION=1.23.0
KURED_SOURCE=${BATON_KURED_SOURCE:-$here/../../../shared/vendor/kured-$KURED_VERSION.tar.gz}

export GOFLAGS="${GOFLAGS:-} -trimpath -mod=readonly"
export CGO_ENABLED=0

log() { printf '[tools %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# build <component> <version> <module dir> <ldflags> <out-name=pkg>...
build() {
  local name=$1 version=$2 dir=$3 ldflags=$4
  shift 4
  local out="$cache/$name-$version"
  # One build per component at a time: test files running in parallel may each ask for it.
  mkdir -p "$cache"
  local lock
  exec {lock}>"$cache/.$name-$version.lock"
  flock "$lock"
  if [[ -f "$out/.complete" ]]; then
    log "$name $version: cached in $out"
    return 0
  fi
  mkdir -p "$out"
  local start=$SECONDS
  local pair bin pkg
  for pair in "$@"; do
    bin=${pair%%=*}
    pkg=${pair#*=}
    log "$name $version: building $bin (from $pkg) ..."
    local t0=$SECONDS
    local moddir=$here/$dir
    [[ $dir == /* ]] && moddir=$dir
    (cd "$moddir" && go build -ldflags "$ldflags" -o "$out/$bin.tmp" "$pkg")
    mv "$out/$bin.tmp" "$out/$bin"
    log "$name $version: $bin built in $((SECONDS - t0)) s"
  done
  if declare -F "after_$name" >/dev/null; then "after_$name" "$out"; fi
  date -u +%FT%TZ >"$out/.complete"
  log "$name $version: done in $((SECONDS - start)) s"
}

k8s_ldflags() {
  local v=${K8S_VERSION#v} minor
  minor=$(cut -d. -f2 <<<"$v")
  local flags="-s -w"
  local p
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
    flags+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  printf '%s' "$flags"
}

# kwok >= 0.8 ships no built-in stages: copy the upstream ones the harness needs (node
# initialize + heartbeat with lease, fast pod lifecycle) next to the binary.
after_kwok() {
  local moddir f
  moddir=$(cd "$here/kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
  : >"$1/stages.yaml"
  for f in "$moddir"/kustomize/stage/node/fast/*.yaml "$moddir"/kustomize/stage/node/heartbeat-with-lease/*.yaml \
    "$moddir"/kustomize/stage/pod/fast/*.yaml; do
    [[ $(basename "$f") == kustomization.yaml ]] && continue
    { echo '---'; cat "$f"; } >>"$1/stages.yaml"
  done
}

# The vendored kured source, unpacked once into the cache; prints its directory.
kured_source() {
  local dir="$cache/.kured-src-$KURED_VERSION"
  if [[ ! -f $dir/.unpacked ]]; then
    if [[ ! -f $KURED_SOURCE ]]; then
      echo "kured $KURED_VERSION: no source at $KURED_SOURCE (set BATON_KURED_SOURCE to kured-$KURED_VERSION.tar.gz)" >&2
      return 1
    fi
    rm -rf "$dir"
    mkdir -p "$dir"
    tar -xzf "$KURED_SOURCE" -C "$dir"
    touch "$dir/.unpacked"
  fi
  printf '%s' "$dir/kured-$KURED_VERSION"
}

build_component() {
  case $1 in
    etcd) build etcd "$ETCD_VERSION" etcd "-s -w" etcd=go.etcd.io/etcd/server/v3 ;;
    k8s)
      build k8s "$K8S_VERSION" k8s "$(k8s_ldflags)" \
        kube-apiserver=k8s.io/kubernetes/cmd/kube-apiserver \
        kube-controller-manager=k8s.io/kubernetes/cmd/kube-controller-manager \
        kube-scheduler=k8s.io/kubernetes/cmd/kube-scheduler \
        kubectl=k8s.io/kubernetes/cmd/kubectl
      ;;
    kubelet)
      # Its own consumer module (the kubelet's packages need go.sum entries the control plane's do not).
      build kubelet "$K8S_VERSION" kubelet "$(k8s_ldflags)" kubelet=k8s.io/kubernetes/cmd/kubelet
      ;;
    kwok)
      build kwok "$KWOK_VERSION" kwok "-s -w" \
        kwok=sigs.k8s.io/kwok/cmd/kwok
      ;;
    helm)
      build helm "$HELM_VERSION" helm "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
        helm=helm.sh/helm/v3/cmd/helm
      ;;
    prometheus)
      # promtool only checks and tests rules; the server only evaluates a rule file the tests
      # write (static config, no scraping of discovered targets): without the service-discovery
      # plugins (cloud SDKs) the build is several times smaller. The web UI's assets are not
      # built in (no `builtinassets` tag); the HTTP API the controller asks does not need them.
      GOFLAGS="$GOFLAGS -tags=remove_all_sd" build prometheus "$PROMETHEUS_VERSION" prometheus "-s -w" \
        promtool=github.com/prometheus/prometheus/cmd/promtool \
        prometheus=github.com/prometheus/prometheus/cmd/prometheus
      ;;
    kured)
      local src
      src=$(kured_source) || return 1
      build kured "$KURED_VERSION" "$src" "-s -w -X main.version=$KURED_VERSION" kured=./cmd/kured
      ;;
    *) echo "unknown component: $1 (expected etcd, k8s, kwok, helm, prometheus, kured or kubelet)" >&2; return 2 ;;
  esac
}

# Prints the cache directory of each component (for the TypeScript harness).
if [[ ${1:-} == --print-paths ]]; then
  printf 'etcd=%s\nk8s=%s\nkwok=%s\nhelm=%s\nprometheus=%s\nkured=%s\nkubelet=%s\n' "$cache/etcd-$ETCD_VERSION" \
    "$cache/k8s-$K8S_VERSION" "$cache/kwok-$KWOK_VERSION" "$cache/helm-$HELM_VERSION" "$cache/prometheus-$PROMETHEUS_VERSION" \
    "$cache/kured-$KURED_VERSION" "$cache/kubelet-$K8S_VERSION"
  exit 0
fi

total=$SECONDS
for c in "${@:-etcd k8s kwok helm prometheus}"; do
  for one in $c; do build_component "$one"; done
done
log "all requested components ready in $((SECONDS - total)) s"
