import { parseAgentConfig } from '@baton/protocol/config';
import { describe, expect, it } from 'vitest';
import { systemClock } from './clock.ts';
import { drainOptionsFromConfig } from './options.ts';

describe('drainOptionsFromConfig', () => {
  it('maps the agent flags (durations in ms) onto the engine options', () => {
    const config = parseAgentConfig({
      argv: [
        '--node-id=node-a',
        '--drain-grace-period=45',
        '--drain-timeout=10m',
        '--skip-wait-for-delete-timeout=90',
        '--drain-pod-selector=app=web',
        '--delete-emptydir-data=false',
        '--evict-unmanaged-pods=false',
        '--eviction-retry-backoff=7s',
      ],
      env: {},
    });
    const signal = new AbortController().signal;
    expect(drainOptionsFromConfig(config, signal)).toEqual({
      gracePeriodSeconds: 45,
      timeoutMs: 600_000,
      skipWaitForDeleteTimeoutMs: 90_000,
      retryBackoffMs: 7000,
      podSelector: [{ key: 'app', operator: 'In', values: ['web'] }],
      deleteEmptyDirData: false,
      evictUnmanagedPods: false,
      signal,
    });
  });

  it("keeps the defaults: the pod's own grace period, 30m timeout, no selector", () => {
    const opts = drainOptionsFromConfig(parseAgentConfig({ argv: ['--node-id=node-a'], env: {} }));
    expect(opts).toMatchObject({
      gracePeriodSeconds: -1,
      timeoutMs: 1_800_000,
      skipWaitForDeleteTimeoutMs: 0,
      retryBackoffMs: 5000,
      podSelector: undefined,
      deleteEmptyDirData: true,
      evictUnmanagedPods: true,
    });
  });
});

describe('systemClock', () => {
  it('ends a long sleep as soon as its signal aborts, without throwing', async () => {
    const abort = new AbortController();
    const started = performance.now();
    const sleeping = systemClock.sleep(60_000, abort.signal);
    abort.abort();
    await expect(sleeping).resolves.toBeUndefined();
    expect(performance.now() - started).toBeLessThan(5000);
    expect(Math.abs(systemClock.now() - Date.now())).toBeLessThan(1000);
  });
});
