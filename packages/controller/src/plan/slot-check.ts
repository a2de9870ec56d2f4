/**
 * Is a held slot Lease one the controller may act on? Pure. The API server already refuses
 * wrong types and malformed times; what it lets through and a person can still write by hand
 * is checked here: the grant annotation naming someone else than the holder, a holder that is
 * neither a node nor a person, a node holder without a grant id (the agent would not act on it:
 * it is no grant, and renewing or releasing it would pretend it were).
 *
 * Such a slot blocks: it counts as taken, is neither renewed nor released nor granted, and the
 * node it names is not granted another slot, until a person fixes or empties it. Failing closed
 * is the point: a hand edit into nonsense must never start a reboot.
 */
import { grantOf, type LeaseLike, MANUAL_HOLDER_PREFIX, SlotAnnotation } from '@baton/protocol';

/** A slot Lease as the planner reads it: holder, times, and its name and annotations. */
export interface SlotLease extends LeaseLike {
  readonly metadata?: { readonly name?: string; readonly annotations?: Readonly<Record<string, string>> };
}

/** What is wrong with a held slot Lease, in words; undefined when it is sound (or free). */
export function slotProblem(
  lease: SlotLease,
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
  if (grantOf(lease) === undefined) {
    const id = lease.metadata?.annotations?.[SlotAnnotation.GrantId];
    return id === undefined
      ? `holder ${JSON.stringify(holder)} has no ${SlotAnnotation.GrantId} annotation: it is not a grant (the agent will not act on it), and not a person's hold (${MANUAL_HOLDER_PREFIX}<who>)`
      : `annotation ${SlotAnnotation.GrantId}=${JSON.stringify(id)} is not a grant id (letters, digits and dashes, at most 64)`;
  }
  // A grant of ours whose node is gone is dealt with by the plan; a grant naming a name that
  // never was a node is a person's doing.
  if (!isNode(holder) && granted !== holder) {
    return `holder ${JSON.stringify(holder)} is neither a node nor ${MANUAL_HOLDER_PREFIX}<who>`;
  }
  return undefined;
}
