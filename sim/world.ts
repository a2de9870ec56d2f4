/**
 * The simulated world: one seeded source of randomness, one true time, one queue of events.
 *
 * Everything the code under test waits for — an API answer, a timer, a sleep, a watch event — is
 * an event in this queue. The loop takes the earliest event, runs it, then lets every promise
 * continuation that follows from it run to its next wait (one macrotask turn: nothing real is
 * pending, so the order is the microtask order, which is deterministic). Same seed, same
 * scenario: the same run, step for step.
 */

/** Milliseconds of simulated time at which the world starts, as a wall-clock date. */
export const EPOCH_MS = Date.parse('2026-12-01T09:00:00.000Z');

/** xoshiro128**: small, fast and good enough for choosing schedules. */
export class Rng {
  #s: Uint32Array;

  constructor(seed: number) {
    // splitmix32 to spread the seed over the state
    let x = seed >>> 0;
    const next = () => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.#s = new Uint32Array([next(), next(), next(), next()]);
  }

  /** A float in [0, 1). */
  next(): number {
    const s = this.#s;
    const result = Math.imul(rotl(Math.imul(s[1] as number, 5), 7), 9) >>> 0;
    const t = ((s[1] as number) << 9) >>> 0;
    s[2] = (s[2] as number) ^ (s[0] as number);
    s[3] = (s[3] as number) ^ (s[1] as number);
    s[1] = (s[1] as number) ^ (s[2] as number);
    s[0] = (s[0] as number) ^ (s[3] as number);
    s[2] = (s[2] as number) ^ t;
    s[3] = rotl(s[3] as number, 11);
    return result / 4294967296;
  }

  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.next() * items.length)];
    if (item === undefined) throw new Error('pick from an empty list');
    return item;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

interface Scheduled {
  readonly at: number;
  readonly seq: number;
  readonly run: () => void;
  cancelled: boolean;
}

export interface TimerHandle {
  cancel(): void;
}

/** What an invariant check reports. */
export class Violation extends Error {
  readonly invariant: string;
  readonly at: number;
  constructor(invariant: string, at: number, message: string) {
    super(`[${invariant}] at ${formatTime(at)}: ${message}`);
    this.invariant = invariant;
    this.at = at;
  }
}

export function formatTime(ms: number): string {
  const s = ms / 1000;
  const m = Math.floor(s / 60);
  return `${m}m${(s - m * 60).toFixed(3).padStart(6, '0')}s`;
}

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

export class World {
  readonly rng: Rng;
  /** True time, in ms since the start of the run. */
  now = 0;
  #queue: Scheduled[] = [];
  #seq = 0;
  /** The story of the run, for a failing schedule's report (bounded: the last entries). */
  readonly trace: string[] = [];
  readonly traceLimit: number;
  steps = 0;
  #stopped = false;

  constructor(seed: number, traceLimit = 400) {
    this.rng = new Rng(seed);
    this.traceLimit = traceLimit;
  }

  log(who: string, what: string): void {
    this.trace.push(`${formatTime(this.now)} ${who}: ${what}`);
    if (this.trace.length > this.traceLimit) this.trace.splice(0, this.trace.length - this.traceLimit);
  }

  /** Runs `fn` after `delayMs` of simulated time. */
  schedule(delayMs: number, fn: () => void): TimerHandle {
    const item: Scheduled = {
      at: this.now + Math.max(0, delayMs),
      seq: this.#seq++,
      run: fn,
      cancelled: false,
    };
    heapPush(this.#queue, item);
    return {
      cancel() {
        item.cancelled = true;
      },
    };
  }

  /** A promise that resolves after `ms` of simulated time. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.schedule(ms, resolve));
  }

  /**
   * Runs events until `until` (true time) or until the queue is empty. `check` runs after every
   * event has had its consequences; it throws a {@link Violation} to stop the run.
   */
  /** Ends {@link run} after the current event (nothing left that could change anything). */
  stop(): void {
    this.#stopped = true;
  }

  async run(until: number, check: () => void): Promise<void> {
    await flush();
    check();
    while (!this.#stopped) {
      const next = heapPop(this.#queue);
      if (next === undefined) break;
      if (next.cancelled) continue;
      if (next.at > until) {
        heapPush(this.#queue, next);
        this.now = until;
        break;
      }
      this.now = next.at;
      this.steps++;
      next.run();
      await flush();
      check();
    }
  }
}

// A binary heap ordered by (at, seq): the earliest first, ties in the order they were scheduled.
function less(a: Scheduled, b: Scheduled): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

function heapPush(h: Scheduled[], item: Scheduled): void {
  h.push(item);
  let i = h.length - 1;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    const p = h[parent] as Scheduled;
    if (!less(item, p)) break;
    h[i] = p;
    i = parent;
  }
  h[i] = item;
}

function heapPop(h: Scheduled[]): Scheduled | undefined {
  const top = h[0];
  const last = h.pop();
  if (top === undefined || last === undefined || h.length === 0) return top;
  let i = 0;
  for (;;) {
    const l = 2 * i + 1;
    const r = l + 1;
    let smallest = last;
    let at = -1;
    if (l < h.length && less(h[l] as Scheduled, smallest)) {
      smallest = h[l] as Scheduled;
      at = l;
    }
    if (r < h.length && less(h[r] as Scheduled, smallest)) {
      smallest = h[r] as Scheduled;
      at = r;
    }
    if (at === -1) break;
    h[i] = smallest;
    i = at;
  }
  h[i] = last;
  return top;
}

/**
 * One machine's clocks. `wall` is what `new Date()` would say there: true time plus an offset
 * that skews and jumps. `monotonic` is what `performance.now()` would say: it never jumps.
 */
export class MachineClock {
  readonly #world: World;
  offsetMs: number;

  constructor(world: World, offsetMs = 0) {
    this.#world = world;
    this.offsetMs = offsetMs;
  }

  wall(): Date {
    return new Date(EPOCH_MS + this.#world.now + this.offsetMs);
  }

  monotonic(): number {
    return this.#world.now;
  }
}
