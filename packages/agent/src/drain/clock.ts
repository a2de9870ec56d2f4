/** The wall clock for the drain engine (tests pass a fake one that advances on sleep). */
import { setTimeout as delay } from 'node:timers/promises';
import type { DrainClock } from './engine.ts';

export const systemClock: DrainClock = {
  // Wall time, not a monotonic one: the engine compares it with pods' deletionTimestamp.
  now: () => Date.now(),
  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    try {
      await delay(ms, undefined, signal === undefined ? {} : { signal });
    } catch (err) {
      // An abort ends the wait early; the engine looks at the signal itself.
      if (signal?.aborted !== true) throw err;
    }
  },
};
