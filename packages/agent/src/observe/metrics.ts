/**
 * The agent's own metrics (the fleet view is the controller's): what the sentinel says and when
 * it was last checked, evictions, drain duration, and the phase of the current work.
 */
import { AgentPhase, ConditionStatus } from '@baton/protocol';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { DrainEvent } from '../drain/index.ts';
import type { SentinelReading } from '../sentinel/sentinel.ts';

export function agentMetrics(registry: Registry) {
  const required = new Gauge({
    name: 'baton_agent_reboot_required',
    help: 'What the sentinel says: 1 reboot required, 0 not required, -1 unknown (a sentinel error).',
    registers: [registry],
  });
  const lastCheck = new Gauge({
    name: 'baton_agent_sentinel_last_check_timestamp_seconds',
    help: 'Unix time of the last sentinel check.',
    registers: [registry],
  });
  const evictions = new Counter({
    name: 'baton_agent_evictions_total',
    help: 'Eviction requests by outcome: accepted or blocked (refused by a PodDisruptionBudget).',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const drainDuration = new Histogram({
    name: 'baton_agent_drain_duration_seconds',
    help: 'How long drains took, whatever their outcome.',
    buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600],
    registers: [registry],
  });
  const phase = new Gauge({
    name: 'baton_agent_phase',
    help: "The phase of the agent's current work (1 for the current phase).",
    labelNames: ['phase'],
    registers: [registry],
  });
  for (const p of Object.values(AgentPhase)) phase.set({ phase: p }, 0);
  evictions.inc({ outcome: 'accepted' }, 0);
  evictions.inc({ outcome: 'blocked' }, 0);
  return {
    drainDuration,
    sentinelChecked(r: SentinelReading) {
      required.set(r.status === ConditionStatus.True ? 1 : r.status === ConditionStatus.False ? 0 : -1);
      lastCheck.set(Date.now() / 1000);
    },
    onDrainEvent(e: DrainEvent) {
      if (e.type === 'evicted') evictions.inc({ outcome: 'accepted' });
      else if (e.type === 'blocked') evictions.inc({ outcome: 'blocked' });
    },
    setPhase(current: string) {
      for (const p of Object.values(AgentPhase)) phase.set({ phase: p }, p === current ? 1 : 0);
    },
  };
}
