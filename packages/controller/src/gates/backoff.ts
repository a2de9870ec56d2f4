/**
 * The back-off gate: a node whose last grant ended without a reboot (aborted, lapsed) waits
 * before it is granted again (--abort-backoff, doubling), so a node that cannot drain does not
 * take the slot in a loop. How long is the controller's own observation on its monotonic clock.
 */
import { GateReason } from '@baton/protocol';
import type { NodeGate } from './gate.ts';

export function backoffGate(
  /** Nodes whose grant this very plan releases as aborted or lapsed: not granted again now. */
  releasedNow: ReadonlySet<string>,
  /** How long `node` must still wait; undefined: no back-off. */
  remainingMs: (node: string) => number | undefined,
  /** Told when a back-off ends, so that the controller plans again then. */
  wakeIn: (ms: number) => void,
): NodeGate {
  return {
    blocks(node) {
      const name = node.metadata?.name ?? '';
      if (releasedNow.has(name)) {
        return {
          reason: GateReason.BackingOff,
          detail: 'its last grant ended without a reboot; waiting before granting it again',
        };
      }
      const remaining = remainingMs(name);
      if (remaining === undefined) return undefined;
      wakeIn(remaining);
      return {
        reason: GateReason.BackingOff,
        detail: `its last grant ended without a reboot; granted again in ${Math.ceil(remaining / 1000)} s at the earliest`,
      };
    },
  };
}
