/**
 * The planner's own gates, each alone (the planner walks them in plan-gates.test.ts): what holds
 * a node, what does not, and the words people read.
 */
import { Annotation, GateReason } from '@baton/protocol';
import { describe, expect, it } from 'vitest';
import { NOW, testNode } from '../testing/test-support.ts';
import { backoffGate } from './backoff.ts';
import { blocksOf, constantGate } from './gate.ts';
import { givenUpGate } from './given-up.ts';
import { optOutGate } from './opt-out.ts';
import { pauseGate } from './pause.ts';
import { rolloutHaltedGate } from './rollout-halted.ts';
import { windowGate } from './window.ts';

const plain = testNode('a', { needs: true });

describe('gates', () => {
  it('opt-out holds a node labelled <label>=true, and no other value', () => {
    const gate = optOutGate('example.com/no-reboot');
    expect(gate.blocks(testNode('a', { labels: { 'example.com/no-reboot': 'true' } }), NOW)).toEqual({
      reason: GateReason.OptedOut,
      detail: 'label example.com/no-reboot=true',
    });
    expect(gate.blocks(testNode('a', { labels: { 'example.com/no-reboot': 'false' } }), NOW)).toBeUndefined();
    expect(gate.blocks(testNode('a', { labels: { 'baton.dev/opt-out': 'true' } }), NOW)).toBeUndefined();
  });

  it('pause holds every node while the pause Lease holds, with who paused', () => {
    expect(pauseGate('paused by manual:alice').blocks(plain, NOW)).toEqual({
      reason: GateReason.Paused,
      detail: 'paused by manual:alice',
    });
    expect(pauseGate(undefined).blocks(plain, NOW)).toBeUndefined();
  });

  it('given-up holds a node whose recorded grant a person gave up on, until a new grant record', () => {
    const node = testNode('a', { needs: true, phase: 'Rebooting', grant: 'baton-slot-0/g1' });
    const annotations = node.metadata?.annotations ?? {};
    annotations[Annotation.GivenUp] = 'baton-slot-0/g1';
    const block = givenUpGate.blocks(node, NOW);
    expect(block?.reason).toBe(GateReason.GivenUp);
    expect(block?.detail).toContain('baton-slot-0/g1');
    // A newer grant recorded since: the give-up was about an older one.
    annotations[Annotation.Grant] = 'baton-slot-1/g2';
    expect(givenUpGate.blocks(node, NOW)).toBeUndefined();
    expect(givenUpGate.blocks(plain, NOW)).toBeUndefined();
  });

  it('the halt holds every node while a holder has not settled in time', () => {
    expect(rolloutHaltedGate({ detail: 'b was granted 1900 s ago' }).blocks(plain, NOW)).toEqual({
      reason: GateReason.RolloutHalted,
      detail: 'b was granted 1900 s ago',
    });
    expect(rolloutHaltedGate(undefined).blocks(plain, NOW)).toBeUndefined();
  });

  it('the window holds every node outside the windows and on blackout dates', () => {
    const always = [{ days: [0, 1, 2, 3, 4, 5, 6], startSeconds: 0, endSeconds: 86_399 }];
    expect(
      windowGate({ windows: always, timeZone: 'UTC', blackoutDates: [] }, NOW).blocks(plain, NOW),
    ).toBeUndefined();
    const blackout = windowGate({ windows: always, timeZone: 'UTC', blackoutDates: ['2026-11-25'] }, NOW);
    expect(blackout.blocks(plain, NOW)?.reason).toBe(GateReason.BlackoutDate);
    // NOW is 12:00 UTC on a Wednesday: a window of Monday mornings is closed.
    const closed = windowGate(
      { windows: [{ days: [1], startSeconds: 0, endSeconds: 3600 }], timeZone: 'UTC', blackoutDates: [] },
      NOW,
    );
    expect(closed.blocks(plain, NOW)?.reason).toBe(GateReason.OutsideWindow);
  });

  it('back-off holds a node released in this plan, and one still backing off (asking to plan again then)', () => {
    const wakes: number[] = [];
    const gate = backoffGate(
      new Set(['a']),
      (n) => (n === 'b' ? 4_500 : undefined),
      (ms) => wakes.push(ms),
    );
    expect(gate.blocks(testNode('a'), NOW)).toEqual({
      reason: GateReason.BackingOff,
      detail: 'its last grant ended without a reboot; waiting before granting it again',
    });
    expect(gate.blocks(testNode('b'), NOW)).toEqual({
      reason: GateReason.BackingOff,
      detail: 'its last grant ended without a reboot; granted again in 5 s at the earliest',
    });
    expect(gate.blocks(testNode('c'), NOW)).toBeUndefined();
    expect(wakes).toEqual([4_500]);
  });

  it('blocksOf asks every gate in order and keeps each block', () => {
    const first = { reason: GateReason.Paused, detail: 'p' };
    const second = { reason: GateReason.AlertFiring, detail: 'x' };
    expect(
      blocksOf([constantGate(first), constantGate(undefined), constantGate(second)], plain, NOW),
    ).toEqual([first, second]);
    expect(blocksOf([], plain, NOW)).toEqual([]);
  });
});
