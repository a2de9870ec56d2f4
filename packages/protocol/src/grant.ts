/**
 * What a grant is, written once for the controller (which writes grants), the agent (which must
 * not act without one) and the CLI. Pure: the caller passes the Leases it sees.
 *
 * A grant is a slot Lease whose holderIdentity names a node and which carries a grant id
 * ({@link SlotAnnotation.GrantId}). Its identity is `<slot Lease name>/<grant id>`: which Lease,
 * which acquisition. Decisions compare identities, never times: a Lease's renewTime and
 * leaseDurationSeconds were written with another machine's clock, so an agent or a controller
 * comparing them with its own clock would decide on the two clocks' disagreement. The times
 * stay on the Lease for people (`kubectl get leases`) and for the controller's own bookkeeping.
 *
 * Anything missing or malformed is *not* a grant: a hand edit into nonsense must stop an agent,
 * never start one.
 */
import { AgentPhase, Annotation, SlotAnnotation, slotIndexOf } from './protocol.ts';

/** The fields of a coordination.k8s.io/v1 Lease that matter here, as read from the API. */
export interface LeaseLike {
  readonly metadata?:
    | { readonly name?: string; readonly annotations?: Readonly<Record<string, string>> | undefined }
    | undefined;
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
  /** The acquisition's id ({@link SlotAnnotation.GrantId}). */
  readonly id: string;
  /** `<slot>/<id>`: what the agent records on its node and the controller matches. */
  readonly identity: string;
  /** The controller acknowledged the start of the work ({@link SlotAnnotation.Started}). */
  readonly started: boolean;
  /** The acknowledged reboot's boot id ({@link SlotAnnotation.RebootFromBootId}), if any. */
  readonly rebootFromBootId: string | undefined;
}

/** What a grant id may look like: a UUID, or any short token of letters, digits and dashes. */
const GRANT_ID = /^[A-Za-z0-9][A-Za-z0-9-]{0,63}$/;

export function grantIdentity(slot: string, id: string): string {
  return `${slot}/${id}`;
}

/** The slot and id of an identity as the agent recorded it; undefined when malformed. */
export function splitGrantIdentity(identity: string): { slot: string; id: string } | undefined {
  const at = identity.indexOf('/');
  if (at <= 0) return undefined;
  const slot = identity.slice(0, at);
  const id = identity.slice(at + 1);
  return slotIndexOf(slot) !== undefined && GRANT_ID.test(id) ? { slot, id } : undefined;
}

/** The grant a slot Lease carries right now, if it carries one. */
export function grantOf(lease: LeaseLike): Grant | undefined {
  const slot = lease.metadata?.name;
  if (slot === undefined) return undefined;
  const slotIndex = slotIndexOf(slot);
  const holder = lease.spec?.holderIdentity;
  const id = lease.metadata?.annotations?.[SlotAnnotation.GrantId];
  if (slotIndex === undefined || holder === undefined || holder === '') return undefined;
  if (id === undefined || !GRANT_ID.test(id)) return undefined;
  const ack = lease.metadata?.annotations?.[SlotAnnotation.RebootFromBootId];
  return {
    slot,
    slotIndex,
    holder,
    id,
    identity: grantIdentity(slot, id),
    started: lease.metadata?.annotations?.[SlotAnnotation.Started] === 'true',
    rebootFromBootId: ack === undefined || ack === '' ? undefined : ack,
  };
}

/**
 * The grant naming `node` among `leases`, or undefined. If (against the protocol) several slots
 * name the node, the one with identity `prefer` (the grant the node already works under) wins,
 * else the lowest slot, so a node never switches grants in the middle of its work.
 */
export function grantNaming(node: string, leases: readonly LeaseLike[], prefer?: string): Grant | undefined {
  let best: Grant | undefined;
  for (const lease of leases) {
    const g = grantOf(lease);
    if (g?.holder !== node) continue;
    if (g.identity === prefer) return g;
    if (best === undefined || g.slotIndex < best.slotIndex) best = g;
  }
  return best;
}

/** The identity of the grant the agent works (or last worked) under, from its node's annotations. */
export function recordedGrant(annotations: Readonly<Record<string, string>>): string | undefined {
  const raw = annotations[Annotation.Grant];
  return raw !== undefined && splitGrantIdentity(raw) !== undefined ? raw : undefined;
}

/** The agent's phases of a reboot in flight: the node may be cordoned, draining or down. */
export const IN_FLIGHT_PHASES: ReadonlySet<string> = new Set<string>([
  AgentPhase.Cordoning,
  AgentPhase.Draining,
  AgentPhase.Rebooting,
  AgentPhase.Verifying,
]);

/**
 * The grant a node is mid-reboot under, by its own record: an in-flight phase, or a reboot on
 * record, under a recorded grant. Undefined when it is not mid-reboot, or when a person gave up
 * on that very grant ({@link Annotation.GivenUp}). The controller counts such a node as holding
 * a slot whatever the Leases say; the CLI refuses to release it without --force.
 */
export function inFlightGrant(annotations: Readonly<Record<string, string>>): string | undefined {
  const identity = recordedGrant(annotations);
  if (identity === undefined || annotations[Annotation.GivenUp] === identity) return undefined;
  return recordsWorkInFlight(annotations) ? identity : undefined;
}

function recordsWorkInFlight(annotations: Readonly<Record<string, string>>): boolean {
  const phase = annotations[Annotation.Phase];
  return (
    (phase !== undefined && IN_FLIGHT_PHASES.has(phase)) ||
    annotations[Annotation.RebootFromBootId] !== undefined
  );
}

/**
 * A person gave up on the node's reboot in progress ({@link Annotation.GivenUp}) and its agent
 * has not reported back since: it no longer counts as holding a slot, and it is not granted
 * again either (the next node goes first) until its agent finishes or undoes that work.
 */
export function givenUpOn(annotations: Readonly<Record<string, string>>): boolean {
  const identity = recordedGrant(annotations);
  return (
    identity !== undefined && annotations[Annotation.GivenUp] === identity && recordsWorkInFlight(annotations)
  );
}

/**
 * The agent may start work under `grant`: it has not worked under it before (by its node's
 * record), and no reboot was acknowledged under it. An acknowledged grant is used up even if the
 * node's record of it is gone (the Node object deleted and registered again by its kubelet):
 * starting again would reboot the node twice for one grant.
 */
export function mayStartUnder(grant: Grant, annotations: Readonly<Record<string, string>>): boolean {
  return recordedGrant(annotations) !== grant.identity && grant.rebootFromBootId === undefined;
}

/** The controller has acknowledged, on the grant's Lease, the reboot from `bootId`. */
export function isRebootAcknowledged(grant: Grant, bootId: string): boolean {
  return bootId !== '' && grant.rebootFromBootId === bootId;
}

/**
 * The one change that empties a slot: no holder, no times, no grant record (a later hand-written
 * holder must not inherit an earlier grant's). Written by the controller's release and by
 * `kubectl baton release`. The duration and the transitions count stay.
 */
export function emptiedSlot<T extends LeaseLike>(lease: T): T {
  const annotations = { ...lease.metadata?.annotations };
  for (const key of Object.values(SlotAnnotation)) delete annotations[key];
  return {
    ...lease,
    metadata: { ...lease.metadata, annotations },
    spec: {
      leaseDurationSeconds: lease.spec?.leaseDurationSeconds,
      leaseTransitions: (lease.spec as { leaseTransitions?: number } | undefined)?.leaseTransitions,
    },
  };
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

/**
 * When the Lease's current holder stops holding it by its own times; undefined when it cannot be
 * told. For people (`kubectl baton status`) and the pause Lease, never for a grant's validity.
 */
export function leaseExpiry(lease: LeaseLike): Date | undefined {
  const spec = lease.spec;
  const duration = spec?.leaseDurationSeconds;
  if (duration === undefined || !Number.isInteger(duration) || duration <= 0) return undefined;
  const base = leaseTime(spec?.renewTime) ?? leaseTime(spec?.acquireTime);
  return base === undefined ? undefined : new Date(base.getTime() + duration * 1000);
}
