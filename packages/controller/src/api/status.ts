/**
 * The read-only API's answers, as pure functions of the controller's view (view.ts): the same
 * plan always gives the same JSON (unit-tested). `GET /api/v1/status` is {@link statusResponse},
 * `GET /api/v1/nodes/:name` is {@link nodeResponse}.
 *
 * Unlike `kubectl baton status` and `why` (packages/cli), which read the objects and the
 * controller's RebootGate condition as written, these say what this replica itself decided at
 * its last plan: every gate that holds a pending node back (windows, budgets and alerts
 * included, which the CLI cannot evaluate), the stage of every holder on its way to settling,
 * the grants and releases it made. The RebootGate verdict is the one it writes (gate-condition.ts).
 *
 * The shapes are stable: fields are only ever added; `version` changes if one changes meaning.
 */
import {
  Annotation,
  GateReason,
  type RebootNeed,
  RebootRequiredReason,
  rebootNeedOf,
  rebootRequiredOf,
  slotIndexOf,
  slotLeaseName,
  splitGrantIdentity,
} from '@baton/protocol';
import { desiredGate, explainBlocked } from '../observe/gate-condition.ts';
import type { PlannedPass } from '../reconcile/reconciler.ts';
import type { ReplicaState, ViewSettings } from './view.ts';

export type NeedsReboot = RebootNeed;

/**
 * Where a node stands in the plan: `granting` (this plan grants it a slot), `holding` (it keeps
 * one, on its way to settling), `releasing` (this plan releases its slot), `waiting` (needs a
 * reboot, held back by `blockedBy`), `idle` (nothing to do).
 */
export type NodeState = 'granting' | 'holding' | 'releasing' | 'waiting' | 'idle';

export interface GateBlockView {
  /** A stable GateReason (the RebootGate condition's reasons, the `reason` label of the metric). */
  readonly reason: string;
  readonly detail: string;
}

export interface NodeEntry {
  readonly name: string;
  /** From the agent's RebootRequired condition, as `kubectl baton status` says it. */
  readonly needsReboot: NeedsReboot;
  /** The agent's phase annotation (`baton.dev/phase`). */
  readonly phase: string | null;
  /** `baton.dev/reboot-requested`: who asked for a reboot, if anyone. */
  readonly requestedBy: string | null;
  /** `baton.dev/reboot-attempts`, when it is a number. */
  readonly attempts: number | null;
  readonly cordoned: boolean;
  /** The slot it holds, is granted or is released from in this plan; null if none. */
  readonly slot: string | null;
  readonly state: NodeState;
  /** Every gate that holds it back, the first one first; empty when none does. */
  readonly blockedBy: readonly GateBlockView[];
  /** For a holder: its stage on the way to settling (settle.ts SettleStage) and why. */
  readonly settle: { readonly stage: string; readonly why: string } | null;
  /** The release this plan makes of its slot: kind (Settled, Lapsed, …) and why. */
  readonly release: { readonly kind: string; readonly reason: string } | null;
  /** The RebootGate condition this replica writes for it; null when it leaves the condition as it is. */
  readonly gate: { readonly status: string; readonly reason: string; readonly message: string } | null;
}

export interface SlotEntry {
  readonly name: string;
  readonly index: number;
  /** holderIdentity as the plan saw it: a node, `manual:<who>`, or null when free (or no Lease yet). */
  readonly holder: string | null;
  /** The node this plan grants the slot to. */
  readonly granting: string | null;
  /** Why this plan releases the slot. */
  readonly releasing: string | null;
  /** Why the Lease cannot be acted on (it blocks the slot until a person fixes it). */
  readonly problem: string | null;
}

export type ReplicaView = ReplicaState;

/** `GET /api/v1/status`. Times are RFC 3339 in UTC; absent values are null. */
export interface StatusResponse {
  readonly kind: 'BatonControllerStatus';
  readonly version: 1;
  /** When the answer was made. */
  readonly time: string;
  /** The replica that answers; on a follower the plan below is empty or stale. */
  readonly replica: ReplicaView;
  /** When this replica made the plan below; null: it has not planned (not leading, or not in sync yet). */
  readonly plannedAt: string | null;
  readonly namespace: string;
  readonly concurrency: number;
  /** Slots taken after the plan's releases and grants; null without a plan. */
  readonly taken: number | null;
  readonly pause: { readonly paused: boolean; readonly detail: string | null };
  /** A granted node that did not settle within the reboot timeout: no new grants meanwhile. */
  readonly halted: { readonly node: string; readonly detail: string } | null;
  readonly slots: readonly SlotEntry[];
  readonly nodes: readonly NodeEntry[];
}

export type Verdict = 'pass' | 'block' | 'info';

export interface GateVerdict {
  /** `reboot-required`, `slot`, or the GateReason of a gate that holds the node back. */
  readonly gate: string;
  readonly verdict: Verdict;
  readonly text: string;
}

/** `GET /api/v1/nodes/:name`: `kubectl baton why NODE`, as this replica decided it. */
export interface NodeResponse {
  readonly kind: 'BatonControllerNode';
  readonly version: 1;
  readonly time: string;
  readonly replica: ReplicaView;
  readonly plannedAt: string;
  /** One sentence: may it reboot now, and if not, what holds it back. */
  readonly summary: string;
  readonly node: NodeEntry;
  readonly gates: readonly GateVerdict[];
}

interface Input {
  readonly now: Date;
  readonly replica: ReplicaState;
  readonly settings: ViewSettings;
  readonly pass: PlannedPass | undefined;
}

/** Every node of the pass, by name, with where the plan puts it. */
function nodeEntries(pass: PlannedPass): NodeEntry[] {
  const { plan: p, nodes, leases } = pass;
  const blocked = explainBlocked(nodes, p);
  const granting = new Map(p.grants.map((g) => [g.node, g.slot]));
  const releasing = new Map(p.releases.map((r) => [r.holder, r]));
  // The nodes that hold a slot after this plan, as the condition writer is told (reconciler.ts).
  const holdingSlots = new Map([...p.renewals.map((r) => [r.node, r.slot] as const), ...granting]);
  const namedBy = new Map<string, string>();
  for (const l of leases) {
    const holder = l.spec?.holderIdentity ?? '';
    const name = l.metadata?.name ?? '';
    if (holder !== '' && slotIndexOf(name) !== undefined && !namedBy.has(holder)) namedBy.set(holder, name);
  }
  return nodes
    .map((n): NodeEntry => {
      const name = n.metadata?.name ?? '';
      const waiting = p.waiting.get(name);
      const held = p.holding.get(name);
      const release = releasing.get(name);
      const blockedBy: GateBlockView[] =
        waiting !== undefined
          ? [waiting, ...waiting.also].map((b) => ({ reason: b.reason, detail: b.detail }))
          : blocked.has(name)
            ? [{ reason: blocked.get(name)?.reason ?? '', detail: blocked.get(name)?.message ?? '' }]
            : [];
      const state: NodeState = granting.has(name)
        ? 'granting'
        : release !== undefined
          ? 'releasing'
          : held !== undefined
            ? 'holding'
            : blockedBy.length > 0
              ? 'waiting'
              : 'idle';
      const gate = desiredGate(n, blocked, holdingSlots);
      const ann = n.metadata?.annotations ?? {};
      const attempts = ann[Annotation.RebootAttempts];
      return {
        name,
        needsReboot: rebootNeedOf(rebootRequiredOf(n)),
        phase: ann[Annotation.Phase] ?? null,
        requestedBy: ann[Annotation.RebootRequested] ?? null,
        attempts: attempts !== undefined && /^[0-9]{1,9}$/.test(attempts) ? Number(attempts) : null,
        cordoned: n.spec?.unschedulable === true,
        slot:
          granting.get(name) ??
          release?.slot ??
          (held === undefined ? undefined : splitGrantIdentity(held.identity)?.slot) ??
          namedBy.get(name) ??
          null,
        state,
        blockedBy,
        settle: held === undefined ? null : { stage: held.stage, why: held.why },
        release: release === undefined ? null : { kind: release.kind, reason: release.reason },
        gate: gate === undefined ? null : { status: gate.status, reason: gate.reason, message: gate.message },
      };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** The slots below the concurrency and every slot Lease that exists, by index. */
function slotEntries(pass: PlannedPass, concurrency: number): SlotEntry[] {
  const { plan: p, leases } = pass;
  const byIndex = new Map<number, string>();
  for (const l of leases) {
    const i = slotIndexOf(l.metadata?.name ?? '');
    if (i !== undefined) byIndex.set(i, l.spec?.holderIdentity ?? '');
  }
  const indexes = [...new Set([...Array.from({ length: concurrency }, (_, i) => i), ...byIndex.keys()])];
  return indexes
    .sort((a, b) => a - b)
    .map((index) => {
      const name = slotLeaseName(index);
      const holder = byIndex.get(index) ?? '';
      return {
        name,
        index,
        holder: holder === '' ? null : holder,
        granting: p.grants.find((g) => g.slot === name)?.node ?? null,
        releasing: p.releases.find((r) => r.slot === name)?.reason ?? null,
        problem: p.invalidSlots.find((s) => s.slot === name)?.problem ?? null,
      };
    });
}

export function statusResponse(input: Input): StatusResponse {
  const { pass, settings } = input;
  return {
    kind: 'BatonControllerStatus',
    version: 1,
    time: input.now.toISOString(),
    replica: { ...input.replica },
    plannedAt: pass?.at.toISOString() ?? null,
    namespace: settings.namespace,
    concurrency: settings.concurrency,
    taken: pass?.plan.taken ?? null,
    pause: { paused: pass?.paused !== undefined, detail: pass?.paused ?? null },
    halted: pass?.plan.halted === undefined ? null : { ...pass.plan.halted },
    slots: pass === undefined ? [] : slotEntries(pass, settings.concurrency),
    nodes: pass === undefined ? [] : nodeEntries(pass),
  };
}

/**
 * Why one node reboots or not, per this replica's last plan, in the order of `kubectl baton why`:
 * whether it needs a reboot, who asked, the pause, every gate in the way, its slot, its cordon
 * and phase. Undefined when the plan has no such node.
 */
export function nodeResponse(
  input: Input & { readonly pass: PlannedPass; readonly name: string },
): NodeResponse | undefined {
  const node = nodeEntries(input.pass).find((n) => n.name === input.name);
  if (node === undefined) return undefined;
  const paused = input.pass.paused;
  const gates: GateVerdict[] = [
    rebootRequiredVerdict(node),
    {
      gate: 'request',
      verdict: 'info',
      text:
        node.requestedBy === null
          ? `no request (annotation ${Annotation.RebootRequested} not set)`
          : `a reboot was requested by "${node.requestedBy}"`,
    },
  ];
  // A pending node held by the pause has it among its blocks below; the others only hear of it.
  if (paused === undefined) gates.push({ gate: 'pause', verdict: 'pass', text: 'not paused' });
  else if (!node.blockedBy.some((b) => b.reason === GateReason.Paused))
    gates.push({ gate: 'pause', verdict: 'info', text: `${paused} (no new grants; holders finish)` });
  for (const b of node.blockedBy) gates.push({ gate: b.reason, verdict: 'block', text: b.detail });
  gates.push(slotVerdict(node));
  gates.push({
    gate: 'cordon',
    verdict: 'info',
    text: node.cordoned ? 'cordoned' : 'schedulable (not cordoned)',
  });
  gates.push({
    gate: 'phase',
    verdict: 'info',
    text:
      node.phase === null
        ? 'no agent phase recorded (baton has not acted on this node)'
        : `agent phase ${node.phase}${node.attempts !== null && node.attempts > 0 ? ` after ${node.attempts} reboot attempt(s)` : ''}`,
  });
  return {
    kind: 'BatonControllerNode',
    version: 1,
    time: input.now.toISOString(),
    replica: { ...input.replica },
    plannedAt: input.pass.at.toISOString(),
    summary: summary(node),
    node,
    gates,
  };
}

function rebootRequiredVerdict(n: NodeEntry): GateVerdict {
  const gate = 'reboot-required';
  switch (n.needsReboot) {
    case 'yes':
      return { gate, verdict: 'pass', text: 'needs a reboot (RebootRequired=True)' };
    case 'no':
      return { gate, verdict: 'block', text: 'does not need a reboot (RebootRequired=False)' };
    case 'held':
      return {
        gate,
        verdict: 'block',
        text: `held: the reboot was still needed after the agent's attempt limit (${RebootRequiredReason.AttemptLimitReached})`,
      };
    case 'unknown':
      return {
        gate,
        verdict: 'block',
        text: 'unknown: the agent cannot read its sentinel (RebootRequired=Unknown); unknown never means reboot',
      };
    case 'unreported':
      return {
        gate,
        verdict: 'block',
        text: 'no RebootRequired condition: no baton agent reports for this node',
      };
  }
}

function slotVerdict(n: NodeEntry): GateVerdict {
  const gate = 'slot';
  switch (n.state) {
    case 'granting':
      return { gate, verdict: 'pass', text: `this plan grants it ${n.slot}` };
    case 'holding':
      return {
        gate,
        verdict: 'pass',
        text: `holds ${n.slot ?? 'a slot'}: ${n.settle?.stage ?? ''} (${n.settle?.why ?? ''})`,
      };
    case 'releasing':
      return {
        gate,
        verdict: 'info',
        text: `this plan releases ${n.slot ?? 'its slot'} (${n.release?.kind ?? ''}: ${n.release?.reason ?? ''})`,
      };
    default:
      return { gate, verdict: 'info', text: 'holds no slot' };
  }
}

function summary(n: NodeEntry): string {
  switch (n.state) {
    case 'granting':
      return `${n.name} is granted ${n.slot}: it may reboot now`;
    case 'holding':
      return `${n.name} holds ${n.slot ?? 'a slot'}; ${n.settle?.why ?? ''}`;
    case 'releasing':
      return `${n.name} is released from ${n.slot ?? 'its slot'}: ${n.release?.reason ?? ''}`;
    case 'waiting':
      return `${n.name} will not be granted a reboot now; held back by: ${n.blockedBy.map((b) => b.reason).join(', ')}`;
    case 'idle':
      return n.needsReboot === 'yes'
        ? `${n.name} needs a reboot and nothing holds it back; it is granted at the next plan`
        : `${n.name} does not need a reboot`;
  }
}
