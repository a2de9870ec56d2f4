/**
 * The real kured, one process per fake node, on the same control plane as baton, with the same
 * simulated reboot as the e2e fleet (NotReady, process killed, sentinel cleared, the reboot's
 * duration, new bootID, Ready, process started again).
 *
 * kured only reads in-cluster configuration, always runs its reboot command through
 * `nsenter -m/proc/1/ns/mnt`, and serves metrics on :8080 unless told otherwise. So each kured runs in
 * namespaces of its own (`unshare -m -p -n -f --mount-proc`):
 * - PID: its PID 1 is kured itself, so nsenter enters kured's own mount namespace, never the
 *   host's. The reboot command is a script that only touches a marker file; kured's default
 *   (`systemctl reboot`) and its signal method are never used.
 * - mount: a private tmpfs on /run holds the ServiceAccount token and CA kured reads from
 *   /var/run/secrets/kubernetes.io/serviceaccount; nothing is written to the host's /run.
 * - network: its own loopback, so fifty :8080 do not collide; the project's own forwarder
 *   (bench/tcp-to-unix.ts, on the workspace's Node) forwards 127.0.0.1:<api port> inside to a
 *   Unix socket that this process forwards to the API server.
 *
 * What it needs of the machine: root (namespaces) and the base-system programs of
 * KURED_PROGRAMS (scripts/programs.ts lists where each comes from). When one is missing the
 * part is skipped with one line saying why (kuredSkipReason), not failed.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer, type Server } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  AppsV1Api,
  CoreV1Api,
  type KubeConfig,
  RbacAuthorizationV1Api,
  type V1DaemonSet,
} from '@kubernetes/client-node';
import type { Cluster } from '../e2e/harness/cluster.ts';
import { mintServiceAccountToken, setBootId, setNodeReady } from '../e2e/harness/kube.ts';
import { type ManagedProcess, startProcess, startReaper } from '../e2e/harness/processes.ts';
import { onPath } from '../scripts/programs.ts';
import { splice } from './tcp-to-unix.ts';

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const buildScript = join(here, '..', 'e2e', 'tools', 'build.sh');

/** kured's lock: an annotation on the kube-system/kured DaemonSet naming the holder. */
export const KURED_LOCK_ANNOTATION = 'weave.works/kured-node-lock';

/** Builds kured (once; cached like the control plane) and returns its binary and version. */
export async function ensureKured(): Promise<{ binary: string; version: string }> {
  await run('bash', [buildScript, 'kured'], { maxBuffer: 1 << 24 });
  const { stdout } = await run('bash', [buildScript, '--print-paths']);
  const dir = /^kured=(.*)$/m.exec(stdout)?.[1];
  if (!dir) throw new Error('build.sh --print-paths named no kured directory');
  return { binary: join(dir, 'kured'), version: dir.slice(dir.lastIndexOf('-') + 1) };
}

/**
 * The programs the kured part starts on this machine, besides kured and Node: `unshare` makes
 * the namespaces (a trial first, running `true`), the shell inside runs `ip`, `mount`, `mkdir`,
 * `cp` and `sleep`, kured itself runs `/usr/bin/nsenter` (around its reboot command; kured 1.23.0
 * checks a sentinel file itself) and the reboot script runs `touch`. All are base-system programs (scripts/programs.ts): util-linux,
 * mount, iproute2, coreutils, a POSIX sh.
 */
export const KURED_PROGRAMS = [
  'sh',
  'unshare',
  'nsenter',
  'ip',
  'mount',
  'mkdir',
  'cp',
  'sleep',
  'touch',
  'true',
];
/** kured 1.23.0 runs its reboot command through this path, not through PATH. */
export const KURED_NSENTER = '/usr/bin/nsenter';

/** What the kured part found on this machine (kuredPrerequisites). */
export interface KuredPrerequisites {
  /** The effective user id (namespaces need root). */
  readonly uid: number;
  /** Programs of KURED_PROGRAMS not on PATH (and KURED_NSENTER when that path is absent). */
  readonly missing: readonly string[];
  /** How a trial `unshare` of the same namespaces failed, if it did (a container without CAP_SYS_ADMIN). */
  readonly unshareError?: string | undefined;
}

/**
 * Why the kured part cannot run here, in one line, or undefined when it can. Pure: the decision
 * of what the machine offers, unit-tested; bench/run.ts prints it and skips the part by name.
 */
export function kuredSkipReason(p: KuredPrerequisites): string | undefined {
  const why: string[] = [];
  if (p.uid !== 0) why.push(`needs root for its PID, mount and network namespaces (running as uid ${p.uid})`);
  if (p.missing.length > 0) {
    why.push(
      `needs ${p.missing.join(', ')} (base system: util-linux, iproute2, coreutils; see scripts/programs.ts)`,
    );
  }
  if (why.length === 0 && p.unshareError !== undefined) {
    why.push(`cannot make namespaces here: ${p.unshareError.split('\n')[0]?.trim()}`);
  }
  return why.length > 0 ? why.join('; ') : undefined;
}

/** Looks at this machine: the user, the programs, and (as root, all found) a trial unshare. */
export async function kuredPrerequisites(): Promise<KuredPrerequisites> {
  const uid = process.geteuid?.() ?? -1;
  const missing = KURED_PROGRAMS.filter((p) => !onPath(p));
  if (!missing.includes('nsenter') && !existsSync(KURED_NSENTER)) missing.push(KURED_NSENTER);
  let unshareError: string | undefined;
  if (uid === 0 && missing.length === 0) {
    try {
      await run('unshare', [...KURED_UNSHARE, 'true']);
    } catch (err) {
      const e = err as Error & { stderr?: string };
      unshareError = e.stderr?.trim() || e.message;
    }
  }
  return { uid, missing, unshareError };
}

/**
 * bench/tcp-to-unix.ts as plain JavaScript in `dir`, for the forwarder inside each namespace:
 * Node runs .js without loading its TypeScript stripper, about 20 MiB less per forwarder.
 */
export async function writeForwarder(dir: string): Promise<string> {
  const { transform } = await import('esbuild');
  const source = await readFile(join(here, 'tcp-to-unix.ts'), 'utf8');
  const { code } = await transform(source, { loader: 'ts', format: 'esm', target: 'node24' });
  const out = join(dir, 'tcp-to-unix.mjs');
  await writeFile(out, code);
  return out;
}

/** The holder named by kured's lock annotation, if any. */
export function kuredLockHolder(ds: V1DaemonSet | undefined): string | undefined {
  const raw = ds?.metadata?.annotations?.[KURED_LOCK_ANNOTATION];
  if (!raw) return undefined;
  try {
    return (JSON.parse(raw) as { nodeID?: string }).nodeID || undefined;
  } catch {
    return undefined;
  }
}

/**
 * kured's objects as its manifests describe them: the ServiceAccount, the rules of kured-rbac
 * (nodes get/patch; pods list/get/delete; pods/eviction create; daemonsets get; update on the
 * kured DaemonSet) and the DaemonSet its lock lives on, whose selector matches no node.
 */
export async function installKured(kc: KubeConfig): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const ns = 'kube-system';
  await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'kured' } } });
  await rbac.createClusterRole({
    body: {
      metadata: { name: 'kured' },
      rules: [
        { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'patch'] },
        { apiGroups: [''], resources: ['pods'], verbs: ['list', 'delete', 'get'] },
        { apiGroups: ['apps'], resources: ['daemonsets'], verbs: ['get'] },
        { apiGroups: [''], resources: ['pods/eviction'], verbs: ['create'] },
      ],
    },
  });
  await rbac.createClusterRoleBinding({
    body: {
      metadata: { name: 'kured' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'kured' },
      subjects: [{ kind: 'ServiceAccount', name: 'kured', namespace: ns }],
    },
  });
  await rbac.createNamespacedRole({
    namespace: ns,
    body: {
      metadata: { name: 'kured' },
      rules: [
        { apiGroups: ['apps'], resources: ['daemonsets'], resourceNames: ['kured'], verbs: ['update'] },
      ],
    },
  });
  await rbac.createNamespacedRoleBinding({
    namespace: ns,
    body: {
      metadata: { name: 'kured' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'kured' },
      subjects: [{ kind: 'ServiceAccount', name: 'kured', namespace: ns }],
    },
  });
  await apps.createNamespacedDaemonSet({
    namespace: ns,
    body: {
      metadata: { name: 'kured' },
      spec: {
        selector: { matchLabels: { name: 'kured' } },
        template: {
          metadata: { labels: { name: 'kured' } },
          spec: {
            serviceAccountName: 'kured',
            // The processes run outside pods; the DaemonSet exists for its lock only.
            nodeSelector: { 'baton.dev/bench-no-node': 'true' },
            containers: [{ name: 'kured', image: 'registry.invalid/kured:bench' }],
          },
        },
      },
    },
  });
}

/** One kured process: what startKuredProcess needs. */
export interface KuredLaunch {
  /** The node it plays (KURED_NODE_ID). */
  readonly node: string;
  readonly binary: string;
  /** kured's own flags. */
  readonly flags: readonly string[];
  /** The API server's port: the forwarder inside listens on 127.0.0.1 at the same port. */
  readonly apiPort: number;
  /** The Unix socket outside that reaches the API server. */
  readonly socket: string;
  /** The forwarder's script (writeForwarder). */
  readonly forwarder: string;
  /** The ServiceAccount token and CA, copied to where in-cluster configuration reads them. */
  readonly token: string;
  readonly caCert: string;
  readonly logPath: string;
}

/** Quotes a word for sh. */
const q = (word: string): string => `'${word.replaceAll("'", `'\\''`)}'`;

/** unshare's options: new PID (kured is PID 1), mount and network namespaces, /proc of its own. */
export const KURED_UNSHARE = ['-m', '-p', '-n', '-f', '--mount-proc', '--kill-child=SIGKILL'];

/** The script `sh -c` runs inside the namespaces before it execs kured (see the top of this file). */
function kuredScript(l: KuredLaunch): string {
  const sa = '/run/secrets/kubernetes.io/serviceaccount';
  return [
    'set -e',
    'ip link set lo up',
    // Private propagation (unshare's default): this tmpfs is seen by this kured only.
    'mount -t tmpfs -o size=1m tmpfs /run',
    `mkdir -p ${sa}`,
    `cp ${q(l.token)} ${sa}/token`,
    `cp ${q(l.caCert)} ${sa}/ca.crt`,
    // The forwarder to the API server (bench/tcp-to-unix.ts) in this network namespace; it
    // writes its ready file (on this namespace's own /run) once it listens.
    `${q(process.execPath)} ${q(l.forwarder)} 127.0.0.1 ${l.apiPort} ${q(l.socket)} /run/forwarder.ready &`,
    'forwarder=$!',
    'i=0',
    'while [ ! -e /run/forwarder.ready ]; do',
    "  kill -0 $forwarder 2>/dev/null || { echo 'kured bench: the API forwarder exited' >&2; exit 1; }",
    "  i=$((i + 1)); [ $i -le 600 ] || { echo 'kured bench: the API forwarder did not listen in 60 s' >&2; exit 1; }",
    '  sleep 0.1',
    'done',
    `exec ${q(l.binary)} ${l.flags.map(q).join(' ')}`,
  ].join('\n');
}

/** Starts one kured in namespaces of its own, its API server reachable through the forwarder. */
export function startKuredProcess(l: KuredLaunch): ManagedProcess {
  const inside = kuredScript(l);
  return startProcess({
    name: `kured-${l.node}`,
    command: 'unshare',
    // kured must be PID 1 of its namespace for nsenter -m/proc/1 to stay inside; `sh` execs it.
    args: [...KURED_UNSHARE, 'sh', '-c', inside],
    env: {
      PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      KURED_NODE_ID: l.node,
      KUBERNETES_SERVICE_HOST: '127.0.0.1',
      KUBERNETES_SERVICE_PORT: String(l.apiPort),
    },
    logPath: l.logPath,
  });
}

export interface KuredFleetOptions {
  readonly kc: KubeConfig;
  readonly cluster: Cluster;
  readonly binary: string;
  readonly dir: string;
  /** kured's --period. */
  readonly period: string;
  /** Simulated reboot duration (NotReady → Ready). */
  readonly rebootMs: number;
}

export class KuredNode {
  readonly name: string;
  readonly dir: string;
  readonly sentinel: string;
  readonly marker: string;
  proc: ManagedProcess | undefined;
  reboots = 0;
  /** Exits of kured not caused by a simulated reboot. */
  restarts = 0;
  constructor(name: string, dir: string) {
    this.name = name;
    this.dir = dir;
    this.sentinel = join(dir, 'reboot-required');
    this.marker = join(dir, 'rebooting');
  }
  async touchSentinel(): Promise<void> {
    await writeFile(this.sentinel, '');
  }
}

export class KuredFleet {
  readonly o: KuredFleetOptions;
  readonly nodes = new Map<string, KuredNode>();
  #server: Server | undefined;
  #socket = '';
  #forwarder = '';
  #token = '';
  #loop: NodeJS.Timeout | undefined;
  #busy = false;
  #reaper: number | undefined;
  stopped = false;

  constructor(o: KuredFleetOptions) {
    this.o = o;
  }

  get apiPort(): number {
    return Number(new URL(this.o.cluster.server).port);
  }

  async start(names: readonly string[]): Promise<void> {
    await mkdir(this.o.dir, { recursive: true });
    this.#reaper = startReaper(process.pid, join(this.o.dir, 'pids'));
    // The API server, reachable from every kured's network namespace through a Unix socket.
    this.#socket = join(this.o.dir, 'api.sock');
    this.#server = createServer({ allowHalfOpen: true }, (conn) =>
      splice(conn, createConnection({ host: '127.0.0.1', port: this.apiPort, allowHalfOpen: true })),
    );
    await new Promise<void>((resolve) => this.#server?.listen(this.#socket, resolve));
    this.#forwarder = await writeForwarder(this.o.dir);
    this.#token = await mintServiceAccountToken(this.o.kc, {
      namespace: 'kube-system',
      serviceAccount: 'kured',
      expirationSeconds: 6 * 3600,
    });
    await writeFile(join(this.o.dir, 'token'), this.#token, { mode: 0o600 });
    for (const name of names) {
      const node = new KuredNode(name, join(this.o.dir, name));
      await mkdir(node.dir, { recursive: true });
      // The "reboot": a marker the fleet acts on. Runs inside kured's own mount namespace.
      const script = join(node.dir, 'reboot.sh');
      await writeFile(script, `#!/bin/sh\ntouch '${node.marker}'\n`);
      await chmod(script, 0o755);
      this.nodes.set(name, node);
      await this.#startKured(node);
    }
    this.#loop = setInterval(() => void this.#tick(), 200);
  }

  async #startKured(node: KuredNode): Promise<void> {
    if (this.stopped) return;
    node.proc = startKuredProcess({
      node: node.name,
      binary: this.o.binary,
      flags: [
        `--period=${this.o.period}`,
        `--reboot-sentinel=${node.sentinel}`,
        `--reboot-command=${join(node.dir, 'reboot.sh')}`,
        '--log-format=text',
      ],
      apiPort: this.apiPort,
      socket: this.#socket,
      forwarder: this.#forwarder,
      token: join(this.o.dir, 'token'),
      caCert: this.o.cluster.pki.caCert,
      logPath: join(node.dir, 'kured.log'),
    });
    await writeFile(
      join(this.o.dir, 'pids'),
      `${[...this.nodes.values()].flatMap((n) => (n.proc ? [n.proc.pid] : [])).join('\n')}\n`,
    );
  }

  /** The pid of the kured binary inside a node's namespaces (the child of unshare). */
  kuredPid(node: KuredNode): number | undefined {
    const pid = node.proc?.pid;
    if (pid === undefined) return undefined;
    try {
      const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/);
      const child = Number(children[0]);
      return Number.isInteger(child) && child > 0 ? child : undefined;
    } catch {
      return undefined;
    }
  }

  async #kill(node: KuredNode): Promise<void> {
    const p = node.proc;
    if (!p) return;
    try {
      process.kill(-p.pid, 'SIGKILL');
    } catch {
      // gone
    }
    await p.exited;
    node.proc = undefined;
  }

  async #tick(): Promise<void> {
    if (this.#busy || this.stopped) return;
    this.#busy = true;
    try {
      await Promise.all([...this.nodes.values()].map((n) => this.#rebootIfAsked(n)));
    } catch (err) {
      process.stderr.write(`kured fleet: a simulated reboot failed: ${String(err)}\n`);
    } finally {
      this.#busy = false;
    }
  }

  async #rebootIfAsked(node: KuredNode): Promise<void> {
    if (!existsSync(node.marker)) {
      // A kured that exited by itself is started again, as the kubelet restarts a container.
      if (node.proc?.hasExited()) {
        node.restarts++;
        node.proc = undefined;
        await this.#startKured(node);
      }
      return;
    }
    await rm(node.marker, { force: true });
    node.reboots++;
    await setNodeReady(this.o.kc, node.name, false);
    await this.#kill(node);
    await rm(node.sentinel, { force: true });
    await new Promise((r) => setTimeout(r, this.o.rebootMs));
    await setBootId(this.o.kc, node.name, randomUUID());
    await setNodeReady(this.o.kc, node.name, true);
    await this.#startKured(node);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.#loop);
    while (this.#busy) await new Promise((r) => setTimeout(r, 50));
    await Promise.all([...this.nodes.values()].map((n) => this.#kill(n)));
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
    await rm(this.#socket, { force: true });
    if (this.#reaper !== undefined) {
      try {
        process.kill(this.#reaper, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
}
