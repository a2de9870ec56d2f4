/**
 * The pause gate: while the pause Lease holds, no node starts (holders keep their slots and
 * finish). What a pause Lease means is protocol's pauseState, shared with the CLI; the
 * reconciler reads the Lease and passes its description here.
 */
import { GateReason } from '@baton/protocol';
import type { NodeGate } from './gate.ts';

/** `paused`: who paused and until when (pauseState), or undefined when not paused. */
export function pauseGate(paused: string | undefined): NodeGate {
  return { blocks: () => (paused === undefined ? undefined : { reason: GateReason.Paused, detail: paused }) };
}
