/** The engine's options from the agent's parsed configuration (the flag ↔ option mapping in one place). */
import type { AgentConfig } from '@baton/protocol/config';
import type { DrainOptions } from './engine.ts';

export type DrainConfig = Pick<
  AgentConfig,
  | 'drainGracePeriod'
  | 'drainTimeout'
  | 'skipWaitForDeleteTimeout'
  | 'drainPodSelector'
  | 'deleteEmptydirData'
  | 'evictUnmanagedPods'
  | 'evictionRetryBackoff'
>;

export function drainOptionsFromConfig(config: DrainConfig, signal?: AbortSignal): DrainOptions {
  return {
    gracePeriodSeconds: config.drainGracePeriod,
    timeoutMs: config.drainTimeout,
    skipWaitForDeleteTimeoutMs: config.skipWaitForDeleteTimeout,
    retryBackoffMs: config.evictionRetryBackoff,
    podSelector: config.drainPodSelector,
    deleteEmptyDirData: config.deleteEmptydirData,
    evictUnmanagedPods: config.evictUnmanagedPods,
    signal,
  };
}
