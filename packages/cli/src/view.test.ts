import { describe, expect, it } from 'vitest';
import { type AnnotatedLease, type NodeLike, nodeView, pauseView, slotViews, statusReport } from './view.ts';

const now = new Date('2026-01-10T12:00:00Z');
const ago = (s: number) => new Date(now.getTime() - s * 1000).toISOString();

const slot = (
  name: string,
  holder: string | undefined,
  renewedAgo = 10,
  duration = 300,
  grantId: string | null = 'g1',
): AnnotatedLease => ({
  metadata: { name, annotations: grantId === null ? {} : { 'baton.dev/grant-id': grantId } },
  spec: {
    holderIdentity: holder,
    acquireTime: ago(renewedAgo),
    renewTime: ago(renewedAgo),
    leaseDurationSeconds: duration,
  },
});

function node(
  name: string,
  opts: Partial<{
    reboot: [string, string?, number?];
    gate: [string, string, string?, number?];
    ann: Record<string, string>;
    labels: Record<string, string>;
    cordoned: boolean;
  }> = {},
): NodeLike {
  const conditions = [];
  if (opts.reboot) {
    const [status, reason, since = 600] = opts.reboot;
    conditions.push({ type: 'RebootRequired', status, reason, lastTransitionTime: ago(since) });
  }
  if (opts.gate) {
    const [status, reason, message, since = 300] = opts.gate;
    conditions.push({ type: 'RebootGate', status, reason, message, lastTransitionTime: ago(since) });
  }
  conditions.push({ type: 'Ready', status: 'True', lastTransitionTime: ago(1) });
  return {
    metadata: { name, annotations: opts.ann ?? {}, labels: opts.labels ?? {} },
    spec: { unschedulable: opts.cordoned },
    status: { conditions },
  };
}

describe('nodeView', () => {
  it.each([
    [undefined, 'unreported'],
    [['True', 'SentinelPresent'], 'yes'],
    [['True', 'RebootRequested'], 'yes'],
    [['True', 'AttemptLimitReached'], 'held'],
    [['False', 'NoSentinel'], 'no'],
    [['Unknown', 'SentinelError'], 'unknown'],
  ] as const)('RebootRequired %j reads as %s', (reboot, expected) => {
    const v = nodeView(node('n', reboot ? { reboot: [...reboot] } : {}), [], 'baton.dev/opt-out');
    expect(v.needsReboot).toBe(expected);
  });

  it('finds the slot naming the node, and tells a grant from a Lease without a grant id (never by time)', () => {
    const held = nodeView(node('a'), [slot('baton-slot-0', 'b'), slot('baton-slot-1', 'a')], 'x/y');
    expect(held).toMatchObject({ slot: 'baton-slot-1', granted: true });
    const old = nodeView(node('a'), [slot('baton-slot-0', 'a', 400, 300)], 'x/y');
    expect(old).toMatchObject({ slot: 'baton-slot-0', granted: true });
    const byHand = nodeView(node('a'), [slot('baton-slot-0', 'a', 10, 300, null)], 'x/y');
    expect(byHand).toMatchObject({ slot: 'baton-slot-0', granted: false });
    const none = nodeView(node('a'), [slot('baton-slot-0', 'b'), slot('baton-pause', 'a')], 'x/y');
    expect(none).toMatchObject({ slot: null, granted: false });
  });

  it('reports the RebootGate reason as blocked only while the gate holds the node back', () => {
    const blocked = nodeView(
      node('a', { gate: ['True', 'OutsideWindow', 'outside mo-fr 22:00-04:00'] }),
      [],
      'x/y',
    );
    expect(blocked.blocked).toBe('OutsideWindow');
    expect(blocked.gate).toEqual({
      status: 'True',
      reason: 'OutsideWindow',
      message: 'outside mo-fr 22:00-04:00',
      since: ago(300),
    });
    expect(nodeView(node('a', { gate: ['False', 'Granted'] }), [], 'x/y').blocked).toBeNull();
    expect(nodeView(node('a'), [], 'x/y')).toMatchObject({ blocked: null, gate: null });
  });

  it('says since when: the latest of the phase start and the two transitions', () => {
    const v = nodeView(
      node('a', {
        reboot: ['True', 'SentinelPresent', 900],
        gate: ['True', 'Paused', 'paused', 60],
        ann: { 'baton.dev/phase': 'Rebooted', 'baton.dev/phase-since': ago(3600) },
      }),
      [],
      'x/y',
    );
    expect(v).toMatchObject({ phase: 'Rebooted', phaseSince: ago(3600), since: ago(60) });
    expect(nodeView(node('a'), [], 'x/y').since).toBeNull();
  });

  it('reads the request, the attempts, the opt-out label (only "true") and the cordon', () => {
    const v = nodeView(
      node('a', {
        ann: { 'baton.dev/reboot-requested': 'alice', 'baton.dev/reboot-attempts': '3' },
        labels: { 'example.com/no-reboot': 'true' },
        cordoned: true,
      }),
      [],
      'example.com/no-reboot',
    );
    expect(v).toMatchObject({ requestedBy: 'alice', attempts: 3, optedOut: true, cordoned: true });
    const other = nodeView(
      node('a', { ann: { 'baton.dev/reboot-attempts': 'many' }, labels: { 'baton.dev/opt-out': 'yes' } }),
      [],
      'baton.dev/opt-out',
    );
    expect(other).toMatchObject({ requestedBy: null, attempts: null, optedOut: false, cordoned: false });
  });
});

describe('pauseView', () => {
  const pause = (spec: AnnotatedLease['spec'], reason?: string): AnnotatedLease => ({
    metadata: { name: 'baton-pause', annotations: reason ? { 'baton.dev/pause-reason': reason } : {} },
    spec,
  });

  it('is not paused without a Lease or with an empty holder', () => {
    expect(pauseView(undefined, now)).toEqual({
      paused: false,
      holder: null,
      reason: null,
      since: null,
      until: null,
      description: null,
    });
    expect(pauseView(pause({ holderIdentity: '' }), now).paused).toBe(false);
  });

  it('is paused until resumed without a duration, with the reason', () => {
    expect(pauseView(pause({ holderIdentity: 'manual:alice', acquireTime: ago(60) }, 'freeze'), now)).toEqual(
      {
        paused: true,
        holder: 'manual:alice',
        reason: 'freeze',
        since: ago(60),
        until: null,
        description: 'paused by manual:alice',
      },
    );
  });

  it('ends by itself after its duration, as the controller reads it', () => {
    const bounded = pause({ holderIdentity: 'manual:bob', renewTime: ago(60), leaseDurationSeconds: 3600 });
    expect(pauseView(bounded, now)).toMatchObject({ paused: true, until: ago(60 - 3600) });
    const over = pause({ holderIdentity: 'manual:bob', renewTime: ago(7200), leaseDurationSeconds: 3600 });
    expect(pauseView(over, now)).toMatchObject({ paused: false, holder: 'manual:bob', until: ago(3600) });
  });

  it('obeys a holder without the manual: prefix (fail closed) and says so', () => {
    expect(pauseView(pause({ holderIdentity: 'bob' }), now)).toMatchObject({
      paused: true,
      description: 'paused by "bob" (expected manual:<who>)',
    });
  });
});

describe('slotViews and statusReport', () => {
  it('lists only slot Leases, by index, with holder and expiry', () => {
    const views = slotViews([
      slot('baton-slot-10', 'c'),
      slot('baton-pause', 'manual:x'),
      slot('baton-slot-2', undefined),
      slot('baton-slot-0', 'a'),
    ]);
    expect(views.map((s) => [s.name, s.index, s.holder, s.valid])).toEqual([
      ['baton-slot-0', 0, 'a', true],
      ['baton-slot-2', 2, null, false],
      ['baton-slot-10', 10, 'c', true],
    ]);
    expect(views[0]?.expires).toBe(ago(10 - 300));
    expect(views[1]).toMatchObject({ acquired: null, renewed: null, expires: null });
  });

  it('is a stable JSON shape, nodes by name', () => {
    const report = statusReport({
      namespace: 'baton',
      nodes: [node('b'), node('a', { reboot: ['True', 'SentinelPresent'] })],
      leases: [slot('baton-slot-0', 'a')],
      now,
      optOutLabel: 'baton.dev/opt-out',
    });
    expect(Object.keys(report)).toEqual(['kind', 'version', 'time', 'namespace', 'pause', 'slots', 'nodes']);
    expect(report).toMatchObject({
      kind: 'BatonStatus',
      version: 1,
      time: now.toISOString(),
      namespace: 'baton',
    });
    expect(report.nodes.map((n) => n.name)).toEqual(['a', 'b']);
    expect(Object.keys(report.nodes[0] ?? {})).toEqual([
      'name',
      'needsReboot',
      'rebootRequired',
      'phase',
      'phaseSince',
      'slot',
      'granted',
      'gate',
      'blocked',
      'since',
      'requestedBy',
      'attempts',
      'optedOut',
      'cordoned',
    ]);
    expect(JSON.parse(JSON.stringify(report))).toEqual(report);
  });
});
