/**
 * The --health-query: a PromQL expression that must be true before a rebooted node's slot is
 * released. True means a non-empty result whose every sample is non-zero (a scalar: non-zero);
 * an empty result, a zero, an error or an unreachable Prometheus all mean "not healthy", with the
 * reason in words (fail closed).
 *
 * Evaluated on demand and never on the reconcile's path: `view()` answers from the last
 * evaluation at once and starts a new one in the background when that one is older than the
 * refresh interval; when it finishes, `onChange` asks for another reconcile.
 */
import { type Logger, singleFlight } from '@baton/runtime';
import type { PromResult } from '../prometheus/promql.ts';
import type { HealthView } from './settle.ts';

/** Whether a query result means "healthy", and what it showed. */
export function healthVerdict(r: PromResult): { ok: boolean; detail: string } {
  if (r.kind === 'scalar') {
    return r.value !== 0 && !Number.isNaN(r.value)
      ? { ok: true, detail: `scalar ${r.value}` }
      : { ok: false, detail: `the query returned ${r.value}` };
  }
  if (r.samples.length === 0) return { ok: false, detail: 'the query returned no samples' };
  const falsy = r.samples.filter((s) => s.value === 0 || Number.isNaN(s.value));
  if (falsy.length > 0) {
    const first = falsy[0];
    const labels = Object.entries(first?.metric ?? {})
      .map(([k, v]) => `${k}="${v}"`)
      .join(',');
    return {
      ok: false,
      detail: `${falsy.length} of ${r.samples.length} sample(s) are 0 or NaN, e.g. {${labels}} = ${first?.value}`,
    };
  }
  return { ok: true, detail: `${r.samples.length} sample(s), all non-zero` };
}

export interface HealthQueryOptions {
  readonly expr: string;
  readonly evaluate: (expr: string) => Promise<PromResult>;
  readonly now: () => Date;
  /** Start a new evaluation when the last one started this long ago. */
  readonly refreshMs: number;
  /** An answer older than this is stale: not healthy (it may describe the cluster before the reboot). */
  readonly maxAgeMs: number;
  readonly onChange: () => void;
  readonly log: Logger;
}

export class HealthQuery {
  readonly #o: HealthQueryOptions;
  #last: HealthView = { ok: false, detail: 'not evaluated yet' };
  #startedAt = Number.NEGATIVE_INFINITY;
  readonly #evaluations = singleFlight(() => this.#evaluate());

  constructor(opts: HealthQueryOptions) {
    this.#o = opts;
  }

  view(): HealthView {
    const now = this.#o.now().getTime();
    if (!this.#evaluations.running() && now - this.#startedAt >= this.#o.refreshMs) {
      this.#startedAt = now;
      void this.#evaluations.run().finally(() => this.#o.onChange());
    }
    const last = this.#last;
    if (last.checkedAt !== undefined && now - last.checkedAt.getTime() > this.#o.maxAgeMs) {
      return {
        ok: false,
        detail: `the last evaluation is ${Math.round((now - last.checkedAt.getTime()) / 1000)} s old (${last.detail})`,
        checkedAt: last.checkedAt,
      };
    }
    return last;
  }

  /** Resolves when the evaluation in flight (if any) has finished; for tests and shutdown. */
  async settled(): Promise<void> {
    await this.#evaluations.settled();
  }

  #evaluate(): Promise<void> {
    // The answer reflects the cluster at some point after the request left: stamp it with that.
    const checkedAt = new Date(this.#startedAt);
    return this.#o
      .evaluate(this.#o.expr)
      .then(
        (r) => healthVerdict(r),
        (err: unknown) => ({ ok: false, detail: err instanceof Error ? err.message : String(err) }),
      )
      .then((v) => {
        const prev = this.#last;
        const since = v.ok ? (prev.ok && prev.since !== undefined ? prev.since : checkedAt) : undefined;
        if (v.ok !== prev.ok || (!v.ok && v.detail !== prev.detail)) {
          const log = v.ok ? this.#o.log.info.bind(this.#o.log) : this.#o.log.warn.bind(this.#o.log);
          log({ query: this.#o.expr, ok: v.ok, detail: v.detail }, 'health query changed');
        }
        this.#last = { ok: v.ok, detail: v.detail, checkedAt, since };
      });
  }
}
