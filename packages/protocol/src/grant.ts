/**
 * Grant validity, shared by the controller (which writes grants) and the agent (which must not
 * act without one). Pure: the caller passes the Leases it sees and the time.
 *
 * A slot Lease grants node N when its holderIdentity is exactly N and it has not expired:
 * renewTime (or acquireTime) + leaseDurationSeconds is still in the future. Anything missing or
 * malformed — no duration, an unparsable time, a negative duration — is *not* a grant: a hand
 * edit into nonsense must stop an agent, never start one.
 */
import { slotIndexOf } from './protocol.ts';

/** The fields of a coordination.k8s.io/v1 Lease that matter here, as read from the API. */
export interface LeaseLike {
  readonly metadata?: { readonly name?: string } | undefined;
  readonly spec?:
    | {
        readonly holderIdentity?: string | undefined;
        /** MicroTime: a string on watch events, a Date (or V1MicroTime) from client-node's lists. */
        readonly renewTime?: unknown;
        readonly acquireTime?: unknown;
        readonly leaseDurationSeconds?: number | undefined;
      }
    | undefined;
}

export interface Grant {
  readonly slot: string;
  readonly slotIndex: number;
  readonly holder: string;
  /** acquireTime (renewTime when absent): tells one grant of a slot from a later one. */
  readonly acquiredAt: Date;
  readonly expiresAt: Date;
}

/** Parses a Lease time field whatever shape it arrived in; undefined when absent or invalid. */
export function leaseTime(value: unknown): Date | undefined {
  let d: Date;
  if (value instanceof Date) d = new Date(value.getTime());
  else if (typeof value === 'string' && RFC3339.test(value)) d = new Date(value);
  else return undefined; // `new Date('42')` is the year 2042: accept only what the API server writes
  return Number.isNaN(d.getTime()) ? undefined : d;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

/** When the Lease's current holder stops holding it; undefined when it cannot be told. */
export function leaseExpiry(lease: LeaseLike): Date | undefined {
  const spec = lease.spec;
  const duration = spec?.leaseDurationSeconds;
  if (duration === undefined || !Number.isInteger(duration) || duration <= 0) return undefined;
  const base = leaseTime(spec?.renewTime) ?? leaseTime(spec?.acquireTime);
  return base === undefined ? undefined : new Date(base.getTime() + duration * 1000);
}

/** The grant a slot Lease carries right now, if it carries a valid one. */
export function grantOf(lease: LeaseLike, now: Date): Grant | undefined {
  const slot = lease.metadata?.name;
  if (slot === undefined) return undefined;
  const slotIndex = slotIndexOf(slot);
  const holder = lease.spec?.holderIdentity;
  if (slotIndex === undefined || holder === undefined || holder === '') return undefined;
  const expiresAt = leaseExpiry(lease);
  if (expiresAt === undefined || expiresAt.getTime() <= now.getTime()) return undefined;
  const acquiredAt = leaseTime(lease.spec?.acquireTime) ?? leaseTime(lease.spec?.renewTime) ?? expiresAt;
  return { slot, slotIndex, holder, acquiredAt, expiresAt };
}

/**
 * The valid grant naming `node` among `leases`, or undefined. If (against the protocol) several
 * slots name the node, the one expiring last wins; it is still one node, one permission.
 */
export function grantFor(node: string, leases: readonly LeaseLike[], now: Date): Grant | undefined {
  let best: Grant | undefined;
  for (const lease of leases) {
    const g = grantOf(lease, now);
    if (g?.holder === node && (best === undefined || g.expiresAt > best.expiresAt)) best = g;
  }
  return best;
}
