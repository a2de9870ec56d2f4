/**
 * kured's `--prefer-no-schedule-taint`: while a node needs a reboot and waits for its turn, a
 * taint with effect PreferNoSchedule asks the scheduler to put new pods elsewhere, so that pods
 * are not scheduled onto a node only to be evicted again at its drain. kured set it when another
 * node held its lock; here the controller's judgement decides: the node's RebootGate condition
 * says WaitingForSlot (outside the window, paused or blocked by an alert it waits for other
 * reasons, and gets no taint, as kured removed it outside its window). It goes once the node is
 * granted (the cordon takes over) or needs nothing.
 */
import { GateReason, nodeCondition, nodeNeedsReboot, REBOOT_GATE_CONDITION } from '@baton/protocol';
import type { V1Node, V1Taint } from '@kubernetes/client-node';

const EFFECT = 'PreferNoSchedule';

const isWaitingTaint = (t: V1Taint, key: string) => t.key === key && t.effect === EFFECT;

/** Whether the node waits for a slot, as the controller last said and the agent last reported. */
export function waitsForSlot(node: V1Node): boolean {
  const gate = nodeCondition(node, REBOOT_GATE_CONDITION);
  return nodeNeedsReboot(node) && gate?.status === 'True' && gate.reason === GateReason.WaitingForSlot;
}

/**
 * The node with the taint added or removed as it should be, or undefined when it already is.
 * Pure, for the conflict-aware update (re-applied to a fresh read on a conflict).
 */
export function waitingTaintChange(node: V1Node, key: string): V1Node | undefined {
  const taints = node.spec?.taints ?? [];
  const has = taints.some((t) => isWaitingTaint(t, key));
  const want = waitsForSlot(node);
  if (has === want) return undefined;
  const next = want ? [...taints, { key, effect: EFFECT }] : taints.filter((t) => !isWaitingTaint(t, key));
  return { ...node, spec: { ...node.spec, taints: next } };
}
