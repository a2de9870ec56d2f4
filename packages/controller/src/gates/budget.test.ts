import { GateReason } from '@baton/protocol';
import type { MaxUnavailable } from '@baton/protocol/config';
import { describe, expect, it } from 'vitest';
import { plan } from '../plan/plan.ts';
import { baseSettings, NOW, testNode, testSlot } from '../testing/test-support.ts';
import { type BudgetSettings, budget, unavailableLimit } from './budget.ts';

const ZONE = 'topology.kubernetes.io/zone';
const inZone = (name: string, zone: string | undefined, o: Parameters<typeof testNode>[1] = {}) =>
  testNode(name, { ...o, labels: zone === undefined ? {} : { [ZONE]: zone } });

describe('unavailableLimit', () => {
  const cases: [MaxUnavailable, number, number][] = [
    [{ kind: 'count', value: 2 }, 10, 2],
    [{ kind: 'count', value: 0 }, 10, 0],
    [{ kind: 'percent', value: 10 }, 10, 1],
    [{ kind: 'percent', value: 10 }, 25, 2], // 2.5 rounds down
    [{ kind: 'percent', value: 10 }, 5, 0], // a small cluster: 10% of 5 is no node at all
    [{ kind: 'percent', value: 34 }, 3, 1],
    [{ kind: 'percent', value: 100 }, 7, 7],
    [{ kind: 'percent', value: 0 }, 7, 0],
  ];
  it.each(cases)('%o of %i nodes → %i', (max, total, want) => {
    expect(unavailableLimit(max, total)).toBe(want);
  });
});

describe('budget.check', () => {
  const cases: {
    name: string;
    settings: BudgetSettings;
    nodes: ReturnType<typeof testNode>[];
    holders: string[];
    candidate: string;
    want: { reason: GateReason; detail: RegExp } | undefined;
  }[] = [
    {
      name: 'no budget settings: always allowed',
      settings: {},
      nodes: [testNode('a', { ready: false }), testNode('b')],
      holders: ['x'],
      candidate: 'b',
      want: undefined,
    },
    {
      name: 'group: a holder in the zone exhausts max-per-group 1',
      settings: { groupLabel: ZONE, maxPerGroup: 1 },
      nodes: [inZone('a1', 'a'), inZone('a2', 'a'), inZone('b1', 'b')],
      holders: ['a1'],
      candidate: 'a2',
      want: {
        reason: GateReason.GroupBudgetExhausted,
        detail: /^1 of 1 grant\(s\) in topology.kubernetes.io\/zone=a in use$/,
      },
    },
    {
      name: 'group: another zone is free',
      settings: { groupLabel: ZONE, maxPerGroup: 1 },
      nodes: [inZone('a1', 'a'), inZone('b1', 'b')],
      holders: ['a1'],
      candidate: 'b1',
      want: undefined,
    },
    {
      name: 'group: max-per-group 2 allows a second one',
      settings: { groupLabel: ZONE, maxPerGroup: 2 },
      nodes: [inZone('a1', 'a'), inZone('a2', 'a')],
      holders: ['a1'],
      candidate: 'a2',
      want: undefined,
    },
    {
      name: 'group: a group label without a maximum means one per group',
      settings: { groupLabel: ZONE },
      nodes: [inZone('a1', 'a'), inZone('a2', 'a')],
      holders: ['a1'],
      candidate: 'a2',
      want: { reason: GateReason.GroupBudgetExhausted, detail: /1 of 1/ },
    },
    {
      name: 'group: nodes without the label are one group, not unlimited',
      settings: { groupLabel: ZONE, maxPerGroup: 1 },
      nodes: [inZone('x1', undefined), inZone('x2', undefined)],
      holders: ['x1'],
      candidate: 'x2',
      want: {
        reason: GateReason.GroupBudgetExhausted,
        detail: /nodes without label topology.kubernetes.io\/zone/,
      },
    },
    {
      name: 'group: a NotReady node does not count against its group (only grants do)',
      settings: { groupLabel: ZONE, maxPerGroup: 1 },
      nodes: [inZone('a1', 'a', { ready: false }), inZone('a2', 'a')],
      holders: [],
      candidate: 'a2',
      want: undefined,
    },
    {
      name: 'max-unavailable: a NotReady node counts',
      settings: { maxUnavailable: { kind: 'count', value: 1 } },
      nodes: [testNode('a', { ready: false }), testNode('b')],
      holders: [],
      candidate: 'b',
      want: {
        reason: GateReason.MaxUnavailableReached,
        detail: /^1 node\(s\) unavailable \(granted, NotReady or cordoned\); --max-unavailable allows 1$/,
      },
    },
    {
      name: 'max-unavailable: a node cordoned by someone else counts',
      settings: { maxUnavailable: { kind: 'count', value: 1 } },
      nodes: [testNode('a', { cordoned: true }), testNode('b')],
      holders: [],
      candidate: 'b',
      want: { reason: GateReason.MaxUnavailableReached, detail: /1 node\(s\) unavailable/ },
    },
    {
      name: 'max-unavailable: a holder counts',
      settings: { maxUnavailable: { kind: 'count', value: 1 } },
      nodes: [testNode('a'), testNode('b')],
      holders: ['a'],
      candidate: 'b',
      want: { reason: GateReason.MaxUnavailableReached, detail: /1 node\(s\)/ },
    },
    {
      name: 'max-unavailable: a holder that is also NotReady counts once',
      settings: { maxUnavailable: { kind: 'count', value: 2 } },
      nodes: [testNode('a', { ready: false }), testNode('b')],
      holders: ['a'],
      candidate: 'b',
      want: undefined,
    },
    {
      name: 'max-unavailable: granting a node that is already cordoned adds nothing',
      settings: { maxUnavailable: { kind: 'count', value: 1 } },
      nodes: [testNode('a', { cordoned: true }), testNode('b')],
      holders: [],
      candidate: 'a',
      want: undefined,
    },
    {
      name: 'max-unavailable: a percentage of all nodes, rounded down, said in the message',
      settings: { maxUnavailable: { kind: 'percent', value: 10 } },
      nodes: ['a', 'b', 'c', 'd', 'e'].map((n) => testNode(n)),
      holders: [],
      candidate: 'a',
      want: { reason: GateReason.MaxUnavailableReached, detail: /allows 0 \(10% of 5 nodes, rounded down\)/ },
    },
    {
      name: 'max-unavailable: 0 grants nothing',
      settings: { maxUnavailable: { kind: 'count', value: 0 } },
      nodes: [testNode('a')],
      holders: [],
      candidate: 'a',
      want: { reason: GateReason.MaxUnavailableReached, detail: /allows 0/ },
    },
    {
      name: 'both: max-unavailable is reported first',
      settings: { groupLabel: ZONE, maxPerGroup: 1, maxUnavailable: { kind: 'count', value: 1 } },
      nodes: [inZone('a1', 'a'), inZone('a2', 'a')],
      holders: ['a1'],
      candidate: 'a2',
      want: { reason: GateReason.MaxUnavailableReached, detail: /./ },
    },
  ];
  it.each(cases)('$name', ({ settings, nodes, holders, candidate, want }) => {
    const b = budget(settings, nodes, new Set(holders));
    const n = nodes.find((x) => x.metadata?.name === candidate);
    if (n === undefined) throw new Error(candidate);
    const got = b.check(n);
    if (want === undefined) expect(got).toBeUndefined();
    else {
      expect(got?.reason).toBe(want.reason);
      expect(got?.detail).toMatch(want.detail);
    }
  });

  it('take() counts a grant of this plan for the nodes after it', () => {
    const nodes = [inZone('a1', 'a'), inZone('a2', 'a'), inZone('b1', 'b')];
    const b = budget(
      { groupLabel: ZONE, maxPerGroup: 1, maxUnavailable: { kind: 'count', value: 2 } },
      nodes,
      new Set(),
    );
    const [a1, a2, b1] = nodes as [(typeof nodes)[0], (typeof nodes)[0], (typeof nodes)[0]];
    expect(b.check(a1)).toBeUndefined();
    b.take(a1);
    expect(b.check(a2)?.reason).toBe(GateReason.GroupBudgetExhausted);
    expect(b.check(b1)).toBeUndefined();
    b.take(b1);
    expect(b.check(a2)?.reason).toBe(GateReason.MaxUnavailableReached);
  });
});

describe('plan with a budget (and concurrency)', () => {
  const zones = [
    inZone('a1', 'a', { needs: true, since: 600 }),
    inZone('a2', 'a', { needs: true, since: 500 }),
    inZone('a3', 'a', { needs: true, since: 400 }),
    inZone('b1', 'b', { needs: true, since: 300 }),
    inZone('c1', 'c', { needs: true, since: 200 }),
  ];
  const slots = (n: number, holders: Record<number, string> = {}) =>
    Array.from({ length: n }, (_, i) => testSlot(i, holders[i]));

  it('one per zone: skips the zone already served and grants the next zone instead', () => {
    const p = plan({
      now: NOW,
      nodes: zones,
      leases: slots(3),
      settings: { ...baseSettings, concurrency: 3, budget: { groupLabel: ZONE, maxPerGroup: 1 } },
    });
    expect(p.grants.map((g) => g.node)).toEqual(['a1', 'b1', 'c1']);
    expect(p.waiting.get('a2')?.reason).toBe(GateReason.GroupBudgetExhausted);
    expect(p.waiting.get('a3')?.reason).toBe(GateReason.GroupBudgetExhausted);
  });

  it('concurrency stays the ceiling: 2 slots, 3 zones, the third zone waits for a slot', () => {
    const late = inZone('a4', 'a', { needs: true, since: 100 });
    const p = plan({
      now: NOW,
      nodes: [...zones, late],
      leases: slots(2),
      settings: { ...baseSettings, concurrency: 2, budget: { groupLabel: ZONE, maxPerGroup: 1 } },
    });
    expect(p.grants.map((g) => g.node)).toEqual(['a1', 'b1']);
    // a2's turn came while a slot was still free: its zone is what holds it.
    expect(p.waiting.get('a2')?.reason).toBe(GateReason.GroupBudgetExhausted);
    expect(p.waiting.get('c1')?.reason).toBe(GateReason.WaitingForSlot);
    // a4 is held by both: the slot count is named first, the zone in `also`.
    expect(p.waiting.get('a4')?.reason).toBe(GateReason.WaitingForSlot);
    expect(p.waiting.get('a4')?.also.map((b) => b.reason)).toEqual([GateReason.GroupBudgetExhausted]);
  });

  it('a holder still draining counts against its zone', () => {
    const draining = inZone('a0', 'a', { needs: true, phase: 'Draining' });
    const p = plan({
      now: NOW,
      nodes: [draining, ...zones],
      leases: slots(3, { 0: 'a0' }),
      settings: { ...baseSettings, concurrency: 3, budget: { groupLabel: ZONE, maxPerGroup: 1 } },
    });
    expect(p.grants.map((g) => g.node)).toEqual(['b1', 'c1']);
  });

  it('max-unavailable below concurrency: a node NotReady for other reasons leaves room for one grant', () => {
    const p = plan({
      now: NOW,
      nodes: [testNode('down', { ready: false }), ...zones],
      leases: slots(3),
      settings: { ...baseSettings, concurrency: 3, budget: { maxUnavailable: { kind: 'count', value: 2 } } },
    });
    expect(p.grants.map((g) => g.node)).toEqual(['a1']);
    expect(p.waiting.get('a2')?.reason).toBe(GateReason.MaxUnavailableReached);
    expect(p.waiting.get('a2')?.detail).toMatch(/^2 node\(s\) unavailable/);
  });

  it('max-unavailable above concurrency: concurrency decides', () => {
    const p = plan({
      now: NOW,
      nodes: zones,
      leases: slots(1),
      settings: { ...baseSettings, concurrency: 1, budget: { maxUnavailable: { kind: 'count', value: 4 } } },
    });
    expect(p.grants.map((g) => g.node)).toEqual(['a1']);
    expect(p.waiting.get('a2')?.reason).toBe(GateReason.WaitingForSlot);
  });

  it('a released holder no longer counts: its zone can be served again in the same plan', () => {
    const done = inZone('a0', 'a', { phase: 'Rebooted' });
    const p = plan({
      now: NOW,
      nodes: [done, ...zones],
      leases: slots(1, { 0: 'a0' }),
      settings: { ...baseSettings, concurrency: 1, budget: { groupLabel: ZONE, maxPerGroup: 1 } },
    });
    expect(p.releases.map((r) => r.holder)).toEqual(['a0']);
    expect(p.grants.map((g) => g.node)).toEqual(['a1']);
  });

  it('never more grants in a group than allowed, whatever the order and slot count (exhaustive)', () => {
    for (let concurrency = 1; concurrency <= 5; concurrency++) {
      for (let maxPerGroup = 1; maxPerGroup <= 3; maxPerGroup++) {
        for (let maxU = 0; maxU <= 5; maxU++) {
          const p = plan({
            now: NOW,
            nodes: zones,
            leases: slots(concurrency),
            settings: {
              ...baseSettings,
              concurrency,
              budget: { groupLabel: ZONE, maxPerGroup, maxUnavailable: { kind: 'count', value: maxU } },
            },
          });
          const perZone = new Map<string, number>();
          for (const g of p.grants) {
            const z = zones.find((n) => n.metadata?.name === g.node)?.metadata?.labels?.[ZONE] ?? '';
            perZone.set(z, (perZone.get(z) ?? 0) + 1);
          }
          expect(p.grants.length).toBeLessThanOrEqual(Math.min(concurrency, maxU));
          for (const count of perZone.values()) expect(count).toBeLessThanOrEqual(maxPerGroup);
          // And never fewer than the budget allows: every zone that could take one got one.
          expect(p.grants.length).toBe(Math.min(concurrency, maxU, Math.min(3, maxPerGroup) + 2));
        }
      }
    }
  });
});
