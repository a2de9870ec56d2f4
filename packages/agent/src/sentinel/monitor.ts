/**
 * Watches the sentinel: a filesystem watch on its directory for an immediate answer, plus a
 * periodic check because watches miss events on some filesystems (overlay, NFS, a hostPath
 * re-mounted under the agent). Calls `onChange` only when the reading changes.
 */
import { type FSWatcher, watch } from 'node:fs';
import { singleFlight } from '@baton/runtime';
import type { Sentinel, SentinelReading } from './sentinel.ts';

export interface SentinelMonitor {
  current(): SentinelReading | undefined;
  /** Checks now (coalescing concurrent calls) and returns the reading. */
  checkNow(): Promise<SentinelReading>;
  stop(): void;
}

export function startSentinelMonitor(
  sentinel: Sentinel,
  opts: { pollMs: number; onChange: (r: SentinelReading) => void; onCheck?: (r: SentinelReading) => void },
): SentinelMonitor {
  let current: SentinelReading | undefined;
  let stopped = false;

  const checks = singleFlight(() =>
    sentinel.check().then((r) => {
      opts.onCheck?.(r);
      const changed =
        current === undefined ||
        current.status !== r.status ||
        current.reason !== r.reason ||
        current.message !== r.message;
      current = r;
      if (changed && !stopped) opts.onChange(r);
      return r;
    }),
  );
  const checkNow = (): Promise<SentinelReading> => checks.run();

  let watcher: FSWatcher | undefined;
  const startWatch = () => {
    if (sentinel.watchDirectory === undefined || watcher !== undefined) return;
    try {
      watcher = watch(sentinel.watchDirectory, { persistent: false }, () => void checkNow());
      watcher.on('error', () => {
        watcher?.close();
        watcher = undefined; // the poll goes on; the watch is retried on the next poll
      });
    } catch {
      watcher = undefined; // directory missing: the reading says so; retried on the next poll
    }
  };
  startWatch();
  const timer = setInterval(() => {
    startWatch();
    void checkNow();
  }, opts.pollMs);
  void checkNow();

  return {
    current: () => current,
    checkNow,
    stop() {
      stopped = true;
      clearInterval(timer);
      watcher?.close();
    },
  };
}
