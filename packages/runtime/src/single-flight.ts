/**
 * One run at a time of an async job, shared by everyone who asks while it runs: the one way
 * baton coalesces concurrent calls (a reconcile pass, a sentinel check, a condition report, a
 * health query, a workloads check).
 *
 * - Callers during a run get the run in flight (the same promise), never a second overlapping run.
 * - With `again`, a call during a run also schedules exactly one more run after it, however many
 *   calls came meanwhile (what changed meanwhile is not lost); everyone who joined gets the value
 *   once the last of those runs ended. Without it, a call during a run only joins it.
 * - A run that throws ends the flight: every caller who joined gets the error, and a run
 *   scheduled meanwhile is dropped (the next call starts afresh).
 *
 * The run starts synchronously inside the first call, as a plain `async` call would.
 */
export interface SingleFlightOptions<T> {
  /** A call while a run is in flight schedules exactly one more run after it. Default false. */
  readonly again?: boolean;
  /** With `again`: the value of several runs of one flight; default the last run's. */
  readonly combine?: (earlier: T, later: T) => T;
}

export interface SingleFlight<T> {
  /** Starts a run, or joins the one in flight (scheduling one more with `again`). */
  run(): Promise<T>;
  /** Whether a run is in flight. */
  running(): boolean;
  /** Resolves when no run is in flight any more; never rejects (for tests and shutdown). */
  settled(): Promise<void>;
}

export function singleFlight<T>(fn: () => Promise<T>, opts: SingleFlightOptions<T> = {}): SingleFlight<T> {
  const combine = opts.combine ?? ((_earlier: T, later: T) => later);
  let flight: Promise<T> | undefined;
  let again = false;

  const loop = async (): Promise<T> => {
    again = false;
    let value: T = await fn();
    while (again) {
      again = false;
      const next: T = await fn();
      value = combine(value, next);
    }
    return value;
  };

  return {
    run() {
      if (flight !== undefined) {
        if (opts.again === true) again = true;
        return flight;
      }
      const mine = loop().finally(() => {
        if (flight === mine) flight = undefined;
      });
      flight = mine;
      return mine;
    },
    running: () => flight !== undefined,
    async settled() {
      while (flight !== undefined) {
        await flight.catch(() => undefined);
      }
    },
  };
}
