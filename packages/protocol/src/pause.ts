/**
 * What the pause Lease ({@link PAUSE_LEASE}) means, written once for the controller (which grants
 * nothing while it holds) and the CLI (which shows it). Pure: the caller passes the Lease it read
 * and the time.
 *
 * Held by `manual:<who>` (by hand or with `kubectl baton pause`), it stops new grants;
 * `leaseDurationSeconds`, if set, ends the pause by itself (from renewTime, else acquireTime). An
 * empty holder is no pause. A holder without the `manual:` prefix still pauses (failing closed
 * is safer than ignoring a person), and the description says what was expected.
 */
import { type LeaseLike, leaseExpiry } from './grant.ts';
import { MANUAL_HOLDER_PREFIX } from './protocol.ts';

/** The pause in words (`paused by manual:alice until …`), or undefined when the Lease does not pause. */
export function pauseState(lease: LeaseLike | undefined, now: Date): string | undefined {
  const holder = lease?.spec?.holderIdentity ?? '';
  if (holder === '') return undefined;
  let until = '';
  if (lease?.spec?.leaseDurationSeconds !== undefined) {
    const expiry = leaseExpiry(lease);
    if (expiry !== undefined && expiry <= now) return undefined;
    if (expiry !== undefined) until = ` until ${expiry.toISOString()}`;
  }
  return holder.startsWith(MANUAL_HOLDER_PREFIX)
    ? `paused by ${holder}${until}`
    : `paused by "${holder}"${until} (expected manual:<who>)`;
}
