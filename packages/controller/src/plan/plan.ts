/**
 * The controller's decision, as a pure function of what it sees: which slot to grant to which
 * node, which grants to renew, acknowledge or release, and why every other pending node waits.
 *
 * Safety is counted, not assumed. A slot is taken when its Lease names a holder (a node, valid
 * or not — a node in the middle of a reboot keeps its slot until it has settled — or a person,
 * `manual:<who>`), and also when no Lease names it but a node's own record says it is mid-reboot
 * under one (the Lease was deleted or emptied by hand): what the node says it is doing counts as
 * much as what the Lease says; and when both are gone (a person deleted the Node object and the
 * Lease of a node going down), a reboot this controller saw acknowledged still counts until the
 * node is back, Ready on a new boot ({@link RebootUnderway}). New grants are made only while taken slots < concurrency, into
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
  grantOf,
  inFlightGrant,
  isNodeReady,
  leaseTime,
  nodeNeedsReboot,
  rebootRequiredOf,
  recordedGrant,
  SlotAnnotation,
  slotIndexOf,
  slotLeaseName,
  splitGrantIdentity,
} from '@baton/protocol';
import type { RebootWindow } from '@baton/protocol/config';
import type { V1Node } from '@kubernetes/client-node';
import { backoffGate } from '../gates/backoff.ts';
import { type BudgetSettings, budget } from '../gates/budget.ts';
import { blocksOf, type GateBlock, type NodeGate } from '../gates/gate.ts';
import { givenUpGate } from '../gates/given-up.ts';
import { optOutGate } from '../gates/opt-out.ts';
import { pauseGate } from '../gates/pause.ts';
import { rolloutHaltedGate } from '../gates/rollout-halted.ts';
import { windowGate } from '../gates/window.ts';
import {
  GRANTED_UNSCHEDULABLE_ANNOTATION,
  type ReleaseKind,
  type SettleFacts,
  type SettleGrant,
  SettleStage,
  settleCheck,
} from '../settle/settle.ts';
import { parseWorkloadRecord } from '../settle/workloads.ts';
import { type SlotLease, slotProblem } from './slot-check.ts';

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

export type { GateBlock } from '../gates/gate.ts';
export type { SlotLease } from './slot-check.ts';

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
  /**
   * The reboots this controller saw acknowledged (on a Lease, or by its own write) and has not
   * yet seen end: the one memory of a machine that may be down that no person can delete.
   */
  rebootsUnderway(): readonly RebootUnderway[];
}

/**
 * A reboot acknowledged under a grant: from then on the node's machine may be down until it is
 * Ready on a boot other than `fromBootId`.
 */
export interface RebootUnderway {
  readonly identity: string;
  readonly node: string;
  readonly fromBootId: string;
}

/** No observations yet: everything first seen now (unit tests; a controller's first pass). */
export const FIRST_SIGHT: PlanObservations = {
  grantAgeMs: () => 0,
  healthyForMs: () => undefined,
  healthySince: () => undefined,
  backoffRemainingMs: () => undefined,
  rebootsUnderway: () => [],
};

export interface PlanInput {
  readonly now: Date;
  readonly nodes: readonly V1Node[];
  readonly leases: readonly SlotLease[];
  readonly settings: PlanSettings;
  /** Set while the pause Lease is held: no new grants (holders keep theirs and finish). */
  readonly paused?: string | undefined;
  /**
   * The gates whose state lives outside the Node and Lease caches (alerts, blocking pods), asked
   * after the planner's own, in the order they should be reported.
   */
  readonly gates?: readonly NodeGate[];
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
    /**
     * The release is decided on what the node did *not* do, so the write must find the Lease
     * without these acknowledgements (the plan's cache of the Lease may lag): `any` — neither
     * the start nor a reboot; `reboot` — no reboot (the node cannot be going down).
     */
    readonly unacknowledged?: 'any' | 'reboot' | undefined;
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
  /** The reboots still under way after this plan: the controller remembers these, forgets the rest. */
  readonly rebootsUnderway: readonly RebootUnderway[];
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

type Holding = { stage: SettleStage; why: string; identity: string; healthy: boolean };

/**
 * One plan in the making: what it has counted and decided so far. The steps of {@link plan}
 * share it; each step is a method that says what it decides.
 */
class PlanBuilder {
  readonly #input: PlanInput;
  readonly #s: PlanSettings;
  readonly #seen: PlanObservations;
  readonly nodes: ReadonlyMap<string, V1Node>;
  readonly slots = new Map<number, SlotLease>();

  readonly grants: { slot: string; node: string; wasUnschedulable: boolean }[] = [];
  readonly holding = new Map<string, Holding>();
  readonly renewals: GrantRef[] = [];
  readonly acknowledgements: (GrantRef & { bootId: string | undefined })[] = [];
  readonly releases: Plan['releases'][number][] = [];
  /** Nodes that keep a slot (or are named by a slot that makes no sense): no other grant. */
  readonly holders = new Set<string>();
  /** Released in this plan after a grant that ended without a reboot: not granted again now. */
  readonly backingOff = new Set<string>();
  readonly grantsSeen: string[] = [];
  readonly rebootsUnderway: RebootUnderway[] = [];
  readonly invalidSlots: { slot: string; holder: string; problem: string }[] = [];
  /** Slot indexes below the concurrency that nobody uses, lowest first. */
  readonly free: number[] = [];
  /** Slot indexes still used by an orphaned node: not free, whatever their Lease says. */
  readonly reserved = new Set<number>();
  halted: Plan['halted'];
  taken = 0;
  wakeInMs: number | undefined;

  constructor(input: PlanInput) {
    this.#input = input;
    this.#s = input.settings;
    this.#seen = input.observed ?? FIRST_SIGHT;
    this.nodes = new Map(input.nodes.map((n) => [n.metadata?.name ?? '', n]));
    for (const l of input.leases) {
      const i = slotIndexOf(l.metadata?.name ?? '');
      if (i !== undefined) this.slots.set(i, l);
    }
  }

  /** Plan again within `ms` (the earliest of every such wish wins). */
  wakeIn = (ms: number): void => {
    this.wakeInMs = Math.min(this.wakeInMs ?? ms, ms);
  };

  /**
   * Step 1: nodes whose own record says they are mid-reboot under a grant no slot Lease carries
   * any more (deleted or emptied by hand) count as holding a slot all the same, and keep its index.
   */
  countOrphans(): void {
    const carried = new Set<string>();
    for (const l of this.slots.values()) {
      const g = grantOf(l);
      if (g !== undefined) carried.add(g.identity);
    }
    for (const n of this.nodes.values()) {
      const identity = inFlightGrant(n.metadata?.annotations ?? {});
      if (identity === undefined || carried.has(identity)) continue;
      const name = n.metadata?.name ?? '';
      const index = slotIndexOf(splitGrantIdentity(identity)?.slot ?? '');
      if (index !== undefined) this.reserved.add(index);
      this.taken++;
      this.holders.add(name);
      this.holding.set(name, {
        stage: SettleStage.Orphaned,
        why: `mid-reboot (phase ${ann(n, Annotation.Phase) ?? 'none'}) under ${identity}, which no slot Lease carries any more (deleted or emptied by hand?); it counts as holding a slot until its agent finishes, or a person gives up on it with kubectl baton release ${name} --force`,
        identity,
        healthy: false,
      });
    }
    this.#countRemembered(carried);
  }

  /**
   * Step 1b: the reboots this controller remembers as under way. Each one ends when its node is
   * Ready on a new boot, its record says the work under that grant ended, or a person gave up on
   * it; until then, if neither a Lease nor the node's record shows it (both deleted by hand while
   * the machine was going down), it counts as holding its slot all the same.
   */
  #countRemembered(carried: ReadonlySet<string>): void {
    const remembered = new Map(this.#seen.rebootsUnderway().map((r) => [r.identity, r]));
    for (const l of this.slots.values()) {
      const g = grantOf(l);
      if (g?.rebootFromBootId !== undefined && !remembered.has(g.identity))
        remembered.set(g.identity, { identity: g.identity, node: g.holder, fromBootId: g.rebootFromBootId });
    }
    for (const r of remembered.values()) {
      const node = this.nodes.get(r.node);
      const ann = node?.metadata?.annotations ?? {};
      if (node !== undefined) {
        const bootId = node.status?.nodeInfo?.bootID ?? '';
        const backOnNewBoot = bootId !== '' && bootId !== r.fromBootId && isNodeReady(node);
        const ended = recordedGrant(ann) === r.identity && inFlightGrant(ann) !== r.identity;
        if (backOnNewBoot || ended || ann[Annotation.GivenUp] === r.identity) continue;
      }
      this.rebootsUnderway.push(r);
      if (carried.has(r.identity) || inFlightGrant(ann) === r.identity || this.holders.has(r.node)) continue;
      const index = slotIndexOf(splitGrantIdentity(r.identity)?.slot ?? '');
      if (index !== undefined) this.reserved.add(index);
      this.taken++;
      this.holders.add(r.node);
      this.grantsSeen.push(r.identity);
      const age = this.#seen.grantAgeMs(r.identity);
      const gone = node === undefined ? 'Node object' : "Node's record of it";
      const why = `its reboot from boot ${r.fromBootId} under ${r.identity} was acknowledged, then its slot Lease and its ${gone} were deleted (by hand?); it counts as holding a slot until it is Ready on a new boot (if its machine is gone for good, restart the controller to forget it)`;
      this.holding.set(r.node, { stage: SettleStage.Orphaned, why, identity: r.identity, healthy: false });
      if (age > this.#s.rebootTimeoutMs) {
        this.halted ??= {
          node: r.node,
          detail: `${r.node} has not come back ${Math.round(age / 1000)} s after its grant: ${why}; the rollout is halted until a person acts`,
        };
      }
    }
  }

  /**
   * The slots below the limit and every slot Lease that exists, however large its index (a
   * Lease named baton-slot-4000000000 must not become a loop of four billion steps).
   */
  slotIndexes(): number[] {
    return [
      ...new Set([...Array.from({ length: this.#s.concurrency }, (_, i) => i), ...this.slots.keys()]),
    ].sort((a, b) => a - b);
  }

  /** Step 2, per slot: free, invalid, held by hand, or a grant to keep, acknowledge or release. */
  judgeSlot(i: number): void {
    const lease = this.slots.get(i);
    const slot = slotLeaseName(i);
    const holder = lease?.spec?.holderIdentity ?? '';
    if (holder === '') {
      this.#freed(i);
      return;
    }
    const problem = lease && slotProblem(lease, (n) => this.nodes.has(n), GRANTED_NODE_ANNOTATION);
    if (problem) {
      this.taken++;
      this.holders.add(holder); // and the node it names gets no other slot meanwhile
      this.invalidSlots.push({ slot, holder, problem });
      return;
    }
    const grant = lease === undefined ? undefined : grantOf(lease);
    if (lease === undefined || grant === undefined) {
      this.taken++; // held by hand (manual:<who>): blocks this slot until a person empties it
      return;
    }
    this.grantsSeen.push(grant.identity);
    const node = this.nodes.get(holder);
    if (node === undefined) this.#judgeGrantOfMissingNode(i, holder, grant);
    else this.#judgeGrant(i, lease, node, holder, grant);
  }

  #freed(i: number): void {
    if (i < this.#s.concurrency && !this.reserved.has(i)) this.free.push(i);
  }

  #release(
    i: number,
    holder: string,
    grant: Grant | undefined,
    kind: ReleaseKind,
    reason: string,
    unacknowledged?: 'any' | 'reboot',
  ): void {
    this.releases.push({ slot: slotLeaseName(i), holder, grantId: grant?.id, kind, reason, unacknowledged });
    if (kind === 'Aborted' || kind === 'Lapsed') this.backingOff.add(holder);
    this.#freed(i);
  }

  #keep(
    index: number,
    node: string,
    grant: Grant,
    stage: SettleStage,
    why: string,
    o: { renew?: boolean; healthy?: boolean } = {},
  ): void {
    this.taken++;
    this.holders.add(node);
    this.holding.set(node, { stage, why, identity: grant.identity, healthy: o.healthy ?? false });
    if (o.renew !== false) this.renewals.push({ slot: slotLeaseName(index), node, grantId: grant.id });
    const age = this.#seen.grantAgeMs(grant.identity);
    if (age > this.#s.rebootTimeoutMs) {
      this.halted ??= {
        node,
        detail: `${node} was granted ${Math.round(age / 1000)} s ago and has not settled (${why}); the rollout is halted until a person acts`,
      };
    }
  }

  /** A grant to a Node object that is gone. */
  #judgeGrantOfMissingNode(i: number, holder: string, grant: Grant): void {
    if (grant.rebootFromBootId !== undefined) {
      // The Lease says the reboot began: the machine may be down now. It keeps its slot until
      // the node is back on a new boot (or a person releases it).
      this.#keep(
        i,
        holder,
        grant,
        SettleStage.NodeGone,
        `the Node object is gone after its reboot from boot ${grant.rebootFromBootId} began; waiting for it to come back`,
        { renew: false },
      );
    } else {
      // No acknowledged reboot: its agent cannot have given the command under this grant.
      this.#release(i, holder, grant, 'NodeDeleted', `node ${holder} no longer exists`, 'reboot');
    }
  }

  /** A grant to a node that exists: not started, working, or finished and settling. */
  #judgeGrant(i: number, lease: SlotLease, node: V1Node, holder: string, grant: Grant): void {
    const working = recordedGrant(node.metadata?.annotations ?? {}) === grant.identity;
    const phase = working ? ann(node, Annotation.Phase) : undefined;
    let outcome: SettleGrant['outcome'] | undefined;
    if (phase === AgentPhase.Rebooted || phase === AgentPhase.Held || phase === AgentPhase.Aborted)
      outcome = phase;
    else if (!working && grant.rebootFromBootId !== undefined) outcome = 'RecordLost';
    else if (!working && grant.started) {
      // Its start was acknowledged, so its agent recorded this grant once; that record is gone
      // (the Node re-created, or its annotations overwritten) and no reboot was acknowledged, so
      // none began. The work ended without a reboot: settle, then release — never on a Lease
      // that meanwhile says a reboot began.
      this.#judgeFinished(i, lease, node, holder, grant, AgentPhase.Aborted, { recordLost: true });
      return;
    }

    if (outcome === undefined && !working) this.#judgeUnstarted(i, node, holder, grant);
    else if (outcome === undefined) this.#judgeWorking(i, node, holder, grant);
    else this.#judgeFinished(i, lease, node, holder, grant, outcome);
  }

  /** Nothing done under this grant yet: keep it, or release it when not needed or lapsed. */
  #judgeUnstarted(i: number, node: V1Node, holder: string, grant: Grant): void {
    if (!nodeNeedsReboot(node)) {
      this.#release(i, holder, grant, 'NotNeeded', `${holder} no longer needs a reboot`, 'any');
      return;
    }
    const age = this.#seen.grantAgeMs(grant.identity);
    if (age >= this.#s.grantDurationMs) {
      this.#release(
        i,
        holder,
        grant,
        'Lapsed',
        `${holder} started no work under the grant within ${Math.round(this.#s.grantDurationMs / 1000)} s`,
        'any',
      );
      return;
    }
    this.wakeIn(this.#s.grantDurationMs - age);
    this.#keep(i, holder, grant, SettleStage.NoProgress, 'no work recorded under this grant yet');
  }

  /**
   * Working under this grant: cordoning, draining, rebooting, verifying (or a phase a person
   * wrote by hand: it is kept, never released on a guess). Acknowledge what the agent waits for.
   */
  #judgeWorking(i: number, node: V1Node, holder: string, grant: Grant): void {
    const slot = slotLeaseName(i);
    const fromBootId = ann(node, Annotation.RebootFromBootId);
    if (!grant.started) {
      // Its agent recorded the grant: acknowledge the start (it cordons only after that).
      this.acknowledgements.push({ slot, node: holder, grantId: grant.id, bootId: undefined });
    } else if (fromBootId !== undefined && grant.rebootFromBootId !== fromBootId) {
      // Drained and recorded: acknowledge on the Lease, so that it says the node may be down.
      this.acknowledgements.push({ slot, node: holder, grantId: grant.id, bootId: fromBootId });
    }
    this.#keep(i, holder, grant, SettleStage.Working, `phase ${ann(node, Annotation.Phase) ?? '(none)'}`);
  }

  /** Finished (rebooted, held, aborted, or its record lost): release once settled. */
  #judgeFinished(
    i: number,
    lease: SlotLease,
    node: V1Node,
    holder: string,
    grant: Grant,
    outcome: SettleGrant['outcome'],
    o: { readonly recordLost?: boolean } = {},
  ): void {
    const record = lease.metadata?.annotations?.[SlotAnnotation.GrantedWorkloads];
    const facts =
      this.#input.settleFacts === undefined ? undefined : (this.#input.settleFacts.get(holder) ?? UNOBSERVED);
    const check = settleCheck(
      node,
      {
        outcome,
        wasUnschedulable: lease.metadata?.annotations?.[GRANTED_UNSCHEDULABLE_ANNOTATION] === 'true',
        workloads: record === undefined ? undefined : parseWorkloadRecord(record),
        rebootFromBootId: grant.rebootFromBootId,
        healthySince: this.#seen.healthySince(grant.identity),
      },
      facts,
    );
    if (!check.healthy) {
      this.#keep(i, holder, grant, check.stage, check.why);
      return;
    }
    const healthyFor = this.#seen.healthyForMs(grant.identity) ?? 0;
    if (healthyFor < this.#s.settleMs) {
      this.wakeIn(this.#s.settleMs - healthyFor);
      this.#keep(
        i,
        holder,
        grant,
        SettleStage.Settling,
        `settling: healthy for ${Math.floor(healthyFor / 1000)} s of ${Math.ceil(this.#s.settleMs / 1000)} s`,
        { healthy: true },
      );
      return;
    }
    if (o.recordLost) {
      this.#release(
        i,
        holder,
        grant,
        check.kind,
        `${holder}'s record of its work under the grant is gone (Node re-created, or its annotations overwritten) and no reboot was acknowledged; settled`,
        'reboot',
      );
      return;
    }
    const why =
      check.kind === 'Held'
        ? 'held at the attempt limit; settled'
        : check.kind === 'Aborted'
          ? 'the agent aborted and undid its changes; settled'
          : 'rebooted and settled';
    this.#release(i, holder, grant, check.kind, why);
  }

  /** Step 3: the nodes that need a reboot and hold no slot, best first. */
  pendingInOrder(): V1Node[] {
    const s = this.#s;
    return [...this.nodes.values()]
      .filter((n) => nodeNeedsReboot(n) && !this.holders.has(n.metadata?.name ?? ''))
      .sort(
        (a, b) =>
          priority(b, s.priorityLabel) - priority(a, s.priorityLabel) ||
          // Its own node last: a reboot there moves the controller (leader election hands over).
          Number(a.metadata?.name === s.controllerNode) - Number(b.metadata?.name === s.controllerNode) ||
          waitingSince(a) - waitingSince(b) ||
          (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''),
      );
  }

  /**
   * The gates every pending node passes, in the order they are reported. None depends on the
   * other grants of this plan; the capacity ones (slots, budget) come after, in {@link admit}.
   */
  gates(): NodeGate[] {
    return [
      optOutGate(this.#s.optOutLabel),
      pauseGate(this.#input.paused),
      givenUpGate,
      rolloutHaltedGate(this.halted),
      windowGate(this.#s, this.#input.now),
      backoffGate(this.backingOff, (n) => this.#seen.backoffRemainingMs(n), this.wakeIn),
      ...(this.#input.gates ?? []),
    ];
  }

  /**
   * Step 4: walk the pending nodes through every gate, then the capacity: a free slot below the
   * concurrency and the budget. Every gate that holds a node is reported, so people see at once
   * everything that stands between it and its reboot.
   */
  admit(pending: readonly V1Node[]): Map<string, Waiting> {
    const s = this.#s;
    const waiting = new Map<string, Waiting>();
    const hold = (name: string, [first, ...also]: readonly GateBlock[]) => {
      if (first !== undefined) waiting.set(name, { ...first, also });
    };
    const gates = this.gates();
    const limits = budget(s.budget ?? {}, this.#input.nodes, this.holders);
    for (const n of pending) {
      const name = n.metadata?.name ?? '';
      const blocks = blocksOf(gates, n, this.#input.now);
      if (blocks.length > 0) {
        hold(name, blocks);
        continue;
      }
      const over = limits.check(n);
      const slot = this.free.shift();
      if (slot === undefined || this.taken >= s.concurrency) {
        if (slot !== undefined) this.free.unshift(slot);
        const wait = {
          reason: GateReason.WaitingForSlot,
          detail: `${this.taken} of ${s.concurrency} slot(s) taken`,
        };
        hold(name, over === undefined ? [wait] : [wait, over]);
        continue;
      }
      if (over !== undefined) {
        this.free.unshift(slot);
        hold(name, [over]);
        continue;
      }
      this.grants.push({
        slot: slotLeaseName(slot),
        node: name,
        wasUnschedulable: n.spec?.unschedulable === true,
      });
      limits.take(n);
      this.taken++;
    }
    return waiting;
  }
}

export function plan(input: PlanInput): Plan {
  const b = new PlanBuilder(input);
  b.countOrphans();
  for (const i of b.slotIndexes()) b.judgeSlot(i);
  const waiting = b.admit(b.pendingInOrder());
  return {
    grants: b.grants,
    renewals: b.renewals,
    acknowledgements: b.acknowledgements,
    releases: b.releases,
    waiting,
    halted: b.halted,
    taken: b.taken,
    holding: b.holding,
    invalidSlots: b.invalidSlots,
    grantsSeen: b.grantsSeen,
    rebootsUnderway: b.rebootsUnderway,
    wakeInMs: b.wakeInMs,
  };
}
