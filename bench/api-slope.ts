/**
 * API load as a slope: each tool's requests at two fleet sizes on a control plane of its own
 * whose API server writes an audit log, counted by the tool's own ServiceAccounts.
 *
 * At each size the tool runs idle (nothing asks for a reboot) for a settle time, then for the
 * measured window. baton's agents (ServiceAccount baton-agent) and its controller
 * (baton-controller) are counted apart; kured runs as kured. Requests per hour at the two sizes
 * give a straight line: requests per hour = fixed + slope × nodes, per tool and per kind of
 * request. Nothing else is counted: kwok, the controller-manager, the scheduler and the bench's
 * own clients run as other users.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { startCluster } from '../e2e/harness/cluster.ts';
import { createFakeNodes, loadKubeConfig, waitForNodesReady } from '../e2e/harness/kube.ts';
import { type AuditCounts, auditLogArgs, countAudit, serviceAccountOf } from './audit.ts';
import { installKured, KuredFleet } from './kured.ts';
import { LoadSampler, round, sleep } from './lib.ts';
import { startBaton } from './rollout.ts';

export interface ApiSlopeWindow {
  nodes: number;
  seconds: number;
  /** Requests per hour by identity (baton-agent, baton-controller, kured) and kind. */
  perHour: Record<string, Record<string, number>>;
  load: { min: number; mean: number; max: number };
}

/** kured's first lock check lands 30 to 90 s after it starts; windows begin after it. */
const KURED_START_UP_SECONDS = 100;

export interface ApiSlopeResult {
  settleSeconds: number;
  /** kured's settle, past its start-up (absent in runs before it was measured apart). */
  kuredSettleSeconds?: number;
  windowSeconds: number;
  baton: ApiSlopeWindow[];
  kured: ApiSlopeWindow[];
  kuredPeriod: string;
}

export interface ApiSlopeOptions {
  readonly sizes: readonly [number, number];
  readonly windowSeconds: number;
  readonly settleSeconds: number;
  readonly dir: string;
  readonly agentEntry: string;
  readonly controllerEntry: string;
  /** kured's binary, or undefined when this machine cannot run it. */
  readonly kuredBinary: string | undefined;
  readonly kuredPeriod: string;
}

function perHour(counts: AuditCounts, seconds: number): Record<string, Record<string, number>> {
  return Object.fromEntries(
    Object.entries(counts).map(([who, kinds]) => [
      who,
      Object.fromEntries(Object.entries(kinds).map(([k, n]) => [k, round((n / seconds) * 3600, 1)])),
    ]),
  );
}

export async function apiSlopeBench(o: ApiSlopeOptions, log: (s: string) => void): Promise<ApiSlopeResult> {
  await mkdir(o.dir, { recursive: true });
  const audit = await auditLogArgs(o.dir);
  const cluster = await startCluster({
    name: `bench-api-${process.pid}`,
    extraArgs: { 'kube-apiserver': audit.args },
  });
  const result: ApiSlopeResult = {
    settleSeconds: o.settleSeconds,
    windowSeconds: o.windowSeconds,
    baton: [],
    kured: [],
    kuredPeriod: o.kuredPeriod,
    kuredSettleSeconds: Math.max(o.settleSeconds, KURED_START_UP_SECONDS),
  };
  const window = async (
    nodes: number,
    who: readonly string[],
    settleSeconds = o.settleSeconds,
  ): Promise<ApiSlopeWindow> => {
    await sleep(settleSeconds * 1000);
    const load = new LoadSampler();
    const from = Date.now();
    await sleep(o.windowSeconds * 1000);
    const to = Date.now();
    // The audit log is written as requests arrive (blocking mode); a second for the last lines.
    await sleep(1000);
    const counts = await countAudit(audit.path, from, to, (user) => {
      const sa = serviceAccountOf(user);
      return sa !== undefined && who.includes(sa) ? sa : undefined;
    });
    return {
      nodes,
      seconds: round((to - from) / 1000, 1),
      perHour: perHour(counts, (to - from) / 1000),
      load: load.stop(),
    };
  };
  try {
    const kc = loadKubeConfig(cluster.kubeconfigPath);
    const largest = Math.max(...o.sizes);
    const names = await createFakeNodes(kc, { prefix: 'api', count: largest });
    await waitForNodesReady(kc, names, 300_000);
    for (const n of o.sizes) {
      const baton = await startBaton(kc, names.slice(0, n), join(o.dir, `baton-${n}`), {
        agent: o.agentEntry,
        controller: o.controllerEntry,
      });
      log(
        `api slope: baton on ${n} nodes running; settling ${o.settleSeconds} s, then ${o.windowSeconds} s counted`,
      );
      try {
        const w = await window(n, ['baton-agent', 'baton-controller']);
        result.baton.push(w);
        log(`api slope: baton at ${n} nodes: ${JSON.stringify(w.perHour)}`);
      } finally {
        await baton.stop();
      }
    }
    if (o.kuredBinary !== undefined) {
      await installKured(kc);
      for (const n of o.sizes) {
        const fleet = new KuredFleet({
          kc,
          cluster,
          binary: o.kuredBinary,
          dir: join(o.dir, `kured-${n}`),
          period: o.kuredPeriod,
          rebootMs: 1000,
        });
        try {
          await fleet.start(names.slice(0, n));
          log(`api slope: kured on ${n} nodes running (--period=${o.kuredPeriod})`);
          // Past kured's start-up: each kured reads its lock and its Node once, 30 to 90 s after
          // it starts (a one-minute delay tick), and nothing more while no reboot is needed.
          const w = await window(n, ['kured'], result.kuredSettleSeconds);
          const dead = [...fleet.nodes.values()].filter(
            (node) => node.restarts > 0 || node.proc?.hasExited(),
          );
          if (dead.length > 0)
            throw new Error(`kured exited during the window on ${dead.map((d) => d.name).join(', ')}`);
          result.kured.push(w);
          log(`api slope: kured at ${n} nodes: ${JSON.stringify(w.perHour)}`);
        } finally {
          await fleet.stop();
        }
      }
    }
  } finally {
    await cluster.stop();
  }
  return result;
}
