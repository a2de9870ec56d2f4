/** The controller's metrics: the fleet view dashboards and alerts are built on. */
import type { GateReason } from '@baton/protocol';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Plan, ReleaseKind } from './plan.ts';

export interface ControllerMetrics {
  granted(): void;
  released(kind: ReleaseKind): void;
  observe(plan: Plan, paused: boolean): void;
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
  const stage = new Gauge({
    name: 'baton_holder_stage',
    help: 'Nodes holding a slot, by where they stand on the way to settling (1 per node).',
    labelNames: ['node', 'stage'],
    registers: [registry],
  });
  grants.inc(0);
  return {
    granted: () => grants.inc(),
    released: (kind) => releases.inc({ reason: kind }),
    observe(p, isPaused) {
      taken.set(p.taken);
      blocked.reset();
      for (const [node, w] of p.waiting) blocked.set({ node, reason: w.reason satisfies GateReason }, 1);
      halted.set(p.halted ? 1 : 0);
      stage.reset();
      for (const [node, h] of p.holding) stage.set({ node, stage: h.stage }, 1);
      paused.set(isPaused ? 1 : 0);
    },
  };
}
