/**
 * Watches every slot Lease of a namespace and every Node of a fleet (watches, not polling, so no
 * moment between two polls goes unseen) and feeds each change to the InvariantChecker
 * (invariants.ts), which checks the safety invariants at every observed resourceVersion.
 *
 * Built to survive the faults it observes: a watch that ends (client-node's inactivity timeout,
 * a restarted or paused API server) resumes from the last resourceVersion seen; a 410 (the
 * history was compacted meanwhile) relists; a list that fails is retried. Those hiccups are kept
 * in `errors` for the curious but are not violations.
 */
import {
  CoordinationV1Api,
  CoreV1Api,
  type KubeConfig,
  type V1Lease,
  type V1Node,
  Watch,
} from '@kubernetes/client-node';
import {
  checkEndState,
  InvariantChecker,
  type ObservedReboot,
  type Violation,
  type WatchType,
} from './invariants.ts';

export interface InvariantRecorderOptions {
  readonly kc: KubeConfig;
  /** Namespace of the slot Leases. */
  readonly namespace: string;
  /** The allowed number of concurrent holders (the controller's --concurrency). */
  readonly concurrency: number;
  /** Label selector of the Nodes to watch (default: every Node). */
  readonly nodeSelector?: string;
  /** The fleet's record of the reboots it performed: ground truth to cross-check. */
  readonly reboots?: () => readonly ObservedReboot[];
}

interface Stream<T> {
  readonly path: string;
  readonly query: Record<string, string>;
  list(): Promise<{ items: T[]; resourceVersion: string }>;
  onList(items: T[], rv: string): void;
  onEvent(type: WatchType, obj: T): void;
  onProgress(rv: string): void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class InvariantRecorder {
  readonly checker: InvariantChecker;
  readonly #o: InvariantRecorderOptions;
  #stopped = false;
  readonly #aborts = new Set<AbortController>();
  readonly #loops: Promise<void>[] = [];
  /** Watch and list failures (expected while the API server is down); not violations. */
  readonly errors: string[] = [];
  /** Relists after a 410, per stream. */
  relists = 0;
  readonly #endViolations: Violation[] = [];

  constructor(o: InvariantRecorderOptions) {
    this.#o = o;
    this.checker = new InvariantChecker(o.concurrency);
  }

  async start(): Promise<void> {
    const leases = this.#o.kc.makeApiClient(CoordinationV1Api);
    const core = this.#o.kc.makeApiClient(CoreV1Api);
    const ns = this.#o.namespace;
    const c = this.checker;
    const leaseStream: Stream<V1Lease> = {
      path: `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`,
      query: {},
      async list() {
        const r = await leases.listNamespacedLease({ namespace: ns });
        return { items: r.items, resourceVersion: r.metadata?.resourceVersion ?? '' };
      },
      onList: (items, rv) => c.leaseList(items, rv),
      onEvent: (type, l) => c.lease(type, l),
      onProgress: (rv) => c.leaseProgress(rv),
    };
    const selector = this.#o.nodeSelector;
    const nodeStream: Stream<V1Node> = {
      path: '/api/v1/nodes',
      query: selector === undefined ? {} : { labelSelector: selector },
      async list() {
        const r = await core.listNode(selector === undefined ? {} : { labelSelector: selector });
        return { items: r.items, resourceVersion: r.metadata?.resourceVersion ?? '' };
      },
      onList: (items) => {
        for (const n of items) c.node('ADDED', n, new Date());
      },
      onEvent: (type, n) => c.node(type, n, new Date()),
      onProgress: () => {},
    };
    // Both first lists before returning, so a test starts with the recorder in sync.
    const leaseRv = await this.#relist(leaseStream);
    const nodeRv = await this.#relist(nodeStream);
    this.#loops.push(this.#watch(leaseStream, leaseRv), this.#watch(nodeStream, nodeRv));
  }

  async #relist<T>(s: Stream<T>): Promise<string> {
    for (;;) {
      try {
        const { items, resourceVersion } = await s.list();
        s.onList(items, resourceVersion);
        return resourceVersion;
      } catch (err) {
        if (this.#stopped) return '';
        this.errors.push(`list ${s.path}: ${String(err)}`);
        await sleep(500);
      }
    }
  }

  async #watch<T extends { metadata?: { resourceVersion?: string } }>(
    s: Stream<T>,
    from: string,
  ): Promise<void> {
    const w = new Watch(this.#o.kc);
    let rv = from;
    while (!this.#stopped) {
      const ended = await new Promise<unknown>((resolve) => {
        w.watch(
          s.path,
          { ...s.query, resourceVersion: rv, allowWatchBookmarks: true },
          (type: string, obj: T & { code?: number }) => {
            if (type === 'ERROR') {
              if (obj.code === 410) rv = '';
              return;
            }
            rv = obj.metadata?.resourceVersion ?? rv;
            if (type === 'BOOKMARK') s.onProgress(rv);
            else s.onEvent(type as WatchType, obj);
          },
          (err: unknown) => resolve(err),
        ).then((ac) => {
          this.#aborts.add(ac);
          if (this.#stopped) ac.abort();
        }, resolve);
      });
      if (this.#stopped) return;
      if (ended && (ended as { name?: string }).name !== 'TimeoutError') {
        this.errors.push(`watch ${s.path}: ${String(ended)}`);
        await sleep(500); // the API server may be restarting
      }
      if (rv === '') {
        this.relists++;
        rv = await this.#relist(s);
      }
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const ac of this.#aborts) ac.abort();
    await Promise.race([Promise.allSettled(this.#loops), sleep(2000)]);
  }

  /** Slots naming a holder now. */
  holders(): string[] {
    return this.checker.holders();
  }

  /**
   * Judges what is still pending and cross-checks the fleet's reboots. Call when the rollout is
   * quiet: the watches have had time to deliver the last changes.
   */
  settle(): void {
    this.checker.reconcileReboots(this.#o.reboots?.() ?? []);
  }

  /**
   * The end-state checks of a round: `needed` maps each node that needed a reboot to how many
   * reboots the fleet did for it in this round. The nodes are read fresh from the API server.
   */
  async checkEnd(
    needed: ReadonlyMap<string, number>,
    adminCordoned: ReadonlySet<string> = new Set(),
  ): Promise<Violation[]> {
    this.settle();
    const core = this.#o.kc.makeApiClient(CoreV1Api);
    const selector = this.#o.nodeSelector;
    const nodes = (await core.listNode(selector === undefined ? {} : { labelSelector: selector })).items;
    const v = checkEndState({ nodes, adminCordoned, needed, holders: this.holders() });
    this.#endViolations.push(...v);
    return v;
  }

  /** Every violation so far: continuous ones and those of every end-state check. */
  violations(): Violation[] {
    return [...this.checker.violations, ...this.#endViolations];
  }
}
