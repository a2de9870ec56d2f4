import { Annotation } from '@baton/protocol';
import { describe, expect, it } from 'vitest';
import { attemptsOf, conditionEntry, desiredCondition } from './condition.ts';
import type { SentinelReading } from './sentinel.ts';

const present: SentinelReading = { status: 'True', reason: 'SentinelPresent', message: 'exists' };
const absent: SentinelReading = { status: 'False', reason: 'NoSentinel', message: 'absent' };
const broken: SentinelReading = { status: 'Unknown', reason: 'SentinelError', message: 'exited 127' };
const requested = { [Annotation.RebootRequested]: 'alice' };
const attempts = (n: string) => ({ [Annotation.RebootAttempts]: n });

describe('desiredCondition', () => {
  it.each<[string, SentinelReading, Record<string, string> | undefined, string, string]>([
    ['sentinel present', present, undefined, 'True', 'SentinelPresent'],
    ['sentinel absent', absent, undefined, 'False', 'NoSentinel'],
    ['sentinel error', broken, undefined, 'Unknown', 'SentinelError'],
    ['asked by a person, no sentinel', absent, requested, 'True', 'RebootRequested'],
    ['asked by a person, sentinel broken', broken, requested, 'True', 'RebootRequested'],
    ['present, 2 of 3 attempts used', present, attempts('2'), 'True', 'SentinelPresent'],
    ['present, 3 of 3 attempts used', present, attempts('3'), 'True', 'AttemptLimitReached'],
    ['requested, limit reached', absent, { ...requested, ...attempts('5') }, 'True', 'AttemptLimitReached'],
    ['absent, limit reached (nothing to hold)', absent, attempts('3'), 'False', 'NoSentinel'],
    // A hand edit into nonsense holds the node; it never resets the count (the simulation found a
    // garbage count written just after a reboot let the node reboot again past the limit).
    ['present, attempts annotation garbage', present, attempts('lots'), 'True', 'AttemptLimitReached'],
    ['absent, attempts annotation garbage (nothing to hold)', absent, attempts('-7'), 'False', 'NoSentinel'],
  ])('%s → %s/%s', (_what, reading, annotations, status, reason) => {
    const c = desiredCondition(reading, annotations, 3);
    expect([c.status, c.reason]).toEqual([status, reason]);
  });

  it('says when the count is not one', () => {
    expect(desiredCondition(present, attempts('-7'), 3).message).toMatch(
      /reboot-attempts="-7" is not a count: held/,
    );
  });

  it('tells a person how to release a held node', () => {
    expect(desiredCondition(present, attempts('3'), 3).message).toContain(
      `delete annotation ${Annotation.RebootAttempts}`,
    );
  });
});

describe('attemptsOf', () => {
  it.each([
    [undefined, 0],
    ['0', 0],
    ['4', 4],
    ['-1', Number.POSITIVE_INFINITY],
    ['1e3', Number.POSITIVE_INFINITY],
    ['', Number.POSITIVE_INFINITY],
  ])('%s → %d', (raw, n) => {
    expect(attemptsOf(raw === undefined ? {} : attempts(raw))).toBe(n);
  });
});

describe('conditionEntry', () => {
  const now = new Date('2026-11-25T12:00:00Z');
  const earlier = new Date('2026-11-25T10:00:00Z');
  it('keeps lastTransitionTime while the status stays, moves it on a change', () => {
    const prev = { type: 'RebootRequired', status: 'True', lastTransitionTime: earlier };
    expect(
      conditionEntry({ status: 'True', reason: 'SentinelPresent', message: 'm' }, prev, now)
        .lastTransitionTime,
    ).toEqual(earlier);
    expect(
      conditionEntry({ status: 'False', reason: 'NoSentinel', message: 'm' }, prev, now).lastTransitionTime,
    ).toEqual(now);
    expect(
      conditionEntry({ status: 'False', reason: 'NoSentinel', message: 'm' }, undefined, now)
        .lastHeartbeatTime,
    ).toEqual(now);
  });
});
