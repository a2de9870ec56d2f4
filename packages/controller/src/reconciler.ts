/**
 * One reconcile: read the cached Nodes and Leases, plan, apply (releases first, then grants,
 * then renewals), record Events and metrics. Single-flight: changes seen while one runs cause
 * exactly one more run afterwards.
 */
import { EventReason, PAUSE_LEASE } from '@baton/protocol';
import { describeKubeError, type Logger } from '@baton/runtime';
import type { V1Lease, V1Node } from '@kubernetes/client-node';
import {
  desiredGate,
  explainBlocked,
  type GateConditionWriter,
  type GateState,
  gateConditionUpdate,
} from './gate-condition.ts';
import { blockersOf, type NodeGate } from './gates.ts';
import type { ControllerMetrics } from './metrics.ts';
import { pauseState } from './pause.ts';
import { type PlanSettings, plan } from './plan.ts';
import type { SlotWriter } from './slots.ts';

export interface NodeEvents {
  record(node: string, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void>;
}

export interface ReconcilerDeps {
  readonly nodes: () => readonly V1Node[];
  readonly leases: () => readonly V1Lease[];
  readonly synced: () => boolean;
  readonly slots: SlotWriter;
  readonly events: NodeEvents;
  readonly metrics: ControllerMetrics;
  readonly log: Logger;
  readonly now: () => Date;
  /** Renew a grant once this much of its duration has passed (not on every reconcile). */
  readonly renewAfterMs: number;
  /** Whether this replica may write now (leader election); asked before every reconcile. */
  readonly mayAct: () => boolean;
  /** Gates kept by their own loops (alerts, blocking pods), asked about each pending node. */
  readonly gates?: readonly NodeGate[];
  /** Writes the RebootGate condition; absent, no condition is written. */
  readonly gateConditions?: GateConditionWriter;
}

/** Condition writes in flight at once: enough for a fleet-wide change, gentle on the API server. */
const CONDITION_WRITES_IN_PARALLEL = 8;

export class Reconciler {
  readonly #s: PlanSettings;
  readonly #d: ReconcilerDeps;
  #running: Promise<void> | undefined;
  #again = false;
  #haltedNode: string | undefined;

  constructor(settings: PlanSettings, deps: ReconcilerDeps) {
    this.#s = settings;
    this.#d = deps;
  }

  reconcile(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    const run = async () => {
      do {
        this.#again = false;
        await this.#once();
      } while (this.#again);
    };
    this.#running = run().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #once(): Promise<void> {
    if (!this.#d.synced()) return; // never decide on a partial view
    if (!this.#d.mayAct()) return; // a follower, or a leader that could not renew in time
    const { log, metrics, slots, events } = this.#d;
    const now = this.#d.now();
    const leases = this.#d.leases();
    const paused = pauseState(
      leases.find((l) => l.metadata?.name === PAUSE_LEASE),
      now,
    );
    const nodes = this.#d.nodes();
    const p = plan({
      now,
      nodes,
      leases,
      settings: this.#s,
      paused,
      blockers: blockersOf(this.#d.gates ?? [], now),
    });

    for (const r of p.releases) {
      try {
        if (await slots.release(r.slot, r.holder)) {
          log.info({ slot: r.slot, node: r.holder, why: r.reason }, 'released slot');
          metrics.released(r.kind);
          await events.record(r.holder, 'Normal', EventReason.Settled, `released ${r.slot}: ${r.reason}`);
        }
      } catch (err) {
        log.warn({ slot: r.slot, err: describeKubeError(err) }, 'could not release slot');
      }
    }
    const grantedNow = new Map<string, string>();
    for (const g of p.grants) {
      try {
        if (await slots.grant(g.slot, g.node)) {
          grantedNow.set(g.node, g.slot);
          log.info({ slot: g.slot, node: g.node }, 'granted reboot');
          metrics.granted();
          await events.record(g.node, 'Normal', EventReason.RebootGranted, `granted ${g.slot}`);
        }
      } catch (err) {
        log.warn({ slot: g.slot, node: g.node, err: describeKubeError(err) }, 'could not grant slot');
      }
    }
    const byName = new Map(leases.map((l) => [l.metadata?.name ?? '', l]));
    for (const r of p.renewals) {
      const renewed = new Date(String(byName.get(r.slot)?.spec?.renewTime ?? 0)).getTime();
      if (now.getTime() - renewed < this.#d.renewAfterMs) continue;
      try {
        await slots.renew(r.slot, r.node);
      } catch (err) {
        log.warn({ slot: r.slot, err: describeKubeError(err) }, 'could not renew grant');
      }
    }
    if (p.halted && p.halted.node !== this.#haltedNode) {
      log.error({ node: p.halted.node }, p.halted.detail);
      await events.record(p.halted.node, 'Warning', EventReason.RolloutHalted, p.halted.detail);
    }
    this.#haltedNode = p.halted?.node;
    const blocked = explainBlocked(nodes, p);
    metrics.observe(p, paused !== undefined, blocked);
    metrics.fleet(nodes, this.#d.leases(), now);
    const holding = new Map([...p.renewals.map((r) => [r.node, r.slot] as const), ...grantedNow]);
    await this.#writeGateConditions(nodes, blocked, holding, now);
  }

  async #writeGateConditions(
    nodes: readonly V1Node[],
    blocked: ReadonlyMap<string, GateState>,
    holding: ReadonlyMap<string, string>,
    now: Date,
  ): Promise<void> {
    const writer = this.#d.gateConditions;
    if (writer === undefined) return;
    const updates = nodes.flatMap((n) => {
      const want = desiredGate(n, blocked, holding);
      const update = want === undefined ? undefined : gateConditionUpdate(n, want, now);
      return update === undefined ? [] : [{ node: n.metadata?.name ?? '', update }];
    });
    for (let i = 0; i < updates.length; i += CONDITION_WRITES_IN_PARALLEL) {
      await Promise.all(
        updates.slice(i, i + CONDITION_WRITES_IN_PARALLEL).map(async ({ node, update }) => {
          try {
            await writer.patch(node, update);
          } catch (err) {
            // Explaining is worth less than deciding: log, and the next reconcile tries again.
            this.#d.log.warn(
              { node, err: describeKubeError(err) },
              'could not write the RebootGate condition',
            );
          }
        }),
      );
    }
  }
}
