import { describe, expect, it } from 'vitest';
import {
  isNodeReady,
  isRebootHeld,
  type NodeConditionLike,
  needsReboot,
  nodeNeedsReboot,
  rebootNeedOf,
  rebootRequiredOf,
} from './node-state.ts';
import { ConditionStatus, REBOOT_REQUIRED_CONDITION, RebootRequiredReason } from './protocol.ts';

const rr = (status: string, reason?: string): NodeConditionLike => ({
  type: REBOOT_REQUIRED_CONDITION,
  status,
  reason,
});
const node = (...conditions: NodeConditionLike[]) => ({ status: { conditions } });

describe('needsReboot and isRebootHeld: every status and reason of RebootRequired', () => {
  const { True, False, Unknown } = ConditionStatus;
  const R = RebootRequiredReason;
  it.each<[string, string | undefined, boolean, boolean]>([
    // status, reason, needs a reboot, held
    [True, R.SentinelPresent, true, false],
    [True, R.SentinelCommandSaysReboot, true, false],
    [True, R.RebootRequested, true, false],
    [True, R.AttemptLimitReached, false, true],
    [True, undefined, true, false], // a hand-written True without a reason still says "needed"
    [True, 'SomethingElse', true, false],
    [False, R.NoSentinel, false, false],
    [False, R.AttemptLimitReached, false, false], // held only while True
    [False, undefined, false, false],
    [Unknown, R.SentinelError, false, false], // unknown never means reboot
    [Unknown, R.AttemptLimitReached, false, false],
    ['true', R.SentinelPresent, false, false], // the status is case-sensitive, as the API's
    ['', undefined, false, false],
  ])('%s/%s: needs a reboot %s, held %s', (status, reason, needs, held) => {
    expect(needsReboot(rr(status, reason))).toBe(needs);
    expect(isRebootHeld(rr(status, reason))).toBe(held);
    expect(nodeNeedsReboot(node(rr(status, reason)))).toBe(needs);
  });

  it('no condition (no agent reports for the node): neither needed nor held', () => {
    expect(needsReboot(undefined)).toBe(false);
    expect(isRebootHeld(undefined)).toBe(false);
    expect(nodeNeedsReboot({})).toBe(false);
    expect(nodeNeedsReboot(node())).toBe(false);
  });

  it('reads only the RebootRequired condition of a node', () => {
    const n = node({ type: 'Ready', status: 'True' }, rr(ConditionStatus.False, R.NoSentinel));
    expect(rebootRequiredOf(n)).toEqual(rr(ConditionStatus.False, R.NoSentinel));
    expect(nodeNeedsReboot(n)).toBe(false);
    expect(nodeNeedsReboot(node({ type: 'Ready', status: 'True', reason: R.SentinelPresent }))).toBe(false);
  });
});

describe('isNodeReady', () => {
  it.each<[string, { status?: { conditions?: NodeConditionLike[] } }, boolean]>([
    ['Ready=True', node({ type: 'Ready', status: 'True' }), true],
    ['Ready=False', node({ type: 'Ready', status: 'False' }), false],
    ['Ready=Unknown (the kubelet stopped posting)', node({ type: 'Ready', status: 'Unknown' }), false],
    ['no Ready condition', node(rr('True', RebootRequiredReason.SentinelPresent)), false],
    ['no status', {}, false],
  ])('%s: %s', (_what, n, ready) => {
    expect(isNodeReady(n)).toBe(ready);
  });
});

describe('rebootNeedOf: what people are told (CLI status, controller API)', () => {
  it.each([
    ['no condition', undefined, 'unreported'],
    ['True, sentinel present', { status: 'True', reason: 'SentinelPresent' }, 'yes'],
    ['True, requested by hand', { status: 'True', reason: 'Requested' }, 'yes'],
    [
      'True at the attempt limit',
      { status: 'True', reason: RebootRequiredReason.AttemptLimitReached },
      'held',
    ],
    ['False', { status: 'False', reason: 'NoSentinel' }, 'no'],
    ['Unknown', { status: 'Unknown', reason: 'SentinelError' }, 'unknown'],
    ['garbage status', { status: 'maybe' }, 'unknown'],
  ] as const)('%s → %s', (_what, condition, want) => {
    expect(rebootNeedOf(condition)).toBe(want);
  });
});
