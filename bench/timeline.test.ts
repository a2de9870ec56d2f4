import { describe, expect, it } from 'vitest';
import { Timeline } from './timeline.ts';

describe('Timeline', () => {
  it('turns grants, readiness and releases into the four phases per node, in grant order', () => {
    const tl = new Timeline(['a', 'b'], 1000);
    tl.granted('b', 2000);
    tl.ready('b', false, 3000);
    tl.ready('b', true, 8000);
    tl.released('b', 9000);
    tl.granted('a', 9500);
    tl.ready('a', false, 10_000);
    tl.ready('a', true, 15_000);
    tl.released('a', 16_000);
    expect(tl.complete()).toBe(true);
    const rows = tl.rows();
    expect(rows.map((r) => r.node)).toEqual(['b', 'a']);
    expect(rows[0]?.spans).toEqual([
      { phase: 'waiting', start: 0, end: 1 },
      { phase: 'draining', start: 1, end: 2 },
      { phase: 'rebooting', start: 2, end: 7 },
      { phase: 'settling', start: 7, end: 8 },
    ]);
    expect(rows[1]?.done).toBe(15);
    expect(tl.handoffs).toEqual([{ released: 9000, granted: 9500 }]);
  });

  it('ignores readiness before a grant, repeated grants and nodes it does not know', () => {
    const tl = new Timeline(['a'], 0);
    tl.ready('a', false, 100);
    tl.granted('zzz', 100);
    tl.granted('a', 1000);
    tl.granted('a', 5000);
    const [row] = tl.rows();
    expect(row?.spans).toEqual([{ phase: 'waiting', start: 0, end: 1 }]);
    expect(row?.done).toBeUndefined();
    expect(tl.complete()).toBe(false);
  });
});
