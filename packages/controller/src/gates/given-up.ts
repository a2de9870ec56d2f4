/**
 * The given-up gate: a person gave up on the node's last reboot (`kubectl baton release --force`
 * or the given-up annotation). It is not granted again until its agent reports back on a new
 * grant record, so a machine that may still be rebooting never gets a second grant.
 */
import { Annotation, GateReason, givenUpOn, recordedGrant } from '@baton/protocol';
import type { NodeGate } from './gate.ts';

export const givenUpGate: NodeGate = {
  blocks(node) {
    const annotations = node.metadata?.annotations ?? {};
    if (!givenUpOn(annotations)) return undefined;
    return {
      reason: GateReason.GivenUp,
      detail: `a person gave up on its reboot under ${recordedGrant(annotations)} (${Annotation.GivenUp}); it is granted again once its agent reports back`,
    };
  },
};
