import { describe, expect, it } from 'vitest';
import {
  emptiedSlot,
  grantNaming,
  grantOf,
  inFlightGrant,
  type LeaseLike,
  leaseExpiry,
  leaseTime,
  mayStartUnder,
  recordedGrant,
  splitGrantIdentity,
} from './grant.ts';
import { Annotation, SlotAnnotation } from './protocol.ts';

const lease = (
  name: string,
  spec: NonNullable<LeaseLike['spec']>,
  annotations: Record<string, string> = {},
): LeaseLike => ({ metadata: { name, annotations }, spec });

const held = (slot: number, holder: string, id = 'g1', extra: Record<string, string> = {}) =>
  lease(`baton-slot-${slot}`, { holderIdentity: holder }, { [SlotAnnotation.GrantId]: id, ...extra });

describe('leaseTime', () => {
  it.each([
    ['2026-11-25T12:00:00.123456Z', '2026-11-25T12:00:00.123Z'],
    [new Date('2026-11-25T12:00:00Z'), '2026-11-25T12:00:00.000Z'],
  ])('reads %s', (input, iso) => {
    expect(leaseTime(input)?.toISOString()).toBe(iso);
  });
  it.each([undefined, null, '', 'yesterday', '42', 42, 42n])('refuses %s', (input) => {
    expect(leaseTime(input)).toBeUndefined();
  });
});

describe('leaseExpiry (for people and the pause Lease, never for a grant)', () => {
  it('is renewTime (or acquireTime) + duration', () => {
    expect(
      leaseExpiry(lease('x', { renewTime: '2026-11-25T11:59:30Z', leaseDurationSeconds: 60 }))?.toISOString(),
    ).toBe('2026-11-25T12:00:30.000Z');
    expect(
      leaseExpiry(
        lease('x', { acquireTime: '2026-11-25T11:59:30Z', leaseDurationSeconds: 60 }),
      )?.toISOString(),
    ).toBe('2026-11-25T12:00:30.000Z');
    expect(leaseExpiry(lease('x', { renewTime: '2026-11-25T11:59:30Z' }))).toBeUndefined();
  });
});

describe('grantOf: a grant is a holder and a grant id, nothing about time', () => {
  it('reads the identity and the acknowledged reboot', () => {
    expect(grantOf(held(2, 'node-a', 'abc-123', { [SlotAnnotation.RebootFromBootId]: 'boot-9' }))).toEqual({
      slot: 'baton-slot-2',
      slotIndex: 2,
      holder: 'node-a',
      id: 'abc-123',
      identity: 'baton-slot-2/abc-123',
      started: false,
      rebootFromBootId: 'boot-9',
    });
  });

  it('is the same grant whatever its times say: expired long ago, dated in the future, or none', () => {
    for (const spec of [
      { holderIdentity: 'node-a', renewTime: '2020-01-01T00:00:00Z', leaseDurationSeconds: 1 },
      { holderIdentity: 'node-a', renewTime: '2099-01-01T00:00:00Z', leaseDurationSeconds: 60 },
      { holderIdentity: 'node-a' },
    ]) {
      expect(grantOf(lease('baton-slot-0', spec, { [SlotAnnotation.GrantId]: 'g1' }))?.identity).toBe(
        'baton-slot-0/g1',
      );
    }
  });

  it.each<[string, LeaseLike]>([
    ['no grant id (a hand-written holder)', lease('baton-slot-0', { holderIdentity: 'node-a' })],
    ['a grant id with a slash', held(0, 'node-a', 'a/b')],
    ['an empty grant id', held(0, 'node-a', '')],
    ['an overlong grant id', held(0, 'node-a', 'x'.repeat(65))],
    ['an empty holder', held(0, '')],
    ['not a slot', lease('baton-pause', { holderIdentity: 'node-a' }, { [SlotAnnotation.GrantId]: 'g' })],
    ['no name', { spec: { holderIdentity: 'node-a' } }],
  ])('is no grant with %s', (_why, l) => {
    expect(grantOf(l)).toBeUndefined();
  });
});

describe('grantNaming', () => {
  it('finds the slot that names the node, the lowest if several do', () => {
    const leases = [held(3, 'node-a', 'late'), held(0, 'node-b'), held(1, 'node-a', 'early')];
    expect(grantNaming('node-a', leases)?.identity).toBe('baton-slot-1/early');
    expect(grantNaming('node-c', leases)).toBeUndefined();
  });

  it('prefers the grant the node already works under, so it never switches in the middle', () => {
    const leases = [held(0, 'node-a', 'late'), held(1, 'node-a', 'first')];
    expect(grantNaming('node-a', leases)?.identity).toBe('baton-slot-0/late');
    expect(grantNaming('node-a', leases, 'baton-slot-1/first')?.identity).toBe('baton-slot-1/first');
    expect(grantNaming('node-a', leases, 'baton-slot-1/gone')?.identity).toBe('baton-slot-0/late');
  });

  it('ignores a holder that only resembles the node name', () => {
    expect(grantNaming('node-a', [held(0, 'node-a '), held(1, 'Node-a')])).toBeUndefined();
  });
});

describe('the node side: what the agent recorded', () => {
  it('reads only a well-formed identity', () => {
    expect(recordedGrant({ [Annotation.Grant]: 'baton-slot-0/g1' })).toBe('baton-slot-0/g1');
    for (const bad of ['baton-slot-0', 'baton-pause/g1', 'baton-slot-0/', '/g1', 'baton-slot-0/a b']) {
      expect(recordedGrant({ [Annotation.Grant]: bad }), bad).toBeUndefined();
    }
    expect(splitGrantIdentity('baton-slot-12/x-1')).toEqual({ slot: 'baton-slot-12', id: 'x-1' });
  });

  it('mayStartUnder: once per grant, and never under an acknowledged one', () => {
    const g = grantOf(held(0, 'node-a', 'g1'));
    const acked = grantOf(held(0, 'node-a', 'g1', { [SlotAnnotation.RebootFromBootId]: 'b' }));
    if (g === undefined || acked === undefined) throw new Error('fixture');
    expect(mayStartUnder(g, {})).toBe(true);
    expect(mayStartUnder(g, { [Annotation.Grant]: 'baton-slot-0/g0' })).toBe(true);
    expect(mayStartUnder(g, { [Annotation.Grant]: 'baton-slot-0/g1' })).toBe(false);
    // The node's record is gone (its Node object deleted and registered again), the Lease says
    // its reboot was acknowledged: the grant is used up.
    expect(mayStartUnder(acked, {})).toBe(false);
  });

  it('inFlightGrant: mid-reboot by the record, until a person gives up on that grant', () => {
    const mid = { [Annotation.Grant]: 'baton-slot-0/g1', [Annotation.Phase]: 'Draining' };
    expect(inFlightGrant(mid)).toBe('baton-slot-0/g1');
    expect(inFlightGrant({ [Annotation.Grant]: 'baton-slot-0/g1', [Annotation.RebootFromBootId]: 'b' })).toBe(
      'baton-slot-0/g1',
    );
    expect(inFlightGrant({ ...mid, [Annotation.Phase]: 'Rebooted' })).toBeUndefined();
    expect(inFlightGrant({ ...mid, [Annotation.GivenUp]: 'baton-slot-0/g1' })).toBeUndefined();
    // Giving up on an earlier grant does not cover this one.
    expect(inFlightGrant({ ...mid, [Annotation.GivenUp]: 'baton-slot-0/g0' })).toBe('baton-slot-0/g1');
    expect(inFlightGrant({ [Annotation.Phase]: 'Draining' })).toBeUndefined();
  });
});

describe('emptiedSlot', () => {
  it('drops the holder, the times and every grant annotation; keeps the rest', () => {
    const l = {
      metadata: {
        name: 'baton-slot-0',
        annotations: {
          [SlotAnnotation.GrantId]: 'g1',
          [SlotAnnotation.GrantedNode]: 'node-a',
          [SlotAnnotation.RebootFromBootId]: 'b',
          [SlotAnnotation.GrantedWorkloads]: '{}',
          [SlotAnnotation.GrantedNodeWasUnschedulable]: 'false',
          'example.com/keep': 'yes',
        },
      },
      spec: {
        holderIdentity: 'node-a',
        acquireTime: '2026-11-25T11:59:30Z',
        renewTime: '2026-11-25T11:59:30Z',
        leaseDurationSeconds: 60,
        leaseTransitions: 4,
      },
    };
    expect(emptiedSlot(l)).toEqual({
      metadata: { name: 'baton-slot-0', annotations: { 'example.com/keep': 'yes' } },
      spec: { leaseDurationSeconds: 60, leaseTransitions: 4 },
    });
  });
});
