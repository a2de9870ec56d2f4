/** The controller's metrics: the fleet view dashboards and alerts are built on. */
import { type GateReason, grantOf, leaseTime } from '@baton/protocol';
import type { V1Lease, V1Node } from '@kubernetes/client-node';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Plan, ReleaseKind } from '../plan/plan.ts';
import { PhaseTracker, phaseOf, rebootRequired } from './phase-metrics.ts';

export interface ControllerMetrics {
  granted(): void;
  released(kind: ReleaseKind): void;
  /** `blocked`: why each held-back node waits (gate-condition.ts); without it, the plan's waiting nodes. */
  observe(plan: Plan, paused: boolean, blocked?: ReadonlyMap<string, { readonly reason: GateReason }>): void;
  /** Per-node state, slot holders, reboot outcomes and stage durations, from the cached objects. */
  fleet(nodes: readonly V1Node[], leases: readonly V1Lease[], now: Date): void;
}

/** What asked for a reconcile (the controller coalesces requests that come within 5 ms). */
export type ReconcileSource = 'node' | 'lease' | 'tick' | 'wake' | 'leader' | 'gates' | 'settle' | 'sync';

/**
 * `baton_reconcile_requests_total{source}`: how often each source asked for a reconcile. A
 * reconcile plans over every node, so an idle controller's CPU follows this rate; a source
 * climbing without a rollout is worth a look.
 */
export function reconcileRequestMetric(registry: Registry): (source: ReconcileSource) => void {
  const requests = new Counter({
    name: 'baton_reconcile_requests_total',
    help: 'Requests for a reconcile, by what asked (coalesced within 5 ms).',
    labelNames: ['source'],
    registers: [registry],
  });
  return (source) => requests.inc({ source });
}

/** Stage durations run from seconds (a drain of nothing) to hours (a slow reboot, a long wait). */
const STAGE_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 21600, 86400];

export interface ControllerMetricsOptions {
  /** Also kured's `kured_reboot_required{node}`, for dashboards and alerts written for kured. */
  readonly kuredMetric?: boolean;
}

export function controllerMetrics(
  registry: Registry,
  opts: ControllerMetricsOptions = {},
): ControllerMetrics {
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
  const required = new Gauge({
    name: 'baton_node_reboot_required',
    help: "1 when the node's RebootRequired condition is True.",
    labelNames: ['node'],
    registers: [registry],
  });
  // kured's name, help and label, so its users' queries read it unchanged.
  const kuredRequired = opts.kuredMetric
    ? new Gauge({
        name: 'kured_reboot_required',
        help: "OS requires reboot due to software updates (kured's metric, from each node's RebootRequired condition).",
        labelNames: ['node'],
        registers: [registry],
      })
    : undefined;
  const phase = new Gauge({
    name: 'baton_node_phase',
    help: "The agent's phase on the node (baton.dev/phase), 1 per node.",
    labelNames: ['node', 'phase'],
    registers: [registry],
  });
  const holder = new Gauge({
    name: 'baton_slot_holder',
    help: 'Who holds each slot Lease with a valid grant (a node, or a manual hold), 1 per slot.',
    labelNames: ['slot', 'holder'],
    registers: [registry],
  });
  const outcomes = new Counter({
    name: 'baton_reboots_total',
    help: 'Reboots that ended, by outcome: rebooted, aborted (the agent undid its work), held (attempt limit).',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const halts = new Counter({
    name: 'baton_halts_total',
    help: 'Times the rollout halted on a node that did not settle within the reboot timeout.',
    registers: [registry],
  });
  const stages = new Histogram({
    name: 'baton_stage_duration_seconds',
    help: 'Time nodes spent per stage: waiting (required → granted), draining, rebooting, settling (rebooted → released).',
    labelNames: ['stage'],
    buckets: STAGE_BUCKETS,
    registers: [registry],
  });
  const tracker = new PhaseTracker();
  let haltedOn: string | undefined;
  const stage = new Gauge({
    name: 'baton_holder_stage',
    help: 'Nodes holding a slot, by where they stand on the way to settling (1 per node).',
    labelNames: ['node', 'stage'],
    registers: [registry],
  });
  grants.inc(0);
  halts.inc(0);
  for (const outcome of ['rebooted', 'aborted', 'held']) outcomes.inc({ outcome }, 0);
  /**
   * The per-node series as last exported. The periodic resync sees thousands of nodes that did
   * not change; rewriting every series each time (reset, then set) was most of an idle large
   * controller's work. Only what changed is written; a vanished node's series are removed.
   */
  const exported = new Map<string, { required: number; phase: string | undefined }>();
  return {
    fleet(nodes, leases, now) {
      holder.reset();
      const holders = new Map<string, Date>();
      for (const lease of leases) {
        const g = grantOf(lease);
        if (g === undefined) continue;
        holder.set({ slot: g.slot, holder: g.holder }, 1);
        holders.set(g.holder, leaseTime(lease.spec?.acquireTime) ?? now);
      }
      const present = new Set<string>();
      for (const n of nodes) {
        const node = n.metadata?.name ?? '';
        present.add(node);
        const current = { required: rebootRequired(n) ? 1 : 0, phase: phaseOf(n)?.phase };
        const before = exported.get(node);
        if (before?.required !== current.required) {
          required.set({ node }, current.required);
          kuredRequired?.set({ node }, current.required);
        }
        if (before === undefined || before.phase !== current.phase) {
          if (before?.phase !== undefined) phase.remove({ node, phase: before.phase });
          if (current.phase !== undefined) phase.set({ node, phase: current.phase }, 1);
        }
        exported.set(node, current);
      }
      for (const [node, before] of exported) {
        if (present.has(node)) continue;
        required.remove({ node });
        kuredRequired?.remove({ node });
        if (before.phase !== undefined) phase.remove({ node, phase: before.phase });
        exported.delete(node);
      }
      const seen = tracker.observe(nodes, holders, now);
      for (const d of seen.durations) stages.observe({ stage: d.stage }, d.seconds);
      for (const outcome of seen.outcomes) outcomes.inc({ outcome });
    },
    granted: () => grants.inc(),
    released: (kind) => releases.inc({ reason: kind }),
    observe(p, isPaused, why) {
      taken.set(p.taken);
      blocked.reset();
      for (const [node, w] of why ?? p.waiting)
        blocked.set({ node, reason: w.reason satisfies GateReason }, 1);
      halted.set(p.halted ? 1 : 0);
      if (p.halted !== undefined && p.halted.node !== haltedOn) halts.inc();
      haltedOn = p.halted?.node;
      stage.reset();
      for (const [node, h] of p.holding) stage.set({ node, stage: h.stage }, 1);
      paused.set(isPaused ? 1 : 0);
    },
  };
}
