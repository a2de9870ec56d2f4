/**
 * The one interface of every gate: why a node that needs a reboot may not start it now. Each gate
 * is one module of this room (opt-out, pause, given-up, halted, window, back-off, alerts, blocking
 * pods, budget); the planner walks the list in order and reports every gate that holds a node,
 * the first one as its reason. A gate answers synchronously from what it was built with or from
 * a cache its own loop keeps fresh (alerts, pod watches), so a reconcile asks each of them a
 * cheap question per node.
 *
 * What a gate cannot hold is a node that already works under a grant: those keep their slot
 * until they have settled (settle/), which is how the settle rule gates the next node.
 */
import type { GateReason } from '@baton/protocol';
import type { V1Node } from '@kubernetes/client-node';

/** One gate holding a node back, as reported in the RebootGate condition and the metric. */
export interface GateBlock {
  readonly reason: GateReason;
  readonly detail: string;
}

export interface NodeGate {
  /** What holds `node` back now, or `undefined`. Synchronous: answered from a cache. */
  blocks(node: V1Node, now: Date): GateBlock | undefined;
}

/** Every gate of `gates`, in order, that holds `node` back now. */
export function blocksOf(gates: readonly NodeGate[], node: V1Node, now: Date): GateBlock[] {
  const out: GateBlock[] = [];
  for (const g of gates) {
    const b = g.blocks(node, now);
    if (b !== undefined) out.push(b);
  }
  return out;
}

/** A gate that holds every node alike with one block (tests; a fixed verdict). */
export function constantGate(block: GateBlock | undefined): NodeGate {
  return { blocks: () => block };
}
