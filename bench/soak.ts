/**
 * Soak: many simulated reboots under random faults, with the safety invariants checked the
 * whole time. A control plane of its own (e2e/harness/cluster.ts), two controller replicas with
 * leader election, a real agent per fake node; every round touches every node's sentinel and
 * waits until each node rebooted and every slot is free, while faults strike at random moments:
 * the controller leader SIGKILLed, agents SIGKILLed mid-drain and mid-reboot, kube-apiserver
 * restarted, etcd paused. The invariant recorder (e2e/harness/invariant-recorder.ts) watches every
 * slot Lease and Node; each round ends with the end-state checks.
 *
 *   npx pnpm@12.4.2 run bench:soak
 *
 * Environment: SOAK_REBOOTS (at least this many reboots, default 200), SOAK_NODES (25),
 * SOAK_CONCURRENCY (3), SOAK_SEED (random; printed, so a run can be repeated),
 * SOAK_FAULT_GAP_MS (mean pause between two faults, default 15000), SOAK_ROUND_TIMEOUT_MS
 * (a round that does not finish in this time is reported stuck and ends the soak, default 1800000).
 *
 * Prints a table and writes bench/results/soak.json and bench/results/soak.md.
 */
import { randomInt } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AgentPhase, Annotation, IN_FLIGHT_PHASES } from '@baton/protocol';
import { CoreV1Api } from '@kubernetes/client-node';
import { startCluster } from '../e2e/harness/cluster.ts';
import { ControllerReplicas, FAULT_KINDS, FaultInjector, type FaultKind } from '../e2e/harness/faults.ts';
import { Fleet } from '../e2e/harness/fleet.ts';
import { InvariantRecorder } from '../e2e/harness/invariant-recorder.ts';
import type { Violation } from '../e2e/harness/invariants.ts';
import { createFakeNodes, loadKubeConfig, waitForNodesReady } from '../e2e/harness/kube.ts';
import { createTestNamespace } from '../e2e/harness/namespace.ts';
import { grantAgentRbac, grantControllerRbac } from '../e2e/harness/rbac.ts';
import { envInt, sleep } from './lib.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const REBOOTS = envInt('SOAK_REBOOTS', 200);
const NODES = Math.max(1, envInt('SOAK_NODES', 25));
const CONCURRENCY = Math.max(1, envInt('SOAK_CONCURRENCY', 3));
const SEED = envInt('SOAK_SEED', randomInt(1, 2 ** 31 - 1));
const FAULT_GAP_MS = Math.max(1000, envInt('SOAK_FAULT_GAP_MS', 15_000));
const ROUND_TIMEOUT_MS = envInt('SOAK_ROUND_TIMEOUT_MS', 1_800_000);
const ROUNDS = Math.ceil(REBOOTS / NODES);

/** mulberry32: a small seeded generator, so a seed replays the same fault choices. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = rng(SEED);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;
const log = (line: string) =>
  process.stderr.write(`[soak ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

interface RoundReport {
  round: number;
  seconds: number;
  reboots: number;
  faults: number;
  endViolations: number;
}

log(`seed ${SEED}: ${NODES} nodes × ${ROUNDS} rounds (≥ ${REBOOTS} reboots), concurrency ${CONCURRENCY}`);
const t0 = Date.now();
const work = await mkdtemp(join(tmpdir(), 'baton-soak-'));
const cluster = await startCluster({ name: `soak-${process.pid}` });
let recorder: InvariantRecorder | undefined;
let controllers: ControllerReplicas | undefined;
let fleet: Fleet | undefined;
const rounds: RoundReport[] = [];
let stuck: string | undefined;
let faults: FaultInjector | undefined;
// Ctrl-C ends the soak cleanly: the round loop stops, everything is stopped, the report written.
process.once('SIGINT', () => {
  stuck = 'interrupted (SIGINT)';
});
process.once('SIGTERM', () => {
  stuck = 'interrupted (SIGTERM)';
});
try {
  const kc = loadKubeConfig(cluster.kubeconfigPath);
  const core = kc.makeApiClient(CoreV1Api);
  const ns = await createTestNamespace(kc, 'soak');
  const names = await createFakeNodes(kc, { prefix: 'soak', count: NODES });
  await waitForNodesReady(kc, names, 300_000);
  await grantAgentRbac(kc, ns, 'baton-agent');
  await grantControllerRbac(kc, ns, 'baton-controller');
  fleet = new Fleet({
    kc,
    namespace: ns,
    serviceAccount: 'baton-agent',
    dir: join(work, 'fleet'),
    rebootMs: 1000,
    rebootCommandMs: 1000,
    kubeletPodStatus: true,
    // A short shutdown grace: an agent killed while its reboot command runs waits it out before
    // it concludes anything (the default 10m would stall a round).
    agentArgs: ['--drain-delay=1s', '--shutdown-grace=20s'],
    tokenExpirationSeconds: 48 * 3600,
  });
  await fleet.add(names);
  const f = fleet;
  recorder = new InvariantRecorder({
    kc,
    namespace: ns,
    concurrency: CONCURRENCY,
    nodeSelector: `baton.dev/e2e-fleet=${ns}`,
    reboots: () => f.rebootLog,
  });
  await recorder.start();
  const rec = recorder;
  controllers = new ControllerReplicas(kc, {
    namespace: ns,
    serviceAccount: 'baton-controller',
    dir: join(work, 'controllers'),
    args: [
      `--concurrency=${CONCURRENCY}`,
      '--period=1s',
      '--grant-duration=30s',
      '--settle-time=0s',
      '--abort-backoff=5s',
      '--leader-election-lease-duration=6s',
      '--leader-election-renew-deadline=4s',
      '--leader-election-retry-period=1s',
    ],
  });
  await controllers.start('ctl-a');
  await controllers.start('ctl-b');
  const injector = new FaultInjector({
    control: cluster.control,
    fleet,
    controllers,
    nodes: () => rec.checker.nodes(),
    log,
  });
  faults = injector;

  /** One random fault; agent faults need a node in the right phase and are skipped otherwise. */
  const strike = async (): Promise<void> => {
    const kind: FaultKind = pick(FAULT_KINDS);
    switch (kind) {
      case 'controller-leader-kill':
        await injector.killLeader();
        break;
      case 'agent-kill-mid-drain':
        await injector.killAgentIn(AgentPhase.Draining, Math.floor(random() * NODES));
        break;
      case 'agent-kill-mid-reboot':
        await injector.killAgentIn(AgentPhase.Rebooting, Math.floor(random() * NODES));
        break;
      case 'apiserver-restart':
        await injector.restartApiserver();
        break;
      case 'etcd-pause':
        await injector.pauseEtcd(1000 + Math.floor(random() * 4000));
        break;
    }
  };

  for (let round = 1; round <= ROUNDS && stuck === undefined; round++) {
    const r0 = Date.now();
    const before = new Map(names.map((n) => [n, f.nodes.get(n)?.reboots ?? 0]));
    const faultsBefore = injector.history.length;
    for (const n of f.nodes.values()) await n.touchSentinel();
    log(`round ${round}/${ROUNDS}: every sentinel touched`);
    let done = false;
    let nextFault = Date.now() + FAULT_GAP_MS * (0.5 + random());
    let lastProgress = -1;
    while (!done && stuck === undefined) {
      if (Date.now() - r0 > ROUND_TIMEOUT_MS) {
        stuck = `round ${round} did not finish in ${ROUND_TIMEOUT_MS / 1000} s`;
        break;
      }
      if (Date.now() >= nextFault) {
        await strike().catch((err: unknown) => log(`fault failed: ${String(err)}`));
        nextFault = Date.now() + FAULT_GAP_MS * (0.5 + random());
      }
      const progress = names.filter((n) => (f.nodes.get(n)?.reboots ?? 0) > (before.get(n) ?? 0)).length;
      if (progress !== lastProgress) {
        log(`round ${round}: ${progress}/${NODES} rebooted; holders ${rec.holders().join(',') || '-'}`);
        lastProgress = progress;
      }
      if (progress === NODES && rec.holders().length === 0) {
        const nodes = await core
          .listNode({ labelSelector: `baton.dev/e2e-fleet=${ns}` })
          .catch(() => undefined);
        // Every node rebooted and none still at work: an Aborted node that rebooted all the same is
        // for the end-state checks to judge, not a reason to wait forever.
        done =
          nodes?.items.every(
            (n) => !IN_FLIGHT_PHASES.has(n.metadata?.annotations?.[Annotation.Phase] ?? ''),
          ) ?? false;
      }
      await sleep(500);
    }
    if (stuck !== undefined) break;
    await sleep(3000); // quiet: the watches catch up, and a second reboot would show
    const needed = new Map(names.map((n) => [n, (f.nodes.get(n)?.reboots ?? 0) - (before.get(n) ?? 0)]));
    const end = await rec.checkEnd(needed);
    const reboots = [...needed.values()].reduce((a, b) => a + b, 0);
    rounds.push({
      round,
      seconds: Math.round((Date.now() - r0) / 1000),
      reboots,
      faults: injector.history.length - faultsBefore,
      endViolations: end.length,
    });
    log(
      `round ${round} done in ${Math.round((Date.now() - r0) / 1000)} s: ${reboots} reboots, ` +
        `${injector.history.length - faultsBefore} faults, violations so far ${rec.violations().length}`,
    );
  }
} catch (err) {
  stuck = `the soak failed: ${String(err)}`;
  log(stuck);
} finally {
  await recorder?.stop();
  await controllers?.stop();
  await fleet?.stop();
  await cluster.stop({ keepDir: process.env.SOAK_KEEP === '1' });
}

const violations: Violation[] = recorder?.violations() ?? [];
const rebootsDone = fleet?.rebootLog.length ?? 0;
const report = {
  seed: SEED,
  nodes: NODES,
  concurrency: CONCURRENCY,
  roundsPlanned: ROUNDS,
  roundsDone: rounds.length,
  rebootsTarget: REBOOTS,
  rebootsDone,
  rebootRequestsJudged: recorder?.checker.requests.length ?? 0,
  faults: faults?.counts ?? {},
  faultsTotal: faults?.history.length ?? 0,
  violations: violations.length,
  violationDetails: violations,
  maxHoldersObserved: recorder?.checker.maxHolders ?? 0,
  maxNodesDownObserved: recorder?.checker.maxDown ?? 0,
  leaseVersionsChecked: recorder?.checker.samples ?? 0,
  watchInterruptions: recorder?.errors.length ?? 0,
  relists: recorder?.relists ?? 0,
  stuck: stuck ?? null,
  durationSeconds: Math.round((Date.now() - t0) / 1000),
  rounds,
  faultHistory: faults?.history ?? [],
  machine: { cpus: cpus().length, loadavg: loadavg().map((l) => Number(l.toFixed(2))) },
  finishedAt: new Date().toISOString(),
};

const rows: [string, string][] = [
  ['seed', String(SEED)],
  ['nodes × rounds', `${NODES} × ${rounds.length} (planned ${ROUNDS})`],
  ['concurrency', String(CONCURRENCY)],
  ['reboots done', String(rebootsDone)],
  ['reboot requests judged', String(report.rebootRequestsJudged)],
  ...FAULT_KINDS.map((k): [string, string] => [`faults: ${k}`, String(faults?.counts[k] ?? 0)]),
  ['faults total', String(report.faultsTotal)],
  ['invariant violations', String(violations.length)],
  ['max holders observed', `${report.maxHoldersObserved} (allowed ${CONCURRENCY})`],
  ['max nodes down at once', `${report.maxNodesDownObserved} (allowed ${CONCURRENCY})`],
  ['Lease versions checked', String(report.leaseVersionsChecked)],
  ['watch interruptions / relists', `${report.watchInterruptions} / ${report.relists}`],
  ['duration', `${(report.durationSeconds / 60).toFixed(1)} min`],
  ['result', stuck ?? (violations.length === 0 ? 'ok' : 'VIOLATIONS')],
];
const width = Math.max(...rows.map(([k]) => k.length));
process.stdout.write(`\n${rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n')}\n`);
for (const v of violations.slice(0, 20))
  process.stdout.write(`violation ${v.kind} ${v.node ?? ''}: ${v.detail}\n`);

const md = [
  '# Soak: reboots under random faults',
  '',
  `Run finished ${report.finishedAt}; \`SOAK_SEED=${SEED} SOAK_NODES=${NODES} SOAK_CONCURRENCY=${CONCURRENCY} SOAK_REBOOTS=${REBOOTS} npx pnpm@12.4.2 run bench:soak\` repeats the fault choices (not their timing).`,
  '',
  '| | |',
  '|---|---|',
  ...rows.map(([k, v]) => `| ${k} | ${v} |`),
  '',
  '## Rounds',
  '',
  '| round | seconds | reboots | faults | end-state violations |',
  '|---:|---:|---:|---:|---:|',
  ...rounds.map((r) => `| ${r.round} | ${r.seconds} | ${r.reboots} | ${r.faults} | ${r.endViolations} |`),
  '',
  '## Violations',
  '',
  ...(violations.length === 0
    ? ['None.']
    : violations.map((v) => `- \`${v.kind}\` ${v.node ?? ''}: ${v.detail}`)),
  '',
  `Machine: ${report.machine.cpus} CPUs, load average at the end ${report.machine.loadavg.join(' ')}.`,
  '',
];
// BENCH_RESULTS_DIR: elsewhere than bench/results (the README test's short run keeps a real run's results).
const out = process.env.BENCH_RESULTS_DIR ?? join(root, 'bench', 'results');
await mkdir(out, { recursive: true });
await writeFile(join(out, 'soak.json'), `${JSON.stringify(report, null, 2)}\n`);
await writeFile(join(out, 'soak.md'), md.join('\n'));
await rm(work, { recursive: true, force: true }).catch(() => undefined);
log(`wrote bench/results/soak.json and bench/results/soak.md`);
process.exit(stuck === undefined && violations.length === 0 ? 0 : 1);
