/**
 * Is a held slot Lease one the controller may act on? Pure. The API server already refuses
 * wrong types and malformed times; what it lets through and a person can still write by hand
 * is checked here: the grant annotation naming someone else than the holder, a node holder
 * without a duration (the agent would not act on it; renewing it would turn it into a grant
 * nobody made), times in the future.
 *
 * Such a slot blocks: it counts as taken, is neither renewed nor released nor granted, and the
 * node it names is not granted another slot, until a person fixes or empties it. Failing closed
 * is the point: a hand edit into nonsense must never start a reboot.
 */
import { leaseTime, MANUAL_HOLDER_PREFIX } from '@baton/protocol';
import type { SlotLease } from './plan.ts';

/** Clock skew tolerated on a time written by another machine before it counts as "in the future". */
const FUTURE_SKEW_MS = 5 * 60_000;

/** What is wrong with a held slot Lease, in words; undefined when it is sound (or free). */
export function slotProblem(
  lease: SlotLease,
  now: Date,
  isNode: (name: string) => boolean,
  grantedNodeAnnotation: string,
): string | undefined {
  const holder = lease.spec?.holderIdentity ?? '';
  if (holder === '') return undefined;
  const granted = lease.metadata?.annotations?.[grantedNodeAnnotation];
  if (granted !== undefined && granted !== holder) {
    return `annotation ${grantedNodeAnnotation}=${JSON.stringify(granted)} does not name the holder ${JSON.stringify(holder)}`;
  }
  if (holder.startsWith(MANUAL_HOLDER_PREFIX)) return undefined; // a person's hold: blocks by design
  if (!isNode(holder)) {
    // A grant of ours whose node is gone is released by the plan; anything else is a hold by hand.
    return granted === holder
      ? undefined
      : `holder ${JSON.stringify(holder)} is neither a node nor ${MANUAL_HOLDER_PREFIX}<who>`;
  }
  const duration = lease.spec?.leaseDurationSeconds;
  if (duration === undefined || !Number.isInteger(duration) || duration <= 0) {
    return `holder ${holder} is a node but spec.leaseDurationSeconds is ${duration === undefined ? 'missing' : duration}`;
  }
  for (const field of ['acquireTime', 'renewTime'] as const) {
    const raw = lease.spec?.[field];
    if (raw === undefined || raw === null) {
      if (field === 'renewTime' && leaseTime(lease.spec?.acquireTime) !== undefined) continue;
      if (field === 'acquireTime' && leaseTime(lease.spec?.renewTime) !== undefined) continue;
      return `holder ${holder} is a node but the Lease has neither acquireTime nor renewTime`;
    }
    const t = leaseTime(raw);
    if (t === undefined) return `spec.${field} ${JSON.stringify(String(raw))} is not a time`;
    if (t.getTime() - now.getTime() > FUTURE_SKEW_MS)
      return `spec.${field} ${t.toISOString()} is in the future`;
  }
  return undefined;
}
