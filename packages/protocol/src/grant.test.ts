import { describe, expect, it } from 'vitest';
import { grantFor, grantOf, type LeaseLike, leaseExpiry, leaseTime } from './grant.ts';

const now = new Date('2026-11-25T12:00:00.000Z');
const lease = (name: string, spec: NonNullable<LeaseLike['spec']>): LeaseLike => ({
  metadata: { name },
  spec,
});

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

describe('grantOf', () => {
  const valid = {
    holderIdentity: 'node-a',
    renewTime: '2026-11-25T11:59:30.000000Z',
    leaseDurationSeconds: 60,
  };

  it('grants the holder until renewTime + duration', () => {
    expect(grantOf(lease('baton-slot-0', valid), now)).toEqual({
      slot: 'baton-slot-0',
      slotIndex: 0,
      holder: 'node-a',
      acquiredAt: new Date('2026-11-25T11:59:30.000Z'),
      expiresAt: new Date('2026-11-25T12:00:30.000Z'),
    });
  });

  it('falls back to acquireTime when renewTime is missing', () => {
    const { renewTime: _, ...rest } = valid;
    expect(
      leaseExpiry(lease('baton-slot-0', { ...rest, acquireTime: '2026-11-25T11:59:30Z' }))?.toISOString(),
    ).toBe('2026-11-25T12:00:30.000Z');
  });

  it.each<[string, LeaseLike]>([
    ['expired exactly now', lease('baton-slot-0', { ...valid, renewTime: '2026-11-25T11:59:00Z' })],
    ['expired', lease('baton-slot-0', { ...valid, renewTime: '2026-11-25T10:00:00Z' })],
    ['empty holder', lease('baton-slot-0', { ...valid, holderIdentity: '' })],
    ['no holder', lease('baton-slot-0', { renewTime: valid.renewTime, leaseDurationSeconds: 60 })],
    ['no duration', lease('baton-slot-0', { holderIdentity: 'node-a', renewTime: valid.renewTime })],
    ['zero duration', lease('baton-slot-0', { ...valid, leaseDurationSeconds: 0 })],
    ['negative duration', lease('baton-slot-0', { ...valid, leaseDurationSeconds: -60 })],
    ['fractional duration', lease('baton-slot-0', { ...valid, leaseDurationSeconds: 1.5 })],
    ['garbage time', lease('baton-slot-0', { ...valid, renewTime: 'not a time' })],
    ['no times', lease('baton-slot-0', { holderIdentity: 'node-a', leaseDurationSeconds: 60 })],
    ['not a slot', lease('baton-pause', valid)],
    ['no name', { spec: valid }],
  ])('is no grant when %s', (_why, l) => {
    expect(grantOf(l, now)).toBeUndefined();
  });
});

describe('grantFor', () => {
  const held = (slot: number, holder: string, renew: string) =>
    lease(`baton-slot-${slot}`, { holderIdentity: holder, renewTime: renew, leaseDurationSeconds: 60 });

  it('finds the slot that names the node', () => {
    const leases = [held(0, 'node-b', '2026-11-25T11:59:50Z'), held(1, 'node-a', '2026-11-25T11:59:40Z')];
    expect(grantFor('node-a', leases, now)?.slot).toBe('baton-slot-1');
    expect(grantFor('node-c', leases, now)).toBeUndefined();
  });

  it('ignores a holder that only resembles the node name', () => {
    expect(
      grantFor(
        'node-a',
        [held(0, 'node-a ', '2026-11-25T11:59:50Z'), held(1, 'Node-a', '2026-11-25T11:59:50Z')],
        now,
      ),
    ).toBeUndefined();
  });

  it('prefers the later expiry when two slots name the node', () => {
    const leases = [held(0, 'node-a', '2026-11-25T11:59:10Z'), held(1, 'node-a', '2026-11-25T11:59:50Z')];
    expect(grantFor('node-a', leases, now)?.slot).toBe('baton-slot-1');
  });
});
