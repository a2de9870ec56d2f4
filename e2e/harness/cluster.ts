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
import { setTimeout as sleep } from 'node:timers/promises';
import { createPki, type Pki } from './pki.ts';
import {
  isAlive,
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
  /** Fault injection: see {@link ClusterControl}. */
  readonly control: ClusterControl;
}

/**
 * Faults on the control plane, for the harness that owns it. Works from any process that can
 * read the cluster directory (a test worker as well as the process that started the cluster):
 * the components' command lines and pids are recorded in `control.json`.
 */
export interface ClusterControl {
  /**
   * Stops kube-apiserver (SIGKILL by default, as a crash; SIGTERM for a clean restart) and
   * starts it again with the same port, certificates and flags; resolves when /readyz answers.
   */
  restartApiserver(opts?: {
    signal?: 'SIGKILL' | 'SIGTERM';
    downMs?: number;
    timeoutMs?: number;
  }): Promise<void>;
  /** SIGSTOPs etcd for `ms`, then SIGCONTs it (always, even when the wait is interrupted). */
  pauseEtcd(ms: number): Promise<void>;
}

interface ComponentRecord {
  command: string;
  args: string[];
  logPath: string;
  pid: number;
}

interface ControlRecord {
  server: string;
  pki: Pki;
  binDir: string;
  components: Partial<Record<ComponentName, ComponentRecord>>;
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
  const control: ControlRecord = { server: '', pki, binDir, components: {} };
  const record = async () => {
    const pids = [...processes.values()].map((p) => p.pid);
    await writeFile(pidsFile, `${pids.join('\n')}\n`);
    const owner: OwnerRecord = { ownerPid: process.pid, pids, binDir };
    await writeFile(join(dir, 'owner.json'), JSON.stringify(owner));
    await writeFile(join(dir, 'control.json'), JSON.stringify(control));
  };
  const reaperPid = startReaper(process.pid, pidsFile);

  const stop = async (stopOpts?: { keepDir?: boolean }) => {
    // A control plane is never left paused: a stopped etcd would ignore SIGTERM.
    processes.get('etcd')?.resume();
    // Reverse start order: kwok and controllers first, etcd last.
    for (const proc of [...processes.values()].reverse()) await proc.stop();
    // Components restarted by clusterControl (possibly from another process) are not in the
    // map; their pids are in the record.
    await stopRecordedExtras(dir, new Set([...processes.values()].map((p) => p.pid)));
    try {
      process.kill(reaperPid, 'SIGKILL');
    } catch {
      // already gone
    }
    if (!stopOpts?.keepDir) await rm(dir, { recursive: true, force: true });
  };

  const launch = async (name: ComponentName, command: string, args: string[]) => {
    const all = [...args, ...(opts.extraArgs?.[name] ?? [])];
    const logPath = join(dir, 'logs', `${name}.log`);
    const proc = startProcess({ name, command, args: all, logPath });
    processes.set(name, proc);
    control.components[name] = { command, args: all, logPath, pid: proc.pid };
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
    control.server = server;
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

    return {
      name: opts.name,
      dir,
      kubeconfigPath,
      server,
      pki,
      tools,
      processes,
      stop,
      control: clusterControl(dir, (name, proc) => processes.set(name, proc)),
    };
  } catch (err) {
    const logs = [...processes.values()]
      .filter((p) => !(err as Error).message.includes(p.logPath))
      .map((p) => `--- ${p.name} (${p.logPath}) ---\n${tailOf(p.logPath, 8)}`)
      .join('\n');
    await stop({ keepDir: true });
    throw new Error(`${(err as Error).message}\nOther components' last lines:\n${logs}`);
  }
}

const readControl = (dir: string): ControlRecord =>
  JSON.parse(readFileSync(join(dir, 'control.json'), 'utf8')) as ControlRecord;

/** The API server's address and the PKI of the cluster recorded in `dir` (for a real node). */
export function clusterEndpoint(dir: string): { readonly server: string; readonly pki: Pki } {
  const { server, pki } = readControl(dir);
  return { server, pki };
}

/** SIGTERM, then SIGKILL, the process groups of recorded components not in `known`. */
async function stopRecordedExtras(dir: string, known: ReadonlySet<number>): Promise<void> {
  let rec: ControlRecord;
  try {
    rec = readControl(dir);
  } catch {
    return;
  }
  const extras = Object.values(rec.components)
    .map((c) => c.pid)
    .filter((pid) => !known.has(pid) && isLiveProcess(pid, rec.binDir));
  for (const pid of extras) signalGroup(pid, 'SIGCONT');
  for (const pid of extras) signalGroup(pid, 'SIGTERM');
  const deadline = Date.now() + 10_000;
  while (extras.some(isAlive) && Date.now() < deadline) await sleep(100);
  for (const pid of extras) signalGroup(pid, 'SIGKILL');
}

function signalGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    // gone
  }
}

/**
 * Fault injection on the cluster recorded in `dir`. `onRestart` lets the process that started
 * the cluster keep its map of processes current.
 */
export function clusterControl(
  dir: string,
  onRestart?: (name: ComponentName, proc: ManagedProcess) => void,
): ClusterControl {
  return {
    async restartApiserver(opts) {
      const rec = readControl(dir);
      const c = rec.components['kube-apiserver'];
      if (!c) throw new Error(`no kube-apiserver recorded in ${dir}/control.json`);
      signalGroup(c.pid, opts?.signal ?? 'SIGKILL');
      const deadline = Date.now() + 30_000;
      while (isAlive(c.pid) && Date.now() < deadline) await sleep(50);
      signalGroup(c.pid, 'SIGKILL');
      while (isAlive(c.pid)) await sleep(50);
      if (opts?.downMs) await sleep(opts.downMs);
      const proc = startProcess({
        name: 'kube-apiserver',
        command: c.command,
        args: c.args,
        logPath: c.logPath,
      });
      // Recorded before it is healthy: whatever happens next, the reaper and stop() know it.
      rec.components['kube-apiserver'] = { ...c, pid: proc.pid };
      await writeFile(join(dir, 'control.json'), JSON.stringify(rec));
      const pids = Object.values(rec.components).map((x) => x.pid);
      await writeFile(join(dir, 'pids'), `${pids.join('\n')}\n`);
      const ownerFile = join(dir, 'owner.json');
      const owner = JSON.parse(readFileSync(ownerFile, 'utf8')) as OwnerRecord;
      await writeFile(ownerFile, JSON.stringify({ ...owner, pids }));
      onRestart?.('kube-apiserver', proc);
      const tls = {
        ca: readFileSync(rec.pki.caCert),
        cert: readFileSync(rec.pki.adminCert),
        key: readFileSync(rec.pki.adminKey),
      };
      // A restart on a loaded machine (the soak, CI) can take longer than a first start.
      await waitUntilHealthy(proc, () => httpsOk(`${rec.server}/readyz`, tls), opts?.timeoutMs ?? 300_000);
    },
    async pauseEtcd(ms) {
      const c = readControl(dir).components.etcd;
      if (!c) throw new Error(`no etcd recorded in ${dir}/control.json`);
      signalGroup(c.pid, 'SIGSTOP');
      try {
        await sleep(ms);
      } finally {
        signalGroup(c.pid, 'SIGCONT');
      }
    },
  };
}
