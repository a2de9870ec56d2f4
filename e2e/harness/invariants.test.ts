import { AgentPhase, Annotation, REBOOTING_TAINT, SlotAnnotation } from '@baton/protocol';
import { describe, expect, it } from 'vitest';
import { checkEndState, downtimeOverlap, InvariantChecker, type NodeLike } from './invariants.ts';

const T0 = Date.parse('2026-11-26T05:00:00.000Z');
const at = (s: number) => new Date(T0 + s * 1000).toISOString();

/**
 * A slot Lease at resourceVersion `rv`; `holder` undefined = empty. A holder's grant id is
 * `g-<holder>` unless given; `started`: the start acknowledged; `ack`: the acknowledged boot id.
 */
function slot(
  i: number,
  rv: number,
  holder?: string,
  o: { renewedAt?: number; duration?: number; grantId?: string | null; ack?: string; started?: boolean } = {},
) {
  const duration = o.duration ?? 60;
  const annotations: Record<string, string> = {};
  const grantId = o.grantId === undefined ? `g-${holder}` : o.grantId;
  if (holder !== undefined && grantId !== null) annotations[SlotAnnotation.GrantId] = grantId;
  if (o.ack !== undefined) annotations[SlotAnnotation.RebootFromBootId] = o.ack;
  if (o.started === true) annotations[SlotAnnotation.Started] = 'true';
  return {
    metadata: { name: `baton-slot-${i}`, resourceVersion: String(rv), annotations },
    spec:
      holder === undefined
        ? { leaseDurationSeconds: duration }
        : {
            holderIdentity: holder,
            acquireTime: at(o.renewedAt ?? 0),
            renewTime: at(o.renewedAt ?? 0),
            leaseDurationSeconds: duration,
          },
  };
}

/**
 * A node at resourceVersion `rv`. In phase Rebooting it records `boot-<name>` as the boot it
 * reboots from. `grant` is the identity the agent recorded (default `baton-slot-0/g-<name>`).
 */
function node(
  name: string,
  rv: number,
  phase?: string,
  since = 0,
  extra: Partial<NodeLike> = {},
  grant: string | null = `baton-slot-0/g-${name}`,
) {
  const annotations: Record<string, string> = {};
  if (phase !== undefined) {
    annotations[Annotation.Phase] = phase;
    annotations[Annotation.PhaseSince] = at(since);
    if (grant !== null) annotations[Annotation.Grant] = grant;
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

describe('InvariantChecker: reboots need the recorded grant at that moment', () => {
  it('accepts a reboot under the grant the agent recorded, naming the node', () => {
    const c = new InvariantChecker(1);
    c.leaseList([slot(0, 10, 'n1')], '10');
    c.node('MODIFIED', node('n1', 11, AgentPhase.Draining, 1), seen);
    c.node('MODIFIED', node('n1', 12, AgentPhase.Rebooting, 5), seen);
    c.leaseProgress('12');
    expect(c.violations).toEqual([]);
    expect(c.requests.map((r) => [r.node, r.granted, r.grantedBy, r.grant])).toEqual([
      ['n1', true, 'baton-slot-0/g-n1', 'baton-slot-0/g-n1'],
    ]);
  });

  it('judges by identity, not time: a grant renewed long before the reboot still counts', () => {
    // The Lease says it expired 60 s after 0 s; the agent rebooted at 600 s. Times written with
    // another machine's clock decide nothing (grant.ts).
    const c = new InvariantChecker(1);
    c.leaseList([slot(0, 10, 'n1', { renewedAt: 0, duration: 60 })], '10');
    c.node('MODIFIED', node('n1', 12, AgentPhase.Rebooting, 600), seen);
    c.leaseProgress('13');
    expect(c.violations).toEqual([]);
  });

  it('flags a reboot when the slot names another node', () => {
    const c = new InvariantChecker(1);
    c.leaseList([slot(0, 10, 'n2')], '10');
    c.node('MODIFIED', node('n1', 12, AgentPhase.Rebooting, 5), seen);
    c.leaseProgress('12');
    expect(kinds(c)).toEqual(['reboot-without-grant']);
    expect(c.violations[0]?.detail).toContain('baton-slot-0=n2 (grant g-n2)');
  });

  it('flags a reboot under a newer grant of the same slot than the one the agent recorded', () => {
    // Released and granted to the node again: a new grant id. The agent still works under the old one.
    const c = new InvariantChecker(1);
    c.leaseList([slot(0, 10, 'n1', { grantId: 'second' })], '10');
    c.node('MODIFIED', node('n1', 12, AgentPhase.Rebooting, 5, {}, 'baton-slot-0/first'), seen);
    c.leaseProgress('12');
    expect(kinds(c)).toEqual(['reboot-without-grant']);
    expect(c.violations[0]?.detail).toContain('baton-slot-0/first');
  });

  it('flags a reboot under a grant of another slot naming the node', () => {
    const c = new InvariantChecker(2);
    c.leaseList([slot(0, 10), slot(1, 10, 'n1')], '10');
    c.node('MODIFIED', node('n1', 12, AgentPhase.Rebooting, 5, {}, 'baton-slot-0/g-n1'), seen);
    c.leaseProgress('12');
    expect(kinds(c)).toEqual(['reboot-without-grant']);
  });

  it('flags a reboot when the Lease names the node without a grant id, or the agent recorded none', () => {
    const noId = new InvariantChecker(1);
    noId.leaseList([slot(0, 10, 'n1', { grantId: null })], '10');
    noId.node('MODIFIED', node('n1', 12, AgentPhase.Rebooting, 5), seen);
    noId.leaseProgress('12');
    expect(kinds(noId)).toEqual(['reboot-without-grant']);

    const noRecord = new InvariantChecker(1);
    noRecord.leaseList([slot(0, 10, 'n1')], '10');
    noRecord.node('MODIFIED', node('n1', 12, AgentPhase.Rebooting, 5, {}, null), seen);
    noRecord.leaseProgress('12');
    expect(kinds(noRecord)).toEqual(['reboot-without-grant']);
  });

  it('flags a reboot under a grant released just before (a stale view), judged at its own version', () => {
    const c = new InvariantChecker(1);
    c.leaseList([slot(0, 10, 'n1')], '10');
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
    c.lease('MODIFIED', slot(0, 20, 'n1', { renewedAt: 1 }));
    c.leaseProgress('25');
    expect(c.violations).toEqual([]);
    expect(c.requests[0]?.granted).toBe(true);
  });

  it('a grant written after the reboot does not excuse it', () => {
    const c = new InvariantChecker(1);
    c.leaseList([slot(0, 10)], '10');
    c.node('MODIFIED', node('n1', 21, AgentPhase.Rebooting, 5), seen);
    c.lease('MODIFIED', slot(0, 22, 'n1', { renewedAt: 6 }));
    expect(kinds(c)).toEqual(['reboot-without-grant']);
  });

  it('counts a second request only when the agent writes Rebooting again', () => {
    const c = new InvariantChecker(1);
    c.leaseList([slot(0, 10, 'n1')], '10');
    c.node('MODIFIED', node('n1', 12, AgentPhase.Rebooting, 5), seen);
    c.node('MODIFIED', node('n1', 13, AgentPhase.Rebooting, 5), seen); // another field changed
    c.node('MODIFIED', node('n1', 14, AgentPhase.Rebooting, 9), seen); // a restarted agent asked again
    expect(c.requests.map((r) => r.resourceVersion)).toEqual(['12', '14']);
    expect(c.violations).toEqual([]);
  });

  it('matches the fleet’s reboots with acknowledged requests; a reboot nobody asked for is flagged', () => {
    const c = new InvariantChecker(2);
    c.leaseList([slot(0, 10, 'n1'), slot(1, 10, 'n2')], '10');
    c.node('MODIFIED', node('n1', 12, AgentPhase.Rebooting, 5), seen);
    c.lease('MODIFIED', slot(0, 13, 'n1', { ack: 'boot-n1' }));
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
    c.leaseList([slot(0, 10, 'n1')], '10');
    c.node('MODIFIED', node('n1', 12, AgentPhase.Rebooting, 5), seen);
    c.lease('MODIFIED', slot(0, 13, 'n1', { ack: 'boot-n1' }));
    c.reconcileReboots([{ node: 'n1', at: new Date(T0 + 4000), upAt: new Date(T0 + 5000) }]);
    expect(kinds(c)).toEqual(['unrequested-reboot']);
  });

  it('flags a reboot whose request was never acknowledged on its grant’s Lease', () => {
    const c = new InvariantChecker(1);
    c.leaseList([slot(0, 10, 'n1')], '10');
    c.node('MODIFIED', node('n1', 12, AgentPhase.Rebooting, 5), seen);
    c.reconcileReboots([{ node: 'n1', at: new Date(T0 + 6000), upAt: new Date(T0 + 7000) }]);
    expect(kinds(c)).toEqual(['unacknowledged-reboot']);
    expect(c.violations[0]?.detail).toContain('boot-n1');
  });

  it('an acknowledgement counts only for the same grant, the same boot, written after the request', () => {
    const cases = [
      // the ack of another boot
      slot(0, 13, 'n1', { ack: 'boot-other' }),
      // the right boot, but on a newer grant of the slot
      slot(0, 13, 'n1', { ack: 'boot-n1', grantId: 'newer' }),
    ];
    for (const ack of cases) {
      const c = new InvariantChecker(1);
      c.leaseList([slot(0, 10, 'n1')], '10');
      c.node('MODIFIED', node('n1', 12, AgentPhase.Rebooting, 5), seen);
      c.lease('MODIFIED', ack);
      c.reconcileReboots([{ node: 'n1', at: new Date(T0 + 6000), upAt: new Date(T0 + 7000) }]);
      expect(kinds(c)).toEqual(['unacknowledged-reboot']);
    }
    // An ack already on the Lease before this request (an earlier request's) does not count.
    const early = new InvariantChecker(1);
    early.leaseList([slot(0, 10, 'n1', { ack: 'boot-n1' })], '10');
    early.node('MODIFIED', node('n1', 12, AgentPhase.Rebooting, 5), seen);
    early.reconcileReboots([{ node: 'n1', at: new Date(T0 + 6000), upAt: new Date(T0 + 7000) }]);
    expect(kinds(early)).toEqual(['unacknowledged-reboot']);
  });

  it('an acknowledgement released afterwards still counts (the slot is emptied after the reboot)', () => {
    const c = new InvariantChecker(1);
    c.leaseList([slot(0, 10, 'n1')], '10');
    c.node('MODIFIED', node('n1', 12, AgentPhase.Rebooting, 5), seen);
    c.lease('MODIFIED', slot(0, 13, 'n1', { ack: 'boot-n1' }));
    c.lease('MODIFIED', slot(0, 20));
    c.reconcileReboots([{ node: 'n1', at: new Date(T0 + 6000), upAt: new Date(T0 + 7000) }]);
    expect(c.violations).toEqual([]);
  });
});

describe('InvariantChecker: the agent cordons only under its grant with the start acknowledged', () => {
  const tainted: Partial<NodeLike> = {
    spec: { unschedulable: true, taints: [{ key: REBOOTING_TAINT.key, effect: REBOOTING_TAINT.effect }] },
  };

  it('accepts a cordon once the start is acknowledged on the grant the agent recorded', () => {
    const c = new InvariantChecker(1);
    c.leaseList([slot(0, 10, 'n1')], '10');
    c.node('ADDED', node('n1', 10), seen);
    c.node('MODIFIED', node('n1', 11, AgentPhase.Cordoning, 1), seen); // the grant recorded
    c.lease('MODIFIED', slot(0, 12, 'n1', { started: true }));
    c.node('MODIFIED', node('n1', 13, AgentPhase.Cordoning, 1, tainted), seen);
    c.node('MODIFIED', node('n1', 14, AgentPhase.Draining, 2, tainted), seen); // still tainted: no new cordon
    c.leaseProgress('14');
    expect(c.violations).toEqual([]);
    expect(c.cordons.map((x) => [x.node, x.resourceVersion, x.started])).toEqual([['n1', '13', true]]);
  });

  it('flags a cordon before the start was acknowledged', () => {
    const c = new InvariantChecker(1);
    c.leaseList([slot(0, 10, 'n1')], '10');
    c.node('ADDED', node('n1', 10), seen);
    c.node('MODIFIED', node('n1', 11, AgentPhase.Cordoning, 1, tainted), seen);
    c.lease('MODIFIED', slot(0, 12, 'n1', { started: true })); // too late
    c.leaseProgress('12');
    expect(kinds(c)).toEqual(['cordon-without-start']);
    expect(c.violations[0]?.detail).toContain('without the start acknowledged');
  });

  it('flags a cordon under another grant than the one started, or under none', () => {
    const other = new InvariantChecker(1);
    other.leaseList([slot(0, 10, 'n1', { grantId: 'newer', started: true })], '10');
    other.node('ADDED', node('n1', 10), seen);
    other.node('MODIFIED', node('n1', 11, AgentPhase.Cordoning, 1, tainted), seen);
    other.leaseProgress('11');
    expect(kinds(other)).toEqual(['cordon-without-start']);

    const none = new InvariantChecker(1);
    none.leaseList([slot(0, 10)], '10');
    none.node('ADDED', node('n1', 10), seen);
    none.node('MODIFIED', node('n1', 11, AgentPhase.Cordoning, 1, tainted), seen);
    none.reconcileReboots([]);
    expect(kinds(none)).toEqual(['cordon-without-start']);
  });

  it('an administrator’s cordon (no taint of ours) and a node first seen tainted are not judged', () => {
    const c = new InvariantChecker(1);
    c.leaseList([slot(0, 10)], '10');
    c.node('ADDED', node('n1', 10), seen);
    c.node('MODIFIED', node('n1', 11, undefined, 0, { spec: { unschedulable: true } }), seen);
    c.node('ADDED', node('n2', 12, AgentPhase.Draining, 1, tainted), seen);
    c.reconcileReboots([]);
    expect(c.violations).toEqual([]);
    expect(c.cordons).toEqual([]);
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
    c.leaseList([slot(0, 10, 'n1')], '10');
    c.node('MODIFIED', node('n1', 11, AgentPhase.Rebooting, 2), seen);
    c.lease('MODIFIED', slot(0, 12, 'n1', { ack: 'boot-n1' }));
    c.lease('MODIFIED', slot(0, 13)); // released (the agent aborted)
    c.lease('MODIFIED', slot(0, 14, 'n2', { renewedAt: 5 }));
    c.node('MODIFIED', node('n2', 15, AgentPhase.Rebooting, 6), seen);
    c.lease('MODIFIED', slot(0, 16, 'n2', { renewedAt: 5, ack: 'boot-n2' }));
    c.leaseProgress('16');
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
