/**
 * The RebootGate node condition: why a node that needs a reboot is not rebooting, readable with
 * `kubectl describe node`. Computed from the plan (pure), written by the leader on the node's
 * status with a strategic merge keyed by type (the kubelet's and the agent's conditions stay),
 * and only when it changes, so a steady fleet causes no writes.
 *
 * - `True`, reason = the first gate holding the node, message = every gate holding it, in words.
 * - `False`/`Granted` while a slot names the node.
 * - `False`/`NotRequired` once it needs nothing, written only on nodes that already carry the
 *   condition: nodes baton never had to explain stay untouched.
 */
import {
  Annotation,
  ConditionStatus,
  GateReason,
  isRebootHeld,
  nodeCondition,
  REBOOT_GATE_CONDITION,
  rebootRequiredOf,
} from '@baton/protocol';
import type { V1Node, V1NodeCondition } from '@kubernetes/client-node';
import type { Plan } from '../plan/plan.ts';

export interface GateState {
  readonly status: typeof ConditionStatus.True | typeof ConditionStatus.False;
  readonly reason: GateReason;
  readonly message: string;
}

/** A message-only change (a counter in a detail) is written at most this often per node. */
export const MESSAGE_REFRESH_MS = 60_000;
const MAX_MESSAGE = 1024;

/**
 * Why every node is or is not held back, for the condition and the metric: the plan's waiting
 * nodes, plus nodes the planner does not consider pending (held at the attempt limit, or whose
 * agent cannot read its sentinel).
 */
export function explainBlocked(nodes: readonly V1Node[], plan: Plan): Map<string, GateState> {
  const out = new Map<string, GateState>();
  for (const [name, w] of plan.waiting) {
    const message = [w, ...w.also].map((b) => `${b.reason}: ${b.detail}`).join('; ');
    out.set(name, { status: ConditionStatus.True, reason: w.reason, message });
  }
  const holders = new Set([...plan.renewals, ...plan.grants].map((g) => g.node));
  for (const n of nodes) {
    const name = n.metadata?.name ?? '';
    if (out.has(name) || holders.has(name)) continue;
    const rr = rebootRequiredOf(n);
    if (isRebootHeld(rr)) {
      const attempts = n.metadata?.annotations?.[Annotation.RebootAttempts] ?? '?';
      out.set(name, {
        status: ConditionStatus.True,
        reason: GateReason.AttemptLimitReached,
        message: `the reboot was still required after ${attempts} reboot(s); delete annotation ${Annotation.RebootAttempts} to try again`,
      });
    } else if (rr?.status === ConditionStatus.Unknown) {
      out.set(name, {
        status: ConditionStatus.True,
        reason: GateReason.SentinelUnknown,
        message: `the agent cannot tell whether a reboot is needed: ${rr.message ?? rr.reason ?? 'no message'}`,
      });
    }
  }
  return out;
}

/**
 * The condition each node should carry after this plan, or `undefined` to leave it as it is.
 * `granted` maps the nodes holding a slot now (kept or newly and successfully granted) to it.
 */
export function desiredGate(
  n: V1Node,
  blocked: ReadonlyMap<string, GateState>,
  granted: ReadonlyMap<string, string>,
): GateState | undefined {
  const name = n.metadata?.name ?? '';
  const b = blocked.get(name);
  if (b !== undefined) return b;
  const slot = granted.get(name);
  if (slot !== undefined)
    return { status: ConditionStatus.False, reason: GateReason.Granted, message: `${slot} names this node` };
  const rr = rebootRequiredOf(n);
  // Needs a reboot but neither waiting nor granted: a grant lost a race this round; the next
  // reconcile decides again, so leave the condition alone.
  if (rr?.status === ConditionStatus.True) return undefined;
  if (nodeCondition(n, REBOOT_GATE_CONDITION) === undefined) return undefined;
  return { status: ConditionStatus.False, reason: GateReason.NotRequired, message: 'no reboot needed' };
}

/** The condition to write, or `undefined` when the node already says the same thing. */
export function gateConditionUpdate(n: V1Node, want: GateState, now: Date): V1NodeCondition | undefined {
  const have = nodeCondition(n, REBOOT_GATE_CONDITION);
  const message =
    want.message.length > MAX_MESSAGE ? `${want.message.slice(0, MAX_MESSAGE - 1)}…` : want.message;
  const sameState = have?.status === want.status && have.reason === want.reason;
  if (sameState && have?.message === message) return undefined;
  if (sameState) {
    const last = new Date(String(have?.lastHeartbeatTime ?? 0)).getTime();
    if (now.getTime() - last < MESSAGE_REFRESH_MS) return undefined;
  }
  const previous = have?.status === want.status ? new Date(String(have.lastTransitionTime)) : now;
  return {
    type: REBOOT_GATE_CONDITION,
    status: want.status,
    reason: want.reason,
    message,
    lastHeartbeatTime: now,
    // lastTransitionTime moves only when the status changes, as the kubelet does.
    lastTransitionTime: Number.isNaN(previous.getTime()) ? now : previous,
  };
}

export interface GateConditionWriter {
  /** Strategic-merge patch of one condition on the node's status. */
  patch(node: string, condition: V1NodeCondition): Promise<void>;
}
