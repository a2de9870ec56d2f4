import { describe, expect, it } from 'vitest';
import type { ApiSlopeResult } from './api-slope.ts';
import { apiSlopeFigures, onlyStartUp, periodSeconds, toolLine } from './api-slope-report.ts';

const load = { min: 1, mean: 1, max: 1 };
/** baton's window at `nodes`: a heartbeat and 1.5 watch renewals per node, leader election fixed. */
const batonAt = (nodes: number): ApiSlopeResult['baton'][number] => ({
  nodes,
  seconds: 600,
  load,
  perHour: {
    'baton-agent': { 'PATCH nodes/status': nodes * 12, 'WATCH leases': nodes * 1.5 },
    'baton-controller': { 'PUT leases': 1800, 'GET leases': 1800 },
  },
});
const result: ApiSlopeResult = {
  settleSeconds: 60,
  windowSeconds: 600,
  kuredPeriod: '30s',
  baton: [batonAt(25), batonAt(100)],
  kured: [
    { nodes: 25, seconds: 600, load, perHour: { kured: { 'GET daemonsets': 25 * 120 } } },
    { nodes: 100, seconds: 600, load, perHour: { kured: { 'GET daemonsets': 100 * 120 } } },
  ],
};

describe('the API slope report', () => {
  it('splits each tool into a fixed cost and a per-node slope, by kind', () => {
    const line = toolLine(result.baton);
    expect(line?.fixed).toBe(3600);
    expect(line?.slope).toBe(13.5);
    expect(line?.kinds[0]).toEqual({ kind: 'PATCH nodes/status', fixed: 0, slope: 12 });
    expect(line?.kinds.find((k) => k.kind === 'PUT leases')).toEqual({
      kind: 'PUT leases',
      fixed: 1800,
      slope: 0,
    });
    expect(toolLine(result.baton, ['baton-agent'])?.slope).toBe(13.5);
    expect(toolLine(result.baton.slice(0, 1))).toBeUndefined();
  });

  it('marks the slope goal missed with its causes, next to kured at its period', () => {
    const { figures, notes } = apiSlopeFigures(result);
    const slope = figures[0];
    expect(slope?.baton).toBe('13.5');
    expect(slope?.met).toBe(false);
    expect(slope?.note).toContain('by 1.5 (13 %)');
    expect(slope?.note).toContain('PATCH nodes/status 12');
    expect(slope?.reference).toBe('kured --period=30s: 120 (120 checks an hour; --period=1h not measured)');
    expect(figures[1]?.baton).toBe('3600');
    expect(notes[0]?.body).toContain('| `PUT leases` | 1800 | 0 |');
  });

  it('meets the goal only at or under 12 and under kured', () => {
    const low = structuredClone(result);
    for (const w of low.baton) delete w.perHour['baton-agent']?.['WATCH leases'];
    expect(apiSlopeFigures(low).figures[0]?.met).toBe(true);
  });

  it('reads kured periods and refuses others', () => {
    expect(periodSeconds('30s')).toBe(30);
    expect(periodSeconds('1h')).toBe(3600);
    expect(() => periodSeconds('1d')).toThrow(/expected <number>s\|m\|h/);
  });

  it("tells kured's start-up from a rate: at most one request of each kind per node in a window", () => {
    // 300 s windows; kured read its lock and its Node once per node, 30-90 s after it started.
    const startUp: ApiSlopeResult = {
      ...result,
      windowSeconds: 300,
      kured: [
        { nodes: 25, seconds: 300, load, perHour: { kured: { 'GET daemonsets': 240, 'GET nodes': 240 } } },
        { nodes: 100, seconds: 300, load, perHour: { kured: { 'GET daemonsets': 828, 'GET nodes': 828 } } },
      ],
    };
    expect(onlyStartUp(startUp.kured, ['kured'])).toBe(true);
    expect(onlyStartUp(result.kured, ['kured'])).toBe(false);
    const low = structuredClone(startUp);
    for (const w of low.baton) delete w.perHour['baton-agent']?.['WATCH leases'];
    const [slope] = apiSlopeFigures(low).figures;
    expect(slope?.reference).toContain('all of it start-up');
    expect(slope?.ratio).toBe('');
    // 12 is met, "below kured" cannot be: the figure says which and why.
    expect(slope?.met).toBe(false);
    expect(slope?.note).toBe(
      "below kured: not possible, kured sends nothing while no reboot is needed; baton's per-node requests are the heartbeat that shows a live agent",
    );
  });
});
