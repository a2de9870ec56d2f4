import { describe, expect, it } from 'vitest';
import { pauseState } from './pause.ts';

const now = new Date('2026-11-25T12:00:00Z');
const lease = (spec: Record<string, unknown>) => ({ metadata: { name: 'baton-pause' }, spec });

describe('pauseState', () => {
  it.each<[string, ReturnType<typeof lease> | undefined, string | undefined]>([
    ['no Lease', undefined, undefined],
    ['empty holder', lease({}), undefined],
    ['an empty-string holder', lease({ holderIdentity: '' }), undefined],
    [
      'an empty holder with a duration still running',
      lease({ holderIdentity: '', renewTime: '2026-11-25T11:00:00.000000Z', leaseDurationSeconds: 7200 }),
      undefined,
    ],
    ['held by a person', lease({ holderIdentity: 'manual:alice' }), 'paused by manual:alice'],
    [
      'held with a duration still running',
      lease({
        holderIdentity: 'manual:alice',
        renewTime: '2026-11-25T11:00:00.000000Z',
        leaseDurationSeconds: 7200,
      }),
      'paused by manual:alice until 2026-11-25T13:00:00.000Z',
    ],
    [
      'held with a duration counted from acquireTime when there is no renewTime',
      lease({
        holderIdentity: 'manual:alice',
        acquireTime: '2026-11-25T11:30:00.000000Z',
        leaseDurationSeconds: 3600,
      }),
      'paused by manual:alice until 2026-11-25T12:30:00.000Z',
    ],
    [
      'held with a duration that ended',
      lease({
        holderIdentity: 'manual:alice',
        renewTime: '2026-11-25T10:00:00.000000Z',
        leaseDurationSeconds: 60,
      }),
      undefined,
    ],
    [
      'held with a duration that ends right now (ended)',
      lease({
        holderIdentity: 'manual:alice',
        renewTime: '2026-11-25T11:59:00.000000Z',
        leaseDurationSeconds: 60,
      }),
      undefined,
    ],
    [
      'held with a duration but no times to count it from (held until resumed)',
      lease({ holderIdentity: 'manual:alice', leaseDurationSeconds: 60 }),
      'paused by manual:alice',
    ],
    [
      'held with a duration that is not a count of seconds (held until resumed)',
      lease({
        holderIdentity: 'manual:alice',
        renewTime: '2026-11-25T10:00:00.000000Z',
        leaseDurationSeconds: 0,
      }),
      'paused by manual:alice',
    ],
    [
      'held without the manual: prefix (fails closed)',
      lease({ holderIdentity: 'alice' }),
      'paused by "alice" (expected manual:<who>)',
    ],
    [
      'held without the manual: prefix, with a duration still running (fails closed, says until when)',
      lease({
        holderIdentity: 'alice',
        renewTime: '2026-11-25T11:00:00.000000Z',
        leaseDurationSeconds: 7200,
      }),
      'paused by "alice" until 2026-11-25T13:00:00.000Z (expected manual:<who>)',
    ],
    [
      'held without the manual: prefix, with a duration that ended',
      lease({ holderIdentity: 'alice', renewTime: '2026-11-25T10:00:00.000000Z', leaseDurationSeconds: 60 }),
      undefined,
    ],
  ])('%s', (_what, l, expected) => {
    expect(pauseState(l, now)).toBe(expected);
  });
});
