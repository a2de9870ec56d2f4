/**
 * The halt gate: a granted node that has not settled within the reboot timeout halts the
 * rollout (the planner finds it among the holders); no other node starts until a person acts.
 */
import { GateReason } from '@baton/protocol';
import type { NodeGate } from './gate.ts';

export function rolloutHaltedGate(halted: { readonly detail: string } | undefined): NodeGate {
  return {
    blocks: () =>
      halted === undefined ? undefined : { reason: GateReason.RolloutHalted, detail: halted.detail },
  };
}
