/**
 * Gates the planner asks about each pending node but does not compute itself: their state comes
 * from outside the Node and Lease caches (an alerts API, pod watches) and is kept up to date by
 * their own loops, so one reconcile asks each of them a cheap, synchronous question per node.
 */
import type { V1Node } from '@kubernetes/client-node';
import type { GateBlock } from '../plan/plan.ts';
import type { AlertGate } from './alerts.ts';

export interface NodeGate {
  /** What holds `node` back now, or `undefined`. Synchronous: answered from a cache. */
  blocks(node: V1Node, now: Date): GateBlock | undefined;
}

/** The alerts gate holds every node alike: one verdict per period for the whole cluster. */
export function alertNodeGate(gate: Pick<AlertGate, 'verdict'>): NodeGate {
  return {
    blocks(_node, now) {
      const v = gate.verdict(now);
      return v.blocked ? { reason: v.reason, detail: v.detail } : undefined;
    },
  };
}

/** The planner's `blockers` for one reconcile: every gate, in order, asked about the node. */
export function blockersOf(gates: readonly NodeGate[], now: Date): (node: V1Node) => GateBlock[] {
  return (node) =>
    gates.flatMap((g) => {
      const b = g.blocks(node, now);
      return b === undefined ? [] : [b];
    });
}
