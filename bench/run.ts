/**
 * The benchmarks of issue 7, side by side with kured on the same local control plane:
 *
 *   npx pnpm@12.4.2 run bench
 *
 * Writes bench/results/bench.json, docs/benchmarks.md and docs/benchmarks-rollout.svg. Sizes
 * come from the environment so a quick run is possible (the committed docs come from a full
 * run with the defaults):
 *   BENCH_TRIALS (50)            touch → grant trials
 *   BENCH_ROLLOUT_NODES (50)     nodes of the rollout (baton, then kured on the same nodes)
 *   BENCH_REBOOT_SECONDS (5)     simulated reboot duration in the rollout
 *   BENCH_KURED_LIMIT_MIN (20)   the kured rollout is stopped after this long
 *   BENCH_API_WINDOW_S (120)     each API-load window of the rollout cluster
 *   BENCH_API_SIZES (25,100)     the two fleet sizes of the API slope (part 'api')
 *   BENCH_API_SLOPE_WINDOW_S (600)   each counted window of the API slope
 *   BENCH_API_SETTLE_S (60)      idle time before each of those windows
 *   BENCH_DRAIN_PODS (110)       pods drained
 *   BENCH_SCALE (1000,5000,10000)   controller scale sizes ('' to skip)
 *   BENCH_SCALE_IDLE_S (60)      idle window at each size
 *   BENCH_SCALE_SAMPLES (10)     grant-latency samples at each size
 *   BENCH_ONLY                   comma list of parts: rollout, drain, kured, api, scale (default all)
 *   BENCH_KEEP_LOGS              keep the kured fleet's directory
 *   BENCH_RESULTS_DIR, BENCH_DOCS_DIR   where bench.json and the report go (bench/results, docs)
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCluster } from '../e2e/harness/cluster.ts';
import { createFakeNodes, loadKubeConfig, waitForNodesReady } from '../e2e/harness/kube.ts';
import { AGENT_NODE_FLAGS, bundle, bundles, MALLOC_ENV } from '../scripts/bundle.ts';
import { type ApiSlopeResult, apiSlopeBench } from './api-slope.ts';
import { apiSlopeFigures } from './api-slope-report.ts';
import { type DrainResult, drainBench } from './drain.ts';
import { ensureKured, installKured, kuredPrerequisites, kuredSkipReason } from './kured.ts';
import {
  type ApiWindow,
  apiWindow,
  emptyNodeRssMiB,
  envInt,
  load1,
  percentile,
  perNodeHour,
  round,
  rssMiB,
  sleep,
} from './lib.ts';
import { type BenchReport, type Figure, renderMarkdown } from './markdown.ts';
import {
  batonRollout,
  type KuredRolloutResult,
  kuredRollout,
  type LatencyResult,
  type RolloutSide,
  startBaton,
  touchToGrant,
} from './rollout.ts';
import { type ScaleResult, scaleBench } from './scale.ts';
import { renderRolloutSvg } from './svg.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// Elsewhere than the committed report and the last real results (the README test's short run).
const resultsDir = process.env.BENCH_RESULTS_DIR ?? join(root, 'bench', 'results');
const docsDir = process.env.BENCH_DOCS_DIR ?? join(root, 'docs');
const sizes = {
  trials: envInt('BENCH_TRIALS', 50),
  rolloutNodes: envInt('BENCH_ROLLOUT_NODES', 50),
  rebootSeconds: envInt('BENCH_REBOOT_SECONDS', 5),
  kuredPeriod: '30s',
  kuredLimitMinutes: envInt('BENCH_KURED_LIMIT_MIN', 20),
  apiWindowSeconds: envInt('BENCH_API_WINDOW_S', 120),
  apiSizes: apiSizes(process.env.BENCH_API_SIZES ?? '25,100'),
  apiSlopeWindowSeconds: envInt('BENCH_API_SLOPE_WINDOW_S', 600),
  apiSettleSeconds: envInt('BENCH_API_SETTLE_S', 60),
  drainPods: envInt('BENCH_DRAIN_PODS', 110),
  scale: (process.env.BENCH_SCALE ?? '1000,5000,10000')
    .split(',')
    .filter((s) => s.trim() !== '')
    .map(Number),
  scaleIdleSeconds: envInt('BENCH_SCALE_IDLE_S', 60),
  scaleSamples: envInt('BENCH_SCALE_SAMPLES', 10),
};
const only = new Set(
  (process.env.BENCH_ONLY ?? 'rollout,drain,kured,api,scale').split(',').map((s) => s.trim()),
);
const t0 = Date.now();
const log = (s: string) =>
  process.stderr.write(`[bench +${Math.round((Date.now() - t0) / 1000)} s, load ${load1()}] ${s}\n`);

function apiSizes(text: string): [number, number] {
  const n = text.split(',').map((x) => Number(x.trim()));
  const [a, b] = n;
  if (n.length !== 2 || a === undefined || b === undefined || !(a > 0 && b > a) || !n.every(Number.isInteger))
    throw new Error(
      `BENCH_API_SIZES: expected two node counts, the smaller first (e.g. 25,100), got "${text}"`,
    );
  return [a, b];
}

export interface BenchResults {
  date: string;
  sizes: typeof sizes;
  versions: Record<string, string>;
  latency?: LatencyResult;
  baton?: RolloutSide;
  kured?: KuredRolloutResult;
  agentIdleRssMiB?: number;
  /** An empty Node process with the agent's flags, sampled right after the agents. */
  emptyNodeRssMiB?: number;
  api?: { baseline: ApiWindow; baton: ApiWindow; kured?: ApiWindow; nodes: number };
  /** Part 'api': each tool at two fleet sizes, counted by ServiceAccount in the audit log. */
  apiSlope?: ApiSlopeResult;
  drain?: DrainResult;
  scale: ScaleResult[];
  /** Date of the earlier invocation whose parts were kept (BENCH_MERGE=1). */
  mergedFrom?: string;
  /** Agent pods the bench marked Ready after a reboot because kwok had not (rollout.ts). */
  healedPods?: number;
  /** The scale part ran alongside the kured rollout (BENCH_SCALE_WITH_KURED=1). */
  scaleWithKured?: boolean;
  /** Parts asked for that this machine cannot run, one line each: "<part>: why" (not errors). */
  skipped?: string[];
  errors: string[];
}

function versions(kuredVersion: string | undefined, kuredSkipped: boolean): Record<string, string> {
  const paths = execFileSync('bash', [join(root, 'e2e', 'tools', 'build.sh'), '--print-paths'], {
    encoding: 'utf8',
  });
  const v = (k: string) => new RegExp(`^${k}=.*-(v[^/]+)$`, 'm').exec(paths)?.[1] ?? '?';
  let commit = '?';
  try {
    commit = execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    // not a git checkout
  }
  return {
    'baton (git commit)': commit,
    'Node.js': process.version,
    'kube-apiserver, controller-manager, scheduler': v('k8s'),
    etcd: v('etcd'),
    kwok: v('kwok'),
    kured: kuredVersion ?? (kuredSkipped ? 'skipped on this machine' : 'not run'),
  };
}

if (process.env.BENCH_REPORT_ONLY) {
  // Re-renders docs/benchmarks.md (and the SVG) from the JSON of the last run, e.g. after
  // bench/notes.md was written; measures nothing.
  const saved = JSON.parse(readFileSync(join(resultsDir, 'bench.json'), 'utf8')) as BenchResults;
  const { report, svg } = reportOf(saved);
  if (svg) await writeFile(join(docsDir, 'benchmarks-rollout.svg'), svg);
  await writeFile(join(docsDir, 'benchmarks.md'), renderMarkdown(report));
  process.exit(0);
}

const results: BenchResults = {
  date: new Date().toISOString(),
  sizes,
  versions: {},
  scale: [],
  errors: [],
};
const work = await mkdtemp(join(tmpdir(), 'baton-bench-'));
const bundleDir = join(work, 'bundle');
await bundle(bundleDir);
const agentEntry = join(bundleDir, bundles.agent.out);
const controllerEntry = join(bundleDir, bundles.controller.out);
// A part this machine cannot run (kured needs root and a few base-system programs) is skipped by
// name in one line and recorded; the other parts run and the bench still passes.
const wantsKured = only.has('kured') || only.has('api');
const kuredSkip = wantsKured ? kuredSkipReason(await kuredPrerequisites()) : undefined;
if (kuredSkip !== undefined) {
  results.skipped = [`kured: ${kuredSkip}`];
  log(`part 'kured' skipped: ${kuredSkip}`);
}
const kuredBuild = wantsKured && kuredSkip === undefined ? await ensureKured() : undefined;
const kured = only.has('kured') ? kuredBuild : undefined;
results.versions = versions(kuredBuild?.version, kuredSkip !== undefined);
log(`sizes ${JSON.stringify(sizes)}; parts ${[...only].join(',')}`);

async function runScale(): Promise<void> {
  for (const n of sizes.scale) {
    try {
      await mkdir(join(work, `scale-${n}`), { recursive: true });
      const r = await scaleBench(
        n,
        {
          idleSeconds: sizes.scaleIdleSeconds,
          samples: sizes.scaleSamples,
          dir: join(work, `scale-${n}`),
          controllerEntry,
        },
        log,
      );
      results.scale.push(r);
      log(`scale ${n}: ${JSON.stringify({ ...r })}`);
    } catch (err) {
      results.errors.push(`scale ${n}: ${(err as Error).stack ?? String(err)}`);
      log(`scale ${n} FAILED: ${(err as Error).message}`);
    }
  }
}
/**
 * BENCH_SCALE_WITH_KURED=1 runs the scale part (its own control plane) while the kured rollout
 * waits out kured's fixed delays, to fit the whole run in less time; the load average next to
 * each figure shows what that cost.
 */
const scaleWithKured = process.env.BENCH_SCALE_WITH_KURED === '1' && only.has('scale') && only.has('kured');
results.scaleWithKured = scaleWithKured;
let scaleRun: Promise<void> | undefined;

if (only.has('rollout') || only.has('drain') || kured) {
  const cluster = await startCluster({ name: `bench-${process.pid}` });
  try {
    const kc = loadKubeConfig(cluster.kubeconfigPath);
    const names = await createFakeNodes(kc, { prefix: 'ro', count: sizes.rolloutNodes });
    await waitForNodesReady(kc, names, 300_000);
    let baseline: ApiWindow | undefined;
    let batonApi: ApiWindow | undefined;
    if (only.has('rollout')) {
      const baton = await startBaton(kc, names, join(work, 'baton'), {
        agent: agentEntry,
        controller: controllerEntry,
      });
      log(`baton: ${names.length} agents and the controller running`);
      try {
        results.latency = await touchToGrant(kc, baton, sizes.trials, log);
        log(
          `touch → grant p50 ${results.latency.touchToGrantSeconds.p50} s, p99 ${results.latency.touchToGrantSeconds.p99} s`,
        );
        results.baton = await batonRollout(
          kc,
          baton,
          sizes.rebootSeconds * 1000,
          sizes.kuredLimitMinutes * 60_000,
          log,
        );
        log(`baton rollout: ${results.baton.totalSeconds} s`);
        // Steady state: every node rebooted, nothing to do. Agents idle for 30 s first.
        await sleep(30_000);
        const rss: number[] = [];
        for (const n of baton.fleet.nodes.values()) if (n.agent) rss.push(rssMiB(n.agent.pid));
        results.agentIdleRssMiB = round(percentile(rss, 50), 1);
        results.emptyNodeRssMiB = round(await emptyNodeRssMiB(AGENT_NODE_FLAGS, MALLOC_ENV), 1);
        // The report takes API load from part 'api' when it runs: these windows only without it.
        if (!only.has('api')) {
          batonApi = await apiWindow(cluster, sizes.apiWindowSeconds);
          log(`API window with baton: ${batonApi.total} requests in ${batonApi.seconds} s`);
        }
      } finally {
        results.healedPods = baton.healed.count;
        await baton.stop();
      }
      if (!only.has('api')) {
        baseline = await apiWindow(cluster, sizes.apiWindowSeconds);
        log(`API baseline window: ${baseline.total} requests in ${baseline.seconds} s`);
      }
    }
    if (only.has('drain')) {
      results.drain = await drainBench(kc, cluster, agentEntry, sizes.drainPods, join(work, 'drain'), log);
      log(`drain: agent ${results.drain.agentSeconds} s, kubectl ${results.drain.kubectlSeconds} s`);
    }
    if (kured) {
      if (scaleWithKured) scaleRun = runScale();
      await installKured(kc);
      let kuredApi: ApiWindow | undefined;
      results.kured = await kuredRollout(
        kc,
        cluster,
        kured.binary,
        names,
        join(work, 'kured'),
        {
          period: sizes.kuredPeriod,
          rebootMs: sizes.rebootSeconds * 1000,
          limitMs: sizes.kuredLimitMinutes * 60_000,
          beforeTouch: async () => {
            if (!baseline) return;
            // Past kured's first lock check (30–90 s after start) before the window.
            await sleep(90_000);
            kuredApi = await apiWindow(cluster, sizes.apiWindowSeconds);
            log(`API window with kured: ${kuredApi.total} requests in ${kuredApi.seconds} s`);
          },
        },
        log,
      );
      log(
        `kured rollout: ${results.kured.totalSeconds ?? 'unfinished'} (${results.kured.note ?? 'complete'})`,
      );
      if (baseline && batonApi)
        results.api = { baseline, baton: batonApi, kured: kuredApi, nodes: names.length };
    } else if (baseline && batonApi) {
      results.api = { baseline, baton: batonApi, nodes: names.length };
    }
  } catch (err) {
    results.errors.push(`rollout cluster: ${(err as Error).stack ?? String(err)}`);
    log(`FAILED: ${(err as Error).message}`);
  } finally {
    await cluster.stop();
  }
}

if (only.has('api')) {
  try {
    results.apiSlope = await apiSlopeBench(
      {
        sizes: sizes.apiSizes,
        windowSeconds: sizes.apiSlopeWindowSeconds,
        settleSeconds: sizes.apiSettleSeconds,
        dir: join(work, 'api'),
        agentEntry,
        controllerEntry,
        kuredBinary: kuredBuild?.binary,
        kuredPeriod: sizes.kuredPeriod,
      },
      log,
    );
  } catch (err) {
    results.errors.push(`api: ${(err as Error).stack ?? String(err)}`);
    log(`api slope FAILED: ${(err as Error).message}`);
  }
}

if (scaleRun) await scaleRun;
else if (only.has('scale')) await runScale();

await mkdir(resultsDir, { recursive: true });
if (process.env.BENCH_MERGE === '1') {
  // Parts not run by this invocation are kept from the previous bench.json (its errors too,
  // marked as such): for a run split in two, each part measured once.
  try {
    const prev = JSON.parse(readFileSync(join(resultsDir, 'bench.json'), 'utf8')) as BenchResults;
    const mine = results as unknown as Record<string, unknown>;
    for (const [k, v] of Object.entries(prev)) {
      if (k === 'scale' && results.scale.length === 0) results.scale = prev.scale;
      else if (k === 'errors') {
        // An earlier error of a part this invocation ran again is history, not a result.
        const part = (e: string) => /^(?:earlier invocation \([^)]*\): )*(\w+)/.exec(e)?.[1] ?? '';
        results.errors.push(
          ...prev.errors
            .filter((e) => !only.has(part(e)))
            .map((e) => (e.startsWith('earlier invocation') ? e : `earlier invocation (${prev.date}): ${e}`)),
        );
      } else if (k === 'skipped') {
        // An earlier skip of a part this invocation did not run again still explains its absence.
        const kept = ((v as string[] | undefined) ?? []).filter((x) => !only.has(x.split(':')[0] ?? ''));
        if (kept.length > 0) results.skipped = [...(results.skipped ?? []), ...kept];
      } else if (mine[k] === undefined) mine[k] = v;
    }
    // The oldest invocation whose parts are kept.
    results.mergedFrom = prev.mergedFrom ?? prev.date;
  } catch {
    // nothing to merge
  }
}
await writeFile(join(resultsDir, 'bench.json'), `${JSON.stringify(results, null, 2)}\n`);
const { report, svg } = reportOf(results);
if (svg) await writeFile(join(docsDir, 'benchmarks-rollout.svg'), svg);
await writeFile(join(docsDir, 'benchmarks.md'), renderMarkdown(report));
log(
  `wrote bench/results/bench.json and docs/benchmarks.md${results.errors.length ? ` (${results.errors.length} errors)` : ''}`,
);
await rm(work, { recursive: true, force: true });
process.exit(results.errors.length > 0 ? 1 : 0);

// ---------------------------------------------------------------------------------------------

function reportOf(r: BenchResults): { report: BenchReport; svg: string | undefined } {
  const figures: Figure[] = [];
  const notes: BenchReport['notes'] = [];
  const skipped: string[] = [];
  const s = (x: number | null | undefined, unit = 's', d = 2) =>
    x === undefined || x === null || Number.isNaN(x) ? '—' : `${x.toFixed(d)} ${unit}`;
  const miss = (value: number, target: number, unit: string, d = 2) =>
    `by ${(value - target).toFixed(d)} ${unit} (${Math.round(((value - target) / target) * 100)} %)`;

  if (r.latency) {
    const l = r.latency.touchToGrantSeconds;
    figures.push({
      item: 1,
      what: `Sentinel touched → slot granted, idle cluster (${r.latency.trials} trials): p50 / p99`,
      baton: `${s(l.p50)} / ${s(l.p99)}`,
      reference: '',
      ratio: '',
      target: 'p99 ≤ 0.3 s',
      met: l.p99 <= 0.3,
      note: l.p99 > 0.3 ? miss(l.p99, 0.3, 's') : '',
      load: r.latency.load,
    });
  } else skipped.push('Items 1–3 (latency, rollout): not run (BENCH_ONLY).');
  if (r.baton) {
    const h = r.baton.releaseToNextGrantSeconds;
    figures.push({
      item: 2,
      what: `Slot released → next node granted (${h.samples} handoffs of the rollout): p50 / p99`,
      baton: `${s(h.p50)} / ${s(h.p99)}`,
      reference: r.kured
        ? `kured lock: ${s(r.kured.releaseToNextGrantSeconds.p50)} / ${s(r.kured.releaseToNextGrantSeconds.p99)}`
        : '',
      ratio: '',
      target: 'p99 ≤ 0.3 s',
      met: h.p99 <= 0.3,
      note: h.p99 > 0.3 ? miss(h.p99, 0.3, 's') : '',
      load: r.baton.load,
    });
    const k = r.kured;
    const kuredTotal = k?.totalSeconds;
    // An unfinished kured rollout: its pace so far (seconds per node) times the node count.
    const kDone = k ? k.rows.filter((x) => x.done !== undefined).length : 0;
    const kuredEstimate =
      k && kuredTotal === undefined && kDone > 0
        ? Math.max(...k.rows.flatMap((x) => (x.done === undefined ? [] : [x.done]))) * (k.nodes / kDone)
        : undefined;
    const kuredFigure = kuredTotal ?? kuredEstimate;
    // Issue 18: the rollout at most 1.2 times the reboots alone (nodes × the simulated reboot).
    const rebootsAlone = r.baton.nodes * r.sizes.rebootSeconds;
    const overhead = r.baton.totalSeconds === undefined ? undefined : r.baton.totalSeconds / rebootsAlone;
    figures.push({
      item: 3,
      what: `Rollout of ${r.baton.nodes} nodes, concurrency 1, ${r.sizes.rebootSeconds} s reboots: total`,
      baton: s(r.baton.totalSeconds, 's', 0),
      reference: k
        ? kuredTotal !== undefined
          ? `kured --period=${r.sizes.kuredPeriod}: ${s(kuredTotal, 's', 0)}`
          : `kured --period=${r.sizes.kuredPeriod}: ${kDone} of ${k.nodes} nodes in ${r.sizes.kuredLimitMinutes} min; ≈ ${s(kuredEstimate, 's', 0)} at that pace`
        : '',
      ratio:
        kuredFigure !== undefined && r.baton.totalSeconds
          ? `kured / baton = ${(kuredFigure / r.baton.totalSeconds).toFixed(1)}×${kuredTotal === undefined ? ' (estimated)' : ''}`
          : '',
      target: `≤ 1.2 × the ${rebootsAlone} s of reboots alone`,
      met: overhead !== undefined && overhead <= 1.2,
      note:
        overhead !== undefined && overhead > 1.2
          ? `${overhead.toFixed(2)}×: ${miss(r.baton.totalSeconds ?? 0, rebootsAlone * 1.2, 's', 1)}`
          : '',
      load: r.baton.load,
    });
    figures.push({
      item: 3,
      what: 'Per node: permission → released (mean)',
      baton: s(r.baton.meanCycleSeconds, 's', 1),
      reference: k ? `kured: ${s(k.meanCycleSeconds, 's', 1)}` : '',
      ratio: k ? `${(k.meanCycleSeconds / r.baton.meanCycleSeconds).toFixed(1)}×` : '',
      target: '',
      met: undefined,
      note: '',
      load: k?.load ?? r.baton.load,
    });
  }
  for (const sc of r.scale) {
    // The goals of issue 18 are set at 5,000 nodes; 10,000 shows the slope.
    const at5k = sc.nodes === 5000;
    figures.push({
      item: 4,
      what: `Controller at ${sc.nodes.toLocaleString('en')} nodes: resident memory (median over ${sc.idleWindowSeconds} s)`,
      baton: s(sc.controllerRssMiB, 'MiB', 1),
      reference: '',
      ratio: '',
      target: at5k ? '≤ 150 MiB at 5,000' : '',
      met: at5k ? sc.controllerRssMiB <= 150 : undefined,
      note: at5k && sc.controllerRssMiB > 150 ? miss(sc.controllerRssMiB, 150, 'MiB', 1) : '',
      load: sc.load,
    });
    figures.push({
      item: 4,
      what: `Controller at ${sc.nodes.toLocaleString('en')} nodes: idle CPU (reporter ${sc.reporterPatchesPerSecond} condition writes/s)`,
      baton: `${sc.controllerIdleCpuPercent.toFixed(2)} % of a core`,
      reference: '',
      ratio: '',
      target: at5k ? '≤ 1 % at 5,000' : '',
      met: at5k ? sc.controllerIdleCpuPercent <= 1 : undefined,
      note: at5k && sc.controllerIdleCpuPercent > 1 ? miss(sc.controllerIdleCpuPercent, 1, 'points', 2) : '',
      load: sc.load,
    });
    figures.push({
      item: 4,
      what: `Controller at ${sc.nodes.toLocaleString('en')} nodes: one plan over all nodes, p50 / p99 of ${sc.planMs.runs}`,
      baton: sc.planProblem
        ? `void: ${sc.planProblem}`
        : `${s(sc.planMs.p50, 'ms')} / ${s(sc.planMs.p99, 'ms')}`,
      reference: '',
      ratio: '',
      target: at5k ? '≤ 20 ms at 5,000' : '',
      met: at5k ? sc.planMs.p99 <= 20 : undefined,
      note: at5k && sc.planMs.p99 > 20 ? miss(sc.planMs.p99, 20, 'ms') : '',
      load: sc.load,
    });
    figures.push({
      item: 4,
      what: `Controller at ${sc.nodes.toLocaleString('en')} nodes: condition True → granted (${sc.grantLatencySeconds.samples} samples), p50 / p99`,
      baton: `${s(sc.grantLatencySeconds.p50)} / ${s(sc.grantLatencySeconds.p99)}`,
      reference: '',
      ratio: '',
      target: 'p99 ≤ 2 s (item 1)',
      met: sc.grantLatencySeconds.p99 <= 2,
      note: sc.grantLatencySeconds.p99 > 2 ? miss(sc.grantLatencySeconds.p99, 2, 's') : '',
      load: sc.load,
    });
  }
  if (r.scale.length === 0) skipped.push('Item 4 (controller at scale): not run.');
  if (r.apiSlope) {
    const slope = apiSlopeFigures(r.apiSlope);
    figures.push(...slope.figures);
    notes.push(...slope.notes);
  } else if (r.api) {
    const b = perNodeHour(r.api.baton, r.api.baseline, r.api.nodes);
    const k = r.api.kured ? perNodeHour(r.api.kured, r.api.baseline, r.api.nodes) : undefined;
    figures.push({
      item: 5,
      what: `API requests per node per hour, steady state (${r.api.nodes} nodes, ${r.sizes.apiWindowSeconds} s windows, minus the same cluster with neither)`,
      baton: `${b.perNodeHour}`,
      reference: k ? `kured --period=${r.sizes.kuredPeriod}: ${k.perNodeHour}` : '',
      ratio: k && k.perNodeHour > 0 ? `baton / kured = ${(b.perNodeHour / k.perNodeHour).toFixed(2)}×` : '',
      target: '',
      met: undefined,
      note: '',
      load: r.api.baton.load,
    });
    const fmt = (t: { kind: string; perNodeHour: number }[]) =>
      t.map((x) => `\`${x.kind}\` ${x.perNodeHour}`).join(', ') || '(none above the baseline)';
    notes.push({
      heading: 'What the API requests are',
      body: `From \`apiserver_request_total\` (verb and resource), per node per hour above the baseline window:\n\n- baton: ${fmt(b.top)}\n- kured: ${k ? fmt(k.top) : 'not run'}\n\nBaseline (kwok, the controller-manager, the scheduler, nothing of baton or kured): ${round((r.api.baseline.total / r.api.baseline.seconds) * 3600, 0)} requests per hour for the whole cluster. Watches count once when they end, so a window only sees the watches that were re-opened during it.`,
    });
  }
  if (r.agentIdleRssMiB !== undefined || r.drain) {
    figures.push({
      item: 6,
      what: 'Agent resident memory, idle (median of the rollout fleet)',
      baton: s(r.agentIdleRssMiB, 'MiB', 1),
      reference: [
        r.kured ? `kured process: ${s(r.kured.idleRssMiB, 'MiB', 1)}` : '',
        r.emptyNodeRssMiB !== undefined
          ? `empty Node 24 process, the agent's flags: ${s(r.emptyNodeRssMiB, 'MiB', 1)}`
          : '',
      ]
        .filter((x) => x !== '')
        .join('; '),
      ratio: r.kured && r.agentIdleRssMiB ? `${(r.agentIdleRssMiB / r.kured.idleRssMiB).toFixed(1)}×` : '',
      target: '≤ 55 MiB',
      met: r.agentIdleRssMiB !== undefined ? r.agentIdleRssMiB <= 55 : undefined,
      note:
        r.agentIdleRssMiB !== undefined && r.agentIdleRssMiB > 55
          ? miss(r.agentIdleRssMiB, 55, 'MiB', 1)
          : '',
      load: r.baton?.load ?? load1(),
    });
  }
  if (r.drain) {
    figures.push({
      item: 6,
      what: `Agent resident memory, peak while draining ${r.drain.pods} pods`,
      baton: s(r.drain.agentPeakRssMiB, 'MiB', 1),
      reference: r.kured
        ? `kured, peak while holding the lock (few pods): ${s(r.kured.peakRssMiB, 'MiB', 1)}`
        : '',
      ratio: '',
      target: '≤ 60 MiB',
      met: r.drain.agentPeakRssMiB <= 60,
      note: r.drain.agentPeakRssMiB > 60 ? miss(r.drain.agentPeakRssMiB, 60, 'MiB', 1) : '',
      load: r.drain.load,
    });
    figures.push({
      item: 7,
      what: `Draining ${r.drain.pods} pods from one node (agent: grant → reboot requested)`,
      baton: s(r.drain.agentSeconds),
      reference: `kubectl drain: ${s(r.drain.kubectlSeconds)} (peak ${s(r.drain.kubectlPeakRssMiB, 'MiB', 1)})`,
      ratio: `baton / kubectl = ${(r.drain.agentSeconds / r.drain.kubectlSeconds).toFixed(2)}×`,
      target: '',
      met: undefined,
      note: '',
      load: r.drain.load,
    });
  } else skipped.push('Item 7 (drain): not run.');
  for (const x of r.skipped ?? []) skipped.push(`Skipped on this machine: ${x}.`);
  for (const e of r.errors) skipped.push(`Failed: ${e.split('\n')[0]}`);

  let svg: string | undefined;
  if (r.baton) {
    const blocks = [
      {
        label: 'baton',
        rows: r.baton.rows,
        summary:
          r.baton.totalSeconds !== undefined
            ? `all ${r.baton.nodes} done in ${r.baton.totalSeconds.toFixed(0)} s`
            : 'unfinished',
      },
    ];
    if (r.kured) {
      const done = r.kured.rows.filter((x) => x.done !== undefined).length;
      blocks.push({
        label: `kured ${r.versions.kured ?? ''}`,
        rows: r.kured.rows,
        summary:
          r.kured.totalSeconds !== undefined
            ? `all ${r.kured.nodes} done in ${r.kured.totalSeconds.toFixed(0)} s`
            : `${done} of ${r.kured.nodes} done when stopped at ${r.sizes.kuredLimitMinutes} min`,
      });
    }
    svg = renderRolloutSvg(
      blocks,
      `Rollout of ${r.baton.nodes} nodes, concurrency 1, ${r.sizes.rebootSeconds} s simulated reboots`,
    );
  }
  return {
    report: {
      env: {
        date: r.date,
        command: 'npx pnpm@12.4.2 run bench',
        host: {
          cpus: cpus().length,
          cpuModel: cpus()[0]?.model ?? '?',
          memoryGiB: round(totalmem() / 2 ** 30, 1),
          kernel: `Linux ${release()}`,
        },
        versions: r.versions,
        mergedFrom: r.mergedFrom,
        sizes: Object.fromEntries(
          Object.entries(r.sizes).map(([k, v]) => [k, Array.isArray(v) ? v.join('+') : v]),
        ) as Record<string, number | string>,
      },
      figures,
      notes: [...notes, ...staticNotes()],
      svg: svg ? 'benchmarks-rollout.svg' : undefined,
      skipped,
    },
    svg,
  };
}

/** Notes kept next to this file (findings written after reading a run): bench/notes.md. */
function staticNotes(): BenchReport['notes'] {
  try {
    const text = readFileSync(join(root, 'bench', 'notes.md'), 'utf8');
    return text
      .split(/^## /m)
      .filter((p) => p.trim() !== '')
      .map((p) => {
        const [heading, ...body] = p.split('\n');
        return { heading: (heading ?? '').trim(), body: body.join('\n') };
      });
  } catch {
    return [];
  }
}
