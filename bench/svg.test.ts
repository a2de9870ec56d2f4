import { describe, expect, it } from 'vitest';
import { PHASE_COLOURS, renderRolloutSvg, tickStep } from './svg.ts';

const row = (node: string, g: number) => ({
  node,
  done: g + 8,
  spans: [
    { phase: 'waiting' as const, start: 0, end: g },
    { phase: 'draining' as const, start: g, end: g + 1 },
    { phase: 'rebooting' as const, start: g + 1, end: g + 6 },
    { phase: 'settling' as const, start: g + 6, end: g + 8 },
  ],
});

describe('renderRolloutSvg', () => {
  it('draws every phase of every node on one shared axis, baton block above kured', () => {
    const svg = renderRolloutSvg(
      [
        { label: 'baton', rows: [row('n-0', 0), row('n-1', 8)], summary: 'done in 16 s' },
        { label: 'kured', rows: [row('n-0', 30), row('n-1', 120)], summary: 'done in 128 s' },
      ],
      'Rollout',
    );
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('<title>Rollout</title>');
    // 2 blocks × 2 nodes × 4 phases, plus 4 legend swatches.
    for (const colour of Object.values(PHASE_COLOURS)) {
      expect(svg.split(`fill="${colour}"`).length - 1).toBe(4 + 1);
    }
    expect(svg.indexOf('>baton<')).toBeLessThan(svg.indexOf('>kured<'));
    // One axis for both: the longest rollout (128 s) sets it, ticks every 15 s up to 135 s.
    expect(svg).toContain('>135 s<');
    expect(svg.match(/<line x1=/g)?.length).toBe(1 + 10);
    // The same second is at the same x in both blocks.
    const xOf = (title: string) => new RegExp(`<rect x="([\\d.]+)"[^>]*><title>${title}`).exec(svg)?.[1];
    expect(xOf('n-1: draining 8.0')).toBeDefined();
    expect(Number(xOf('n-0: waiting 0.0'))).toBe(90);
  });

  it('escapes text', () => {
    const svg = renderRolloutSvg([{ label: 'a<b', rows: [], summary: '"x" & y' }], 't>');
    expect(svg).toContain('a&lt;b');
    expect(svg).toContain('&quot;x&quot; &amp; y');
    expect(svg).toContain('t&gt;');
  });
});

describe('tickStep', () => {
  it('gives at most 12 ticks', () => {
    expect(tickStep(10)).toBe(1);
    expect(tickStep(128)).toBe(15);
    expect(tickStep(4000)).toBe(600);
  });
});
