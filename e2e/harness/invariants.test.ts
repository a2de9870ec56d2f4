import { AgentPhase, Annotation, REBOOTING_TAINT } from '@baton/protocol';
import { describe, expect, it } from 'vitest';
import { checkEndState, downtimeOverlap, InvariantChecker, type NodeLike } from './invariants.ts';

const T0 = Date.parse('2026-11-26T05:00:00.000Z');
const at = (s: number) => new Date(T0 + s * 1000).toISOString();

/** A slot Lease at resourceVersion `rv`; `holder` undefined = empty. */
function slot(i: number, rv: number, holder?: string, renewedAt = 0, duration = 60) {
  return {
    metadata: { name: `baton-slot-${i}`, resourceVersion: String(rv) },
    spec:
      holder === undefined
        ? { leaseDurationSeconds: duration }
        : {
            holderIdentity: holder,
            acquireTime: at(renewedAt),
            renewTime: at(renewedAt),
            leaseDurationSeconds: duration,
          },
  };
}

function node(name: string, rv: number, phase?: string, since = 0, extra: Partial<NodeLike> = {}) {
  const annotations: Record<string, string> = {};
  if (phase !== undefined) {
    annotations[Annotation.Phase] = phase;
    annotations[Annotation.PhaseSince] = at(since);
  }
  if (phase === AgentPhase.Rebooting) annotations[Annotation.RebootFromBootId] = `boot-${name}`;
  return { metadata: { name, resourceVersion: String(rv), annotations }, ...extra };
}

const seen = new Date(T0);
const kinds = (c: InvariantChecker) => c.violations.map((v) => v.kind);

describe('InvariantChecker: concurrency', () => {
  it('counts node holders at every Lease version; a person’s hold and empty slots do not count', () => {
    const c = new InvariantChecker(2);
    c.leaseList([slot(0, 1), slot(1, 1)], '1');
    c.lease('MODIFIED', slot(0, 2, 'n1'));
    c.lease('MODIFIED', slot(1, 3, 'n2'));
    c.lease('ADDED', {
      metadata: { name: 'baton-pause', resourceVersion: '4' },
      spec: { holderIdentity: 'n3' },
    });
    c.lease('ADDED', slot(7, 5, 'manual:ops'));
    c.lease('MODIFIED', slot(0, 6));
    c.lease('MODIFIED', slot(0, 7, 'n3'));
    expect(c.violations).toEqual([]);
    expect(c.maxHolders).toBe(2);
  });

  it('flags a third holder with two allowed, at the version it happened', () => {
    const c = new InvariantChecker(2);
    c.leaseList([slot(0, 1, 'n1'), slot(1, 1, 'n2')], '1');
    c.lease('ADDED', slot(2, 9, 'n3'));
    expect(kinds(c)).toEqual(['over-concurrency']);
    expect(c.violations[0]?.resourceVersion).toBe('9');
    expect(c.violations[0]?.detail).toContain('n1, n2, n3');
    expect(c.maxHolders).toBe(3);
  });

  it('flags two slots naming the same node', () => {
    const c = new InvariantChecker(3);
    c.leaseList([slot(0, 1, 'n1'), slot(1, 1)], '1');
    c.lease('MODIFIED', slot(1, 2, 'n1'));
    expect(kinds(c)).toEqual(['double-grant']);
  });

  it('a relist drops slots deleted meanwhile', () => {
    const c = new InvariantChecker(1);
    c.leaseList([slot(0, 1, 'n1')], '1');
    c.leaseList([slot(1, 5, 'n2')], '5');
    expect(c.violations).toEqual([]);
    expect(c.holders()).toEqual(['n2']);
  });
});

describe('InvariantChecker: reboots need a valid grant at that moment', () => {
  it('accepts a reboot under a valid grant naming the node', () => {
    const c = new InvariantChecker(1);
    c.leaseList([slot(0, 10, 'n1', 0)], '10');
    c.node('MODIFIED', node('n1', 11, AgentPhase.Draining, 1), seen);
    c.node('MODIFIED', node('n1', 12, AgentPhase.Rebooting, 5), seen);
    c.leaseProgress('12');
    expect(c.violations).toEqual([]);
    expect(c.requests.map((r) => [r.node, r.granted, r.grantedBy])).toEqual([['n1', true, 'baton-slot-0']]);
  });

  it('flags a reboot when the slot names another node', () => {
    const c = new InvariantChecker(1);
    c.leaseList([slot(0, 10, 'n2', 0)], '10');
    c.node('MODIFIED', node('n1', 12, AgentPhase.Rebooting, 5), seen);
    c.leaseProgress('12');
    expect(kinds(c)).toEqual(['reboot-without-grant']);
    expect(c.violations[0]?.detail).toContain('baton-slot-0=n2');
  });

  it('flags a reboot after the grant expired (renewed at 0 s, 60 s, rebooting at 61 s)', () => {
    const c = new InvariantChecker(1);
    c.leaseList([slot(0, 10, 'n1', 0, 60)], '10');
    c.node('MODIFIED', node('n1', 12, AgentPhase.Rebooting, 61), seen);
    c.leaseProgress('13');
    expect(kinds(c)).toEqual(['reboot-without-grant']);
  });

  it('flags a reboot under a grant released just before (a stale view), judged at its own version', () => {
    const c = new InvariantChecker(1);
    c.leaseList([slot(0, 10, 'n1', 0)], '10');
    c.lease('MODIFIED', slot(0, 11)); // released at rv 11
    c.node('MODIFIED', node('n1', 12, AgentPhase.Rebooting, 5), seen);
    expect(c.violations).toEqual([]); // not judged before the Lease stream reaches rv 12
    c.reconcileReboots([]);
    expect(kinds(c)).toEqual(['reboot-without-grant']);
  });

  it('waits for the Lease stream to reach the Node change: a grant delivered late still counts', () => {
    const c = new InvariantChecker(1);
    c.leaseList([slot(0, 10)], '10');
    // The Node stream is ahead: the agent rebooted at rv 21 under the grant written at rv 20,
    // which the Lease watch delivers afterwards.
    c.node('MODIFIED', node('n1', 21, AgentPhase.Rebooting, 5), seen);
    expect(c.requests[0]?.granted).toBeUndefined();
    c.lease('MODIFIED', slot(0, 20, 'n1', 1));
    c.leaseProgress('25');
    expect(c.violations).toEqual([]);
    expect(c.requests[0]?.granted).toBe(true);
  });

  it('a grant written after the reboot does not excuse it', () => {
    const c = new InvariantChecker(1);
    c.leaseList([slot(0, 10)], '10');
    c.node('MODIFIED', node('n1', 21, AgentPhase.Rebooting, 5), seen);
    c.lease('MODIFIED', slot(0, 22, 'n1', 6));
    expect(kinds(c)).toEqual(['reboot-without-grant']);
  });

  it('counts a second request only when the agent writes Rebooting again', () => {
    const c = new InvariantChecker(1);
    c.leaseList([slot(0, 10, 'n1', 0)], '10');
    c.node('MODIFIED', node('n1', 12, AgentPhase.Rebooting, 5), seen);
    c.node('MODIFIED', node('n1', 13, AgentPhase.Rebooting, 5), seen); // another field changed
    c.node('MODIFIED', node('n1', 14, AgentPhase.Rebooting, 9), seen); // a restarted agent asked again
    expect(c.requests.map((r) => r.resourceVersion)).toEqual(['12', '14']);
    expect(c.violations).toEqual([]);
  });

  it('matches the fleet’s reboots with requests; a reboot nobody asked for is flagged', () => {
    const c = new InvariantChecker(2);
    c.leaseList([slot(0, 10, 'n1', 0), slot(1, 10, 'n2', 0)], '10');
    c.node('MODIFIED', node('n1', 12, AgentPhase.Rebooting, 5), seen);
    c.reconcileReboots([
      { node: 'n1', at: new Date(T0 + 5500), upAt: new Date(T0 + 6500) },
      { node: 'n1', at: new Date(T0 + 9000), upAt: new Date(T0 + 10000) }, // a second reboot with no second request
      { node: 'n2', at: new Date(T0 + 7000), upAt: new Date(T0 + 8000) }, // n2 never asked
    ]);
    expect(kinds(c).sort()).toEqual(['unrequested-reboot', 'unrequested-reboot']);
    expect(c.violations.map((v) => v.node).sort()).toEqual(['n1', 'n2']);
  });

  it('a reboot before its request is not matched by it', () => {
    const c = new InvariantChecker(1);
    c.leaseList([slot(0, 10, 'n1', 0)], '10');
    c.node('MODIFIED', node('n1', 12, AgentPhase.Rebooting, 5), seen);
    c.reconcileReboots([{ node: 'n1', at: new Date(T0 + 4000), upAt: new Date(T0 + 5000) }]);
    expect(kinds(c)).toEqual(['unrequested-reboot']);
  });
});

describe('nodes actually down at once (the fleet’s log)', () => {
  const down = (node: string, from: number, to?: number) => ({
    node,
    at: new Date(T0 + from * 1000),
    ...(to === undefined ? {} : { upAt: new Date(T0 + to * 1000) }),
  });

  it('one after the other is never more than one; a node up at the instant the next goes down is not counted twice', () => {
    const r = downtimeOverlap(
      [down('n1', 0, 10), down('n2', 10, 20), down('n3', 25, 30)],
      1,
      new Date(T0 + 60_000),
    );
    expect(r).toEqual({ max: 1, excess: [] });
  });

  it('counts overlapping downtime against the concurrency', () => {
    const r = downtimeOverlap(
      [down('n1', 0, 10), down('n2', 5, 20), down('n3', 8, 9)],
      2,
      new Date(T0 + 60_000),
    );
    expect(r.max).toBe(3);
    expect(r.excess).toEqual([{ at: new Date(T0 + 8000), nodes: ['n1', 'n2', 'n3'] }]);
  });

  it('a node not back yet is down until now', () => {
    const log = [down('n1', 0), down('n2', 30, 40)];
    expect(downtimeOverlap(log, 1, new Date(T0 + 20_000)).max).toBe(1); // n2 not down yet
    expect(downtimeOverlap(log, 1, new Date(T0 + 35_000)).max).toBe(2);
  });

  it('flags the stop-11 bug: an agent gave its grant back and its node went down anyway, while the next node rebooted', () => {
    // Every Lease version is valid: n1 held slot 0, it was released, then n2 got it. Only the
    // ground truth shows n1 was still down when n2 went down.
    const c = new InvariantChecker(1);
    c.leaseList([slot(0, 10, 'n1', 0)], '10');
    c.node('MODIFIED', node('n1', 11, AgentPhase.Rebooting, 2), seen);
    c.lease('MODIFIED', slot(0, 12)); // released (the agent aborted)
    c.lease('MODIFIED', slot(0, 13, 'n2', 5));
    c.node('MODIFIED', node('n2', 14, AgentPhase.Rebooting, 6), seen);
    c.leaseProgress('14');
    const log = [down('n1', 2, 30), down('n2', 6, 20)];
    c.reconcileReboots(log, new Date(T0 + 60_000));
    expect(kinds(c)).toEqual(['too-many-down']);
    expect(c.violations[0]?.detail).toContain('n1, n2');
    expect(c.maxHolders).toBe(1);
    expect(c.maxDown).toBe(2);
    // Checked again later (the soak settles after each round): reported once.
    c.reconcileReboots(log, new Date(T0 + 90_000));
    expect(kinds(c)).toEqual(['too-many-down']);
  });
});

describe('checkEndState', () => {
  const ok = (name: string) => node(name, 1, AgentPhase.Rebooted);
  it('a clean end: every needed node rebooted once, nothing cordoned, no slot held', () => {
    expect(
      checkEndState({
        nodes: [ok('a'), ok('b'), { ...ok('c'), spec: { unschedulable: true } }],
        adminCordoned: new Set(['c']),
        needed: new Map([
          ['a', 1],
          ['b', 1],
        ]),
        holders: [],
      }),
    ).toEqual([]);
  });

  it('flags a node baton left cordoned or tainted, one mid-reboot, one rebooted twice, one not at all, a held slot', () => {
    const v = checkEndState({
      nodes: [
        { ...ok('a'), spec: { unschedulable: true } },
        { ...ok('b'), spec: { taints: [{ key: REBOOTING_TAINT.key, effect: REBOOTING_TAINT.effect }] } },
        node('c', 1, AgentPhase.Draining),
        ok('d'),
        ok('e'),
      ],
      adminCordoned: new Set(),
      needed: new Map([
        ['d', 2],
        ['e', 0],
      ]),
      holders: ['c'],
    });
    expect(v.map((x) => [x.kind, x.node])).toEqual([
      ['left-cordoned', 'a'],
      ['left-tainted', 'b'],
      ['left-mid-reboot', 'c'],
      ['rebooted-more-than-once', 'd'],
      ['not-rebooted', 'e'],
      ['slot-still-held', 'c'],
    ]);
  });

  it('a node not rebooted but held with a reason is fine', () => {
    const held = node('h', 1, AgentPhase.Held);
    const gated: NodeLike = {
      metadata: { name: 'g' },
      status: { conditions: [{ type: 'RebootGate', status: 'True', reason: 'RolloutHalted' }] },
    };
    expect(
      checkEndState({
        nodes: [held, gated],
        adminCordoned: new Set(),
        needed: new Map([
          ['h', 0],
          ['g', 0],
        ]),
        holders: [],
      }),
    ).toEqual([]);
  });
});
