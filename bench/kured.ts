/**
 * The real kured, one process per fake node, on the same control plane as baton, with the same
 * simulated reboot as the e2e fleet (NotReady, process killed, sentinel cleared, the reboot's
 * duration, new bootID, Ready, process started again).
 *
 * kured only reads in-cluster configuration, always runs its sentinel check and reboot command
 * through `nsenter -m/proc/1/ns/mnt`, and serves metrics on a fixed :8080. So each kured runs in
 * namespaces of its own (`unshare -m -p -n -f --mount-proc`):
 * - PID: its PID 1 is kured itself, so nsenter enters kured's own mount namespace, never the
 *   host's. The reboot command is a script that only touches a marker file; kured's default
 *   (`systemctl reboot`) and its signal method are never used.
 * - mount: a private tmpfs on /run holds the ServiceAccount token and CA kured reads from
 *   /var/run/secrets/kubernetes.io/serviceaccount; nothing is written to the host's /run.
 * - network: its own loopback, so fifty :8080 do not collide; socat inside forwards
 *   127.0.0.1:<api port> to a Unix socket that this process forwards to the API server.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
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

const run = promisify(execFile);
const buildScript = join(dirname(fileURLToPath(import.meta.url)), '..', 'e2e', 'tools', 'build.sh');

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

for (const tool of ['unshare', 'nsenter', 'socat', 'ip']) {
  // Checked at import: a missing tool must fail before a cluster is started, with the fix.
  try {
    await run('sh', ['-c', `command -v ${tool}`]);
  } catch {
    throw new Error(
      `kured benchmark needs '${tool}' on PATH (Debian: apt-get install socat util-linux iproute2)`,
    );
  }
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
    this.#server = createServer((conn) => {
      const upstream = createConnection({ host: '127.0.0.1', port: this.apiPort });
      conn.pipe(upstream).pipe(conn);
      const close = () => {
        conn.destroy();
        upstream.destroy();
      };
      conn.once('error', close);
      upstream.once('error', close);
      conn.once('close', close);
      upstream.once('close', close);
    });
    await new Promise<void>((resolve) => this.#server?.listen(this.#socket, resolve));
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
    const sa = '/run/secrets/kubernetes.io/serviceaccount';
    const inside = [
      'set -e',
      'ip link set lo up',
      // Private propagation (unshare's default): this tmpfs is seen by this kured only.
      'mount -t tmpfs -o size=1m tmpfs /run',
      `mkdir -p ${sa}`,
      `cp '${join(this.o.dir, 'token')}' ${sa}/token`,
      `cp '${this.o.cluster.pki.caCert}' ${sa}/ca.crt`,
      `socat TCP-LISTEN:${this.apiPort},bind=127.0.0.1,fork,reuseaddr UNIX-CONNECT:'${this.#socket}' &`,
      // socat must listen before kured's first request.
      `for i in $(seq 50); do socat -u OPEN:/dev/null TCP:127.0.0.1:${this.apiPort} 2>/dev/null && break; sleep 0.1; done`,
      `exec '${this.o.binary}' --period=${this.o.period} --reboot-sentinel='${node.sentinel}' ` +
        `--reboot-command='${join(node.dir, 'reboot.sh')}' --log-format=text`,
    ].join('\n');
    node.proc = startProcess({
      name: `kured-${node.name}`,
      command: 'unshare',
      // kured must be PID 1 of its namespace for nsenter -m/proc/1 to stay inside; `sh` execs it.
      args: ['-m', '-p', '-n', '-f', '--mount-proc', '--kill-child=SIGKILL', 'sh', '-c', inside],
      env: {
        PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
        KURED_NODE_ID: node.name,
        KUBERNETES_SERVICE_HOST: '127.0.0.1',
        KUBERNETES_SERVICE_PORT: String(this.apiPort),
      },
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
