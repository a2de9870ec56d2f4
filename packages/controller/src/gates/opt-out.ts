/** The opt-out gate: a node labelled `<--opt-out-label>=true` is never granted a reboot. */
import { GateReason } from '@baton/protocol';
import type { NodeGate } from './gate.ts';

export function optOutGate(label: string): NodeGate {
  return {
    blocks: (node) =>
      node.metadata?.labels?.[label] === 'true'
        ? { reason: GateReason.OptedOut, detail: `label ${label}=true` }
        : undefined,
  };
}
