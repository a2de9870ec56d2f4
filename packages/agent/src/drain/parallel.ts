/**
 * Runs `fn` over `items` with at most `limit` calls in flight: a node can hold a few hundred
 * pods, and one eviction request per pod at once would be a burst the API server's priority
 * and fairness throttles anyway (and kubectl drain also evicts in parallel, not one by one).
 */
export async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
  signal?: AbortSignal,
): Promise<void> {
  let next = 0;
  let failed = false;
  let firstError: unknown;
  // A failure or an abort stops new calls, but calls in flight are awaited: the caller must not
  // return (and, say, reboot) while eviction requests are still on the wire.
  const worker = async (): Promise<void> => {
    while (!failed && signal?.aborted !== true && next < items.length) {
      const item = items[next++] as T;
      try {
        await fn(item);
      } catch (err) {
        if (!failed) firstError = err;
        failed = true;
      }
    }
  };
  const workers = Math.max(1, Math.min(Math.floor(limit), items.length));
  await Promise.all(Array.from({ length: workers }, worker));
  if (failed) throw firstError;
}
