/**
 * The controller's decision, as a pure function of what it sees: which slot to grant to which
 * node, which grants to renew, which slots to release, and why every other pending node waits.
 *
 * Safety is counted, not assumed: a slot is "taken" when a node holds it (valid or not — a node
 * in the middle of a reboot keeps its slot until it has settled), when a person holds it by hand
 * (`manual:<who>` or any name that is not a node the controller granted), and new grants are
 * made only while taken slots < concurrency, into slots whose index is below concurrency. So
 * lowering concurrency never adds a holder; raising it adds at most the difference.
 */
import {
  Annotation,
  GateReason,
  type LeaseLike,
  leaseTime,
  MANUAL_HOLDER_PREFIX,
  REBOOT_REQUIRED_CONDITION,
  type RebootWindow,
  SlotAnnotation,
  slotIndexOf,
  slotLeaseName,
  windowVerdict,
} from '@baton/protocol';
import type { V1Node } from '@kubernetes/client-node';
import { type BudgetSettings, budget } from './budget.ts';
import {
  GRANTED_UNSCHEDULABLE_ANNOTATION,
  type ReleaseKind,
  type SettleFacts,
  type SettleStage,
  settleState,
} from './settle.ts';
import { slotProblem } from './slot-check.ts';
import { parseWorkloadRecord } from './workloads.ts';

export type { ReleaseKind } from './settle.ts';

/** Annotation the controller puts on a slot Lease it grants: the node it granted it to. */
export const GRANTED_NODE_ANNOTATION = SlotAnnotation.GrantedNode;

export interface PlanSettings {
  readonly concurrency: number;
  readonly settleMs: number;
  readonly rebootTimeoutMs: number;
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
}

export interface Plan {
  readonly grants: readonly {
    readonly slot: string;
    readonly node: string;
    /** The node was cordoned at the grant: a cordon after its reboot does not keep the slot. */
    readonly wasUnschedulable: boolean;
  }[];
  readonly renewals: readonly { readonly slot: string; readonly node: string }[];
  readonly releases: readonly {
    readonly slot: string;
    readonly holder: string;
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
  /** Every node that keeps its slot, with where it stands on the way to settling and why. */
  readonly holding: ReadonlyMap<string, { readonly stage: SettleStage; readonly why: string }>;
  /** When the first settling holder's settle time ends: plan again then, not at the next tick. */
  readonly wakeInMs: number | undefined;
}

/** Why a pending node waits: the first gate holding it, and every other gate that holds it too. */
export interface Waiting extends GateBlock {
  readonly also: readonly GateBlock[];
}

const ann = (n: V1Node, key: string) => n.metadata?.annotations?.[key];

function rebootCondition(n: V1Node) {
  return n.status?.conditions?.find((c) => c.type === REBOOT_REQUIRED_CONDITION);
}

/** Needs a reboot and may have one: condition True for a reason other than the attempt limit. */
export function needsReboot(n: V1Node): boolean {
  const c = rebootCondition(n);
  return c?.status === 'True' && c.reason !== 'AttemptLimitReached';
}

/** A holder the settle facts do not mention: its pods were never seen, so it has not settled. */
const UNOBSERVED: SettleFacts = { pods: { observed: false, notReady: [] } };

function priority(n: V1Node, label: string): number {
  const raw = n.metadata?.labels?.[label];
  return raw !== undefined && /^-?\d{1,9}$/.test(raw) ? Number(raw) : 0;
}

function waitingSince(n: V1Node): number {
  const t = leaseTime(rebootCondition(n)?.lastTransitionTime);
  return t?.getTime() ?? 0;
}

export function plan(input: PlanInput): Plan {
  const { now, settings: s } = input;
  const nodes = new Map(input.nodes.map((n) => [n.metadata?.name ?? '', n]));
  const slots = new Map<number, SlotLease>();
  for (const l of input.leases) {
    const i = slotIndexOf(l.metadata?.name ?? '');
    if (i !== undefined) slots.set(i, l);
  }

  const grants: { slot: string; node: string; wasUnschedulable: boolean }[] = [];
  const holding = new Map<string, { stage: SettleStage; why: string }>();
  let wakeInMs: number | undefined;
  const renewals: { slot: string; node: string }[] = [];
  const releases: { slot: string; holder: string; kind: ReleaseKind; reason: string }[] = [];
  const holders = new Set<string>();
  let halted: Plan['halted'];
  let taken = 0;
  const free: number[] = [];

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
    if (holder === '') {
      if (i < s.concurrency) free.push(i);
      continue;
    }
    const problem = lease && slotProblem(lease, now, (n) => nodes.has(n), GRANTED_NODE_ANNOTATION);
    if (problem) {
      taken++;
      holders.add(holder); // and the node it names gets no other slot meanwhile
      invalidSlots.push({ slot, holder, problem });
      continue;
    }
    const node = nodes.get(holder);
    const grantedByUs = lease?.metadata?.annotations?.[GRANTED_NODE_ANNOTATION] === holder;
    if (node === undefined) {
      if (grantedByUs && !holder.startsWith(MANUAL_HOLDER_PREFIX)) {
        releases.push({ slot, holder, kind: 'NodeDeleted', reason: `node ${holder} no longer exists` });
        if (i < s.concurrency) free.push(i);
      } else {
        taken++; // held by hand: blocks this slot until a person empties it
      }
      continue;
    }
    holders.add(holder);
    const grantedAt = leaseTime(lease?.spec?.acquireTime) ?? leaseTime(lease?.spec?.renewTime) ?? now;
    const wasUnschedulable = lease?.metadata?.annotations?.[GRANTED_UNSCHEDULABLE_ANNOTATION] === 'true';
    const record = lease?.metadata?.annotations?.[SlotAnnotation.GrantedWorkloads];
    const workloads = record === undefined ? undefined : parseWorkloadRecord(record);
    const facts = input.settleFacts === undefined ? undefined : (input.settleFacts.get(holder) ?? UNOBSERVED);
    const state = settleState(node, { at: grantedAt, wasUnschedulable, workloads }, now, s.settleMs, facts);
    if (state.done) {
      releases.push({ slot, holder, kind: state.kind, reason: state.why });
      if (i < s.concurrency) free.push(i);
      continue;
    }
    const since = leaseTime(ann(node, Annotation.PhaseSince));
    const progressed = since !== undefined && since >= grantedAt;
    if (!progressed && !needsReboot(node)) {
      // Granted, never started, and the reason went away (the sentinel was cleared by hand).
      releases.push({ slot, holder, kind: 'NotNeeded', reason: `${holder} no longer needs a reboot` });
      if (i < s.concurrency) free.push(i);
      continue;
    }
    taken++;
    holding.set(holder, { stage: state.stage, why: state.why });
    if (state.remainingMs !== undefined)
      wakeInMs = Math.min(wakeInMs ?? state.remainingMs, state.remainingMs);
    renewals.push({ slot, node: holder });
    const elapsed = now.getTime() - grantedAt.getTime();
    if (elapsed > s.rebootTimeoutMs) {
      halted ??= {
        node: holder,
        detail: `${holder} was granted ${Math.round(elapsed / 1000)} s ago and has not settled (${state.why}); the rollout is halted until a person acts`,
      };
    }
  }

  // Pending nodes, best first.
  const pending = [...nodes.values()]
    .filter((n) => needsReboot(n) && !holders.has(n.metadata?.name ?? ''))
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
  const limits = budget(s.budget ?? {}, input.nodes, new Set(renewals.map((r) => r.node)));
  for (const n of pending) {
    const name = n.metadata?.name ?? '';
    // Every gate that does not depend on the other grants of this plan, all of them, so people
    // see at once everything that stands between the node and its reboot.
    const blocks: GateBlock[] = [];
    if (n.metadata?.labels?.[s.optOutLabel] === 'true') {
      blocks.push({ reason: GateReason.OptedOut, detail: `label ${s.optOutLabel}=true` });
    }
    if (input.paused !== undefined) blocks.push({ reason: GateReason.Paused, detail: input.paused });
    if (halted) blocks.push({ reason: GateReason.RolloutHalted, detail: halted.detail });
    if (!window.open) blocks.push({ reason: window.why, detail: window.detail });
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
  return { grants, renewals, releases, waiting, halted, taken, holding, invalidSlots, wakeInMs };
}
