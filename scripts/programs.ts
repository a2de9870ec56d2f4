/**
 * Every external program the tests, the benchmarks, the scripts and the README's commands start,
 * and where each one comes from. `./run test` passes on a machine with nothing installed by hand
 * beyond the short `base` list below: everything else is built by e2e/tools/build.sh, installed
 * by ./run, or is code of this repository.
 *
 * scripts/programs.test.ts keeps this true: it scans the code, the shell scripts and the README
 * for the programs they start (scripts/program-scan.ts) and fails on one that is not here, and it
 * checks each entry (a `build` binary is one build.sh builds, a `base` program is on PATH, a
 * `run` one is what ./run installs, a `project` one is a file of the repository).
 */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export type Origin =
  /** Built from its Go module by `e2e/tools/build.sh <component>` into ~/.cache/baton/tools. */
  | { readonly from: 'build'; readonly component: string }
  /** Installed by ./run: `pnpm install --frozen-lockfile` (devDependencies), or fetched by npx. */
  | { readonly from: 'run'; readonly package: string }
  /** The base system: the machine has it before ./run; `package`: Debian 12's package (Go: go.dev). */
  | { readonly from: 'base'; readonly package: string }
  /** A file of this repository. */
  | { readonly from: 'project'; readonly path: string }
  /**
   * Installed by hand (Debian `package`) for an on-demand proof that only `script` starts, never
   * ./run test: `pnpm run prove:host-privileges` needs ldd.
   */
  | { readonly from: 'proof'; readonly package: string; readonly script: string }
  /**
   * A Debian `package` that e2e/tools/system-packages.sh installs (./run test does, as root) for
   * the images (e2e/tools/images.sh) and the real node (e2e/harness/real-node.ts); without it,
   * only e2e/real-node.e2e.ts is skipped, with the reason.
   */
  | { readonly from: 'system'; readonly package: string };

export interface Program {
  readonly origin: Origin;
  /** Who starts it, in a few words. */
  readonly why: string;
  /** ./run checks it is on PATH before anything else (its `for tool in …` list). */
  readonly runNeeds?: true;
  /** Programs it starts in turn that no scan of this repository's text sees (a Go binary's own). */
  readonly starts?: readonly string[];
  /** Started by a dependency's code, not by the project's (so no scan finds it). */
  readonly startedBy?: string;
}

const coreutils = (why: string): Program => ({ origin: { from: 'base', package: 'coreutils' }, why });

export const PROGRAMS: Readonly<Record<string, Program>> = {
  // Built by e2e/tools/build.sh (pinned versions, one Go module per component).
  etcd: { origin: { from: 'build', component: 'etcd' }, why: 'the e2e control plane' },
  'kube-apiserver': { origin: { from: 'build', component: 'k8s' }, why: 'the e2e control plane' },
  'kube-controller-manager': { origin: { from: 'build', component: 'k8s' }, why: 'the e2e control plane' },
  'kube-scheduler': { origin: { from: 'build', component: 'k8s' }, why: 'the e2e control plane' },
  kubectl: {
    origin: { from: 'build', component: 'k8s' },
    why: 'README commands, the demo test, the drain and scale benchmarks',
    starts: ['kubectl-baton'],
  },
  kwok: { origin: { from: 'build', component: 'kwok' }, why: 'the fake nodes of the control plane' },
  kubelet: {
    origin: { from: 'build', component: 'kubelet' },
    why: "the real node's kubelet (e2e/harness/real-node)",
  },
  helm: { origin: { from: 'build', component: 'helm' }, why: 'the chart tests and the README install' },
  promtool: { origin: { from: 'build', component: 'prometheus' }, why: "checks the chart's alerts" },
  prometheus: {
    origin: { from: 'build', component: 'prometheus' },
    why: "an alert source of the controller's e2e",
  },
  kured: {
    origin: { from: 'build', component: 'kured' },
    why: "the benchmark's reference (bench/kured.ts), never ./run test",
    // Its sentinel check `/usr/bin/nsenter -m/proc/1/ns/mnt -- test -f …` and its reboot
    // command, a `#!/bin/sh` script bench/kured.ts writes.
    starts: ['nsenter', 'sh'],
  },

  // Installed by ./run.
  node: {
    origin: { from: 'run', package: 'node' },
    why: 'every script and test runs on the workspace’s Node 24 (node_modules/.bin/node, process.execPath)',
    // Any Node.js starts npm and npx before the workspace's own is installed.
    runNeeds: true,
  },
  pnpm: {
    origin: { from: 'run', package: 'pnpm' },
    why: '`npx --yes pnpm@<packageManager>` in ./run and the README',
  },
  biome: { origin: { from: 'run', package: '@biomejs/biome' }, why: '`pnpm run lint`' },
  tsc: { origin: { from: 'run', package: 'typescript' }, why: '`pnpm run typecheck`' },
  vitest: { origin: { from: 'run', package: 'vitest' }, why: '`pnpm run test:unit`, `test:e2e`' },
  esbuild: {
    origin: { from: 'run', package: 'esbuild' },
    why: 'the bundles (scripts/bundle.ts) and the kured forwarder’s JavaScript',
    startedBy: 'the esbuild package, which runs its own binary as a service',
  },

  // The project's own programs.
  run: { origin: { from: 'project', path: 'run' }, why: 'the README’s two commands; .ci/run; the demo test' },
  'kubectl-baton': {
    origin: { from: 'project', path: 'packages/cli/bin/kubectl-baton' },
    why: 'the kubectl plugin (and its bundle dist/kubectl-baton/kubectl-baton.mjs)',
  },

  // Installed by e2e/tools/system-packages.sh: the images and the real node.
  buildah: {
    origin: { from: 'system', package: 'buildah' },
    why: 'builds the images from the Dockerfiles (e2e/tools/images.sh); their root filesystems (e2e/harness/oci.ts)',
  },
  debootstrap: {
    origin: { from: 'system', package: 'debootstrap' },
    why: "the base image's Debian root filesystem",
  },
  containerd: { origin: { from: 'system', package: 'containerd' }, why: "the real node's container runtime" },
  ctr: {
    origin: { from: 'system', package: 'containerd' },
    why: "imports the images into the real node's containerd",
  },
  runc: {
    origin: { from: 'system', package: 'runc' },
    why: 'an image started on its own (e2e/harness/oci.ts); the host-privileges proof; containerd starts it too',
  },
  iptables: {
    origin: { from: 'system', package: 'iptables' },
    why: "the real node's rule sending the kubernetes Service's ClusterIP to its API forwarder",
  },

  // On-demand proofs only, installed by whoever runs them.
  ldd: {
    origin: { from: 'proof', package: 'libc-bin', script: 'scripts/host-privileges.ts' },
    why: "the libraries nsenter needs in the proof's root filesystem",
  },

  // The base system: what a machine has before ./run (Debian 12 package names).
  go: {
    // Go 1.25 or newer, from go.dev/dl (Debian 12's golang-go, 1.19, is too old).
    origin: { from: 'base', package: 'Go' },
    why: 'e2e/tools/build.sh builds the control plane with it',
    runNeeds: true,
  },
  npm: { origin: { from: 'base', package: 'npm' }, why: 'npx, which fetches pnpm', runNeeds: true },
  npx: { origin: { from: 'base', package: 'npm' }, why: 'fetches the pinned pnpm' },
  bash: {
    origin: { from: 'base', package: 'bash' },
    why: 'the scripts (./run, build.sh), the reaper, README commands',
  },
  sh: {
    origin: { from: 'base', package: 'dash' },
    why: 'kubectl-baton, the kured namespaces, reboot scripts',
  },
  openssl: {
    origin: { from: 'base', package: 'openssl' },
    why: "the control plane's certificates (e2e/harness/pki.ts)",
  },
  git: {
    origin: { from: 'base', package: 'git' },
    why: "the benchmark's report names the commit (optional)",
  },
  flock: {
    origin: { from: 'base', package: 'util-linux' },
    why: 'build.sh: one build per component at a time',
  },
  unshare: { origin: { from: 'base', package: 'util-linux' }, why: "each kured's namespaces (benchmark)" },
  nsenter: {
    origin: { from: 'base', package: 'util-linux' },
    why: 'kured’s host commands; the agent’s (tests)',
  },
  mount: { origin: { from: 'base', package: 'mount' }, why: "a private /run in each kured's namespace" },
  ip: {
    origin: { from: 'base', package: 'iproute2' },
    why: "the loopback of each kured's network namespace; the real node's network namespace",
    // `ip netns exec <ns> <command>` in the real node's machine.sh.
    starts: ['sysctl', 'iptables', 'unshare'],
  },
  sysctl: { origin: { from: 'base', package: 'procps' }, why: "the real node's network namespace forwards" },
  basename: coreutils('build.sh'),
  cat: coreutils('build.sh, the reaper'),
  cp: coreutils("the kured namespace's token and CA"),
  cut: coreutils('build.sh'),
  date: coreutils('build.sh'),
  dirname: coreutils('./run, .ci/run, build.sh, kubectl-baton'),
  env: coreutils('`#!/usr/bin/env` lines (the bundled kubectl-baton)'),
  mkdir: coreutils('build.sh, the kured namespace'),
  mv: coreutils('build.sh'),
  readlink: coreutils('kubectl-baton'),
  rm: coreutils("the fleet's reboot script"),
  sleep: coreutils('the reaper, reboot scripts, sentinel tests'),
  test: coreutils("kured's sentinel check"),
  touch: coreutils('README commands, reboot commands'),
  true: coreutils("the kured part's trial unshare"),
  whoami: coreutils('a README command'),
  head: coreutils("images.sh's content keys, the real node's init"),
  tail: coreutils('images.sh: the end of a failed debootstrap log'),
  id: coreutils('images.sh, system-packages.sh: root or not'),
  install: coreutils("images.sh: files into the base image's root filesystem"),
  ln: coreutils("images.sh: npm's and corepack's links in the base image"),
  mktemp: coreutils("images.sh: the base image's work directory"),
  seq: coreutils("the real node's init and machine: bounded waits"),
  sha256sum: coreutils("images.sh: the images' content keys"),
  sort: coreutils("images.sh: the build context's files in a fixed order"),
  sed: { origin: { from: 'base', package: 'sed' }, why: "images.sh: the Dockerfiles' Node version" },
  grep: { origin: { from: 'base', package: 'grep' }, why: "images.sh: the build context's files" },
  awk: {
    origin: { from: 'base', package: 'mawk' },
    why: "the real node's machine: this machine's cgroup mounts",
  },
  find: {
    origin: { from: 'base', package: 'findutils' },
    why: "the real node's machine: its cgroups removed",
  },
  pgrep: { origin: { from: 'base', package: 'procps' }, why: "the real node's machine: its init's pid" },
  tar: { origin: { from: 'base', package: 'tar' }, why: 'images.sh: npm and corepack into the base image' },
  'apt-get': {
    origin: { from: 'base', package: 'apt' },
    why: 'system-packages.sh installs the Debian packages of the images and the real node',
  },
};

/**
 * Non-literal expressions that start a program, by `<file>: <expression as written>`: what they
 * can be. [] means the expression is a parameter whose callers' arguments are scanned instead.
 * A launch the scanner cannot resolve and that is not here fails scripts/programs.test.ts.
 */
export const EXPRESSIONS: Readonly<Record<string, readonly string[]>> = {
  // startProcess(opts): every caller's `command` is scanned.
  'e2e/harness/processes.ts: opts.command': [],
  // launch(name, command, args): the callers' second argument is scanned (WRAPPERS).
  'e2e/harness/cluster.ts: command': [],
  // restartApiserver: the kube-apiserver recorded in control.json, started again.
  'e2e/harness/cluster.ts: c.command': ['kube-apiserver'],
  // README commands, scanned from README.md itself.
  'e2e/readme.e2e.ts: script': [],
  'e2e/demo.e2e.ts: script': [],
  // Inside each kured's namespaces: the forwarder on the workspace's Node, then kured.
  'bench/kured.ts: q(process.execPath)': ['node'],
  'bench/kured.ts: q(l.binary)': ['kured'],
  // The bundled plugin, dist/kubectl-baton/kubectl-baton.mjs.
  'scripts/bundle.test.ts: file': ['kubectl-baton'],
  // The agent runs its configured sentinel and reboot commands, through nsenter on a real node;
  // the tests configure touch and sh scripts (e2e/harness/fleet.ts), sh and sleep (sentinel.test.ts).
  'packages/agent/src/sentinel/sentinel.ts: file': ['nsenter', 'touch', 'sh', 'sleep'],
  // run(cmd, args) of the host-privileges proof: its callers' first argument is scanned (WRAPPERS).
  'scripts/host-privileges.ts: cmd': [],
  // after_kwok, a function of the script.
  'e2e/tools/build.sh: "after_$name"': [],
  // The real node's init starts its services through start(): the forwarder on the workspace's
  // Node, containerd and the kubelet.
  'e2e/harness/real-node/init.sh: "$@"': ['node', 'containerd', 'kubelet'],
  // The workspace's Node, asked for its version before it goes into the base image.
  'e2e/tools/images.sh: "$node_bin"': ['node'],
  // The workspace's Node 24 (or the PATH's).
  'packages/cli/bin/kubectl-baton: "$node"': ['node'],
};

/** Functions whose argument at this index is a program, by `<file>: <name>`. */
export const WRAPPERS: Readonly<Record<string, number>> = {
  'e2e/harness/cluster.ts: launch': 1,
  'scripts/host-privileges.ts: run': 0,
};

/** Whether `name` is an executable file in one of PATH's directories (nothing is started). */
export function onPath(name: string, path = process.env.PATH ?? ''): boolean {
  return path
    .split(delimiter)
    .filter((d) => d !== '')
    .some((d) => {
      try {
        accessSync(join(d, name), constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
}
