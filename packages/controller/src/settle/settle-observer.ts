/**
 * Gathers the settle facts of the nodes that hold a slot: their pods, the workloads and PDBs
 * their drain touched (workloads-probe.ts) and the health query.
 *
 * Pods are watched only for the nodes that hold a slot right now, each through its own watch
 * with the field selector `spec.nodeName=<node>`: at most `concurrency` small watches, no
 * cluster-wide pod cache. A watch starts when its node is granted (so its cache is warm by the
 * time the node comes back) and stops when the slot is released or the Node is gone.
 */
import type { V1Pod } from '@kubernetes/client-node';
import type { HealthQuery } from './health-query.ts';
import { podsView, type SettleFacts } from './settle.ts';
import { type WorkloadsApi, WorkloadsProbe } from './workloads-probe.ts';

/** The part of a supervised informer this module uses. */
export interface PodInformer {
  start(): Promise<void>;
  stop(): Promise<void>;
  synced(): boolean;
  list(): readonly V1Pod[];
  onChange(handler: () => void): void;
  lastError?(): string | undefined;
}

export interface SettleObserver {
  /** The facts for these holders; also makes the pod watches follow exactly this set. */
  facts(holders: readonly string[]): ReadonlyMap<string, SettleFacts>;
  /** Node names whose pods are watched now (for tests and logs). */
  watched(): readonly string[];
  stop(): Promise<void>;
}

export interface SettleObserverOptions {
  /** A pod informer limited to one node (not started yet). */
  readonly podInformer: (node: string) => PodInformer;
  readonly health?: HealthQuery | undefined;
  /** Reads the recorded workloads and PDBs; absent, they are not checked (unit tests of other parts). */
  readonly workloads?:
    | { readonly api: WorkloadsApi; readonly refreshMs: number; readonly now: () => Date }
    | undefined;
  /** Called when a watched node's pods change: the settle verdict may have changed. */
  readonly onChange: () => void;
  readonly onError?: (node: string, err: unknown) => void;
}

export function settleObserver(o: SettleObserverOptions): SettleObserver {
  const watches = new Map<string, PodInformer>();
  const probes = new Map<string, WorkloadsProbe>();
  const health = o.health;
  const healthView = health === undefined ? undefined : () => health.view();

  const stopWatch = (node: string) => {
    const w = watches.get(node);
    watches.delete(node);
    w?.stop().catch((err: unknown) => o.onError?.(node, err));
  };

  return {
    facts(holders) {
      const wanted = new Set(holders);
      for (const node of [...watches.keys()]) if (!wanted.has(node)) stopWatch(node);
      for (const node of [...probes.keys()]) if (!wanted.has(node)) probes.delete(node);
      const out = new Map<string, SettleFacts>();
      for (const node of wanted) {
        let w = watches.get(node);
        if (w === undefined) {
          w = o.podInformer(node);
          watches.set(node, w);
          w.onChange(o.onChange);
          w.start().catch((err: unknown) => o.onError?.(node, err));
        }
        let probe = probes.get(node);
        if (probe === undefined && o.workloads !== undefined) {
          probe = new WorkloadsProbe({ ...o.workloads, onChange: o.onChange });
          probes.set(node, probe);
        }
        out.set(node, {
          pods: w.synced() ? podsView(w.list()) : { observed: false, notReady: [], error: w.lastError?.() },
          health: healthView,
          workloads: probe === undefined ? undefined : (record) => probe.view(record),
        });
      }
      return out;
    },
    watched: () => [...watches.keys()],
    async stop() {
      const all = [...watches.values()];
      const checks = [...probes.values()];
      watches.clear();
      probes.clear();
      await Promise.all([...all.map((w) => w.stop()), ...checks.map((p) => p.settled())]);
      await health?.settled();
    },
  };
}
