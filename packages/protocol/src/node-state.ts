/**
 * What a node's conditions say, written once for the controller (which grants only nodes that
 * need a reboot), the agent (which acts on a grant only while its node needs one) and the CLI
 * (which shows it). Pure: the caller passes the Node, or the condition, it has.
 *
 * "Needs a reboot" is `RebootRequired=True` for any reason but the attempt limit: a held node
 * ({@link RebootRequiredReason.AttemptLimitReached}) still has its sentinel, but nobody grants it
 * or acts on it until a person resets its count. `Unknown` (the sentinel could not be read) never
 * means a reboot; neither does a missing condition (no agent reports for the node).
 */
import { ConditionStatus, REBOOT_REQUIRED_CONDITION, RebootRequiredReason } from './protocol.ts';

/** What a condition says: its status and reason (the agent's own report before it is written fits). */
export interface ConditionState {
  readonly status: string;
  readonly reason?: string | undefined;
}

/** The fields of a node condition read here (client-node's V1NodeCondition fits). */
export interface NodeConditionLike extends ConditionState {
  readonly type: string;
}

/** The fields of a Node read here (client-node's V1Node fits). */
export interface NodeConditionsLike<C extends NodeConditionLike = NodeConditionLike> {
  readonly status?: { readonly conditions?: readonly C[] | undefined } | undefined;
}

/** The node's condition of `type`, if it carries one. */
export function nodeCondition<C extends NodeConditionLike>(
  node: NodeConditionsLike<C>,
  type: string,
): C | undefined {
  return node.status?.conditions?.find((c) => c.type === type);
}

/** The agent's `RebootRequired` condition on the node, if it reported one. */
export function rebootRequiredOf<C extends NodeConditionLike>(node: NodeConditionsLike<C>): C | undefined {
  return nodeCondition(node, REBOOT_REQUIRED_CONDITION);
}

/** The condition says a reboot is needed and may be had: `True`, for a reason other than the attempt limit. */
export function needsReboot(condition: ConditionState | undefined): boolean {
  return condition?.status === ConditionStatus.True && !isAttemptLimitReason(condition.reason);
}

/** The condition says the node is held: the reboot is still required after the attempt limit. */
export function isRebootHeld(condition: ConditionState | undefined): boolean {
  return condition?.status === ConditionStatus.True && isAttemptLimitReason(condition.reason);
}

/**
 * What people are told about a node's need (the CLI's status and the controller's API alike):
 * {@link needsReboot} is `yes`, {@link isRebootHeld} is `held`; of the rest, `no` (the sentinel
 * is absent), `unknown` (it could not be read) and `unreported` (no condition: no agent reports).
 */
export type RebootNeed = 'yes' | 'no' | 'unknown' | 'held' | 'unreported';

export function rebootNeedOf(condition: ConditionState | undefined): RebootNeed {
  if (condition === undefined) return 'unreported';
  if (isRebootHeld(condition)) return 'held';
  if (needsReboot(condition)) return 'yes';
  return condition.status === ConditionStatus.False ? 'no' : 'unknown';
}

/** {@link needsReboot} of the node's own `RebootRequired` condition. */
export function nodeNeedsReboot(node: NodeConditionsLike): boolean {
  return needsReboot(rebootRequiredOf(node));
}

/** The kubelet reports the node `Ready=True`. Anything else (absent, False, Unknown) is not ready. */
export function isNodeReady(node: NodeConditionsLike): boolean {
  return nodeCondition(node, 'Ready')?.status === ConditionStatus.True;
}

function isAttemptLimitReason(reason: string | undefined): boolean {
  return reason === RebootRequiredReason.AttemptLimitReached;
}
