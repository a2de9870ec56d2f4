/**
 * Is a granted node healthy again, so that its slot may soon go to the next node? Pure: the plan
 * passes the Node, what the grant recorded and the facts gathered outside (the pods on the node,
 * the health query); this module only decides whether the node is healthy *now*. How long it
 * has been healthy is the controller's own observation, on its own monotonic clock (plan.ts):
 * never a comparison of this machine's clock with a time a kubelet or an agent wrote.
 *
 * Healthy means all of: the agent's work under this grant is over (`Rebooted`, `Held` or
 * `Aborted` recorded with this grant's identity), the node is Ready, it is uncordoned unless it
 * was already cordoned when it was granted (an administrator's cordon stays), every pod on it
 * is Ready, every workload the drain evicted is available again and every PDB covering those
 * pods is back at its desired healthy count (workloads.ts), and the health query (if any) is
 * true on an evaluation made after the controller first saw all of that. Anything unknown is
 * "not healthy": a node that never settles halts the rollout at the reboot timeout, with the
 * reason given here.
 */
import { AgentPhase, ConditionStatus, isNodeReady, SlotAnnotation } from '@baton/protocol';
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
export type ReleaseKind = 'Settled' | 'Held' | 'Aborted' | 'NodeDeleted' | 'NotNeeded' | 'Lapsed';

/** Where a holder stands, as a stable metric label (`baton_holder_stage{node,stage}`). */
export const SettleStage = {
  /** The agent has not recorded any work under this grant. */
  NoProgress: 'NoProgress',
  /** Cordoning, draining, rebooting or verifying. */
  Working: 'Working',
  NodeNotReady: 'NodeNotReady',
  /** The Node object is gone after its reboot began: waiting for it to come back on a new boot. */
  NodeGone: 'NodeGone',
  Cordoned: 'Cordoned',
  PodsNotReady: 'PodsNotReady',
  /** A workload evicted from the node is not available again, or a PDB it touched is not healthy. */
  WorkloadsUnavailable: 'WorkloadsUnavailable',
  HealthQueryFailing: 'HealthQueryFailing',
  /** Everything is healthy; waiting for the settle time. */
  Settling: 'Settling',
  /**
   * Mid-reboot by its own record under a grant no slot Lease carries any more (the Lease was
   * deleted or emptied by hand): still counted as holding a slot until its work ends.
   */
  Orphaned: 'Orphaned',
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
 * everything else is healthy, so the query runs only when its answer matters.
 */
export interface SettleFacts {
  readonly pods: PodsView;
  readonly health?: (() => HealthView) | undefined;
  /** The recorded workloads' and PDBs' state (same shape as the health query's); asked lazily. */
  readonly workloads?: ((record: WorkloadRecord) => HealthView) | undefined;
}

export interface SettleGrant {
  /** How the agent's work under this grant ended, by its record (its phase); `RecordLost`: see below. */
  readonly outcome:
    | typeof AgentPhase.Rebooted
    | typeof AgentPhase.Held
    | typeof AgentPhase.Aborted
    | 'RecordLost';
  /** Whether the node was cordoned when granted (from {@link GRANTED_UNSCHEDULABLE_ANNOTATION}). */
  readonly wasUnschedulable: boolean;
  /**
   * What the drain touched, from the grant's record ({@link SlotAnnotation.GrantedWorkloads}), or
   * why it is unknown (no record, an unreadable one): then the node does not settle (fail closed).
   */
  readonly workloads?: WorkloadRecord | { readonly problem: string } | undefined;
  /**
   * `RecordLost` only: the boot the slot Lease says the node rebooted from. The agent's own
   * record went with a deleted Node object; the node counts as back once it reports another boot.
   */
  readonly rebootFromBootId?: string | undefined;
  /** When this controller first saw the node healthy (its own clock): health answers must be newer. */
  readonly healthySince?: Date | undefined;
}

export interface SettleCheck {
  readonly healthy: boolean;
  readonly kind: ReleaseKind;
  readonly stage: SettleStage;
  readonly why: string;
}

const not = (kind: ReleaseKind, stage: SettleStage, why: string): SettleCheck => ({
  healthy: false,
  kind,
  stage,
  why,
});

/** Pods that must be Ready for their node to count as settled, and how they stand. */
export function podsView(pods: readonly V1Pod[]): PodsView {
  const notReady: string[] = [];
  for (const p of pods) {
    // Going away or finished (a completed Job): not part of what must come back.
    if (p.metadata?.deletionTimestamp !== undefined && p.metadata.deletionTimestamp !== null) continue;
    if (p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed') continue;
    const ready = p.status?.conditions?.find((c) => c.type === 'Ready');
    if (ready?.status !== ConditionStatus.True)
      notReady.push(`${p.metadata?.namespace ?? ''}/${p.metadata?.name ?? ''}`);
  }
  notReady.sort();
  return { observed: true, notReady };
}

function listSome(items: readonly string[], max = 3): string {
  const shown = items.slice(0, max).join(', ');
  return items.length > max ? `${shown} and ${items.length - max} more` : shown;
}

/**
 * Whether a granted node whose agent is done with the grant is healthy now. `facts` undefined
 * means the caller checks neither pods nor a health query (the plan's own unit tests); the
 * controller always passes them.
 */
export function settleCheck(n: V1Node, grant: SettleGrant, facts: SettleFacts | undefined): SettleCheck {
  const kind: ReleaseKind =
    grant.outcome === AgentPhase.Held ? 'Held' : grant.outcome === AgentPhase.Aborted ? 'Aborted' : 'Settled';
  if (grant.outcome === 'RecordLost') {
    const bootId = n.status?.nodeInfo?.bootID ?? '';
    if (bootId === '' || bootId === grant.rebootFromBootId) {
      return not(
        kind,
        SettleStage.NodeNotReady,
        `the Node object was re-created while it rebooted from boot ${grant.rebootFromBootId}; waiting for it to report a new boot`,
      );
    }
  }
  if (!isNodeReady(n)) return not(kind, SettleStage.NodeNotReady, 'node not Ready');
  if (n.spec?.unschedulable === true && !grant.wasUnschedulable) {
    return not(kind, SettleStage.Cordoned, 'still cordoned (it was not cordoned when granted)');
  }
  if (facts !== undefined) {
    if (!facts.pods.observed) {
      const error = facts.pods.error === undefined ? '' : ` (${facts.pods.error})`;
      return not(kind, SettleStage.PodsNotReady, `the pods on the node are not listed yet${error}`);
    }
    if (facts.pods.notReady.length > 0) {
      return not(
        kind,
        SettleStage.PodsNotReady,
        `${facts.pods.notReady.length} pod(s) not Ready: ${listSome(facts.pods.notReady)}`,
      );
    }
    if (facts.workloads !== undefined) {
      const record = grant.workloads;
      if (record === undefined || 'problem' in record) {
        return not(
          kind,
          SettleStage.WorkloadsUnavailable,
          `the slot Lease has no usable record of the workloads on the node at the grant (${record?.problem ?? 'missing'}): cannot tell whether they are available again`,
        );
      }
      const w = facts.workloads(record);
      if (!w.ok) return not(kind, SettleStage.WorkloadsUnavailable, w.detail);
      if (
        w.checkedAt === undefined ||
        (grant.healthySince !== undefined && w.checkedAt < grant.healthySince)
      ) {
        return not(
          kind,
          SettleStage.WorkloadsUnavailable,
          'waiting for a check of the workloads after the node came back',
        );
      }
    }
    if (facts.health !== undefined) {
      const h = facts.health();
      if (!h.ok) return not(kind, SettleStage.HealthQueryFailing, `health query: ${h.detail}`);
      // A true answer computed before the node came back says nothing about the node as it is now.
      if (
        h.checkedAt === undefined ||
        (grant.healthySince !== undefined && h.checkedAt < grant.healthySince)
      ) {
        return not(
          kind,
          SettleStage.HealthQueryFailing,
          'health query: waiting for an evaluation after the node came back',
        );
      }
    }
  }
  return { healthy: true, kind, stage: SettleStage.Settling, why: 'healthy' };
}
