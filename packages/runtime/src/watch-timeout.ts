/**
 * How long each watch asks the API server to keep it open (`timeoutSeconds`).
 *
 * Every watch the server ends is one more request: at the default 5 minutes, an agent's two
 * watches alone cost 24 requests an hour, twice its heartbeat. A longer watch costs nothing in
 * safety here: a live watch gets a bookmark from the API server about every minute, so the
 * informer's watchdog (no event for 5 minutes → list again) still notices a dead connection
 * within 5 minutes, however long the watch was asked to last.
 *
 * The length is drawn uniformly from [min, max] so that watches opened together (a DaemonSet
 * rolled out to every node at once) do not all end together. The first watch of a stream is
 * drawn from the remaining life a watch has at a random moment of a long run (the stationary
 * residual of that uniform length): a fleet started at once then renews its watches at the
 * long-run rate from the start, rather than not at all for `min` and then in a wave.
 */
export interface WatchTimeoutRange {
  readonly minSeconds: number;
  readonly maxSeconds: number;
}

/** Each call gives the next watch's timeoutSeconds; one function per watched stream. */
export function spreadWatchTimeouts(
  range: WatchTimeoutRange,
  random: () => number = Math.random,
): () => number {
  const { minSeconds: a, maxSeconds: b } = range;
  if (!(a > 0 && b >= a)) throw new Error(`watch timeouts: expected 0 < min <= max, got ${a} and ${b}`);
  let first = true;
  return () => {
    if (!first) return Math.round(a + (b - a) * random());
    first = false;
    return Math.max(1, Math.round(residualOfUniform(a, b, random())));
  };
}

/**
 * The inverse of the residual-life distribution of a length uniform on [a, b]: density 1/m on
 * [0, a] and (b − x)/((b − a)·m) on [a, b], with m = (a + b)/2 the mean length.
 */
export function residualOfUniform(a: number, b: number, u: number): number {
  const m = (a + b) / 2;
  if (u <= a / m || b === a) return Math.min(u * m, b);
  const r = u - a / m;
  return b - Math.sqrt(Math.max(0, (b - a) ** 2 - 2 * (b - a) * m * r));
}
