/**
 * Test support for the drain: a pod builder, a fake clock whose sleep advances time (no real
 * timers), an in-memory node that answers the DrainApi like the API server does, and a log
 * recorder. Not exported from index.ts; tests import it by path.
 */
import type { V1Pod } from '@kubernetes/client-node';
import type { DrainApi, DrainClock, DrainEvent, DrainLog, EvictOptions, EvictOutcome } from './engine.ts';

export const T0 = Date.UTC(2025, 0, 6, 3, 0, 0);

export interface PodSpec {
  readonly namespace?: string;
  readonly uid?: string;
  /** Kind of the controller owner; `none`: no controller. Default ReplicaSet. */
  readonly owner?: string;
  readonly mirror?: boolean;
  readonly phase?: string;
  readonly emptyDir?: readonly string[];
  readonly labels?: Record<string, string>;
  readonly deletionTimestamp?: Date;
}

export function pod(name: string, spec: PodSpec = {}): V1Pod {
  const namespace = spec.namespace ?? 'default';
  return {
    metadata: {
      name,
      namespace,
      uid: spec.uid ?? `uid-${namespace}-${name}`,
      labels: spec.labels ?? {},
      ...(spec.mirror === true ? { annotations: { 'kubernetes.io/config.mirror': 'abc' } } : {}),
      ...(spec.owner === 'none'
        ? {}
        : {
            ownerReferences: [
              {
                apiVersion: 'apps/v1',
                kind: spec.owner ?? 'ReplicaSet',
                name: 'owner',
                uid: 'o',
                controller: true,
              },
            ],
          }),
      ...(spec.deletionTimestamp !== undefined ? { deletionTimestamp: spec.deletionTimestamp } : {}),
    },
    spec: {
      nodeName: 'node-a',
      containers: [{ name: 'c', image: 'i' }],
      volumes: (spec.emptyDir ?? []).map((v) => ({ name: v, emptyDir: {} })),
    },
    status: { phase: spec.phase ?? 'Running' },
  };
}

export class FakeClock implements DrainClock {
  t = T0;
  readonly sleeps: number[] = [];
  readonly #hooks: Array<(now: number) => void> = [];

  now(): number {
    return this.t;
  }

  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted === true) return;
    if (ms <= 0) throw new Error(`sleep(${ms}): the engine must always wait a positive time`);
    this.t += ms;
    this.sleeps.push(ms);
    // A drain that never ends would otherwise spin forever on the fake clock.
    if (this.t - T0 > 2 * 3600_000) throw new Error('fake clock ran past 2 h: the drain does not end');
    for (const hook of this.#hooks) hook(this.t);
    await Promise.resolve();
  }

  /** Runs after every sleep: where tests let "the world" change while the engine waits. */
  onSleep(hook: (now: number) => void): void {
    this.#hooks.push(hook);
  }

  elapsed(): number {
    return this.t - T0;
  }
}

export interface EvictCall {
  /** Milliseconds since T0 when the call was made. */
  readonly at: number;
  readonly namespace: string;
  readonly name: string;
  readonly opts: EvictOptions;
}

type Behaviour = (call: EvictCall, nthForThisUid: number) => EvictOutcome | Error | undefined;

/**
 * One node's pods. An accepted eviction marks the pod deleting (deletionTimestamp = now) and
 * removes it `terminationMs` later, unless it is stuck (a finalizer that never clears).
 */
export class FakeNode implements DrainApi {
  readonly #clock: FakeClock;
  readonly #pods = new Map<string, V1Pod>();
  readonly #removeAt = new Map<string, number>();
  readonly #attempts = new Map<string, number>();
  readonly calls: EvictCall[] = [];
  readonly stuck = new Set<string>();
  /** uid → pod that takes the same name once the uid's pod is removed (a StatefulSet). */
  readonly replacements = new Map<string, V1Pod>();
  readonly listErrors: unknown[] = [];
  terminationMs = 0;
  behaviour: Behaviour = () => undefined;
  lists = 0;
  inFlight = 0;
  maxInFlight = 0;

  constructor(clock: FakeClock, pods: readonly V1Pod[] = []) {
    this.#clock = clock;
    for (const p of pods) this.add(p);
  }

  add(p: V1Pod): void {
    this.#pods.set(key(p.metadata?.namespace, p.metadata?.name), p);
  }

  /** Names (`ns/name`) on the node now. */
  names(): string[] {
    this.#collect();
    return [...this.#pods.keys()];
  }

  async listPodsOnNode(node: string): Promise<V1Pod[]> {
    if (node !== 'node-a') throw new Error(`unexpected node ${node}`);
    this.lists++;
    await Promise.resolve();
    const err = this.listErrors.shift();
    if (err !== undefined) throw err;
    this.#collect();
    // Reverse insertion order: the engine must not rely on the API server's sort.
    return [...this.#pods.values()].reverse().map((p) => structuredClone(p));
  }

  async evictPod(namespace: string, name: string, opts: EvictOptions): Promise<EvictOutcome> {
    const call: EvictCall = { at: this.#clock.elapsed(), namespace, name, opts };
    this.calls.push(call);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      // Let other evictions start before this one answers, as real requests would.
      for (let i = 0; i < 3; i++) await Promise.resolve();
      const n = (this.#attempts.get(opts.uid ?? '') ?? 0) + 1;
      this.#attempts.set(opts.uid ?? '', n);
      const scripted = this.behaviour(call, n);
      if (scripted instanceof Error) throw scripted;
      if (scripted !== undefined) return scripted;
      this.#collect();
      const k = key(namespace, name);
      const current = this.#pods.get(k);
      if (current === undefined) return { kind: 'gone' };
      if (opts.uid !== undefined && current.metadata?.uid !== opts.uid) return { kind: 'conflict' };
      if (current.metadata !== undefined && current.metadata.deletionTimestamp === undefined) {
        current.metadata.deletionTimestamp = new Date(this.#clock.now());
        this.#removeAt.set(current.metadata.uid ?? '', this.#clock.now() + this.terminationMs);
      }
      return { kind: 'accepted' };
    } finally {
      this.inFlight--;
    }
  }

  /** The kubelet's side: terminated pods disappear, replacements appear. */
  #collect(): void {
    for (const [k, p] of this.#pods) {
      const uid = p.metadata?.uid ?? '';
      const at = this.#removeAt.get(uid);
      if (at === undefined || at > this.#clock.now() || this.stuck.has(uid)) continue;
      this.#pods.delete(k);
      const next = this.replacements.get(uid);
      if (next !== undefined) this.add(next);
    }
  }
}

function key(namespace: string | undefined, name: string | undefined): string {
  return `${namespace ?? ''}/${name ?? ''}`;
}

export interface LogEntry {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly obj: Record<string, unknown>;
  readonly msg: string;
}

export function recordingLog(): DrainLog & { readonly entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const at =
    (level: LogEntry['level']) =>
    (obj: object, msg: string): void => {
      entries.push({ level, obj: obj as Record<string, unknown>, msg });
    };
  return { entries, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

export function recordingEvents(): {
  readonly events: DrainEvent[];
  readonly onEvent: (e: DrainEvent) => void;
} {
  const events: DrainEvent[] = [];
  return { events, onEvent: (e) => events.push(e) };
}
