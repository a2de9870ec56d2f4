import { SlotAnnotation } from '@baton/protocol';
import type { V1Node } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { baseSettings, NOW } from '../testing/test-support.ts';
import { GRANTED_NODE_ANNOTATION, type PlanSettings, plan, type SlotLease } from './plan.ts';
import { slotProblem } from './slot-check.ts';

const at = (s: number) => new Date(NOW.getTime() + s * 1000).toISOString();

function lease(
  holder: string,
  o: {
    granted?: string;
    duration?: number | null;
    acquire?: unknown;
    renew?: unknown;
    name?: string;
    grantId?: string | null;
  } = {},
): SlotLease {
  const annotations: Record<string, string> = {};
  if (o.granted !== undefined) annotations[GRANTED_NODE_ANNOTATION] = o.granted;
  if (o.grantId !== null && !holder.startsWith('manual:'))
    annotations[SlotAnnotation.GrantId] = o.grantId ?? 'g1';
  return {
    metadata: { name: o.name ?? 'baton-slot-0', annotations },
    spec: {
      holderIdentity: holder,
      acquireTime: o.acquire === undefined ? at(-30) : o.acquire,
      renewTime: o.renew === undefined ? at(-5) : o.renew,
      leaseDurationSeconds: o.duration === null ? undefined : (o.duration ?? 300),
    },
  };
}

const nodes = new Set(['n1', 'n2']);
const isNode = (n: string) => nodes.has(n);

describe('slotProblem', () => {
  it.each([
    { name: 'a free slot', l: lease(''), problem: undefined },
    { name: 'our grant', l: lease('n1', { granted: 'n1' }), problem: undefined },
    { name: 'a grant written by hand, well formed', l: lease('n1'), problem: undefined },
    { name: 'a person’s hold', l: lease('manual:alice'), problem: undefined },
    {
      name: 'our grant whose node was deleted (the plan frees it)',
      l: lease('gone', { granted: 'gone' }),
      problem: undefined,
    },
    {
      name: 'garbage in the grant annotation',
      l: lease('n1', { granted: '💥{not json' }),
      problem: /annotation baton.dev\/granted-node="💥\{not json" does not name the holder "n1"/,
    },
    {
      name: 'the annotation names another node',
      l: lease('n1', { granted: 'n2' }),
      problem: /does not name the holder/,
    },
    {
      name: 'a holder that is neither a node nor manual:',
      l: lease('Not A Node!!'),
      problem: /neither a node nor manual:<who>/,
    },
    {
      name: 'a node holder without a grant id (written by hand): no grant, and no hold either',
      l: lease('n1', { grantId: null }),
      problem: /has no baton.dev\/grant-id annotation: it is not a grant/,
    },
    {
      name: 'a grant id that is not one',
      l: lease('n1', { grantId: 'a b/c' }),
      problem: /is not a grant id/,
    },
    // Times are for people: none of these makes a grant more or less valid.
    { name: 'no duration', l: lease('n1', { duration: null }), problem: undefined },
    { name: 'no times at all', l: lease('n1', { acquire: null, renew: null }), problem: undefined },
    {
      name: 'acquireTime in the year 9999',
      l: lease('n1', { acquire: '9999-12-31T23:59:59.000000Z' }),
      problem: undefined,
    },
    { name: 'renewTime an hour ahead', l: lease('n1', { renew: at(3600) }), problem: undefined },
  ])('$name', (c) => {
    const p = slotProblem(c.l, isNode, GRANTED_NODE_ANNOTATION);
    if (c.problem === undefined) expect(p).toBeUndefined();
    else expect(p).toMatch(c.problem);
  });
});

const settings: PlanSettings = { ...baseSettings, concurrency: 2 };

const pending = (name: string): V1Node => ({
  metadata: { name },
  status: {
    conditions: [
      { type: 'Ready', status: 'True' },
      {
        type: 'RebootRequired',
        status: 'True',
        reason: 'SentinelPresent',
        lastTransitionTime: at(-600) as never,
      },
    ],
  },
});

describe('plan with nonsense slots', () => {
  it('a nonsense slot blocks: taken, not renewed, not released, and its node gets no other slot', () => {
    const p = plan({
      now: NOW,
      nodes: [pending('n1'), pending('n2'), pending('n3')],
      leases: [lease('n1', { granted: 'garbage' })],
      settings,
    });
    expect(p.invalidSlots).toEqual([
      { slot: 'baton-slot-0', holder: 'n1', problem: expect.stringMatching(/does not name the holder/) },
    ]);
    expect(p.renewals).toEqual([]);
    expect(p.releases).toEqual([]);
    expect(p.taken).toBe(2);
    // One slot left for two other nodes; n1 is not among the candidates.
    expect(p.grants.map((g) => g.node)).toEqual(['n2']);
    expect(p.waiting.has('n1')).toBe(false);
  });

  it('a slot Lease with an absurd index is counted without iterating up to it', () => {
    // Before the fix this looped four billion times (the test timed out).
    const p = plan({
      now: NOW,
      nodes: [pending('n1')],
      leases: [lease('manual:bob', { name: 'baton-slot-4000000000' })],
      settings: { ...settings, concurrency: 1 },
    });
    expect(p.taken).toBe(1);
    expect(p.grants).toEqual([]);
  });
});
