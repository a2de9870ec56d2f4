/**
 * What the agent reports in its node's `RebootRequired` condition, from the sentinel reading and
 * the node's own annotations. Pure, so every combination is a table row in the tests.
 */
import {
  Annotation,
  ConditionStatus,
  REBOOT_REQUIRED_CONDITION,
  RebootRequiredReason,
} from '@baton/protocol';
import type { V1NodeCondition } from '@kubernetes/client-node';
import type { SentinelReading } from './sentinel.ts';

export interface ReportedCondition {
  readonly status: ConditionStatus;
  readonly reason: RebootRequiredReason;
  readonly message: string;
}

/**
 * Reboots already done for the current need: absent counts as 0; a value that is not a count (a
 * hand edit into nonsense) counts as past any limit — it must hold a node, never reset its count.
 */
export function attemptsOf(annotations: Readonly<Record<string, string>> | undefined): number {
  const raw = annotations?.[Annotation.RebootAttempts];
  if (raw === undefined) return 0;
  return /^\d{1,6}$/.test(raw) ? Number(raw) : Number.POSITIVE_INFINITY;
}

export function desiredCondition(
  reading: SentinelReading,
  annotations: Readonly<Record<string, string>> | undefined,
  maxAttempts: number,
): ReportedCondition {
  const requested = annotations?.[Annotation.RebootRequested] !== undefined;
  // A person's explicit request wins over "no sentinel" and over a sentinel error: they asked.
  const base: ReportedCondition = requested
    ? {
        status: ConditionStatus.True,
        reason: RebootRequiredReason.RebootRequested,
        message: `requested with the ${Annotation.RebootRequested} annotation`,
      }
    : reading;
  const attempts = attemptsOf(annotations);
  if (base.status === ConditionStatus.True && attempts >= maxAttempts) {
    const count = Number.isFinite(attempts)
      ? `still required after ${attempts} reboot(s) (limit ${maxAttempts})`
      : `annotation ${Annotation.RebootAttempts}=${JSON.stringify(annotations?.[Annotation.RebootAttempts])} is not a count`;
    return {
      status: ConditionStatus.True,
      reason: RebootRequiredReason.AttemptLimitReached,
      message: `${count}: held, not rebooting again; delete annotation ${Annotation.RebootAttempts} to allow new attempts (${base.message})`,
    };
  }
  return base;
}

/** What a condition says, as reported or as read back from the API server. */
type Saying = Pick<V1NodeCondition, 'status' | 'reason' | 'message'>;

export function sameCondition(a: Saying | undefined, b: Saying): boolean {
  return a !== undefined && a.status === b.status && a.reason === b.reason && a.message === b.message;
}

/**
 * The condition entry to patch. lastTransitionTime moves only when the status changes, as the
 * kubelet does for its own conditions.
 */
export function conditionEntry(
  desired: ReportedCondition,
  previous: V1NodeCondition | undefined,
  now: Date,
): V1NodeCondition {
  const transition =
    previous?.status === desired.status && previous.lastTransitionTime !== undefined
      ? new Date(String(previous.lastTransitionTime))
      : now;
  return {
    type: REBOOT_REQUIRED_CONDITION,
    status: desired.status,
    reason: desired.reason,
    message: desired.message,
    lastHeartbeatTime: now,
    lastTransitionTime: Number.isNaN(transition.getTime()) ? now : transition,
  };
}
