#!/usr/bin/env bash
# Builds baton's two images from Dockerfile.controller and Dockerfile.agent as they are, with
# buildah (vfs storage, chroot isolation, no container engine), and the images the real-node test
# needs beside them. No image registry is reachable from these machines, so what a registry would
# give is made here:
#   - the Dockerfiles' base image, node:<version>-bookworm-slim: a Debian bookworm root filesystem
#     from debootstrap (Debian's own packages) with Node from the npm `node` package (the same
#     runtime the workspace runs on), npm and corepack from the npm registry, and the `node` user
#     (uid 1000) of the official image;
#   - registry.k8s.io/pause: a sandbox process written here (e2e/tools/pause, Go).
# Every image is keyed by the content of what it is made from: a key already in storage is not
# built again. Each image is also written as a docker-archive into the tools cache, which the
# real node's containerd imports.
#
# Usage: e2e/tools/images.sh            build (or find) every image
#        e2e/tools/images.sh --print    print name=reference and name-archive=path lines
# Needs root, buildah and debootstrap; prints what is missing otherwise (exit 3).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${BATON_TOOLS_CACHE:-$HOME/.cache/baton/tools}
images_dir=$cache/images
export STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot

NODE_VERSION=$(sed -n 's/^ARG NODE_IMAGE=node:\([0-9.]*\)-bookworm-slim$/\1/p' "$root/Dockerfile.controller")
BASE_IMAGE=docker.io/library/node:$NODE_VERSION-bookworm-slim
# The npm and corepack that Node's own release bundles (its CHANGELOG names them).
NPM_VERSION=11.19.0
COREPACK_VERSION=0.36.0
DEBIAN_SUITE=bookworm
DEBIAN_MIRROR=${BATON_DEBIAN_MIRROR:-http://deb.debian.org/debian}
PAUSE_IMAGE=registry.k8s.io/pause:3.10

log() { printf '[images %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# The content key of a list of files (paths relative to the repository), plus extra words.
content_key() {
  local extra=$1
  shift
  { printf '%s\n' "$extra"; (cd "$root" && sha256sum "$@"); } | sha256sum | cut -c1-16
}

# The files a Dockerfile's build context contributes: what git knows under the copied paths,
# without what .dockerignore leaves out (node_modules, dist).
context_files() {
  (cd "$root" && git ls-files -co --exclude-standard -- pnpm-lock.yaml pnpm-workspace.yaml package.json .npmrc \
    tsconfig.json scripts packages e2e/package.json bench/package.json sim/package.json |
    grep -v -e '/node_modules/' -e '^dist/' | sort)
}

have_image() { buildah images --quiet "$1" >/dev/null 2>&1; }

base_key() { content_key "$NODE_VERSION $NPM_VERSION $COREPACK_VERSION $DEBIAN_SUITE" e2e/tools/images.sh; }

build_base() {
  local key ref
  key=$(base_key)
  ref=$BASE_IMAGE
  if [[ $(buildah inspect --type image --format '{{index .ImageAnnotations "dev.baton.key"}}' "$ref" 2>/dev/null) == "$key" ]]; then
    log "base $ref: cached ($key)"
    return 0
  fi
  local t0=$SECONDS work
  work=$(mktemp -d "$cache/.base.XXXXXX")
  log "base $ref: debootstrap $DEBIAN_SUITE (minbase) ..."
  debootstrap --variant=minbase "$DEBIAN_SUITE" "$work/rootfs" "$DEBIAN_MIRROR" >"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log" >&2; return 1; }
  local fs=$work/rootfs
  # Slim, as the official -slim images are: no documentation, manuals, locales or package lists.
  rm -rf "$fs"/usr/share/doc/* "$fs"/usr/share/man/* "$fs"/usr/share/info/* "$fs"/var/cache/apt/* \
    "$fs"/var/lib/apt/lists/* "$fs"/var/log/* "$fs"/usr/share/locale/*
  log "base $ref: Node $NODE_VERSION, npm $NPM_VERSION, corepack $COREPACK_VERSION ..."
  local node_bin
  node_bin=$(cd "$root" && node_modules/.bin/node -p 'process.execPath')
  [[ $("$node_bin" --version) == "v$NODE_VERSION" ]] ||
    { log "the workspace's Node is not $NODE_VERSION (run pnpm install)"; return 1; }
  install -D -m 0755 "$node_bin" "$fs/usr/local/bin/node"
  local pkg
  for pkg in "npm@$NPM_VERSION" "corepack@$COREPACK_VERSION"; do
    (cd "$work" && npm pack --silent "$pkg" >/dev/null)
    mkdir -p "$fs/usr/local/lib/node_modules/${pkg%@*}"
    tar -xzf "$work/${pkg%@*}-${pkg#*@}.tgz" -C "$fs/usr/local/lib/node_modules/${pkg%@*}" --strip-components=1
  done
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$fs/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$fs/usr/local/bin/npx"
  ln -s ../lib/node_modules/corepack/dist/corepack.js "$fs/usr/local/bin/corepack"
  echo 'node:x:1000:1000::/home/node:/bin/bash' >>"$fs/etc/passwd"
  echo 'node:x:1000:' >>"$fs/etc/group"
  echo 'node:!:20000:0:99999:7:::' >>"$fs/etc/shadow"
  install -d -o 1000 -g 1000 "$fs/home/node"
  local c=baton-images-base mnt
  buildah rm "$c" >/dev/null 2>&1 || true # left by an interrupted run
  buildah from --quiet --name "$c" scratch >/dev/null
  mnt=$(buildah mount "$c")
  cp -a "$fs"/. "$mnt"/
  buildah umount "$c" >/dev/null
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env NODE_VERSION="$NODE_VERSION" --cmd node --annotation "dev.baton.key=$key" \
    --label "dev.baton.made-by=e2e/tools/images.sh" "$c"
  buildah commit --quiet --rm "$c" "$ref" >/dev/null
  rm -rf "$work"
  log "base $ref: made in $((SECONDS - t0)) s"
}

pause_ref() { printf '%s' "$PAUSE_IMAGE"; }

pause_key() { content_key pause e2e/tools/pause/main.go e2e/tools/pause/go.mod; }

build_pause() {
  local key ref
  key=$(pause_key)
  ref=$(pause_ref)
  if [[ $(buildah inspect --type image --format '{{index .ImageAnnotations "dev.baton.key"}}' "$ref" 2>/dev/null) == "$key" ]]; then
    log "pause $ref: cached ($key)"
    return 0
  fi
  local work c=baton-images-pause mnt
  work=$(mktemp -d "$cache/.pause.XXXXXX")
  (cd "$here/pause" && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$work/pause" .)
  buildah rm "$c" >/dev/null 2>&1 || true # left by an interrupted run
  buildah from --quiet --name "$c" scratch >/dev/null
  mnt=$(buildah mount "$c")
  install -D -m 0755 "$work/pause" "$mnt/pause"
  buildah umount "$c" >/dev/null
  buildah config --entrypoint '["/pause"]' --annotation "dev.baton.key=$key" "$c"
  buildah commit --quiet --rm "$c" "$ref" >/dev/null
  rm -rf "$work"
  log "pause $ref: made"
}

baton_key() {
  local mapfile_files
  mapfile -t mapfile_files < <(context_files)
  content_key "$(base_key) $1" "Dockerfile.$1" .dockerignore "${mapfile_files[@]}"
}

baton_ref() { printf 'localhost/baton-%s:%s' "$1" "$(baton_key "$1")"; }

build_baton() {
  local name=$1 ref
  ref=$(baton_ref "$name")
  if have_image "$ref"; then
    log "$name $ref: cached"
    return 0
  fi
  local t0=$SECONDS
  log "$name $ref: buildah bud -f Dockerfile.$name ..."
  # The build stage installs from the npm registry. Where this machine reaches it through a TLS
  # proxy of its own (a CA that the machine trusts and Node's bundled CAs do not), the RUN steps
  # get that CA and an npmrc naming it as mounts: nothing of it enters a layer that is shipped.
  local trust='' ca=${NODE_EXTRA_CA_CERTS:-}
  if [[ -n $ca && -f $ca ]]; then
    printf 'cafile=/root/.baton-build-ca.crt\n' >"$cache/.build-npmrc"
    trust="--volume=$ca:/root/.baton-build-ca.crt:ro --volume=$cache/.build-npmrc:/root/.npmrc:ro"
  fi
  # --layers: the two Dockerfiles share their build stage, which the second build takes as is.
  # shellcheck disable=SC2086 # two options, or none (paths without spaces)
  (cd "$root" && buildah bud --quiet --pull=never --layers --file "Dockerfile.$name" $trust \
    --build-arg "REVISION=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" --tag "$ref" . >/dev/null)
  log "$name $ref: built in $((SECONDS - t0)) s"
}

print() {
  local name ref
  for name in controller agent; do
    ref=$(baton_ref "$name")
    printf '%s=%s\n%s-archive=%s\n' "$name" "$ref" "$name" "$images_dir/baton-$name-${ref##*:}.tar"
  done
  printf 'base=%s\nbase-archive=%s\n' "$BASE_IMAGE" "$images_dir/node-$NODE_VERSION-bookworm-slim-$(base_key).tar"
  printf 'pause=%s\npause-archive=%s\n' "$(pause_ref)" "$images_dir/pause-$(pause_key).tar"
}

if [[ ${1:-} == --print ]]; then
  print
  exit 0
fi

missing=''
[[ $(id -u) == 0 ]] || missing="$missing root (buildah's vfs storage and chroot isolation run as root here),"
for path in /usr/bin/buildah /usr/sbin/debootstrap; do
  [[ -x $path ]] || missing="$missing $path (e2e/tools/system-packages.sh installs it),"
done
if [[ -n $missing ]]; then
  printf 'e2e/tools/images.sh: cannot build the images here; missing:%s\n' "${missing%,}" >&2
  exit 3
fi

mkdir -p "$images_dir"
exec {lock}>"$cache/.images.lock"
flock "$lock"
total=$SECONDS
build_base
build_pause
build_baton controller
build_baton agent
# Archives for the real node's containerd (named as --print names them).
archive_to() {
  local ref=$1 out=$2
  if [[ ! -f $out ]]; then
    buildah push --quiet "$ref" "docker-archive:$out.tmp:$ref" >/dev/null
    mv "$out.tmp" "$out"
  fi
}
while IFS='=' read -r k v; do
  case $k in
    *-archive) ;;
    *) ref=$v ;;
  esac
  [[ $k == *-archive ]] && archive_to "$ref" "$v"
done < <(print)
# Older builds of baton's images, their archives and untagged layers go: vfs storage keeps a full
# copy of every layer, and each change of the sources makes a new key.
current=$(print | grep -v -e '-archive=' | cut -d= -f2)
for ref in $(buildah images --format '{{.Name}}:{{.Tag}}' | grep -e '^localhost/baton-controller:' -e '^localhost/baton-agent:'); do
  grep -qxF "$ref" <<<"$current" || buildah rmi "$ref" >/dev/null 2>&1 || true
done
archives=$(print | grep -e '-archive=' | cut -d= -f2)
for f in "$images_dir"/*.tar; do
  [[ -e $f ]] || continue
  grep -qxF "$f" <<<"$archives" || rm -f "$f"
done
buildah rmi --prune >/dev/null 2>&1 || true
buildah images --format '{{.Name}}:{{.Tag}} {{.Size}}' | grep -e baton- -e "node:" -e pause >&2 || true
log "images ready in $((SECONDS - total)) s"
