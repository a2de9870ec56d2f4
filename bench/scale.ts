/**
 * The controller with 1,000 and 5,000 nodes on a control plane of its own.
 *
 * The nodes are fake Node objects of the kwok template whose status a synthetic reporter writes
 * instead of kwok: Ready and RebootRequired=False at creation (as each agent reports when it
 * starts), then the RebootRequired condition rewritten at the agents' heartbeat rate (every
 * node once per --heartbeat-interval, default 5 min), as 5,000 agents would. kwok itself is
 * not asked to play 5,000 kubelets: its per-node lease renewals alone would be hundreds of
 * writes a second, more than this 2-core machine serves next to the controller being measured. The control plane tolerates the missing kubelet heartbeats
 * (node-monitor-grace-period 24h), so the nodes stay Ready.
 *
 * Measured: the controller's resident memory and CPU while idle (nothing to do but keep its
 * caches and re-plan on every reported change), the planner's time for one plan over all nodes
 * (plan() on the nodes as listed from the API server, in this process), and the grant latency
 * under that load: a node's condition set to True → a slot Lease names it.
 */
import { spawn } from 'node:child_process';
import { REBOOT_REQUIRED_CONDITION, RebootRequiredReason, SLOT_LEASE_PREFIX } from '@baton/protocol';
import {
  CoordinationV1Api,
  CoreV1Api,
  type KubeConfig,
  type V1Lease,
  type V1Node,
} from '@kubernetes/client-node';
import { startCluster } from '../e2e/harness/cluster.ts';
import { startController } from '../e2e/harness/controller.ts';
import { loadKubeConfig, strategicMerge, waitFor } from '../e2e/harness/kube.ts';
import { releaseSlot } from '../e2e/harness/leases.ts';
import { createTestNamespace } from '../e2e/harness/namespace.ts';
import { grantControllerRbac } from '../e2e/harness/rbac.ts';
import { type PlanSettings, plan } from '../packages/controller/src/plan/plan.ts';
import { projectNode } from '../packages/controller/src/reconcile/node-projection.ts';
import { baseSettings } from '../packages/controller/src/testing/test-support.ts';
import { bundles } from '../scripts/bundle.ts';
import { cpuSeconds, LoadSampler, percentile, round, rssMiB, sleep, watchStamped } from './lib.ts';

export interface ScaleResult {
  nodes: number;
  createSeconds: number;
  reporterPatchesPerSecond: number;
  controllerRssMiB: number;
  controllerIdleCpuPercent: number;
  idleWindowSeconds: number;
  planMs: { p50: number; p99: number; runs: number };
  /** Set when the measured plan did not grant the one pending node (the figure is then void). */
  planProblem?: string | undefined;
  /** baton_reconcile_requests_total over the idle window, per second, by source. */
  reconcileRequestsPerSecond?: Record<string, number>;
  grantLatencySeconds: { p50: number; p99: number; max: number; samples: number };
  load: { min: number; mean: number; max: number };
}

const HEARTBEAT_MS = 5 * 60_000;

function fakeNode(name: string): V1Node {
  const now = new Date();
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      annotations: { 'node.alpha.kubernetes.io/ttl': '0' },
      // With the beta labels the controller-manager would otherwise add to each new node.
      labels: {
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        'beta.kubernetes.io/os': 'linux',
        'beta.kubernetes.io/arch': 'amd64',
        type: 'kwok',
      },
    },
    status: {
      allocatable: { cpu: '32', memory: '256Gi', pods: '110' },
      capacity: { cpu: '32', memory: '256Gi', pods: '110' },
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'KubeletReady',
          lastHeartbeatTime: now,
          lastTransitionTime: now,
        },
        // Reported from the start, as each agent does when it starts.
        ...conditionPatch(false).status.conditions,
      ],
      nodeInfo: {
        architecture: 'amd64',
        bootID: crypto.randomUUID(),
        containerRuntimeVersion: 'kwok',
        kernelVersion: 'kwok',
        kubeProxyVersion: 'kwok',
        kubeletVersion: 'kwok',
        machineID: crypto.randomUUID(),
        operatingSystem: 'linux',
        osImage: 'kwok',
        systemUUID: crypto.randomUUID(),
      },
    },
  };
}

/** Runs `fn` over `items` with at most `width` in flight. */
async function pool<T>(items: readonly T[], width: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) {
        const item = items[next++] as T;
        await fn(item);
      }
    }),
  );
}

/**
 * The RebootRequired condition as an agent writes it: a change of status moves
 * lastTransitionTime; a heartbeat (`transition` false) moves only lastHeartbeatTime, and the
 * strategic merge keeps the transition time the node has.
 */
function conditionPatch(needs: boolean, transition = true) {
  const now = new Date();
  return {
    status: {
      conditions: [
        {
          type: REBOOT_REQUIRED_CONDITION,
          status: needs ? 'True' : 'False',
          reason: needs ? RebootRequiredReason.SentinelPresent : RebootRequiredReason.NoSentinel,
          message: needs ? 'synthetic reporter: sentinel present' : 'synthetic reporter: no sentinel',
          lastHeartbeatTime: now,
          ...(transition ? { lastTransitionTime: now } : {}),
        },
      ],
    },
  };
}

/** The planner's everyday settings (one slot, no settle time, always in the window). */
const SETTINGS: PlanSettings = baseSettings;
/** Timed plans at each size (after 10 warm-up runs): enough for a p99 that is not the maximum. */
const PLAN_RUNS = 200;

export async function scaleBench(
  count: number,
  opts: { idleSeconds: number; samples: number; dir: string; controllerEntry: string },
  log: (s: string) => void,
): Promise<ScaleResult> {
  const cluster = await startCluster({
    name: `bench-scale-${process.pid}`,
    nodeMonitorGracePeriod: '24h',
    // Its default 20 requests/s would take minutes to finish its one-time work on thousands of
    // new nodes (removing the not-ready taint), and the controller would see that as load.
    extraArgs: { 'kube-controller-manager': ['--kube-api-qps=500', '--kube-api-burst=1000'] },
  });
  let reporter: NodeJS.Timeout | undefined;
  let controllerStop: (() => Promise<void>) | undefined;
  try {
    const kc: KubeConfig = loadKubeConfig(cluster.kubeconfigPath);
    const core = kc.makeApiClient(CoreV1Api);
    const names = Array.from({ length: count }, (_, i) => `scale-${i}`);
    const t0 = Date.now();
    // kubectl create, a few processes in parallel: one TLS connection each, reused per object.
    const chunks: string[][] = [];
    for (let i = 0; i < names.length; i += 500) chunks.push(names.slice(i, i + 500));
    const kubectl = (args: string[], input: string) =>
      new Promise<string>((resolve, reject) => {
        const child = spawn(cluster.tools.kubectl, [`--kubeconfig=${cluster.kubeconfigPath}`, ...args], {
          stdio: ['pipe', 'pipe', 'pipe'],
        });
        let out = '';
        let err = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
        });
        child.stderr.on('data', (d: Buffer) => {
          err += d.toString();
        });
        child.once('exit', (code) =>
          code === 0 ? resolve(out) : reject(new Error(`kubectl ${args[0]}: ${err.slice(-500)}`)),
        );
        child.stdin.end(input);
      });
    await pool(chunks, 4, async (chunk) => {
      const list = { apiVersion: 'v1', kind: 'List', items: chunk.map((n) => fakeNode(n)) };
      await kubectl(['create', '-f', '-'], JSON.stringify(list));
    });
    // The API server does not keep the conditions given at creation: they are written through
    // the status subresource.
    const all = JSON.parse(await kubectl(['get', 'nodes', '-l', 'type=kwok', '-o', 'json'], '')) as {
      items: V1Node[];
    };
    // Unconditional (no resourceVersion): the controller-manager annotates new nodes meanwhile.
    const withStatus = all.items.map((n) => ({
      ...n,
      metadata: { ...n.metadata, resourceVersion: undefined },
      apiVersion: 'v1',
      kind: 'Node',
      status: { ...n.status, conditions: fakeNode(n.metadata?.name ?? '').status?.conditions },
    }));
    const statusChunks: (typeof withStatus)[] = [];
    for (let i = 0; i < withStatus.length; i += 500) statusChunks.push(withStatus.slice(i, i + 500));
    await pool(statusChunks, 4, async (chunk) => {
      // A replace can still meet a Conflict while the node controllers write the same nodes;
      // it is idempotent, so it is simply tried again.
      for (let attempt = 1; ; attempt++) {
        try {
          await kubectl(
            ['replace', '--subresource=status', '-f', '-'],
            JSON.stringify({ apiVersion: 'v1', kind: 'List', items: chunk }),
          );
          return;
        } catch (err) {
          if (attempt >= 5 || !String(err).includes('Conflict')) throw err;
          await sleep(1000);
        }
      }
    });
    // The idle window measures the controller at steady state: first the control plane finishes
    // with the new nodes (the node lifecycle controller removes the not-ready taint each got at
    // creation), which the controller would otherwise rightly re-plan on.
    await waitFor(
      'the node lifecycle controller done with every new node',
      async () =>
        (await core.listNode({ labelSelector: 'type=kwok' })).items.every(
          (n) => !(n.spec?.taints ?? []).some((t) => t.key === 'node.kubernetes.io/not-ready'),
        ),
      1_200_000,
    );
    const createSeconds = round((Date.now() - t0) / 1000, 1);
    log(`scale ${count}: ${count} nodes created and reported in ${createSeconds} s`);

    // The synthetic reporter: each node's condition rewritten once per heartbeat interval.
    const perTick = Math.max(1, Math.round((count * 1000) / HEARTBEAT_MS));
    let cursor = 0;
    let patches = 0;
    const pending = new Set<string>();
    reporter = setInterval(() => {
      for (let i = 0; i < perTick; i++) {
        const name = names[cursor++ % names.length] as string;
        if (pending.has(name)) continue;
        patches++;
        void core
          .patchNodeStatus({ name, body: conditionPatch(false, false) }, strategicMerge)
          .catch(() => undefined);
      }
    }, 1000);

    const ns = await createTestNamespace(kc, 'bench-scale');
    await grantControllerRbac(kc, ns, 'baton-controller');
    const started = await startController(kc, {
      namespace: ns,
      serviceAccount: 'baton-controller',
      dir: opts.dir,
      args: ['--concurrency=1'],
      tokenExpirationSeconds: 6 * 3600,
      entry: opts.controllerEntry,
      // The image's Node flags, then any given for a profile ("--cpu-prof --cpu-prof-dir=/tmp/p").
      nodeArgs: [
        ...bundles.controller.nodeFlags,
        ...(process.env.BENCH_CONTROLLER_NODE_ARGS ?? '').split(' ').filter((a) => a !== ''),
      ],
    });
    controllerStop = () => started.process.stop();
    const pid = started.process.pid;
    await waitFor(
      'the controller synced every node',
      async () => {
        const res = await fetch(started.metricsUrl).catch(() => undefined);
        const text = res ? await res.text() : '';
        return (text.match(/^baton_node_reboot_required\{/gm) ?? []).length >= count;
      },
      600_000,
    );
    log(`scale ${count}: controller synced; settling 30 s before the idle window`);
    await sleep(30_000);

    const reconcileRequests = async (): Promise<Map<string, number>> => {
      const text = await (await fetch(started.metricsUrl)).text();
      const out = new Map<string, number>();
      for (const m of text.matchAll(/^baton_reconcile_requests_total\{source="(\w+)"\} (\d+)/gm))
        out.set(m[1] ?? '', Number(m[2]));
      return out;
    };
    const load = new LoadSampler();
    const requestsBefore = await reconcileRequests();
    const patchesBefore = patches;
    const cpu0 = cpuSeconds(pid);
    const w0 = Date.now();
    const rss: number[] = [];
    while (Date.now() - w0 < opts.idleSeconds * 1000) {
      rss.push(rssMiB(pid));
      await sleep(1000);
    }
    const windowSeconds = (Date.now() - w0) / 1000;
    const idleCpu = ((cpuSeconds(pid) - cpu0) / windowSeconds) * 100;
    const reporterRate = (patches - patchesBefore) / windowSeconds;
    const requestsAfter = await reconcileRequests();
    const reconcileRequestsPerSecond = Object.fromEntries(
      [...requestsAfter].map(([source, n]) => [
        source,
        round((n - (requestsBefore.get(source) ?? 0)) / windowSeconds, 2),
      ]),
    );
    log(
      `scale ${count}: reconcile requests per second while idle ${JSON.stringify(reconcileRequestsPerSecond)}`,
    );
    log(`scale ${count}: idle CPU ${idleCpu.toFixed(2)} %, RSS ${percentile(rss, 50).toFixed(1)} MiB`);

    // The planner over all nodes as the controller caches them (listed, then projected), one of
    // them pending.
    const listed = (await core.listNode()).items.map(projectNode);
    const leases = (await kc.makeApiClient(CoordinationV1Api).listNamespacedLease({ namespace: ns })).items;
    const withoutCondition = listed.filter(
      (n) => !n.status?.conditions?.some((c) => c.type === REBOOT_REQUIRED_CONDITION),
    ).length;
    if (withoutCondition > 0) log(`scale ${count}: ${withoutCondition} nodes listed without the condition`);
    const target = listed[Math.floor(listed.length / 2)];
    const others = target?.status?.conditions?.filter((c) => c.type !== REBOOT_REQUIRED_CONDITION) ?? [];
    const needs = {
      type: REBOOT_REQUIRED_CONDITION,
      status: 'True',
      reason: RebootRequiredReason.SentinelPresent,
    };
    if (target?.status) target.status.conditions = [...others, needs];
    const planTimes: number[] = [];
    let planProblem: string | undefined;
    // The first runs warm the JIT up, as the controller's own first reconciles do: not counted.
    for (let i = 0; i < 10 + PLAN_RUNS; i++) {
      const s = performance.now();
      const p = plan({ now: new Date(), nodes: listed, leases, settings: SETTINGS, settleFacts: new Map() });
      if (i >= 10) planTimes.push(performance.now() - s);
      if (i === 0 && p.grants.length !== 1)
        planProblem = `plan over ${count} nodes granted ${p.grants.length}, expected 1 (${target?.metadata?.name}: ${JSON.stringify(
          [...p.waiting.entries()].slice(0, 3),
        )}; leases ${JSON.stringify(leases.map((l) => [l.metadata?.name, l.spec?.holderIdentity]))})`;
    }

    // Grant latency under the reporter's load.
    let waiting: { node: string; resolve: (at: number) => void } | undefined;
    const w = watchStamped<V1Lease>(kc, `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`, (l, at) => {
      if (!l.metadata?.name?.startsWith(SLOT_LEASE_PREFIX)) return;
      if (waiting && l.spec?.holderIdentity === waiting.node) waiting.resolve(at);
    });
    await sleep(1000);
    const latencies: number[] = [];
    try {
      for (let i = 0; i < opts.samples; i++) {
        const name = names[(i * 7919) % names.length] as string;
        pending.add(name);
        const granted = new Promise<number>((resolve) => {
          waiting = { node: name, resolve };
        });
        const t = Date.now();
        await core.patchNodeStatus({ name, body: conditionPatch(true) }, strategicMerge);
        const at = await Promise.race([
          granted,
          sleep(120_000).then(() => {
            throw new Error(`no grant for ${name} within 120 s at ${count} nodes`);
          }),
        ]);
        latencies.push((at - t) / 1000);
        // Done with it: the condition back to False. No agent started work under the grant, so
        // the controller releases the slot itself (no longer needed); emptied by hand only if
        // it has not within 30 s (a conflict there is the controller writing it meanwhile).
        await core.patchNodeStatus({ name, body: conditionPatch(false) }, strategicMerge);
        const coordination = kc.makeApiClient(CoordinationV1Api);
        const holding = async () =>
          (await coordination.listNamespacedLease({ namespace: ns })).items.filter(
            (l) => l.spec?.holderIdentity === name,
          );
        const released = await waitFor(
          `${name}'s slot released`,
          async () => ((await holding()).length === 0 ? true : undefined),
          30_000,
        ).catch(() => false);
        if (!released) {
          for (const l of await holding()) {
            await releaseSlot(kc, ns, l.metadata?.name ?? '').catch((err: unknown) => {
              if ((err as { code?: number }).code !== 409) throw err;
            });
          }
        }
        pending.delete(name);
        await sleep(1000);
      }
    } finally {
      w.stop();
    }
    return {
      nodes: count,
      createSeconds,
      reporterPatchesPerSecond: round(reporterRate, 1),
      controllerRssMiB: round(percentile(rss, 50), 1),
      controllerIdleCpuPercent: round(idleCpu, 2),
      reconcileRequestsPerSecond,
      idleWindowSeconds: round(windowSeconds, 0),
      planProblem,
      planMs: {
        p50: round(percentile(planTimes, 50), 2),
        p99: round(percentile(planTimes, 99), 2),
        runs: planTimes.length,
      },
      grantLatencySeconds: {
        p50: round(percentile(latencies, 50), 3),
        p99: round(percentile(latencies, 99), 3),
        max: round(Math.max(...latencies), 3),
        samples: latencies.length,
      },
      load: load.stop(),
    };
  } finally {
    clearInterval(reporter);
    await controllerStop?.();
    await cluster.stop();
  }
}
