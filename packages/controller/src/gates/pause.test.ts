import { describe, expect, it } from 'vitest';
import { pauseState } from './pause.ts';

const now = new Date('2026-11-25T12:00:00Z');
const lease = (spec: Record<string, unknown>) => ({ metadata: { name: 'baton-pause' }, spec });

describe('pauseState', () => {
  it.each<[string, ReturnType<typeof lease> | undefined, string | undefined]>([
    ['no Lease', undefined, undefined],
    ['empty holder', lease({}), undefined],
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
      'held with a duration that ended',
      lease({
        holderIdentity: 'manual:alice',
        renewTime: '2026-11-25T10:00:00.000000Z',
        leaseDurationSeconds: 60,
      }),
      undefined,
    ],
    [
      'held without the manual: prefix (fails closed)',
      lease({ holderIdentity: 'alice' }),
      'paused by "alice" (expected manual:<who>)',
    ],
  ])('%s', (_what, l, expected) => {
    expect(pauseState(l, now)).toBe(expected);
  });
});
