/**
 * The controller's decision, as a pure function of what it sees: which slot to grant to which
 * node, which grants to renew, acknowledge or release, and why every other pending node waits.
 *
 * Safety is counted, not assumed. A slot is taken when its Lease names a holder (a node, valid
 * or not — a node in the middle of a reboot keeps its slot until it has settled — or a person,
 * `manual:<who>`), and also when no Lease names it but a node's own record says it is mid-reboot
 * under one (the Lease was deleted or emptied by hand): what the node says it is doing counts as
 * much as what the Lease says. New grants are made only while taken slots < concurrency, into
 * slots whose index is below concurrency and that no such node still uses. So lowering
 * concurrency never adds a holder; raising it adds at most the difference.
 *
 * Everything the plan decides from a node's work under a grant is keyed by the grant's
 * identity (the slot and its grant id, recorded by the agent on its node), never by comparing a
 * time written on another machine with this one's clock. How long something has lasted — a
 * grant without progress, a holder healthy for the settle time, a back-off — is the
 * controller's own observation on its monotonic clock, passed in as {@link PlanObservations}.
 */
import {
  AgentPhase,
  Annotation,
  GateReason,
  type Grant,
  givenUpOn,
  grantOf,
  inFlightGrant,
  type LeaseLike,
  leaseTime,
  nodeNeedsReboot,
  rebootRequiredOf,
  recordedGrant,
  SlotAnnotation,
  slotIndexOf,
  slotLeaseName,
  splitGrantIdentity,
  windowVerdict,
} from '@baton/protocol';
import type { RebootWindow } from '@baton/protocol/config';
import type { V1Node } from '@kubernetes/client-node';
import {
  GRANTED_UNSCHEDULABLE_ANNOTATION,
  type ReleaseKind,
  type SettleFacts,
  type SettleGrant,
  SettleStage,
  settleCheck,
} from '../settle/settle.ts';
import { parseWorkloadRecord } from '../settle/workloads.ts';
import { type BudgetSettings, budget } from './budget.ts';
import { slotProblem } from './slot-check.ts';

export type { ReleaseKind } from '../settle/settle.ts';

/** Annotation the controller puts on a slot Lease it grants: the node it granted it to. */
export const GRANTED_NODE_ANNOTATION = SlotAnnotation.GrantedNode;

export interface PlanSettings {
  readonly concurrency: number;
  readonly settleMs: number;
  readonly rebootTimeoutMs: number;
  /** A grant its node has not started work under within this long is released (it lapses). */
  readonly grantDurationMs: number;
  readonly optOutLabel: string;
  readonly priorityLabel: string;
  readonly windows: readonly RebootWindow[];
  readonly timeZone: string;
  readonly blackoutDates: readonly string[];
  /** Per-group and cluster-wide limits on top of `concurrency` (budget.ts). */
  readonly budget?: BudgetSettings;
  /** The node the (leading) controller runs on: rebooted after the others that wait alike. */
  readonly controllerNode?: string | undefined;
}

export interface SlotLease extends LeaseLike {
  readonly metadata?: { readonly name?: string; readonly annotations?: Readonly<Record<string, string>> };
}

/** One gate holding a node back, as reported in the RebootGate condition and the metric. */
export interface GateBlock {
  readonly reason: GateReason;
  readonly detail: string;
}

/**
 * What this controller has observed over time, on its own monotonic clock (the Reconciler keeps
 * it). A replica that restarts or takes over starts observing afresh: every duration then runs
 * longer, never shorter.
 */
export interface PlanObservations {
  /** How long this controller has seen the grant with this identity (0 when first seen now). */
  grantAgeMs(identity: string): number;
  /** How long it has seen the grant's node healthy without a break; undefined when it has not. */
  healthyForMs(identity: string): number | undefined;
  /** When (this controller's wall clock) it first saw it healthy: health answers must be newer. */
  healthySince(identity: string): Date | undefined;
  /** How long `node` must still wait after a grant that ended without a reboot; undefined: none. */
  backoffRemainingMs(node: string): number | undefined;
}

/** No observations yet: everything first seen now (unit tests; a controller's first pass). */
export const FIRST_SIGHT: PlanObservations = {
  grantAgeMs: () => 0,
  healthyForMs: () => undefined,
  healthySince: () => undefined,
  backoffRemainingMs: () => undefined,
};

export interface PlanInput {
  readonly now: Date;
  readonly nodes: readonly V1Node[];
  readonly leases: readonly SlotLease[];
  readonly settings: PlanSettings;
  /** Set while the pause Lease is held: no new grants (holders keep theirs and finish). */
  readonly paused?: string | undefined;
  /**
   * Gates evaluated outside the planner (alerts, blocking pods), per pending node, in the order
   * they should be reported. Empty: nothing of theirs holds the node.
   */
  readonly blockers?: (node: V1Node) => readonly GateBlock[];
  /**
   * The pods and health query of each node that holds a slot (see settle.ts). When given, a
   * holder missing from it has not settled; when absent, neither is checked (unit tests only).
   */
  readonly settleFacts?: ReadonlyMap<string, SettleFacts> | undefined;
  readonly observed?: PlanObservations | undefined;
}

/** A grant as the plan acts on it: which slot, which node, which acquisition (grant id). */
export interface GrantRef {
  readonly slot: string;
  readonly node: string;
  readonly grantId: string;
}

export interface Plan {
  readonly grants: readonly {
    readonly slot: string;
    readonly node: string;
    /** The node was cordoned at the grant: a cordon after its reboot does not keep the slot. */
    readonly wasUnschedulable: boolean;
  }[];
  readonly renewals: readonly GrantRef[];
  /**
   * What to acknowledge on the slot Lease: the start of the node's work (the agent cordons only
   * after it; `bootId` undefined) or its reboot from `bootId` (the agent gives the command only
   * after it).
   */
  readonly acknowledgements: readonly (GrantRef & { readonly bootId: string | undefined })[];
  readonly releases: readonly {
    readonly slot: string;
    readonly holder: string;
    /** The acquisition to release; undefined for a Lease without one (never ours). */
    readonly grantId: string | undefined;
    readonly kind: ReleaseKind;
    readonly reason: string;
  }[];
  /** Every node that needs a reboot and is not granted now, with the first gate that holds it. */
  readonly waiting: ReadonlyMap<string, Waiting>;
  /** A granted node that has not settled within the reboot timeout; no new grants while set. */
  readonly halted: { readonly node: string; readonly detail: string } | undefined;
  /** Slots taken after this plan's releases and grants. */
  readonly taken: number;
  /** Held slot Leases that make no sense (see slot-check.ts): each blocks its slot until fixed. */
  readonly invalidSlots: readonly {
    readonly slot: string;
    readonly holder: string;
    readonly problem: string;
  }[];
  /**
   * Every node that keeps a slot, with where it stands on the way to settling and why, and the
   * identity of its grant (`healthy`: everything but the settle time is there).
   */
  readonly holding: ReadonlyMap<
    string,
    {
      readonly stage: SettleStage;
      readonly why: string;
      readonly identity: string;
      readonly healthy: boolean;
    }
  >;
  /** Every grant identity this plan saw held (so the observations can forget the others). */
  readonly grantsSeen: readonly string[];
  /** When the first settling holder's settle time ends: plan again then, not at the next tick. */
  readonly wakeInMs: number | undefined;
}

/** Why a pending node waits: the first gate holding it, and every other gate that holds it too. */
export interface Waiting extends GateBlock {
  readonly also: readonly GateBlock[];
}

const ann = (n: V1Node, key: string) => n.metadata?.annotations?.[key];

/** A holder the settle facts do not mention: its pods were never seen, so it has not settled. */
const UNOBSERVED: SettleFacts = { pods: { observed: false, notReady: [] } };

function priority(n: V1Node, label: string): number {
  const raw = n.metadata?.labels?.[label];
  return raw !== undefined && /^-?\d{1,9}$/.test(raw) ? Number(raw) : 0;
}

function waitingSince(n: V1Node): number {
  const t = leaseTime(rebootRequiredOf(n)?.lastTransitionTime);
  return t?.getTime() ?? 0;
}

export function plan(input: PlanInput): Plan {
  const { now, settings: s } = input;
  const seen = input.observed ?? FIRST_SIGHT;
  const nodes = new Map(input.nodes.map((n) => [n.metadata?.name ?? '', n]));
  const slots = new Map<number, SlotLease>();
  for (const l of input.leases) {
    const i = slotIndexOf(l.metadata?.name ?? '');
    if (i !== undefined) slots.set(i, l);
  }

  const grants: { slot: string; node: string; wasUnschedulable: boolean }[] = [];
  const holding = new Map<string, { stage: SettleStage; why: string; identity: string; healthy: boolean }>();
  let wakeInMs: number | undefined;
  const wakeIn = (ms: number) => {
    wakeInMs = Math.min(wakeInMs ?? ms, ms);
  };
  const renewals: GrantRef[] = [];
  const acknowledgements: (GrantRef & { bootId: string | undefined })[] = [];
  const releases: Plan['releases'][number][] = [];
  const holders = new Set<string>();
  /** Released in this plan after a grant that ended without a reboot: not granted again now. */
  const backingOff = new Set<string>();
  const grantsSeen: string[] = [];
  let halted: Plan['halted'];
  let taken = 0;
  const free: number[] = [];

  // Grants nodes say they are working under (identity → node): a Lease that no longer carries
  // one leaves its node counted all the same (below).
  const carried = new Set<string>();
  for (const l of slots.values()) {
    const g = grantOf(l);
    if (g !== undefined) carried.add(g.identity);
  }
  /** Slot indexes still used by an orphaned node: not free, whatever their Lease says. */
  const reserved = new Set<number>();
  for (const n of nodes.values()) {
    const identity = inFlightGrant(n.metadata?.annotations ?? {});
    if (identity === undefined || carried.has(identity)) continue;
    const name = n.metadata?.name ?? '';
    const index = slotIndexOf(splitGrantIdentity(identity)?.slot ?? '');
    if (index !== undefined) reserved.add(index);
    taken++;
    holders.add(name);
    holding.set(name, {
      stage: SettleStage.Orphaned,
      why: `mid-reboot (phase ${ann(n, Annotation.Phase) ?? 'none'}) under ${identity}, which no slot Lease carries any more (deleted or emptied by hand?); it counts as holding a slot until its agent finishes, or a person gives up on it with kubectl baton release ${name} --force`,
      identity,
      healthy: false,
    });
  }

  const release = (
    slot: string,
    holder: string,
    grant: Grant | undefined,
    kind: ReleaseKind,
    reason: string,
  ) => {
    releases.push({ slot, holder, grantId: grant?.id, kind, reason });
    if (kind === 'Aborted' || kind === 'Lapsed') backingOff.add(holder);
  };
  const keep = (
    index: number,
    node: string,
    grant: Grant,
    stage: SettleStage,
    why: string,
    o: { renew?: boolean; healthy?: boolean } = {},
  ) => {
    taken++;
    holders.add(node);
    holding.set(node, { stage, why, identity: grant.identity, healthy: o.healthy ?? false });
    if (o.renew !== false) renewals.push({ slot: slotLeaseName(index), node, grantId: grant.id });
    const age = seen.grantAgeMs(grant.identity);
    if (age > s.rebootTimeoutMs) {
      halted ??= {
        node,
        detail: `${node} was granted ${Math.round(age / 1000)} s ago and has not settled (${why}); the rollout is halted until a person acts`,
      };
    }
  };

  const invalidSlots: { slot: string; holder: string; problem: string }[] = [];
  // The slots below the limit and every slot Lease that exists, however large its index (a
  // Lease named baton-slot-4000000000 must not become a loop of four billion steps).
  const indexes = [...new Set([...Array.from({ length: s.concurrency }, (_, i) => i), ...slots.keys()])].sort(
    (a, b) => a - b,
  );
  for (const i of indexes) {
    const lease = slots.get(i);
    const slot = slotLeaseName(i);
    const holder = lease?.spec?.holderIdentity ?? '';
    const freed = () => {
      if (i < s.concurrency && !reserved.has(i)) free.push(i);
    };
    if (holder === '') {
      freed();
      continue;
    }
    const problem = lease && slotProblem(lease, (n) => nodes.has(n), GRANTED_NODE_ANNOTATION);
    if (problem) {
      taken++;
      holders.add(holder); // and the node it names gets no other slot meanwhile
      invalidSlots.push({ slot, holder, problem });
      continue;
    }
    const grant = lease === undefined ? undefined : grantOf(lease);
    if (grant === undefined) {
      taken++; // held by hand (manual:<who>): blocks this slot until a person empties it
      continue;
    }
    grantsSeen.push(grant.identity);
    const node = nodes.get(holder);
    if (node === undefined) {
      if (grant.rebootFromBootId !== undefined) {
        // The Lease says the reboot began: the machine may be down now. It keeps its slot until
        // the node is back on a new boot (or a person releases it).
        keep(
          i,
          holder,
          grant,
          SettleStage.NodeGone,
          `the Node object is gone after its reboot from boot ${grant.rebootFromBootId} began; waiting for it to come back`,
          { renew: false },
        );
      } else {
        // No acknowledged reboot: its agent cannot have given the command under this grant.
        release(slot, holder, grant, 'NodeDeleted', `node ${holder} no longer exists`);
        freed();
      }
      continue;
    }
    const wasUnschedulable = lease?.metadata?.annotations?.[GRANTED_UNSCHEDULABLE_ANNOTATION] === 'true';
    const record = lease?.metadata?.annotations?.[SlotAnnotation.GrantedWorkloads];
    const workloads = record === undefined ? undefined : parseWorkloadRecord(record);
    const facts = input.settleFacts === undefined ? undefined : (input.settleFacts.get(holder) ?? UNOBSERVED);
    const working = recordedGrant(node.metadata?.annotations ?? {}) === grant.identity;
    const phase = working ? ann(node, Annotation.Phase) : undefined;
    let outcome: SettleGrant['outcome'] | undefined;
    if (phase === AgentPhase.Rebooted || phase === AgentPhase.Held || phase === AgentPhase.Aborted)
      outcome = phase;
    else if (!working && grant.rebootFromBootId !== undefined) outcome = 'RecordLost';

    if (outcome === undefined && !working) {
      // Nothing done under this grant yet.
      if (!nodeNeedsReboot(node)) {
        release(slot, holder, grant, 'NotNeeded', `${holder} no longer needs a reboot`);
        freed();
        continue;
      }
      const age = seen.grantAgeMs(grant.identity);
      if (age >= s.grantDurationMs) {
        release(
          slot,
          holder,
          grant,
          'Lapsed',
          `${holder} started no work under the grant within ${Math.round(s.grantDurationMs / 1000)} s`,
        );
        freed();
        continue;
      }
      wakeIn(s.grantDurationMs - age);
      keep(i, holder, grant, SettleStage.NoProgress, 'no work recorded under this grant yet');
      continue;
    }
    if (outcome === undefined) {
      // Working under this grant: cordoning, draining, rebooting, verifying (or a phase a person
      // wrote by hand: it is kept, never released on a guess).
      const fromBootId = ann(node, Annotation.RebootFromBootId);
      if (!grant.started) {
        // Its agent recorded the grant: acknowledge the start (it cordons only after that).
        acknowledgements.push({ slot, node: holder, grantId: grant.id, bootId: undefined });
      } else if (fromBootId !== undefined && grant.rebootFromBootId !== fromBootId) {
        // Drained and recorded: acknowledge on the Lease, so that it says the node may be down.
        acknowledgements.push({ slot, node: holder, grantId: grant.id, bootId: fromBootId });
      }
      keep(i, holder, grant, SettleStage.Working, `phase ${ann(node, Annotation.Phase) ?? '(none)'}`);
      continue;
    }
    const check = settleCheck(
      node,
      {
        outcome,
        wasUnschedulable,
        workloads,
        rebootFromBootId: grant.rebootFromBootId,
        healthySince: seen.healthySince(grant.identity),
      },
      facts,
    );
    if (!check.healthy) {
      keep(i, holder, grant, check.stage, check.why);
      continue;
    }
    const healthyFor = seen.healthyForMs(grant.identity) ?? 0;
    if (healthyFor < s.settleMs) {
      wakeIn(s.settleMs - healthyFor);
      keep(
        i,
        holder,
        grant,
        SettleStage.Settling,
        `settling: healthy for ${Math.floor(healthyFor / 1000)} s of ${Math.ceil(s.settleMs / 1000)} s`,
        { healthy: true },
      );
      continue;
    }
    const why =
      check.kind === 'Held'
        ? 'held at the attempt limit; settled'
        : check.kind === 'Aborted'
          ? 'the agent aborted and undid its changes; settled'
          : 'rebooted and settled';
    release(slot, holder, grant, check.kind, why);
    freed();
  }

  // Pending nodes, best first.
  const pending = [...nodes.values()]
    .filter((n) => nodeNeedsReboot(n) && !holders.has(n.metadata?.name ?? ''))
    .sort(
      (a, b) =>
        priority(b, s.priorityLabel) - priority(a, s.priorityLabel) ||
        // Its own node last: a reboot there moves the controller (leader election hands over).
        Number(a.metadata?.name === s.controllerNode) - Number(b.metadata?.name === s.controllerNode) ||
        waitingSince(a) - waitingSince(b) ||
        (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''),
    );

  const waiting = new Map<string, Waiting>();
  const hold = (name: string, [first, ...also]: readonly GateBlock[]) => {
    if (first !== undefined) waiting.set(name, { ...first, also });
  };
  const window = windowVerdict(s.windows, s.timeZone, s.blackoutDates, now);
  const limits = budget(s.budget ?? {}, input.nodes, holders);
  for (const n of pending) {
    const name = n.metadata?.name ?? '';
    // Every gate that does not depend on the other grants of this plan, all of them, so people
    // see at once everything that stands between the node and its reboot.
    const blocks: GateBlock[] = [];
    if (n.metadata?.labels?.[s.optOutLabel] === 'true') {
      blocks.push({ reason: GateReason.OptedOut, detail: `label ${s.optOutLabel}=true` });
    }
    if (input.paused !== undefined) blocks.push({ reason: GateReason.Paused, detail: input.paused });
    if (givenUpOn(n.metadata?.annotations ?? {})) {
      blocks.push({
        reason: GateReason.GivenUp,
        detail: `a person gave up on its reboot under ${recordedGrant(n.metadata?.annotations ?? {})} (${Annotation.GivenUp}); it is granted again once its agent reports back`,
      });
    }
    if (halted) blocks.push({ reason: GateReason.RolloutHalted, detail: halted.detail });
    if (!window.open) blocks.push({ reason: window.why, detail: window.detail });
    const backoff = backingOff.has(name) ? undefined : seen.backoffRemainingMs(name);
    if (backingOff.has(name) || backoff !== undefined) {
      blocks.push({
        reason: GateReason.BackingOff,
        detail:
          backoff === undefined
            ? 'its last grant ended without a reboot; waiting before granting it again'
            : `its last grant ended without a reboot; granted again in ${Math.ceil(backoff / 1000)} s at the earliest`,
      });
      if (backoff !== undefined) wakeIn(backoff);
    }
    blocks.push(...(input.blockers?.(n) ?? []));
    if (blocks.length > 0) {
      hold(name, blocks);
      continue;
    }
    const over = limits.check(n);
    const slot = free.shift();
    if (slot === undefined || taken >= s.concurrency) {
      if (slot !== undefined) free.unshift(slot);
      const wait = {
        reason: GateReason.WaitingForSlot,
        detail: `${taken} of ${s.concurrency} slot(s) taken`,
      };
      hold(name, over === undefined ? [wait] : [wait, over]);
      continue;
    }
    if (over !== undefined) {
      free.unshift(slot);
      hold(name, [over]);
      continue;
    }
    grants.push({ slot: slotLeaseName(slot), node: name, wasUnschedulable: n.spec?.unschedulable === true });
    limits.take(n);
    taken++;
  }
  return {
    grants,
    renewals,
    acknowledgements,
    releases,
    waiting,
    halted,
    taken,
    holding,
    invalidSlots,
    grantsSeen,
    wakeInMs,
  };
}
