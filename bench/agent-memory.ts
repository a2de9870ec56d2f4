/**
 * Agent resident memory, idle and while draining 100 pods, next to an empty Node 24 process
 * measured in the same run; and the drain next to `kubectl drain` of 100 pods on a second node
 * of the same cluster (time and peak memory). The agent runs as the image runs it: the esbuild
 * bundle.
 *
 *   npx pnpm@12.4.2 run bench:agent-memory
 *
 * Prints a table and writes bench/results/agent-memory.json.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AgentPhase, Annotation } from '@baton/protocol';
import { CoreV1Api } from '@kubernetes/client-node';
import { startCluster } from '../e2e/harness/cluster.ts';
import { Fleet } from '../e2e/harness/fleet.ts';
import { createFakeNodes, loadKubeConfig, waitFor, waitForNodesReady } from '../e2e/harness/kube.ts';
import { acknowledgeReboots, grantSlot } from '../e2e/harness/leases.ts';
import { createTestNamespace } from '../e2e/harness/namespace.ts';
import { grantAgentRbac } from '../e2e/harness/rbac.ts';
import { AGENT_NODE_FLAGS, bundle, bundles, MALLOC_ENV } from '../scripts/bundle.ts';
import { deployPodsOnNode, emptyNodeRssMiB, kubectlDrain, rssMiB, sleep } from './lib.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const PODS = Number(process.env.BENCH_PODS ?? 100);
/** Idle means settled: V8 shrinks its heap only after a quiet while (its memory reducer). */
const IDLE_SETTLE_MS = 30_000;

const work = await mkdtemp(join(tmpdir(), 'baton-bench-agent-'));
const bundleDir = join(work, 'bundle');
await bundle(bundleDir);
const cluster = await startCluster({ name: `bench-agent-${process.pid}` });
try {
  const kc = loadKubeConfig(cluster.kubeconfigPath);
  const core = kc.makeApiClient(CoreV1Api);
  const ns = await createTestNamespace(kc, 'bench');
  const [node, refNode] = await createFakeNodes(kc, { prefix: 'bench', count: 2 });
  if (!node || !refNode) throw new Error('no nodes');
  await waitForNodesReady(kc, [node, refNode]);
  await grantAgentRbac(kc, ns, 'baton-agent');
  // The image's flags (scripts/bundle.ts) unless BENCH_NODE_ARGS names others ('' for none).
  const nodeArgs =
    process.env.BENCH_NODE_ARGS === undefined
      ? AGENT_NODE_FLAGS
      : process.env.BENCH_NODE_ARGS.split(' ').filter((a) => a !== '');
  const fleet = new Fleet({
    kc,
    namespace: ns,
    serviceAccount: 'baton-agent',
    dir: join(work, 'fleet'),
    agentEntry: join(bundleDir, bundles.agent.out),
    nodeArgs,
  });
  const [sim] = await fleet.add([node]);
  if (!sim?.agent) throw new Error('no agent');

  await deployPodsOnNode(kc, ns, { app: 'load', node, count: PODS, timeoutMs: 180_000 });
  await deployPodsOnNode(kc, ns, { app: 'reference', node: refNode, count: PODS, timeoutMs: 180_000 });

  // Idle: synced, reported, nothing to do, for IDLE_SETTLE_MS; then sample for 10 s.
  await sleep(IDLE_SETTLE_MS);
  const idleSamples: number[] = [];
  for (let i = 0; i < 20; i++) {
    idleSamples.push(rssMiB(sim.agent.pid));
    await sleep(500);
  }
  const empty = await emptyNodeRssMiB(nodeArgs, MALLOC_ENV);
  // Where the idle memory is, from the agent's own default metrics.
  const idleMetrics = await (await fetch(sim.metricsUrl)).text();
  const metric = (name: string) =>
    +(
      Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(idleMetrics)?.[1] ?? 'NaN') /
      2 ** 20
    ).toFixed(1);
  const idleHeap = {
    heapTotalMiB: metric('nodejs_heap_size_total_bytes'),
    heapUsedMiB: metric('nodejs_heap_size_used_bytes'),
    externalMiB: metric('nodejs_external_memory_bytes'),
  };

  // During the drain of 100 pods.
  await sim.touchSentinel();
  await waitFor('RebootRequired=True', async () => {
    const n = await core.readNode({ name: node });
    return n.status?.conditions?.some((c) => c.type === 'RebootRequired' && c.status === 'True');
  });
  const drainPid = sim.agent.pid;
  const started = Date.now();
  await grantSlot(kc, ns, 'baton-slot-0', node, 600);
  // The controller's part of the handshake (start, then the reboot), as soon as the agent asks.
  const acks = acknowledgeReboots(kc, ns, [node]);
  let peak = 0;
  const drainSamples: number[] = [];
  for (;;) {
    try {
      const rss = rssMiB(drainPid);
      drainSamples.push(rss);
      peak = Math.max(peak, rss);
    } catch {
      break; // the simulated reboot killed it
    }
    const phase = (await core.readNode({ name: node })).metadata?.annotations?.[Annotation.Phase];
    if (phase === AgentPhase.Rebooting || phase === AgentPhase.Verifying || phase === AgentPhase.Rebooted)
      break;
    if (Date.now() - started > 300_000) throw new Error('drain did not finish in 5 min');
    await sleep(100);
  }
  const drainSeconds = (Date.now() - started) / 1000;
  await acks.stop();
  await fleet.stop();

  // The reference on the same run: kubectl drain of as many pods on the other node.
  const { seconds: kubectlSeconds, peakRssMiB: kubectlPeak } = await kubectlDrain(
    'kubectl',
    cluster.kubeconfigPath,
    refNode,
    300,
  );

  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
  const idle = median(idleSamples);
  const result = {
    date: new Date().toISOString(),
    node: process.version,
    pods: PODS,
    emptyNodeRssMiB: +empty.toFixed(1),
    agentIdleRssMiB: +idle.toFixed(1),
    agentIdleAboveEmptyMiB: +(idle - empty).toFixed(1),
    agentIdleHeap: idleHeap,
    agentDrainPeakRssMiB: +peak.toFixed(1),
    drainSamples: drainSamples.length,
    grantToRebootSeconds: +drainSeconds.toFixed(1),
    kubectlDrainSeconds: +kubectlSeconds.toFixed(1),
    kubectlDrainPeakRssMiB: +kubectlPeak.toFixed(1),
    loadAverage1m: +(loadavg()[0] ?? 0).toFixed(2),
    targetIdleAboveEmptyMiB: 25,
  };
  const rows = [
    ['empty Node process (same run)', `${result.emptyNodeRssMiB} MiB`],
    ['baton-agent bundle, idle (median of 20)', `${result.agentIdleRssMiB} MiB`],
    ['  above the empty process (target ≤ 25)', `${result.agentIdleAboveEmptyMiB} MiB`],
    [
      '  of which V8 heap (total / used / external)',
      `${idleHeap.heapTotalMiB} / ${idleHeap.heapUsedMiB} / ${idleHeap.externalMiB} MiB`,
    ],
    [`baton-agent, peak while draining ${PODS} pods`, `${result.agentDrainPeakRssMiB} MiB`],
    ['grant → reboot requested (cordon, drain, reboot)', `${result.grantToRebootSeconds} s`],
    [`reference: kubectl drain of ${PODS} pods, same run`, `${result.kubectlDrainSeconds} s`],
    ['reference: kubectl drain, peak memory', `${result.kubectlDrainPeakRssMiB} MiB`],
    ['machine load average (1 min) at the end', `${result.loadAverage1m}`],
  ];
  const width = Math.max(...rows.map((r) => r[0]?.length ?? 0));
  process.stdout.write(`\n${rows.map(([k, v]) => `${(k ?? '').padEnd(width)}  ${v}`).join('\n')}\n`);
  await mkdir(join(root, 'bench', 'results'), { recursive: true });
  await writeFile(
    join(root, 'bench', 'results', 'agent-memory.json'),
    `${JSON.stringify(result, null, 2)}\n`,
  );
} finally {
  await cluster.stop();
  await rm(work, { recursive: true, force: true });
}
