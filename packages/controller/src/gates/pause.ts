/**
 * The pause Lease: held by `manual:<who>` (by hand or with the CLI), it stops new grants;
 * `leaseDurationSeconds`, if set, ends the pause by itself. Any other content is not a pause
 * (an empty holder, or a holder without the `manual:` prefix is reported, not obeyed silently).
 */
import { GateReason, type LeaseLike, leaseExpiry, MANUAL_HOLDER_PREFIX } from '@baton/protocol';
import type { NodeGate } from './gate.ts';

export function pauseState(lease: LeaseLike | undefined, now: Date): string | undefined {
  const holder = lease?.spec?.holderIdentity ?? '';
  if (holder === '') return undefined;
  if (lease?.spec?.leaseDurationSeconds !== undefined) {
    const expiry = leaseExpiry(lease);
    if (expiry !== undefined && expiry <= now) return undefined;
    if (expiry !== undefined) return `paused by ${holder} until ${expiry.toISOString()}`;
  }
  // A holder without the prefix still pauses: failing closed is safer than ignoring a person.
  return holder.startsWith(MANUAL_HOLDER_PREFIX)
    ? `paused by ${holder}`
    : `paused by "${holder}" (expected manual:<who>)`;
}

/** The pause gate: while the pause Lease holds (`paused` says by whom), no node starts. */
export function pauseGate(paused: string | undefined): NodeGate {
  return { blocks: () => (paused === undefined ? undefined : { reason: GateReason.Paused, detail: paused }) };
}
