/**
 * What the cluster says about baton, as plain data: the pause, the slots, and per node whether
 * it needs a reboot, its phase, its slot, what holds it back and since when. Pure: the caller
 * passes the Nodes and Leases it read and the time, so the same objects always give the same
 * report (unit-tested), and `-o json` is exactly this data.
 *
 * The JSON shape ({@link StatusReport}) is stable: fields are only ever added, and `version`
 * changes if one ever has to change meaning.
 */
import {
  Annotation,
  ConditionStatus,
  grantNaming,
  grantOf,
  type LeaseLike,
  leaseExpiry,
  leaseTime,
  nodeCondition,
  PAUSE_LEASE,
  PAUSE_REASON_ANNOTATION,
  pauseState,
  REBOOT_GATE_CONDITION,
  type RebootNeed,
  rebootNeedOf,
  rebootRequiredOf,
  slotIndexOf,
} from '@baton/protocol';

/** The fields of a Node this module reads (client-node's V1Node fits). */
export interface NodeLike {
  readonly metadata?: {
    readonly name?: string;
    readonly labels?: Readonly<Record<string, string>>;
    readonly annotations?: Readonly<Record<string, string>>;
  };
  readonly spec?: { readonly unschedulable?: boolean };
  readonly status?: { readonly conditions?: readonly ConditionLike[] };
}

export interface ConditionLike {
  readonly type: string;
  readonly status: string;
  readonly reason?: string;
  readonly message?: string;
  /** A Date from client-node, a string from raw JSON. */
  readonly lastTransitionTime?: unknown;
  readonly lastHeartbeatTime?: unknown;
}

export interface AnnotatedLease extends LeaseLike {
  readonly metadata?: { readonly name?: string; readonly annotations?: Readonly<Record<string, string>> };
}

/** `kubectl baton status -o json`. Times are RFC 3339 strings in UTC; absent values are `null`. */
export interface StatusReport {
  readonly kind: 'BatonStatus';
  /** Bumped only if a field ever changes meaning; new fields may appear at any time. */
  readonly version: 1;
  /** When the report was made (the reference for `valid` and `paused`). */
  readonly time: string;
  /** The controller's namespace the Leases were read from. */
  readonly namespace: string;
  readonly pause: PauseView;
  /** Every `baton-slot-<i>` Lease in the namespace, by index. */
  readonly slots: readonly SlotView[];
  /** Every node (or those named on the command line), by name. */
  readonly nodes: readonly NodeView[];
}

export interface PauseView {
  /** True while the controller grants nothing because of the `baton-pause` Lease. */
  readonly paused: boolean;
  /** The Lease's holderIdentity (`manual:<who>`); null when there is no Lease or it is empty. */
  readonly holder: string | null;
  /** The `baton.dev/pause-reason` annotation. */
  readonly reason: string | null;
  /** acquireTime of the pause. */
  readonly since: string | null;
  /** When a bounded pause ends (renewTime + leaseDurationSeconds); null = until resumed. */
  readonly until: string | null;
  /** The controller's own words for the pause state; null when not paused. */
  readonly description: string | null;
}

export interface SlotView {
  readonly name: string;
  readonly index: number;
  /** holderIdentity: a node, `manual:<who>` (blocks the slot), or null when free. */
  readonly holder: string | null;
  readonly acquired: string | null;
  readonly renewed: string | null;
  /** renewTime + leaseDurationSeconds; null when free or not computable. */
  readonly expires: string | null;
  /**
   * The holder has a grant: a holder and a grant id (`baton.dev/grant-id`). Grants do not expire
   * by the clock; `expires` is what the Lease's own times say, for people.
   */
  readonly valid: boolean;
}

export type NeedsReboot = RebootNeed;

export interface NodeView {
  readonly name: string;
  /**
   * From the agent's `RebootRequired` condition: `yes` (True), `no` (False), `unknown`
   * (Unknown: the sentinel could not be read), `held` (True, reason AttemptLimitReached),
   * `unreported` (no condition: no agent reports for this node).
   */
  readonly needsReboot: NeedsReboot;
  readonly rebootRequired: {
    readonly status: string;
    readonly reason: string | null;
    readonly message: string | null;
    readonly since: string | null;
  } | null;
  /** `baton.dev/phase` and `baton.dev/phase-since`, written by the agent. */
  readonly phase: string | null;
  readonly phaseSince: string | null;
  /** The slot Lease whose holder is this node (a grant or not); null if none. */
  readonly slot: string | null;
  /** This node holds a grant now (a slot Lease naming it, with a grant id). */
  readonly granted: boolean;
  /** The controller's `RebootGate` condition as found; null if the controller never wrote one. */
  readonly gate: {
    readonly status: string;
    readonly reason: string | null;
    readonly message: string | null;
    readonly since: string | null;
  } | null;
  /** The gate's reason when it holds the node back (`RebootGate=True`); null otherwise. */
  readonly blocked: string | null;
  /** When the node entered what is shown: the latest of the phase start and the two conditions' transitions. */
  readonly since: string | null;
  /** `baton.dev/reboot-requested`: who asked, if anyone. */
  readonly requestedBy: string | null;
  /** `baton.dev/reboot-attempts`, when it is a number. */
  readonly attempts: number | null;
  /** The opt-out label is "true": the controller never grants this node. */
  readonly optedOut: boolean;
  readonly cordoned: boolean;
}

const iso = (d: Date | undefined): string | null => (d === undefined ? null : d.toISOString());

export function pauseView(lease: AnnotatedLease | undefined, now: Date): PauseView {
  const holder = lease?.spec?.holderIdentity ?? '';
  const description = pauseState(lease, now) ?? null;
  const bounded = lease?.spec?.leaseDurationSeconds !== undefined;
  return {
    paused: description !== null,
    holder: holder === '' ? null : holder,
    reason: lease?.metadata?.annotations?.[PAUSE_REASON_ANNOTATION] ?? null,
    since:
      holder === '' ? null : iso(leaseTime(lease?.spec?.acquireTime) ?? leaseTime(lease?.spec?.renewTime)),
    until: holder === '' || !bounded || lease === undefined ? null : iso(leaseExpiry(lease)),
    description,
  };
}

export function slotViews(leases: readonly LeaseLike[]): SlotView[] {
  const out: SlotView[] = [];
  for (const lease of leases) {
    const name = lease.metadata?.name ?? '';
    const index = slotIndexOf(name);
    if (index === undefined) continue;
    const holder = lease.spec?.holderIdentity ?? '';
    out.push({
      name,
      index,
      holder: holder === '' ? null : holder,
      acquired: holder === '' ? null : iso(leaseTime(lease.spec?.acquireTime)),
      renewed: holder === '' ? null : iso(leaseTime(lease.spec?.renewTime)),
      expires: holder === '' ? null : iso(leaseExpiry(lease)),
      valid: grantOf(lease) !== undefined,
    });
  }
  return out.sort((a, b) => a.index - b.index);
}

function latest(...times: (Date | undefined)[]): Date | undefined {
  let best: Date | undefined;
  for (const t of times) if (t !== undefined && (best === undefined || t > best)) best = t;
  return best;
}

export function nodeView(node: NodeLike, leases: readonly LeaseLike[], optOutLabel: string): NodeView {
  const name = node.metadata?.name ?? '';
  const ann = node.metadata?.annotations ?? {};
  const reboot = rebootRequiredOf(node);
  const gate = nodeCondition(node, REBOOT_GATE_CONDITION);
  const phaseSince = leaseTime(ann[Annotation.PhaseSince]);
  const rebootSince = leaseTime(reboot?.lastTransitionTime);
  const gateSince = leaseTime(gate?.lastTransitionTime);
  const grant = grantNaming(name, leases);
  const named = slotViews(leases).find((s) => s.holder === name);
  const attemptsText = ann[Annotation.RebootAttempts];
  return {
    name,
    needsReboot: rebootNeedOf(reboot),
    rebootRequired:
      reboot === undefined
        ? null
        : {
            status: reboot.status,
            reason: reboot.reason ?? null,
            message: reboot.message ?? null,
            since: iso(rebootSince),
          },
    phase: ann[Annotation.Phase] ?? null,
    phaseSince: iso(phaseSince),
    slot: grant?.slot ?? named?.name ?? null,
    granted: grant !== undefined,
    gate:
      gate === undefined
        ? null
        : {
            status: gate.status,
            reason: gate.reason ?? null,
            message: gate.message ?? null,
            since: iso(gateSince),
          },
    blocked: gate?.status === ConditionStatus.True ? (gate.reason ?? 'Unknown') : null,
    since: iso(latest(phaseSince, rebootSince, gateSince)),
    requestedBy: ann[Annotation.RebootRequested] ?? null,
    attempts: attemptsText !== undefined && /^[0-9]{1,9}$/.test(attemptsText) ? Number(attemptsText) : null,
    optedOut: node.metadata?.labels?.[optOutLabel] === 'true',
    cordoned: node.spec?.unschedulable === true,
  };
}

export function statusReport(input: {
  readonly namespace: string;
  readonly nodes: readonly NodeLike[];
  readonly leases: readonly AnnotatedLease[];
  readonly now: Date;
  readonly optOutLabel: string;
}): StatusReport {
  const { now, leases } = input;
  return {
    kind: 'BatonStatus',
    version: 1,
    time: now.toISOString(),
    namespace: input.namespace,
    pause: pauseView(
      leases.find((l) => l.metadata?.name === PAUSE_LEASE),
      now,
    ),
    slots: slotViews(leases),
    nodes: input.nodes
      .map((n) => nodeView(n, leases, input.optOutLabel))
      .sort((a, b) => a.name.localeCompare(b.name)),
  };
}
