/** The controller's metrics: the fleet view dashboards and alerts are built on. */
import type { GateReason } from '@baton/protocol';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Plan, ReleaseKind } from './plan.ts';

export interface ControllerMetrics {
  granted(): void;
  released(kind: ReleaseKind): void;
  /** `blocked`: why each held-back node waits (gate-condition.ts); without it, the plan's waiting nodes. */
  observe(plan: Plan, paused: boolean, blocked?: ReadonlyMap<string, { readonly reason: GateReason }>): void;
}

export function controllerMetrics(registry: Registry): ControllerMetrics {
  const grants = new Counter({
    name: 'baton_grants_total',
    help: 'Reboot grants made.',
    registers: [registry],
  });
  const releases = new Counter({
    name: 'baton_releases_total',
    help: 'Slots released, by why.',
    labelNames: ['reason'],
    registers: [registry],
  });
  const taken = new Gauge({
    name: 'baton_slots_taken',
    help: 'Slot Leases held (by nodes or by hand).',
    registers: [registry],
  });
  const blocked = new Gauge({
    name: 'baton_node_blocked',
    help: 'Nodes that need a reboot and wait, by the gate that holds them (1 per node).',
    labelNames: ['node', 'reason'],
    registers: [registry],
  });
  const halted = new Gauge({
    name: 'baton_rollout_halted',
    help: '1 while the rollout is halted.',
    registers: [registry],
  });
  const paused = new Gauge({
    name: 'baton_paused',
    help: '1 while the pause Lease is held.',
    registers: [registry],
  });
  grants.inc(0);
  return {
    granted: () => grants.inc(),
    released: (kind) => releases.inc({ reason: kind }),
    observe(p, isPaused, why) {
      taken.set(p.taken);
      blocked.reset();
      for (const [node, w] of why ?? p.waiting)
        blocked.set({ node, reason: w.reason satisfies GateReason }, 1);
      halted.set(p.halted ? 1 : 0);
      paused.set(isPaused ? 1 : 0);
    },
  };
}
