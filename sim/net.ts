/**
 * How a simulated process reaches the API server: every request takes a while to arrive and its
 * answer a while to come back (chosen by the seed), fails while the process is cut off or the
 * API server is down, and is lost with the process if it dies meanwhile. A request that arrived
 * takes effect whether or not its sender lives to read the answer, as on a real network.
 *
 * Also the informer a process keeps: a cache fed by its own watch, whose events arrive late
 * (each watcher on its own delay, in order), which goes out of sync when the connection fails and
 * lists again, answering from the old cache meanwhile, as the runtime's informers do.
 */
import type { CoordinationV1Api, V1Lease } from '@kubernetes/client-node';
import { type Kind, type Obj, type SimApiServer, SimNetworkError, type WatchEvent } from './api-server.ts';
import type { World } from './world.ts';

/** One process's connection. `generation` changes when the process restarts. */
export class ProcessLink {
  readonly world: World;
  readonly server: SimApiServer;
  readonly name: string;
  generation = 0;
  alive = true;
  /** Cut off from the API server (a partition). */
  partitioned = false;
  /** Multiplies every latency (a slow process, a slow network). */
  slowFactor = 1;
  /**
   * The process is frozen until then (a stop-the-world pause, a VM stall): none of its code runs;
   * what it would have run — a timer, an answer, a watch event — runs once it wakes, in order.
   */
  frozenUntil = 0;
  /**
   * One-shot: the next Lease read this process makes comes back this late (it stalled while
   * holding the answer: a pause between a read and the write that depends on it).
   */
  stallNextLeaseRead = 0;

  constructor(world: World, server: SimApiServer, name: string) {
    this.world = world;
    this.server = server;
    this.name = name;
  }

  reachable(): boolean {
    return !this.partitioned && !this.server.down;
  }

  latency(): number {
    const r = this.world.rng;
    const base = r.chance(0.9) ? r.int(1, 15) : r.chance(0.8) ? r.int(20, 300) : r.int(300, 3000);
    return Math.round(base * this.slowFactor);
  }

  /** Runs `fn` on this process: now, or when it wakes if it is frozen. */
  onProcess(fn: () => void): void {
    if (this.world.now < this.frozenUntil)
      this.world.schedule(this.frozenUntil - this.world.now, () => this.onProcess(fn));
    else fn();
  }

  /** Sends `op` to the API server; its result (or error) comes back later. */
  call<T>(op: () => T): Promise<T> {
    const gen = this.generation;
    const world = this.world;
    return new Promise<T>((resolve, reject) => {
      const answer = (fn: () => void, delay: number) =>
        world.schedule(delay, () =>
          this.onProcess(() => {
            if (this.generation === gen && this.alive) fn();
          }),
        );
      if (!this.reachable()) {
        answer(() => reject(new SimNetworkError(`${this.name}: connection refused`)), world.rng.int(5, 2000));
        return;
      }
      world.schedule(this.latency(), () => {
        if (!this.reachable()) {
          answer(() => reject(new SimNetworkError(`${this.name}: connection reset`)), world.rng.int(5, 2000));
          return;
        }
        let result: T;
        try {
          result = op();
        } catch (err) {
          answer(() => reject(err), this.latency());
          return;
        }
        answer(() => resolve(result), this.latency());
      });
    });
  }

  /** Process death: pending answers are dropped; the next life gets a new generation. */
  kill(): void {
    this.alive = false;
    this.generation++;
  }

  revive(): void {
    this.alive = true;
    this.generation++;
  }
}

export type ChangeHandler = (event: 'add' | 'update' | 'delete' | 'resync', obj: Obj | undefined) => void;

/** A process's watch cache of one kind, as the runtime's supervised informers behave. */
export class SimInformer<T extends Obj> {
  readonly #link: ProcessLink;
  readonly #kind: Kind;
  readonly #filter: (o: Obj) => boolean;
  #cache = new Map<string, T>();
  #synced = false;
  #session = 0;
  #unsubscribe: (() => void) | undefined;
  #lastDelivery = 0;
  #handlers: ChangeHandler[] = [];
  #gen: number;
  /** Extra delay on every event delivered (a lagging watch). */
  lagMs = 0;

  constructor(link: ProcessLink, kind: Kind, filter: (o: Obj) => boolean = () => true) {
    this.#link = link;
    this.#kind = kind;
    this.#filter = filter;
    this.#gen = link.generation;
    link.server.onRestart(() => this.#fail());
  }

  onChange(h: ChangeHandler): void {
    this.#handlers.push(h);
  }

  synced(): boolean {
    return this.#synced;
  }

  list(): T[] {
    return [...this.#cache.values()];
  }

  get(name: string): T | undefined {
    return this.#cache.get(name);
  }

  start(): void {
    this.#relist(0);
  }

  stop(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    this.#session++;
    this.#synced = false;
  }

  #dead(): boolean {
    return !this.#link.alive || this.#link.generation !== this.#gen;
  }

  /** The connection failed: out of sync, the old cache still answers, list again with backoff. */
  #fail(): void {
    if (this.#dead() || this.#unsubscribe === undefined) return;
    this.#unsubscribe();
    this.#unsubscribe = undefined;
    this.#session++;
    this.#synced = false;
    this.#relist(this.#link.world.rng.int(200, 2000));
  }

  /** A 410 or a watchdog: list everything again. */
  relist(): void {
    if (this.#dead()) return;
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    this.#session++;
    this.#synced = false;
    this.#relist(this.#link.world.rng.int(0, 500));
  }

  #relist(delay: number): void {
    const world = this.#link.world;
    const session = ++this.#session;
    world.schedule(delay, () => {
      if (this.#dead() || session !== this.#session) return;
      // As a real informer watches from the list's resourceVersion: the watch starts where the
      // list was taken, and what happens while the list travels back is delivered after it.
      let early: WatchEvent[] | undefined = [];
      let unsubscribe: (() => void) | undefined;
      this.#link
        .call(() => {
          const listed = this.#link.server.list(this.#kind);
          unsubscribe = this.#link.server.watch(this.#kind, (e) => {
            if (this.#dead() || session !== this.#session) {
              unsubscribe?.();
              return;
            }
            if (early !== undefined) early.push(e);
            else this.#push(e, session);
          });
          return listed;
        })
        .then(
          ({ items }) => {
            if (this.#dead() || session !== this.#session || !this.#link.reachable()) {
              unsubscribe?.();
              if (!this.#dead() && session === this.#session) this.#relist(world.rng.int(200, 2000));
              return;
            }
            this.#cache = new Map(
              items.filter(this.#filter).map((o) => [o.metadata?.name ?? '', o as T] as const),
            );
            this.#synced = true;
            this.#lastDelivery = world.now;
            this.#unsubscribe = unsubscribe;
            const missed = early ?? [];
            early = undefined;
            for (const h of this.#handlers) h('resync', undefined);
            for (const e of missed) this.#push(e, session);
          },
          () => {
            unsubscribe?.();
            if (!this.#dead() && session === this.#session) this.#relist(world.rng.int(200, 2000));
          },
        );
    });
  }

  #push(e: WatchEvent, session: number): void {
    if (!this.#filter(e.object)) return;
    const world = this.#link.world;
    if (!this.#link.reachable()) {
      this.#fail();
      return;
    }
    const at = Math.max(this.#lastDelivery, world.now + this.#link.latency() + this.lagMs);
    this.#lastDelivery = at;
    const object = e.object as T;
    world.schedule(at - world.now, () =>
      this.#link.onProcess(() => {
        if (this.#dead() || session !== this.#session) return;
        const name = object.metadata?.name ?? '';
        if (e.type === 'delete') this.#cache.delete(name);
        else this.#cache.set(name, object);
        for (const h of this.#handlers) h(e.type, object);
      }),
    );
  }
}

/**
 * The three Lease calls of client-node's CoordinationV1Api that the controller's slot writer and
 * leader store make, over a {@link ProcessLink}.
 */
export function simCoordinationApi(link: ProcessLink, actor: string): CoordinationV1Api {
  const api = {
    readNamespacedLease: async ({ name }: { name: string }) => {
      const lease = await link.call(() => link.server.get('lease', name) as V1Lease);
      const stall = link.stallNextLeaseRead;
      if (stall > 0) {
        link.stallNextLeaseRead = 0;
        link.frozenUntil = link.world.now + stall;
        await new Promise<void>((resolve) => link.world.schedule(0, () => link.onProcess(resolve)));
      }
      return lease;
    },
    createNamespacedLease: ({ body }: { body: V1Lease }) =>
      link.call(() => link.server.create('lease', body, actor) as V1Lease),
    replaceNamespacedLease: ({ name, body }: { name: string; body: V1Lease }) =>
      link.call(() => link.server.replace('lease', name, body, actor) as V1Lease),
  };
  return api as unknown as CoordinationV1Api;
}
