/**
 * Small pieces the benchmarks share: process memory and CPU from /proc, percentiles, the load
 * average next to each figure, the API server's own request counters, and a watch that stamps
 * every change of an object with the time this process saw it.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { AppsV1Api, CoreV1Api, type KubeConfig, type KubernetesObject, Watch } from '@kubernetes/client-node';
import type { Cluster } from '../e2e/harness/cluster.ts';
import { waitFor } from '../e2e/harness/kube.ts';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** An integer from the environment (sizes of a quick run), or the default of the full run. */
export function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name}=${raw}: expected a non-negative integer`);
  return n;
}

/** VmRSS of a process in MiB. */
export function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 'NaN') / 1024;
}

/**
 * Resident memory of an empty Node process (a timer and nothing else) run with `flags` and `env`: the
 * floor any agent written for Node starts from, measured beside it.
 */
export async function emptyNodeRssMiB(
  flags: readonly string[],
  env: Readonly<Record<string, string>> = {},
): Promise<number> {
  const child = spawn(process.execPath, [...flags, '-e', 'setInterval(() => {}, 1000)'], {
    stdio: 'ignore',
    env: { ...process.env, ...env },
  });
  try {
    await sleep(3000);
    return rssMiB(child.pid ?? 0);
  } finally {
    child.kill();
  }
}

/** User + system CPU seconds a process has used (clock ticks are 100 Hz on Linux). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command (which may contain spaces) start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** The 1-minute load average, two decimals: recorded next to every figure. */
export function load1(): number {
  return +(loadavg()[0] ?? 0).toFixed(2);
}

/** Nearest-rank percentile (p in 0..100) of a non-empty list. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1] ?? Number.NaN;
}

export const round = (x: number, digits = 2) => +x.toFixed(digits);

/** Samples the load average every `everyMs` while running; min / mean / max at the end. */
export class LoadSampler {
  readonly #samples: number[] = [];
  readonly #timer: NodeJS.Timeout;
  constructor(everyMs = 5000) {
    this.#samples.push(load1());
    this.#timer = setInterval(() => this.#samples.push(load1()), everyMs);
  }
  stop(): { min: number; mean: number; max: number } {
    clearInterval(this.#timer);
    this.#samples.push(load1());
    const s = this.#samples;
    return {
      min: round(Math.min(...s)),
      mean: round(s.reduce((a, b) => a + b, 0) / s.length),
      max: round(Math.max(...s)),
    };
  }
}

/**
 * `apiserver_request_total` from the API server's own /metrics (admin client certificate),
 * summed per verb+resource(+subresource). Watch streams count once, when they are opened.
 */
export async function apiRequestTotals(cluster: Cluster): Promise<Map<string, number>> {
  const { request } = await import('node:https');
  const text = await new Promise<string>((resolve, reject) => {
    const req = request(
      `${cluster.server}/metrics`,
      {
        ca: readFileSync(cluster.pki.caCert),
        cert: readFileSync(cluster.pki.adminCert),
        key: readFileSync(cluster.pki.adminKey),
        timeout: 30_000,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => resolve(body));
      },
    );
    req.once('error', reject);
    req.end();
  });
  const totals = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    const labels = line.slice(line.indexOf('{') + 1, line.lastIndexOf('}'));
    const get = (k: string) => new RegExp(`(?:^|,)${k}="([^"]*)"`).exec(labels)?.[1] ?? '';
    const key = `${get('verb')} ${get('resource')}${get('subresource') ? `/${get('subresource')}` : ''}`;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    totals.set(key, (totals.get(key) ?? 0) + value);
  }
  return totals;
}

/** b - a per key (keys only in b count from 0). */
export function diffTotals(a: Map<string, number>, b: Map<string, number>): Map<string, number> {
  const d = new Map<string, number>();
  for (const [k, v] of b) {
    const delta = v - (a.get(k) ?? 0);
    if (delta !== 0) d.set(k, delta);
  }
  return d;
}

export const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);

/**
 * Watches a collection and calls `onChange(object, seenAtMs)` for every ADDED/MODIFIED event
 * (and for DELETED with `deleted` true). Restarts after the watch ends until stopped.
 */
export function watchStamped<T extends KubernetesObject>(
  kc: KubeConfig,
  path: string,
  onChange: (obj: T, seenAt: number, deleted: boolean) => void,
  query: Record<string, string> = {},
): { stop(): void } {
  let stopped = false;
  let current: { abort(): void } | undefined;
  const start = async () => {
    while (!stopped) {
      try {
        await new Promise<void>((resolve) => {
          void new Watch(kc)
            .watch(
              path,
              query,
              (type: string, obj: T) => {
                if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED')
                  onChange(obj, Date.now(), type === 'DELETED');
              },
              () => resolve(),
            )
            .then((req) => {
              current = req;
            })
            .catch(() => resolve());
        });
      } catch {
        // restart below
      }
      if (!stopped) await sleep(200);
    }
  };
  void start();
  return {
    stop() {
      stopped = true;
      current?.abort();
    },
  };
}

export interface ApiWindow {
  seconds: number;
  total: number;
  byKind: Record<string, number>;
  load: { min: number; mean: number; max: number };
}

/** The API server's request counters over a window of `seconds` (nothing else is done meanwhile). */
export async function apiWindow(cluster: Cluster, seconds: number): Promise<ApiWindow> {
  const load = new LoadSampler();
  const before = await apiRequestTotals(cluster);
  const t = Date.now();
  await sleep(seconds * 1000);
  const after = await apiRequestTotals(cluster);
  const elapsed = (Date.now() - t) / 1000;
  const d = diffTotals(before, after);
  return { seconds: round(elapsed, 1), total: sum(d), byKind: Object.fromEntries(d), load: load.stop() };
}

/**
 * Requests per node per hour that a tool adds over the baseline window (the same cluster with
 * neither tool running), and the request kinds that make them up (largest first).
 */
export function perNodeHour(
  tool: ApiWindow,
  baseline: ApiWindow,
  nodes: number,
): { perNodeHour: number; top: { kind: string; perNodeHour: number }[] } {
  const rate = (w: ApiWindow, k?: string) => (k === undefined ? w.total : (w.byKind[k] ?? 0)) / w.seconds;
  const scale = 3600 / nodes;
  const kinds = new Set([...Object.keys(tool.byKind)]);
  const top = [...kinds]
    .map((kind) => ({ kind, perNodeHour: round((rate(tool, kind) - rate(baseline, kind)) * scale, 1) }))
    .filter((k) => k.perNodeHour > 0.5)
    .sort((a, b) => b.perNodeHour - a.perNodeHour)
    .slice(0, 6);
  return { perNodeHour: round(Math.max(0, rate(tool) - rate(baseline)) * scale, 1), top };
}

/**
 * The reference drain: `kubectl drain` of `node` as an operator would run it, timed, with its
 * peak resident memory sampled every 100 ms. Throws if kubectl fails.
 */
export async function kubectlDrain(
  kubectl: string,
  kubeconfigPath: string,
  node: string,
  timeoutSeconds: number,
): Promise<{ seconds: number; peakRssMiB: number }> {
  const started = Date.now();
  const child = spawn(
    kubectl,
    [
      `--kubeconfig=${kubeconfigPath}`,
      'drain',
      node,
      '--ignore-daemonsets',
      '--delete-emptydir-data',
      `--timeout=${timeoutSeconds}s`,
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  let peak = 0;
  const sampler = setInterval(() => {
    try {
      peak = Math.max(peak, rssMiB(child.pid ?? 0));
    } catch {
      // exited between samples
    }
  }, 100);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearInterval(sampler);
  if (code !== 0) throw new Error(`kubectl drain exited with ${code}`);
  return { seconds: (Date.now() - started) / 1000, peakRssMiB: peak };
}

/**
 * A Deployment of `count` pods pinned to `node` (a kwok node runs them without an image pull),
 * waited for until every pod is Running: the load a drain benchmark evicts.
 */
export async function deployPodsOnNode(
  kc: KubeConfig,
  namespace: string,
  o: { app: string; node: string; count: number; timeoutMs: number },
): Promise<void> {
  const { app, node, count } = o;
  await kc.makeApiClient(AppsV1Api).createNamespacedDeployment({
    namespace,
    body: {
      metadata: { name: app },
      spec: {
        replicas: count,
        selector: { matchLabels: { app } },
        template: {
          metadata: { labels: { app } },
          spec: {
            nodeSelector: { 'kubernetes.io/hostname': node },
            containers: [{ name: 'c', image: 'registry.invalid/c:1' }],
          },
        },
      },
    },
  });
  const core = kc.makeApiClient(CoreV1Api);
  await waitFor(
    `${count} ${app} pods running on ${node}`,
    async () => {
      const list = await core.listNamespacedPod({ namespace, labelSelector: `app=${app}` });
      return list.items.filter((p) => p.status?.phase === 'Running').length === count;
    },
    o.timeoutMs,
  );
}
