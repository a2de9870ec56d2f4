/**
 * A real Kubernetes control plane on 127.0.0.1: etcd, kube-apiserver (TLS, RBAC + Node
 * authorization, default admission plugins), kube-controller-manager, kube-scheduler, and kwok
 * playing the kubelets of fake nodes (annotation `kwok.x-k8s.io/node=fake`).
 *
 * Binaries come from e2e/tools/build.sh's cache. Each cluster lives in its own directory with
 * its PKI, data, logs, kubeconfig and the pids of its processes; see processes.ts for how they
 * are guaranteed to stop.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createPki, type Pki } from './pki.ts';
import {
  isLiveProcess,
  type ManagedProcess,
  startProcess,
  startReaper,
  tailOf,
  waitUntilHealthy,
} from './processes.ts';
import { ensureTools, type ToolPaths } from './tools.ts';

export interface ClusterOptions {
  /** Directory name under the clusters root; a previous cluster of the same name is wiped. */
  name: string;
  /** Root of cluster directories (default $BATON_CLUSTERS_DIR or ~/.cache/baton/clusters). */
  root?: string;
  /** kube-controller-manager's --node-monitor-grace-period (default 20s: NotReady is noticed fast). */
  nodeMonitorGracePeriod?: string;
  /** Progress lines (component started, in how long). Default: stderr. */
  log?: (line: string) => void;
  /** Extra command-line arguments per component (tests use it to break one on purpose). */
  extraArgs?: Partial<Record<ComponentName, readonly string[]>>;
}

export type ComponentName = 'etcd' | 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler' | 'kwok';

export interface Cluster {
  readonly name: string;
  readonly dir: string;
  readonly kubeconfigPath: string;
  readonly server: string;
  readonly pki: Pki;
  readonly tools: ToolPaths;
  readonly processes: ReadonlyMap<string, ManagedProcess>;
  /** Stops every process (SIGTERM, then SIGKILL) and removes the data directory. */
  stop(opts?: { keepDir?: boolean }): Promise<void>;
}

const COMPONENT_TIMEOUT_MS = 90_000;

export function clustersRoot(root?: string): string {
  return root ?? process.env.BATON_CLUSTERS_DIR ?? join(homedir(), '.cache', 'baton', 'clusters');
}

/** A free TCP port on 127.0.0.1 (bound and released; the window for a race is tiny). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') {
        srv.close();
        reject(new Error('could not allocate a port'));
        return;
      }
      srv.close(() => resolve(addr.port));
    });
  });
}

interface HttpsProbeOptions {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

/** GET over HTTPS; true on a 200. Self-signed component certificates are accepted when no CA is given. */
function httpsOk(url: string, opts: HttpsProbeOptions): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'GET',
        ca: opts.ca,
        cert: opts.cert,
        key: opts.key,
        rejectUnauthorized: opts.ca !== undefined,
        timeout: 2000,
      },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.once('timeout', () => req.destroy(new Error(`timeout on ${url}`)));
    req.once('error', reject);
    req.end();
  });
}

async function httpOk(url: string): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
  return res.ok;
}

function kubeconfigYaml(server: string, pki: Pki, user: string): string {
  const b64 = (f: string) => readFileSync(f).toString('base64');
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: baton-e2e',
    '  cluster:',
    `    server: ${server}`,
    `    certificate-authority-data: ${b64(pki.caCert)}`,
    'users:',
    `- name: ${user}`,
    '  user:',
    `    client-certificate-data: ${b64(pki.adminCert)}`,
    `    client-key-data: ${b64(pki.adminKey)}`,
    'contexts:',
    '- name: baton-e2e',
    '  context:',
    '    cluster: baton-e2e',
    `    user: ${user}`,
    'current-context: baton-e2e',
    '',
  ].join('\n');
}

interface OwnerRecord {
  ownerPid: number;
  pids: number[];
  binDir: string;
}

/**
 * Kills the processes of clusters whose owning process is gone (a run that was SIGKILLed or
 * crashed) and removes their directories. Only pids whose command line still names our
 * binaries are touched, so a recycled pid is never killed.
 */
export async function reapStaleClusters(root?: string): Promise<string[]> {
  const base = clustersRoot(root);
  if (!existsSync(base)) return [];
  const reaped: string[] = [];
  for (const entry of readdirSync(base)) {
    const dir = join(base, entry);
    const ownerFile = join(dir, 'owner.json');
    if (!existsSync(ownerFile)) continue;
    let owner: OwnerRecord;
    try {
      owner = JSON.parse(readFileSync(ownerFile, 'utf8')) as OwnerRecord;
    } catch {
      continue;
    }
    if (isLiveProcess(owner.ownerPid, 'node')) continue;
    for (const pid of owner.pids) {
      if (isLiveProcess(pid, owner.binDir)) {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          // gone meanwhile
        }
      }
    }
    await rm(dir, { recursive: true, force: true });
    reaped.push(entry);
  }
  return reaped;
}

/** Builds (once) and starts a control plane; resolves when every component is healthy. */
export async function startCluster(opts: ClusterOptions): Promise<Cluster> {
  const log = opts.log ?? ((line: string) => process.stderr.write(`[cluster ${opts.name}] ${line}\n`));
  const t0 = Date.now();
  const since = () => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
  const tools = await ensureTools();
  const root = clustersRoot(opts.root);
  await reapStaleClusters(root);

  const dir = join(root, opts.name);
  await rm(dir, { recursive: true, force: true });
  await mkdir(join(dir, 'logs'), { recursive: true });
  await mkdir(join(dir, 'etcd'), { recursive: true });
  const pki = await createPki(join(dir, 'pki'));

  const processes = new Map<string, ManagedProcess>();
  const pidsFile = join(dir, 'pids');
  const binDir = join(tools.etcd, '..', '..');
  const record = async () => {
    const pids = [...processes.values()].map((p) => p.pid);
    await writeFile(pidsFile, `${pids.join('\n')}\n`);
    const owner: OwnerRecord = { ownerPid: process.pid, pids, binDir };
    await writeFile(join(dir, 'owner.json'), JSON.stringify(owner));
  };
  const reaperPid = startReaper(process.pid, pidsFile);

  const stop = async (stopOpts?: { keepDir?: boolean }) => {
    // Reverse start order: kwok and controllers first, etcd last.
    for (const proc of [...processes.values()].reverse()) await proc.stop();
    try {
      process.kill(reaperPid, 'SIGKILL');
    } catch {
      // already gone
    }
    if (!stopOpts?.keepDir) await rm(dir, { recursive: true, force: true });
  };

  const launch = async (name: ComponentName, command: string, args: string[]) => {
    const all = [...args, ...(opts.extraArgs?.[name] ?? [])];
    const proc = startProcess({ name, command, args: all, logPath: join(dir, 'logs', `${name}.log`) });
    processes.set(name, proc);
    await record();
    return proc;
  };

  try {
    // etcd
    const etcdPort = await freePort();
    const etcdPeerPort = await freePort();
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const etcd = await launch('etcd', tools.etcd, [
      '--name=default',
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
      `--initial-cluster=default=http://127.0.0.1:${etcdPeerPort}`,
      '--unsafe-no-fsync=true',
      '--auto-compaction-retention=1',
      '--log-level=warn',
    ]);
    await waitUntilHealthy(etcd, () => httpOk(`${etcdUrl}/health`), COMPONENT_TIMEOUT_MS);
    log(`etcd healthy at ${etcdUrl} (${since()})`);

    // kube-apiserver
    const apiPort = await freePort();
    const server = `https://127.0.0.1:${apiPort}`;
    const apiserver = await launch('kube-apiserver', tools.kubeApiserver, [
      `--etcd-servers=${etcdUrl}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      '--advertise-address=127.0.0.1',
      '--endpoint-reconciler-type=none',
      `--tls-cert-file=${pki.servingCert}`,
      `--tls-private-key-file=${pki.servingKey}`,
      `--client-ca-file=${pki.caCert}`,
      '--authorization-mode=Node,RBAC',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${pki.saPub}`,
      `--service-account-signing-key-file=${pki.saKey}`,
      '--service-cluster-ip-range=10.96.0.0/16',
      '--allow-privileged=true',
      '--profiling=false',
      // Pod-bound tokens minted by the harness must outlive a long test; the API server caps them.
      '--service-account-max-token-expiration=48h',
    ]);
    const adminTls = {
      ca: readFileSync(pki.caCert),
      cert: readFileSync(pki.adminCert),
      key: readFileSync(pki.adminKey),
    };
    await waitUntilHealthy(apiserver, () => httpsOk(`${server}/readyz`, adminTls), COMPONENT_TIMEOUT_MS);
    log(`kube-apiserver ready at ${server} (${since()})`);

    const kubeconfigPath = join(dir, 'kubeconfig');
    await writeFile(kubeconfigPath, kubeconfigYaml(server, pki, 'baton-e2e-admin'), { mode: 0o600 });

    // kube-controller-manager, kube-scheduler and kwok start in parallel.
    const kcmPort = await freePort();
    const schedPort = await freePort();
    const kwokPort = await freePort();
    const alwaysAllow = '--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics';
    const kcm = await launch('kube-controller-manager', tools.kubeControllerManager, [
      `--kubeconfig=${kubeconfigPath}`,
      `--authentication-kubeconfig=${kubeconfigPath}`,
      `--authorization-kubeconfig=${kubeconfigPath}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${kcmPort}`,
      alwaysAllow,
      `--root-ca-file=${pki.caCert}`,
      `--service-account-private-key-file=${pki.saKey}`,
      '--use-service-account-credentials=true',
      '--leader-elect=false',
      `--node-monitor-grace-period=${opts.nodeMonitorGracePeriod ?? '20s'}`,
      '--node-monitor-period=2s',
      '--controllers=*,-nodeipam,-service-lb-controller,-route',
    ]);
    const scheduler = await launch('kube-scheduler', tools.kubeScheduler, [
      `--kubeconfig=${kubeconfigPath}`,
      `--authentication-kubeconfig=${kubeconfigPath}`,
      `--authorization-kubeconfig=${kubeconfigPath}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${schedPort}`,
      alwaysAllow,
      '--leader-elect=false',
    ]);
    const kwok = await launch('kwok', tools.kwok, [
      `--kubeconfig=${kubeconfigPath}`,
      '--manage-all-nodes=false',
      '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
      '--node-lease-duration-seconds=40',
      '--cidr=10.244.0.0/16',
      '--node-ip=10.0.0.1',
      `--server-address=127.0.0.1:${kwokPort}`,
      `--config=${tools.kwokStages}`,
    ]);
    await Promise.all([
      waitUntilHealthy(kcm, () => httpsOk(`https://127.0.0.1:${kcmPort}/healthz`, {}), COMPONENT_TIMEOUT_MS),
      waitUntilHealthy(
        scheduler,
        () => httpsOk(`https://127.0.0.1:${schedPort}/healthz`, {}),
        COMPONENT_TIMEOUT_MS,
      ),
      waitUntilHealthy(kwok, () => httpOk(`http://127.0.0.1:${kwokPort}/healthz`), COMPONENT_TIMEOUT_MS),
    ]);
    log(`kube-controller-manager, kube-scheduler and kwok healthy (${since()})`);

    return { name: opts.name, dir, kubeconfigPath, server, pki, tools, processes, stop };
  } catch (err) {
    const logs = [...processes.values()]
      .filter((p) => !(err as Error).message.includes(p.logPath))
      .map((p) => `--- ${p.name} (${p.logPath}) ---\n${tailOf(p.logPath, 8)}`)
      .join('\n');
    await stop({ keepDir: true });
    throw new Error(`${(err as Error).message}\nOther components' last lines:\n${logs}`);
  }
}
