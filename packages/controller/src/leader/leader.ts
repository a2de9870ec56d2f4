/**
 * Leader election over a Lease, for two controller replicas with one active (client-node has
 * none). The rules follow client-go's: the leader renews every retry period; a follower takes
 * over only after it has seen the same record unchanged for a whole lease duration, measured on
 * its own monotonic clock (so neither skew between replicas nor a jump of a wall clock matters);
 * a leader that has not renewed within the renew deadline stops leading at once, before anyone
 * else may take over. The wall clock only stamps the record for people.
 *
 * Safety does not rest on this alone: slot Leases are written by compare-and-swap, so even two
 * replicas that both believe they lead cannot over-grant. Election keeps the second one quiet.
 */

export interface LeaderRecord {
  readonly holder: string;
  readonly renewTime: string;
  readonly acquireTime: string;
  readonly transitions: number;
}

/** A Lease seen through compare-and-swap: `version` is its resourceVersion. */
export interface LeaderLeaseStore {
  read(): Promise<{ record: LeaderRecord; version: string } | undefined>;
  /** Creates the Lease; its version, or undefined when it already exists (someone else created it). */
  create(record: LeaderRecord): Promise<string | undefined>;
  /** Replaces it if still at `version`; the new version, or undefined on a conflict. */
  replace(record: LeaderRecord, version: string): Promise<string | undefined>;
}

export interface LeaderElectorOptions {
  readonly identity: string;
  readonly store: LeaderLeaseStore;
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
  /** Wall-clock milliseconds: the times written into the record, for people. */
  readonly now: () => number;
  /** A clock that never jumps (performance.now()): every duration; defaults to `now`. */
  readonly monotonicMs?: () => number;
  readonly onStartedLeading?: () => void;
  readonly onStoppedLeading?: (why: string) => void;
  readonly log?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
}

export class LeaderElector {
  readonly #o: LeaderElectorOptions;
  #leading = false;
  #lastRenew = Number.NEGATIVE_INFINITY;
  #observed: { key: string; at: number } | undefined;
  /**
   * The record as this replica last wrote it, and its version. While leading, a renewal is one
   * compare-and-swap against it, without reading first: anyone else's write since fails the swap
   * exactly as it would fail after a read, and only then is the Lease read. Half the requests of
   * a read per renewal, every 2 s for as long as the controller runs.
   */
  #written: { record: LeaderRecord; version: string } | undefined;

  constructor(opts: LeaderElectorOptions) {
    if (!(opts.retryPeriodMs < opts.renewDeadlineMs && opts.renewDeadlineMs < opts.leaseDurationMs)) {
      throw new RangeError('leader election needs retry period < renew deadline < lease duration');
    }
    this.#o = opts;
  }

  /** True only while leading AND the last renewal is within the renew deadline, checked now. */
  #mono(): number {
    return (this.#o.monotonicMs ?? this.#o.now)();
  }

  isLeader(): boolean {
    if (this.#leading && this.#mono() - this.#lastRenew >= this.#o.renewDeadlineMs)
      this.#stop('could not renew in time');
    return this.#leading;
  }

  #stop(why: string): void {
    if (!this.#leading) return;
    this.#leading = false;
    this.#o.log?.warn({ identity: this.#o.identity, why }, 'stopped leading');
    this.#o.onStoppedLeading?.(why);
  }

  #start(): void {
    if (this.#leading) return;
    this.#leading = true;
    this.#o.log?.info({ identity: this.#o.identity }, 'started leading');
    this.#o.onStartedLeading?.();
  }

  /** One attempt to acquire or renew; call every retry period. Never throws. */
  async tick(): Promise<boolean> {
    const { identity, store, now } = this.#o;
    try {
      const written = this.#written;
      this.#written = undefined;
      if (this.#leading && written !== undefined) {
        const t = this.#mono();
        const record = { ...written.record, renewTime: new Date(now()).toISOString() };
        const version = await store.replace(record, written.version);
        if (version !== undefined) {
          this.#written = { record, version };
          this.#renewed(t);
          return this.isLeader();
        }
        // Someone else wrote the Lease: read it and decide as a replica that just woke up.
      }
      const current = await store.read();
      const t = this.#mono();
      const stamp = new Date(now()).toISOString();
      if (current === undefined) {
        const record = { holder: identity, renewTime: stamp, acquireTime: stamp, transitions: 0 };
        const version = await store.create(record);
        if (version !== undefined) this.#wrote(record, version, t);
        return this.isLeader();
      }
      const { record, version } = current;
      const key = `${record.holder}|${record.renewTime}`;
      if (this.#observed?.key !== key) this.#observed = { key, at: t };
      if (record.holder === identity) {
        const renewed = { ...record, renewTime: stamp };
        const next = await store.replace(renewed, version);
        if (next !== undefined) this.#wrote(renewed, next, t);
        return this.isLeader();
      }
      // Someone else holds it. Take over only after seeing it unchanged for a full duration.
      this.#stop(`${record.holder} holds the lease`);
      const expired = record.holder === '' || t - this.#observed.at >= this.#o.leaseDurationMs;
      if (!expired) return false;
      const mine = {
        holder: identity,
        renewTime: stamp,
        acquireTime: stamp,
        transitions: record.transitions + 1,
      };
      const taken = await store.replace(mine, version);
      if (taken !== undefined) this.#wrote(mine, taken, t);
      return this.isLeader();
    } catch (err) {
      this.#o.log?.warn({ err: String(err) }, 'leader election request failed');
      return this.isLeader();
    }
  }

  #wrote(record: LeaderRecord, version: string, t: number): void {
    this.#written = { record, version };
    this.#renewed(t);
  }

  #renewed(t: number): void {
    this.#lastRenew = t;
    this.#start();
  }

  /** Ticks every retry period until `signal` aborts; then, if leading, stops. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.tick();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.#o.retryPeriodMs);
        signal.addEventListener(
          'abort',
          () => {
            clearTimeout(timer);
            resolve();
          },
          { once: true },
        );
      });
    }
    this.#stop('shutting down');
  }
}
