/**
 * Latency and the 50-node rollout, baton then kured, on one control plane and the same nodes.
 *
 * baton: one agent process per node (the image's bundle), one controller (--concurrency=1).
 * 1. touch → grant: a sentinel is touched on an otherwise idle cluster; the time until a slot
 *    Lease names the node, seen through a watch. The next trial starts once that slot was
 *    released (the node rebooted and settled) — one at a time, on the nodes in turn.
 * 2. the rollout: every sentinel touched at once; phases per node (timeline.ts); each handoff
 *    (a slot released → the next node granted) is a "release → next grant" sample.
 * kured: one process per node (kured.ts), --period=30s, the same simulated reboot duration, the
 * same sentinels touched at once; its lock is the annotation on kube-system/kured.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { SLOT_LEASE_PREFIX } from '@baton/protocol';
import {
  AppsV1Api,
  CoreV1Api,
  type KubeConfig,
  type V1DaemonSet,
  type V1Lease,
  type V1Node,
} from '@kubernetes/client-node';
import type { Cluster } from '../e2e/harness/cluster.ts';
import { startController } from '../e2e/harness/controller.ts';
import { Fleet } from '../e2e/harness/fleet.ts';
import { isNodeReady, strategicMerge, waitFor } from '../e2e/harness/kube.ts';
import { createTestNamespace } from '../e2e/harness/namespace.ts';
import type { ManagedProcess } from '../e2e/harness/processes.ts';
import { grantAgentRbac, grantControllerRbac } from '../e2e/harness/rbac.ts';
import { KuredFleet, kuredLockHolder } from './kured.ts';
import { LoadSampler, load1, percentile, round, rssMiB, sleep, watchStamped } from './lib.ts';
import { type NodeRow, Timeline } from './timeline.ts';

export interface LatencyResult {
  trials: number;
  touchToGrantSeconds: { p50: number; p99: number; max: number; samples: number[] };
  load: { min: number; mean: number; max: number };
}

export interface RolloutSide {
  nodes: number;
  totalSeconds: number | undefined;
  /** Per node: mean seconds from permission to release. */
  meanCycleSeconds: number;
  rows: NodeRow[];
  releaseToNextGrantSeconds: { p50: number; p99: number; max: number; samples: number };
  load: { min: number; mean: number; max: number };
  note?: string;
}

/** Watches the slot Leases of `ns` and reports holders gained and lost. */
function watchSlots(
  kc: KubeConfig,
  ns: string,
  on: { granted(node: string, at: number): void; released(node: string, at: number): void },
): { stop(): void } {
  const holders = new Map<string, string>();
  return watchStamped<V1Lease>(kc, `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`, (lease, at) => {
    const name = lease.metadata?.name ?? '';
    if (!name.startsWith(SLOT_LEASE_PREFIX)) return;
    const before = holders.get(name) ?? '';
    const now = lease.spec?.holderIdentity ?? '';
    if (before === now) return;
    holders.set(name, now);
    if (before !== '') on.released(before, at);
    if (now !== '') on.granted(now, at);
  });
}

function watchReady(
  kc: KubeConfig,
  names: ReadonlySet<string>,
  on: (node: string, ready: boolean, at: number) => void,
) {
  return watchStamped<V1Node>(kc, '/api/v1/nodes', (node, at) => {
    const name = node.metadata?.name ?? '';
    if (names.has(name)) on(name, isNodeReady(node), at);
  });
}

function stats(xs: number[]) {
  return {
    p50: round(percentile(xs, 50), 3),
    p99: round(percentile(xs, 99), 3),
    max: round(Math.max(...xs), 3),
  };
}

export interface BatonSetup {
  fleet: Fleet;
  controller: ManagedProcess;
  controllerMetricsUrl: string;
  ns: string;
  fleetOptions: { rebootMs: number };
  healed: { count: number };
  stop(): Promise<void>;
}

/** Agents on `names` and a controller with --concurrency=1. */
export async function startBaton(
  kc: KubeConfig,
  names: readonly string[],
  dir: string,
  entries: { agent: string; controller: string },
): Promise<BatonSetup> {
  const ns = await createTestNamespace(kc, 'bench');
  await grantAgentRbac(kc, ns, 'baton-agent');
  await grantControllerRbac(kc, ns, 'baton-controller');
  const fleetOptions = {
    kc,
    namespace: ns,
    serviceAccount: 'baton-agent',
    dir: join(dir, 'fleet'),
    agentEntry: entries.agent,
    rebootMs: 1000,
    tokenExpirationSeconds: 6 * 3600,
  };
  const fleet = new Fleet(fleetOptions);
  const healed = { count: 0 };
  await fleet.add(names);
  await mkdir(join(dir, 'controller'), { recursive: true });
  const started = await startController(kc, {
    namespace: ns,
    serviceAccount: 'baton-controller',
    dir: join(dir, 'controller'),
    args: ['--concurrency=1'],
    tokenExpirationSeconds: 6 * 3600,
    entry: entries.controller,
  });
  // Every agent has reported its condition (False) before anything is measured.
  await waitFor(
    'every agent reported RebootRequired',
    async () => {
      const res = await fetch(started.metricsUrl).catch(() => undefined);
      const text = res ? await res.text() : '';
      return (text.match(/^baton_node_reboot_required\{/gm) ?? []).length >= names.length;
    },
    300_000,
  );
  // A kubelet marks its pods Ready again after a reboot. kwok does so too, except when the
  // controller-manager marks them NotReady only after kwok already saw the node Ready again (a
  // race that shows on a heavily loaded machine); then the pod would stay NotReady and the
  // controller, rightly, would never release the slot. Played here as the kubelet would, and
  // counted (healedPods in the JSON).
  const core = kc.makeApiClient(CoreV1Api);
  const healer = setInterval(() => {
    void (async () => {
      const pods = (await core.listNamespacedPod({ namespace: ns })).items;
      for (const p of pods) {
        const ready = p.status?.conditions?.find((c) => c.type === 'Ready');
        const since = ready?.lastTransitionTime ? new Date(ready.lastTransitionTime).getTime() : Date.now();
        if (p.metadata?.deletionTimestamp || ready?.status !== 'False' || Date.now() - since < 30_000)
          continue;
        const node = await core.readNode({ name: p.spec?.nodeName ?? '' });
        if (!isNodeReady(node)) continue;
        const now = new Date().toISOString();
        await core.patchNamespacedPodStatus(
          {
            name: p.metadata?.name ?? '',
            namespace: ns,
            body: {
              status: {
                conditions: [
                  { type: 'Ready', status: 'True', lastTransitionTime: now },
                  { type: 'ContainersReady', status: 'True', lastTransitionTime: now },
                ],
              },
            },
          },
          strategicMerge,
        );
        healed.count++;
      }
    })().catch(() => undefined);
  }, 5000);
  return {
    fleet,
    controller: started.process,
    controllerMetricsUrl: started.metricsUrl,
    ns,
    fleetOptions,
    healed,
    async stop() {
      clearInterval(healer);
      await started.process.stop();
      await fleet.stop();
    },
  };
}

/** touch → grant, one trial at a time on an idle cluster. */
export async function touchToGrant(
  kc: KubeConfig,
  baton: BatonSetup,
  trials: number,
  log: (s: string) => void,
): Promise<LatencyResult> {
  baton.fleetOptions.rebootMs = 1000;
  let waiting: { node: string; resolve: (at: number) => void } | undefined;
  let releasedWaiter: { node: string; resolve: () => void } | undefined;
  const w = watchSlots(kc, baton.ns, {
    granted: (node, at) => {
      if (waiting?.node === node) waiting.resolve(at);
    },
    released: (node) => {
      if (releasedWaiter?.node === node) releasedWaiter.resolve();
    },
  });
  await sleep(1000);
  const nodes = [...baton.fleet.nodes.values()];
  const samples: number[] = [];
  const load = new LoadSampler();
  try {
    for (let i = 0; i < trials; i++) {
      const sim = nodes[i % nodes.length];
      if (!sim) throw new Error('no nodes');
      // The node's agent may still be starting after its previous reboot: wait until it runs.
      await waitFor(`agent on ${sim.name}`, async () => sim.agent !== undefined, 60_000);
      const granted = new Promise<number>((resolve) => {
        waiting = { node: sim.name, resolve };
      });
      const released = new Promise<void>((resolve) => {
        releasedWaiter = { node: sim.name, resolve };
      });
      const t = Date.now();
      await sim.touchSentinel();
      const at = await Promise.race([
        granted,
        sleep(120_000).then(() => {
          throw new Error(`no grant for ${sim.name} within 120 s`);
        }),
      ]);
      samples.push((at - t) / 1000);
      await Promise.race([
        released,
        sleep(300_000).then(() => {
          throw new Error(`${sim.name} not released within 300 s`);
        }),
      ]);
      if ((i + 1) % 10 === 0) log(`touch → grant: ${i + 1}/${trials} trials (load ${load1()})`);
      await sleep(500);
    }
  } finally {
    w.stop();
  }
  return {
    trials,
    touchToGrantSeconds: { ...stats(samples), samples: samples.map((s) => round(s, 3)) },
    load: load.stop(),
  };
}

function summarize(tl: Timeline, t0: number, end: number | undefined, nodes: number) {
  const rows = tl.rows();
  const cycles = rows.flatMap((r) => {
    const g = r.spans[1]?.start;
    return g !== undefined && r.done !== undefined ? [r.done - g] : [];
  });
  const handoffs = tl.handoffs.map((h) => (h.granted - h.released) / 1000);
  return {
    nodes,
    totalSeconds: end === undefined ? undefined : round((end - t0) / 1000, 1),
    meanCycleSeconds: round(cycles.reduce((a, b) => a + b, 0) / Math.max(1, cycles.length), 1),
    rows,
    releaseToNextGrantSeconds: {
      ...stats(handoffs.length ? handoffs : [Number.NaN]),
      samples: handoffs.length,
    },
  };
}

/** Every sentinel touched at once; until every node was released (or the time limit). */
export async function batonRollout(
  kc: KubeConfig,
  baton: BatonSetup,
  rebootMs: number,
  limitMs: number,
  log: (s: string) => void,
): Promise<RolloutSide> {
  baton.fleetOptions.rebootMs = rebootMs;
  const names = [...baton.fleet.nodes.keys()];
  // Every agent running and no slot held before the start.
  await waitFor(
    'every agent running',
    async () => [...baton.fleet.nodes.values()].every((n) => n.agent),
    120_000,
  );
  await sleep(2000);
  const t0 = Date.now();
  const tl = new Timeline(names, t0);
  const ws = watchSlots(kc, baton.ns, {
    granted: (n, at) => tl.granted(n, at),
    released: (n, at) => tl.released(n, at),
  });
  const wr = watchReady(kc, new Set(names), (n, r, at) => tl.ready(n, r, at));
  const load = new LoadSampler();
  await Promise.all([...baton.fleet.nodes.values()].map((n) => n.touchSentinel()));
  let end: number | undefined;
  let lastLog = 0;
  while (Date.now() - t0 < limitMs) {
    if (tl.complete()) {
      end = Date.now();
      break;
    }
    if (tl.doneCount() !== lastLog && tl.doneCount() % 10 === 0) {
      lastLog = tl.doneCount();
      log(`baton rollout: ${lastLog}/${names.length} done after ${Math.round((Date.now() - t0) / 1000)} s`);
    }
    await sleep(200);
  }
  ws.stop();
  wr.stop();
  return { ...summarize(tl, t0, end, names.length), load: load.stop() };
}

export interface KuredRolloutResult extends RolloutSide {
  /** RSS of idle kured processes (MiB, median) and the largest seen while one drained. */
  idleRssMiB: number;
  peakRssMiB: number;
}

/** The same rollout by kured on `names` (baton stopped before). */
export async function kuredRollout(
  kc: KubeConfig,
  cluster: Cluster,
  binary: string,
  names: readonly string[],
  dir: string,
  opts: {
    period: string;
    rebootMs: number;
    limitMs: number;
    /** Runs once every kured is up, before any sentinel is touched (the API load window). */
    beforeTouch?: () => Promise<void>;
  },
  log: (s: string) => void,
): Promise<KuredRolloutResult> {
  const fleet = new KuredFleet({ kc, cluster, binary, dir, period: opts.period, rebootMs: opts.rebootMs });
  try {
    await fleet.start(names);
    // Started and past its first lock check (a random 30–90 s), so the start-up is not timed.
    await sleep(5000);
    const dead = [...fleet.nodes.values()].filter((n) => n.proc?.hasExited());
    if (dead.length > 0)
      throw new Error(`kured exited at start on ${dead.map((n) => n.name).join(', ')}; see ${dir}`);
    const rss: number[] = [];
    for (const n of fleet.nodes.values()) {
      const pid = fleet.kuredPid(n);
      if (pid !== undefined) rss.push(rssMiB(pid));
    }
    const idleRssMiB = round(percentile(rss, 50), 1);
    await opts.beforeTouch?.();
    const stillDead = [...fleet.nodes.values()].filter((n) => n.proc?.hasExited());
    if (stillDead.length > 0)
      throw new Error(`kured exited on ${stillDead.map((n) => n.name).join(', ')}; see ${dir}`);
    const t0 = Date.now();
    const tl = new Timeline(names, t0);
    let holder: string | undefined;
    const wl = watchStamped<V1DaemonSet>(kc, '/apis/apps/v1/namespaces/kube-system/daemonsets', (ds, at) => {
      if (ds.metadata?.name !== 'kured') return;
      const now = kuredLockHolder(ds);
      if (now === holder) return;
      if (holder !== undefined) tl.released(holder, at);
      if (now !== undefined) tl.granted(now, at);
      holder = now;
    });
    const wr = watchReady(kc, new Set(names), (n, r, at) => tl.ready(n, r, at));
    const load = new LoadSampler();
    await Promise.all([...fleet.nodes.values()].map((n) => n.touchSentinel()));
    let peakRssMiB = 0;
    let end: number | undefined;
    let lastLog = 0;
    while (Date.now() - t0 < opts.limitMs) {
      if (tl.complete()) {
        end = Date.now();
        break;
      }
      if (holder !== undefined) {
        const n = fleet.nodes.get(holder);
        const pid = n ? fleet.kuredPid(n) : undefined;
        try {
          if (pid !== undefined) peakRssMiB = Math.max(peakRssMiB, rssMiB(pid));
        } catch {
          // rebooted between two samples
        }
      }
      if (tl.doneCount() !== lastLog) {
        lastLog = tl.doneCount();
        log(`kured rollout: ${lastLog}/${names.length} done after ${Math.round((Date.now() - t0) / 1000)} s`);
      }
      await sleep(200);
    }
    wl.stop();
    wr.stop();
    const s = summarize(tl, t0, end, names.length);
    return {
      ...s,
      load: load.stop(),
      idleRssMiB,
      peakRssMiB: round(peakRssMiB, 1),
      note:
        end === undefined
          ? `stopped after the time limit (${Math.round(opts.limitMs / 1000)} s) with ${tl.doneCount()} of ${names.length} nodes done`
          : undefined,
    };
  } finally {
    await fleet.stop();
    // Leave no kured lock behind for whatever runs next on this cluster.
    const apps = kc.makeApiClient(AppsV1Api);
    const ds = await apps
      .readNamespacedDaemonSet({ name: 'kured', namespace: 'kube-system' })
      .catch(() => undefined);
    if (ds?.metadata?.annotations?.['weave.works/kured-node-lock']) {
      delete ds.metadata.annotations['weave.works/kured-node-lock'];
      await apps
        .replaceNamespacedDaemonSet({ name: 'kured', namespace: 'kube-system', body: ds })
        .catch(() => undefined);
    }
    if (!process.env.BENCH_KEEP_LOGS) await rm(dir, { recursive: true, force: true });
  }
}
