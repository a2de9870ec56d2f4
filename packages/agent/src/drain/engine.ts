/**
 * The drain engine: evicts the pods of one node through the Eviction API until none is left,
 * the grant is gone, the timeout passes, or the caller cancels. client-node has no drain
 * helper, so this is baton's own take on `kubectl drain`, with kured's lessons built in:
 *
 * - Every round re-lists the node's pods and re-plans, so pods that arrive during the drain
 *   are seen, and pods are tracked by UID, not by name: a StatefulSet pod recreated under the
 *   same name is a new pod to evict, not the old one still terminating (kured #1169).
 * - Evictions go out in parallel (capped); a PodDisruptionBudget's 429 is retried per pod,
 *   honouring Retry-After, with exponential backoff so a stuck PDB is not hammered.
 * - The grant is checked before every round: a revoked grant stops the drain before the
 *   next eviction (the safety invariant of the slot Leases).
 * - The engine never deletes a pod and never decides what a timeout means: it reports what
 *   is left and why, and the caller applies --drain-timeout-policy.
 */
import type { LabelSelector } from '@baton/protocol/config';
import { describeKubeError, isTransient } from '@baton/runtime';
import type { V1Pod } from '@kubernetes/client-node';
import { forEachLimited } from './parallel.ts';
import { planDrain, podKey, type RefusedPod } from './plan.ts';

// ---------------------------------------------------------------------------------------------
// Ports: what the engine needs from the outside world
// ---------------------------------------------------------------------------------------------

export interface EvictOptions {
  /** Unset: the pod's own terminationGracePeriodSeconds. */
  readonly gracePeriodSeconds?: number;
  /** Precondition: evict only the pod with this UID, never a newer pod of the same name. */
  readonly uid?: string;
}

export type EvictOutcome =
  /** The API server accepted the eviction: the pod is now terminating. */
  | { readonly kind: 'accepted' }
  /** 429: a PodDisruptionBudget (or API throttling) refuses it for now. */
  | { readonly kind: 'blocked'; readonly message: string; readonly retryAfterSeconds?: number | undefined }
  /** 404: no pod of that name any more. */
  | { readonly kind: 'gone' }
  /** 409: the UID precondition failed, the name belongs to a new pod; the old one is gone. */
  | { readonly kind: 'conflict' };

/** The Kubernetes calls of a drain; {@link createKubeDrainApi} is the real one. Other errors throw. */
export interface DrainApi {
  listPodsOnNode(node: string): Promise<V1Pod[]>;
  evictPod(namespace: string, name: string, opts: EvictOptions): Promise<EvictOutcome>;
}

export interface DrainClock {
  /** Epoch milliseconds: it is compared with pods' deletionTimestamp. */
  now(): number;
  /** Resolves after `ms`, or early (resolving or rejecting) once `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

type LogFn = (obj: object, msg: string) => void;

/** The part of a pino Logger the engine uses. */
export interface DrainLog {
  readonly debug: LogFn;
  readonly info: LogFn;
  readonly warn: LogFn;
  readonly error: LogFn;
}

export interface PodRef {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
}

/**
 * How a pod stopped counting: `deleted` (no longer listed), `replaced` (its name now belongs to
 * another UID), `skipped` (still listed but no longer to evict: completed, or relabelled out of
 * the selector), `stuck-terminating` (deleted longer ago than --skip-wait-for-delete-timeout).
 */
export type GoneHow = 'deleted' | 'replaced' | 'skipped' | 'stuck-terminating';

export type DrainEvent =
  | {
      readonly type: 'round';
      readonly node: string;
      readonly round: number;
      /** Pods still to see gone (being evicted, blocked, or terminating). */
      readonly pending: number;
      readonly blocked: number;
    }
  | { readonly type: 'evicted'; readonly node: string; readonly pod: PodRef }
  | {
      readonly type: 'blocked';
      readonly node: string;
      readonly pod: PodRef;
      readonly message: string;
      readonly retryAfterSeconds: number | undefined;
      /** When the engine tries this pod again. */
      readonly retryInMs: number;
    }
  | { readonly type: 'gone'; readonly node: string; readonly pod: PodRef; readonly how: GoneHow };

export interface DrainDeps {
  readonly api: DrainApi;
  readonly clock: DrainClock;
  readonly log: DrainLog;
  /**
   * Whether a slot Lease still names this node, unexpired; asked before every round. It should
   * answer from a cache and not throw: a rejection rejects the drain (no further evictions).
   */
  readonly stillGranted: () => Promise<boolean>;
  /**
   * For metrics and Kubernetes Events (errors it throws are logged and ignored). `blocked`
   * repeats on every retry of a pod: aggregate before recording Kubernetes Events.
   */
  readonly onEvent?: (event: DrainEvent) => void;
}

export interface DrainOptions {
  /** Seconds; -1 (any negative): the pod's own terminationGracePeriodSeconds. */
  readonly gracePeriodSeconds: number;
  /** 0: no timeout. Measured on the clock from the call. */
  readonly timeoutMs: number;
  /** > 0: a pod whose deletionTimestamp is older than this counts as gone. 0: wait for all. */
  readonly skipWaitForDeleteTimeoutMs: number;
  /** First wait after a refused eviction; doubles per pod on every refusal. */
  readonly retryBackoffMs: number;
  /** Cap of that doubling (never below retryBackoffMs); default 30 s. Retry-After may exceed it. */
  readonly maxRetryBackoffMs?: number;
  /** How often the node's pods are re-listed while waiting; default 1 s (kubectl's interval). */
  readonly pollIntervalMs?: number;
  /** Eviction requests in flight at once; default 20. */
  readonly concurrency?: number;
  readonly podSelector?: LabelSelector | undefined;
  readonly deleteEmptyDirData: boolean;
  readonly evictUnmanagedPods: boolean;
  /** Aborting stops the drain at the next step (evictions in flight are awaited). */
  readonly signal?: AbortSignal | undefined;
}

export interface RemainingPod extends PodRef {
  /**
   * `terminating`: eviction accepted (or deleted by someone else), waiting for it to go;
   * `blocked`: the last attempt was refused or failed (see lastBlocker); `pending`: not tried yet.
   */
  readonly state: 'terminating' | 'blocked' | 'pending';
  readonly lastBlocker?: string;
}

interface Totals {
  /** Evictions the API server accepted (one per pod UID). */
  readonly evicted: number;
  readonly rounds: number;
  readonly elapsedMs: number;
}

export type DrainResult = Totals &
  (
    | { readonly outcome: 'drained' }
    | { readonly outcome: 'refused'; readonly refused: RefusedPod[] }
    | { readonly outcome: 'revoked'; readonly remaining: RemainingPod[] }
    | { readonly outcome: 'cancelled'; readonly remaining: RemainingPod[] }
    | {
        readonly outcome: 'timeout';
        readonly remaining: RemainingPod[];
        /** `namespace/name: message` of each remaining pod whose last attempt failed, then any list error. */
        readonly lastBlockers: string[];
      }
  );

export const DEFAULT_POLL_INTERVAL_MS = 1000;
export const DEFAULT_EVICTION_CONCURRENCY = 20;
export const DEFAULT_MAX_RETRY_BACKOFF_MS = 30_000;

// ---------------------------------------------------------------------------------------------
// The engine
// ---------------------------------------------------------------------------------------------

/** One pod (one UID) the drain waits for. */
interface Tracked {
  readonly ref: PodRef;
  accepted: boolean;
  /** Evictions refused or failed in a row: the exponent of the backoff. */
  failures: number;
  /** Clock time before which it is not tried again. */
  notBefore: number;
  lastBlocker: string | undefined;
  /** Epoch ms; set once the pod is deleting, by us or by anyone. */
  deletedAt: number | undefined;
}

function refOf(pod: V1Pod): PodRef {
  const namespace = pod.metadata?.namespace ?? '';
  const name = pod.metadata?.name ?? '';
  // Every pod from the API server has a UID; the fallback only keeps odd test data apart.
  return { namespace, name, uid: pod.metadata?.uid ?? `${namespace}/${name}` };
}

const keyOf = (ref: PodRef): string => `${ref.namespace}/${ref.name}`;

/** max(Retry-After, base·2^(failures-1) capped): the server's ask always wins over our cap. */
export function retryDelayMs(
  failures: number,
  retryAfterSeconds: number | undefined,
  baseMs: number,
  capMs: number,
): number {
  const exponential = Math.min(baseMs * 2 ** Math.max(0, failures - 1), Math.max(capMs, baseMs));
  return Math.max(exponential, (retryAfterSeconds ?? 0) * 1000);
}

/**
 * Drains `node`. Resolves with what happened; rejects only when the API refuses in a way
 * retrying cannot fix (403, 400…), after logging it. Transient errors (network, 5xx) are
 * logged and retried, and show up in `lastBlockers` if the drain times out.
 */
export async function drainNode(node: string, deps: DrainDeps, opts: DrainOptions): Promise<DrainResult> {
  return new Drain(node, deps, opts).run();
}

/**
 * One drain of one node, in rounds: check the grant still holds, list the node's pods, track
 * the ones to evict, evict those due, sleep until the next poll or retry. Every way out goes
 * through {@link Drain.finish}, which logs the outcome once.
 */
class Drain {
  readonly #node: string;
  readonly #deps: DrainDeps;
  readonly #opts: DrainOptions;
  readonly #pollMs: number;
  readonly #concurrency: number;
  readonly #capMs: number;
  readonly #grace: { gracePeriodSeconds?: number };
  readonly #start: number;
  readonly #tracked = new Map<string, Tracked>();
  /** UIDs seen gone: never tracked again, even if a stale list or a stuck pod shows them. */
  readonly #finished = new Set<string>();
  #evicted = 0;
  #rounds = 0;
  #listProblem: string | undefined;

  constructor(node: string, deps: DrainDeps, opts: DrainOptions) {
    this.#node = node;
    this.#deps = deps;
    this.#opts = opts;
    this.#pollMs = opts.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
    this.#concurrency = opts.concurrency ?? DEFAULT_EVICTION_CONCURRENCY;
    this.#capMs = opts.maxRetryBackoffMs ?? DEFAULT_MAX_RETRY_BACKOFF_MS;
    this.#grace = opts.gracePeriodSeconds >= 0 ? { gracePeriodSeconds: opts.gracePeriodSeconds } : {};
    this.#start = deps.clock.now();
  }

  async run(): Promise<DrainResult> {
    const { node, signal } = { node: this.#node, signal: this.#opts.signal };
    this.#deps.log.info(
      { node, gracePeriodSeconds: this.#opts.gracePeriodSeconds, timeoutMs: this.#opts.timeoutMs },
      `draining node ${node}`,
    );
    for (;;) {
      if (signal?.aborted) return this.#cancelled();
      this.#rounds++;
      if (!(await this.#deps.stillGranted()))
        return this.#finish({ outcome: 'revoked', remaining: this.#remaining(), ...this.#totals() });
      if (signal?.aborted) return this.#cancelled();

      const listed = await this.#listPods();
      if (listed !== undefined) {
        const ended = this.#track(listed);
        if (ended !== undefined) return ended;
      }
      if (this.#timedOut()) return this.#timeout();

      if (listed !== undefined) {
        await this.#evictDue();
        if (signal?.aborted) return this.#cancelled();
        if (this.#tracked.size === 0) continue; // all 404/409: confirm with a fresh list right away
      }
      await this.#sleep();
    }
  }

  /** This round's list of the node's pods; undefined after a transient failure (retried). */
  async #listPods(): Promise<V1Pod[] | undefined> {
    const { api, log } = this.#deps;
    const node = this.#node;
    try {
      const listed = await api.listPodsOnNode(node);
      this.#listProblem = undefined;
      return listed;
    } catch (err) {
      if (!isTransient(err)) {
        log.error({ node, err: describeKubeError(err) }, `listing the pods of node ${node} failed`);
        throw err;
      }
      this.#listProblem = describeKubeError(err);
      log.warn({ node, err: this.#listProblem }, `listing the pods of node ${node} failed, will retry`);
      return undefined;
    }
  }

  /** Plans the drain over a fresh list and tracks what to evict; the result when it ends here. */
  #track(listed: readonly V1Pod[]): DrainResult | undefined {
    const plan = planDrain(listed, this.#opts);
    if (plan.refused.length > 0)
      return this.#finish({ outcome: 'refused', refused: plan.refused, ...this.#totals() });
    this.#reconcile(listed, plan.evict);
    const waiting = [...this.#tracked.values()];
    const blocked = waiting.filter((t) => !t.accepted && t.failures > 0).length;
    this.#emit({ type: 'round', node: this.#node, round: this.#rounds, pending: waiting.length, blocked });
    if (this.#tracked.size === 0) return this.#finish({ outcome: 'drained', ...this.#totals() });
    return undefined;
  }

  /** Brings the tracked pods in line with a fresh list: new UIDs in, vanished or stuck ones out. */
  #reconcile(listed: readonly V1Pod[], toEvict: readonly V1Pod[]): void {
    const now = this.#deps.clock.now();
    const evictable = new Map(toEvict.map((p) => [refOf(p).uid, p]));
    const listedUids = new Set(listed.map((p) => refOf(p).uid));
    const listedKeys = new Set(listed.map((p) => keyOf(refOf(p))));
    for (const t of [...this.#tracked.values()]) {
      if (evictable.has(t.ref.uid)) continue;
      this.#gone(
        t,
        listedUids.has(t.ref.uid) ? 'skipped' : listedKeys.has(keyOf(t.ref)) ? 'replaced' : 'deleted',
      );
    }
    for (const [uid, pod] of evictable) {
      if (this.#finished.has(uid)) continue;
      let t = this.#tracked.get(uid);
      if (t === undefined) {
        t = {
          ref: refOf(pod),
          accepted: false,
          failures: 0,
          notBefore: now,
          lastBlocker: undefined,
          deletedAt: undefined,
        };
        this.#tracked.set(uid, t);
      }
      const deletion = pod.metadata?.deletionTimestamp;
      t.deletedAt = deletion === undefined ? undefined : new Date(deletion).getTime();
      // kubectl's --skip-wait-for-delete-timeout: a pod far past its deletion time is stuck
      // (finalizer, unreachable kubelet); waiting longer would only hold the reboot.
      const skipMs = this.#opts.skipWaitForDeleteTimeoutMs;
      if (skipMs > 0 && t.deletedAt !== undefined && now - t.deletedAt > skipMs)
        this.#gone(t, 'stuck-terminating');
    }
  }

  /** Evicts every tracked pod whose retry time has come, a few at a time. */
  async #evictDue(): Promise<void> {
    const now = this.#deps.clock.now();
    const due = [...this.#tracked.values()]
      .filter((t) => !t.accepted && t.notBefore <= now)
      .sort((a, b) => compareRefs(a.ref, b.ref));
    await forEachLimited(due, this.#concurrency, (t) => this.#evictOne(t), this.#opts.signal);
  }

  async #evictOne(t: Tracked): Promise<void> {
    const { api, clock, log } = this.#deps;
    const node = this.#node;
    const pod = keyOf(t.ref);
    let outcome: EvictOutcome;
    try {
      outcome = await api.evictPod(t.ref.namespace, t.ref.name, { ...this.#grace, uid: t.ref.uid });
    } catch (err) {
      if (!isTransient(err)) {
        log.error({ node, pod, err: describeKubeError(err) }, `evicting ${pod} from node ${node} failed`);
        throw err;
      }
      t.failures++;
      const retryInMs = retryDelayMs(t.failures, undefined, this.#opts.retryBackoffMs, this.#capMs);
      t.notBefore = clock.now() + retryInMs;
      t.lastBlocker = describeKubeError(err);
      log.warn({ node, pod, err: t.lastBlocker, retryInMs }, `evicting ${pod} failed, will retry`);
      return;
    }
    switch (outcome.kind) {
      case 'accepted':
        t.accepted = true;
        t.lastBlocker = undefined;
        this.#evicted++;
        log.info({ node, pod, uid: t.ref.uid, ...this.#grace }, `evicted ${pod} from node ${node}`);
        this.#emit({ type: 'evicted', node, pod: t.ref });
        return;
      case 'blocked': {
        t.failures++;
        const { message, retryAfterSeconds } = outcome;
        const retryInMs = retryDelayMs(t.failures, retryAfterSeconds, this.#opts.retryBackoffMs, this.#capMs);
        t.notBefore = clock.now() + retryInMs;
        t.lastBlocker = message;
        log.warn(
          { node, pod, message, retryAfterSeconds, retryInMs, attempt: t.failures },
          `eviction of ${pod} from node ${node} blocked: ${message}`,
        );
        this.#emit({ type: 'blocked', node, pod: t.ref, message, retryAfterSeconds, retryInMs });
        return;
      }
      case 'gone':
        this.#gone(t, 'deleted');
        return;
      case 'conflict':
        this.#gone(t, 'replaced');
        return;
    }
  }

  #gone(t: Tracked, how: GoneHow): void {
    this.#tracked.delete(t.ref.uid);
    this.#finished.add(t.ref.uid);
    this.#deps.log.debug({ node: this.#node, pod: keyOf(t.ref), uid: t.ref.uid, how }, 'pod gone');
    this.#emit({ type: 'gone', node: this.#node, pod: t.ref, how });
  }

  /** Until the next poll, shortened to the next due retry and to the deadline; at least 1 ms. */
  async #sleep(): Promise<void> {
    const { clock } = this.#deps;
    const now = clock.now();
    let wait = this.#pollMs;
    for (const t of this.#tracked.values()) if (!t.accepted) wait = Math.min(wait, t.notBefore - now);
    if (this.#opts.timeoutMs > 0) wait = Math.min(wait, this.#start + this.#opts.timeoutMs - now);
    try {
      await clock.sleep(Math.max(1, wait), this.#opts.signal);
    } catch (err) {
      // A sleep may reject when aborted (node:timers/promises does); anything else is a bug.
      if (this.#opts.signal?.aborted !== true) throw err;
    }
  }

  /** A metrics or Events hook that throws must not end a drain half-way through a round. */
  #emit(event: DrainEvent): void {
    try {
      this.#deps.onEvent?.(event);
    } catch (err) {
      this.#deps.log.warn(
        { node: this.#node, event: event.type, err: String(err) },
        'drain event handler failed',
      );
    }
  }

  #totals(): Totals {
    return { evicted: this.#evicted, rounds: this.#rounds, elapsedMs: this.#deps.clock.now() - this.#start };
  }

  #remaining(): RemainingPod[] {
    return [...this.#tracked.values()]
      .sort((a, b) => compareRefs(a.ref, b.ref))
      .map((t) => ({
        ...t.ref,
        state:
          t.accepted || t.deletedAt !== undefined ? 'terminating' : t.failures > 0 ? 'blocked' : 'pending',
        ...(t.lastBlocker !== undefined ? { lastBlocker: t.lastBlocker } : {}),
      }));
  }

  #timedOut(): boolean {
    return this.#opts.timeoutMs > 0 && this.#deps.clock.now() - this.#start >= this.#opts.timeoutMs;
  }

  #cancelled(): DrainResult {
    return this.#finish({ outcome: 'cancelled', remaining: this.#remaining(), ...this.#totals() });
  }

  #timeout(): DrainResult {
    const left = this.#remaining();
    const lastBlockers = left.flatMap((p) =>
      p.lastBlocker !== undefined ? [`${keyOf(p)}: ${p.lastBlocker}`] : [],
    );
    if (this.#listProblem !== undefined)
      lastBlockers.push(`listing the pods of node ${this.#node}: ${this.#listProblem}`);
    return this.#finish({ outcome: 'timeout', remaining: left, lastBlockers, ...this.#totals() });
  }

  /** Logs how the drain ended, once, and returns the result. */
  #finish(result: DrainResult): DrainResult {
    const { log } = this.#deps;
    const node = this.#node;
    const { outcome, evicted: count, rounds: n, elapsedMs } = result;
    const fields = { node, outcome, evicted: count, rounds: n, elapsedMs };
    if (result.outcome === 'drained' || result.outcome === 'cancelled') {
      log.info(fields, `drain of node ${node}: ${outcome}`);
    } else if (result.outcome === 'refused') {
      const refused = result.refused.map((r) => `${podKey(r.pod)}: ${r.reason}`);
      log.warn({ ...fields, refused }, `drain of node ${node}: refused`);
    } else if (result.outcome === 'timeout') {
      const left = result.remaining.map(keyOf);
      log.warn(
        { ...fields, remaining: left, lastBlockers: result.lastBlockers },
        `drain of node ${node}: timeout`,
      );
    } else {
      log.warn({ ...fields, remaining: result.remaining.map(keyOf) }, `drain of node ${node}: ${outcome}`);
    }
    return result;
  }
}

/** The order of plan.ts's comparePods: namespace, name, UID. */
function compareRefs(a: PodRef, b: PodRef): number {
  return compareText(a.namespace, b.namespace) || compareText(a.name, b.name) || compareText(a.uid, b.uid);
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
