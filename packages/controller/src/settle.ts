/**
 * When has a granted node settled, so that its slot may go to the next node? Pure: the plan
 * passes the Node, the grant and the facts gathered outside (the pods on the node, the health
 * query); this module only decides.
 *
 * Settled means all of: the agent recorded `Rebooted` (or `Held`) after this grant, the node is
 * Ready, `RebootRequired` is `False` (a held node keeps `True`/`AttemptLimitReached`), the node
 * is uncordoned unless it was already cordoned when it was granted (an administrator's cordon
 * stays), every pod on it is Ready, every workload the drain evicted is available again and every
 * PDB covering those pods is back at its desired healthy count (workloads.ts), the health query
 * (if any) is true on an evaluation made after all of that, and all of it has held for the
 * settle time. Anything unknown is "not settled":
 * a node that never settles halts the rollout at the reboot timeout, with the reason given here.
 */
import {
  AgentPhase,
  Annotation,
  leaseTime,
  REBOOT_REQUIRED_CONDITION,
  SlotAnnotation,
} from '@baton/protocol';
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import type { WorkloadRecord } from './workloads.ts';

/**
 * Annotation the controller puts on a slot Lease it grants: `"true"` when the node was already
 * cordoned at the grant (then a cordon after the reboot is the administrator's, and does not
 * keep the slot), `"false"` otherwise. Written and read by the controller; removed with the
 * grant (by the controller's release or `kubectl baton release`).
 */
export const GRANTED_UNSCHEDULABLE_ANNOTATION = SlotAnnotation.GrantedNodeWasUnschedulable;

/** Why a slot is released, as a metric label. */
export type ReleaseKind = 'Settled' | 'Held' | 'Aborted' | 'NodeDeleted' | 'NotNeeded';

/** Where a holder stands, as a stable metric label (`baton_holder_stage{node,stage}`). */
export const SettleStage = {
  /** The agent has not recorded any phase since this grant. */
  NoProgress: 'NoProgress',
  /** Cordoning, draining, rebooting or verifying. */
  Working: 'Working',
  NodeNotReady: 'NodeNotReady',
  RebootStillRequired: 'RebootStillRequired',
  Cordoned: 'Cordoned',
  PodsNotReady: 'PodsNotReady',
  /** A workload evicted from the node is not available again, or a PDB it touched is not healthy. */
  WorkloadsUnavailable: 'WorkloadsUnavailable',
  HealthQueryFailing: 'HealthQueryFailing',
  /** Everything is healthy; waiting for the settle time. */
  Settling: 'Settling',
  Done: 'Done',
} as const;
export type SettleStage = (typeof SettleStage)[keyof typeof SettleStage];

/** The pods on one node, as the pod watch sees them. */
export interface PodsView {
  /** False until the watch of this node's pods has listed them: unknown is not settled. */
  readonly observed: boolean;
  /** Why they are not listed (the watch's last error), when known. */
  readonly error?: string | undefined;
  /** `namespace/name` of every pod that counts and is not Ready. */
  readonly notReady: readonly string[];
  /** The latest time a counted pod became Ready (settle time runs from the last of them). */
  readonly readySince?: Date | undefined;
}

/** The last evaluation of the health query. */
export interface HealthView {
  readonly ok: boolean;
  /** Why not (or what it saw), for logs, the halt message and the metric's neighbour Events. */
  readonly detail: string;
  /** When the evaluation that produced this view finished; undefined before the first. */
  readonly checkedAt?: Date | undefined;
  /** Start of the current run of successful evaluations. */
  readonly since?: Date | undefined;
}

/**
 * Facts about a holder gathered outside the plan. `health` is a function: it is asked only when
 * everything else has settled, so the query runs only when its answer matters.
 */
export interface SettleFacts {
  readonly pods: PodsView;
  readonly health?: (() => HealthView) | undefined;
  /** The recorded workloads' and PDBs' state (same shape as the health query's); asked lazily. */
  readonly workloads?: ((record: WorkloadRecord) => HealthView) | undefined;
}

export interface SettleGrant {
  /** acquireTime of the grant: only agent progress recorded after it counts. */
  readonly at: Date;
  /** Whether the node was cordoned when granted (from {@link GRANTED_UNSCHEDULABLE_ANNOTATION}). */
  readonly wasUnschedulable: boolean;
  /**
   * What the drain touched, from the grant's record ({@link SlotAnnotation.GrantedWorkloads}), or
   * why it is unknown (no record, an unreadable one): then the node does not settle (fail closed).
   */
  readonly workloads?: WorkloadRecord | { readonly problem: string } | undefined;
}

export interface SettleState {
  readonly done: boolean;
  readonly kind: ReleaseKind;
  readonly stage: SettleStage;
  readonly why: string;
  /** Settling: how long until the settle time has passed (look again then). */
  readonly remainingMs?: number | undefined;
}

const not = (stage: SettleStage, why: string): SettleState => ({ done: false, kind: 'Settled', stage, why });

function condition(n: V1Node, type: string) {
  return n.status?.conditions?.find((c) => c.type === type);
}

/** Pods that must be Ready for their node to count as settled, and how they stand. */
export function podsView(pods: readonly V1Pod[]): PodsView {
  const notReady: string[] = [];
  let readySince: Date | undefined;
  for (const p of pods) {
    // Going away or finished (a completed Job): not part of what must come back.
    if (p.metadata?.deletionTimestamp !== undefined && p.metadata.deletionTimestamp !== null) continue;
    if (p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed') continue;
    const ready = p.status?.conditions?.find((c) => c.type === 'Ready');
    if (ready?.status !== 'True') {
      notReady.push(`${p.metadata?.namespace ?? ''}/${p.metadata?.name ?? ''}`);
      continue;
    }
    const t = leaseTime(ready.lastTransitionTime);
    if (t !== undefined && (readySince === undefined || t > readySince)) readySince = t;
  }
  notReady.sort();
  return { observed: true, notReady, readySince };
}

const latest = (...dates: (Date | undefined)[]): Date | undefined =>
  dates.reduce<Date | undefined>(
    (a, d) => (d !== undefined && (a === undefined || d > a) ? d : a),
    undefined,
  );

function listSome(items: readonly string[], max = 3): string {
  const shown = items.slice(0, max).join(', ');
  return items.length > max ? `${shown} and ${items.length - max} more` : shown;
}

/**
 * Where a granted node stands. `facts` undefined means the caller checks neither pods nor a
 * health query (the plan's own unit tests); the controller always passes them.
 */
export function settleState(
  n: V1Node,
  grant: SettleGrant,
  now: Date,
  settleMs: number,
  facts: SettleFacts | undefined,
): SettleState {
  const ann = n.metadata?.annotations ?? {};
  const phase = ann[Annotation.Phase];
  const phaseSince = leaseTime(ann[Annotation.PhaseSince]);
  // Only a phase recorded after this grant counts: an old "Rebooted" is the previous reboot's.
  if (phaseSince === undefined || phaseSince < grant.at) {
    return not(SettleStage.NoProgress, 'no progress recorded yet');
  }
  if (phase === AgentPhase.Aborted) {
    return {
      done: true,
      kind: 'Aborted',
      stage: SettleStage.Done,
      why: 'the agent aborted and undid its changes',
    };
  }
  if (phase !== AgentPhase.Rebooted && phase !== AgentPhase.Held) {
    return not(SettleStage.Working, `phase ${phase ?? '(none)'}`);
  }
  const ready = condition(n, 'Ready');
  if (ready?.status !== 'True') return not(SettleStage.NodeNotReady, 'node not Ready');
  const required = condition(n, REBOOT_REQUIRED_CONDITION);
  if (phase === AgentPhase.Rebooted && required?.status !== 'False') {
    return not(
      SettleStage.RebootStillRequired,
      `${REBOOT_REQUIRED_CONDITION} is ${required?.status ?? 'missing'}${required?.reason ? ` (${required.reason})` : ''}, not False`,
    );
  }
  if (n.spec?.unschedulable === true && !grant.wasUnschedulable) {
    return not(SettleStage.Cordoned, 'still cordoned (it was not cordoned when granted)');
  }
  let since = latest(
    phaseSince,
    leaseTime(ready.lastTransitionTime),
    phase === AgentPhase.Rebooted ? leaseTime(required?.lastTransitionTime) : undefined,
  );
  if (facts !== undefined) {
    if (!facts.pods.observed) {
      const error = facts.pods.error === undefined ? '' : ` (${facts.pods.error})`;
      return not(SettleStage.PodsNotReady, `the pods on the node are not listed yet${error}`);
    }
    if (facts.pods.notReady.length > 0) {
      return not(
        SettleStage.PodsNotReady,
        `${facts.pods.notReady.length} pod(s) not Ready: ${listSome(facts.pods.notReady)}`,
      );
    }
    since = latest(since, facts.pods.readySince);
    if (facts.workloads !== undefined) {
      const record = grant.workloads;
      if (record === undefined || 'problem' in record) {
        return not(
          SettleStage.WorkloadsUnavailable,
          `the slot Lease has no usable record of the workloads on the node at the grant (${record?.problem ?? 'missing'}): cannot tell whether they are available again`,
        );
      }
      const w = facts.workloads(record);
      if (!w.ok) return not(SettleStage.WorkloadsUnavailable, w.detail);
      if (w.checkedAt === undefined || (since !== undefined && w.checkedAt < since)) {
        return not(
          SettleStage.WorkloadsUnavailable,
          'waiting for a check of the workloads after the node came back',
        );
      }
      since = latest(since, w.since);
    }
    if (facts.health !== undefined) {
      const h = facts.health();
      if (!h.ok) return not(SettleStage.HealthQueryFailing, `health query: ${h.detail}`);
      // A true answer computed before the node came back says nothing about the node as it is now.
      if (h.checkedAt === undefined || (since !== undefined && h.checkedAt < since)) {
        return not(
          SettleStage.HealthQueryFailing,
          'health query: waiting for an evaluation after the node came back',
        );
      }
      since = latest(since, h.since);
    }
  }
  const healthyFor = now.getTime() - (since ?? now).getTime();
  if (healthyFor < settleMs) {
    return {
      ...not(
        SettleStage.Settling,
        `settling: healthy for ${Math.floor(healthyFor / 1000)} s of ${Math.ceil(settleMs / 1000)} s`,
      ),
      remainingMs: settleMs - healthyFor,
    };
  }
  return phase === AgentPhase.Held
    ? { done: true, kind: 'Held', stage: SettleStage.Done, why: 'held at the attempt limit' }
    : { done: true, kind: 'Settled', stage: SettleStage.Done, why: 'rebooted and settled' };
}
