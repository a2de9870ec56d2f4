import type { V1Node, V1Taint } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { waitingTaintChange, waitsForSlot } from './waiting-taint.ts';

const KEY = 'example.com/reboot-pending';

function node(o: { required?: string; gate?: [string, string]; taints?: V1Taint[] }): V1Node {
  const conditions = [];
  if (o.required !== undefined)
    conditions.push({
      type: 'RebootRequired',
      status: o.required,
      reason: o.required === 'True' ? 'SentinelPresent' : 'NoSentinel',
    });
  if (o.gate !== undefined) conditions.push({ type: 'RebootGate', status: o.gate[0], reason: o.gate[1] });
  return { metadata: { name: 'n' }, spec: { taints: o.taints ?? [] }, status: { conditions } };
}

describe('the waiting-for-a-slot taint', () => {
  it.each([
    ['needs a reboot, waits for a slot', 'True', ['True', 'WaitingForSlot'], true],
    ['needs a reboot, outside the window', 'True', ['True', 'OutsideWindow'], false],
    ['needs a reboot, an alert fires', 'True', ['True', 'AlertFiring'], false],
    ['granted', 'True', ['False', 'Granted'], false],
    ['needs nothing any more (a stale gate)', 'False', ['True', 'WaitingForSlot'], false],
    ['no gate written yet', 'True', undefined, false],
  ] as const)('%s: %s', (_what, required, gate, want) => {
    const n = node({ required, gate: gate === undefined ? undefined : [gate[0], gate[1]] });
    expect(waitsForSlot(n)).toBe(want);
    const changed = waitingTaintChange(n, KEY);
    if (want) expect(changed?.spec?.taints).toEqual([{ key: KEY, effect: 'PreferNoSchedule' }]);
    else expect(changed).toBeUndefined();
  });

  it('takes only its own taint off, and leaves a taint of the same key with another effect', () => {
    const others = [
      { key: 'baton.dev/rebooting', effect: 'NoSchedule' },
      { key: KEY, effect: 'NoSchedule' },
    ];
    const n = node({
      required: 'True',
      gate: ['False', 'Granted'],
      taints: [...others, { key: KEY, effect: 'PreferNoSchedule' }],
    });
    expect(waitingTaintChange(n, KEY)?.spec?.taints).toEqual(others);
    // Already as it should be: nothing to write.
    expect(
      waitingTaintChange(node({ required: 'True', gate: ['False', 'Granted'], taints: others }), KEY),
    ).toBeUndefined();
    const waiting = node({
      required: 'True',
      gate: ['True', 'WaitingForSlot'],
      taints: [{ key: KEY, effect: 'PreferNoSchedule' }],
    });
    expect(waitingTaintChange(waiting, KEY)).toBeUndefined();
  });
});
