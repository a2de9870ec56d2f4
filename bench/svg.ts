/**
 * The rollout picture: one row per node, its phases over time, one block per tool (baton above
 * kured) on one shared time axis. Pure: rows in, SVG text out.
 */

import type { NodeRow } from './timeline.ts';
import { PHASES, type Phase } from './timeline.ts';

export interface SvgBlock {
  readonly label: string;
  readonly rows: readonly NodeRow[];
  /** Shown after the label, e.g. "all 50 done in 412 s". */
  readonly summary: string;
}

export const PHASE_COLOURS: Readonly<Record<Phase, string>> = {
  waiting: '#d9d9d9',
  draining: '#f2a33a',
  rebooting: '#d64541',
  settling: '#3d7cc9',
};

const WIDTH = 960;
const LEFT = 90;
const RIGHT = 20;
const ROW = 6;
const GAP = 1;

/** A tick step (s) giving 6–12 ticks over `max` seconds. */
export function tickStep(max: number): number {
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];
  return steps.find((s) => max / s <= 12) ?? 7200;
}

const esc = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export function renderRolloutSvg(blocks: readonly SvgBlock[], title: string): string {
  const maxEnd = Math.max(1, ...blocks.flatMap((b) => b.rows.flatMap((r) => r.spans.map((s) => s.end))));
  const step = tickStep(maxEnd);
  const axisMax = Math.ceil(maxEnd / step) * step;
  const plot = WIDTH - LEFT - RIGHT;
  const x = (sec: number) => +(LEFT + (sec / axisMax) * plot).toFixed(2);
  const out: string[] = [];
  let y = 30;
  out.push(`<text x="${LEFT}" y="18" font-size="14" font-weight="bold">${esc(title)}</text>`);
  for (const block of blocks) {
    y += 16;
    out.push(
      `<text x="${LEFT}" y="${y}" font-size="13" font-weight="bold">${esc(block.label)}</text>` +
        `<text x="${LEFT + 8 + block.label.length * 8}" y="${y}" font-size="12">${esc(block.summary)}</text>`,
    );
    y += 6;
    const top = y;
    for (const row of block.rows) {
      for (const s of row.spans) {
        const w = Math.max(0.5, x(s.end) - x(s.start));
        out.push(
          `<rect x="${x(s.start)}" y="${y}" width="${w.toFixed(2)}" height="${ROW}" fill="${PHASE_COLOURS[s.phase]}"><title>${esc(
            `${row.node}: ${s.phase} ${s.start.toFixed(1)}–${s.end.toFixed(1)} s`,
          )}</title></rect>`,
        );
      }
      y += ROW + GAP;
    }
    out.push(
      `<text x="${LEFT - 6}" y="${top + 9}" font-size="10" text-anchor="end">node 1</text>`,
      `<text x="${LEFT - 6}" y="${y - 1}" font-size="10" text-anchor="end">node ${block.rows.length}</text>`,
      `<rect x="${LEFT}" y="${top}" width="${plot}" height="${y - top}" fill="none" stroke="#999" stroke-width="0.5"/>`,
    );
    y += 8;
  }
  // The shared time axis.
  const axisY = y + 4;
  out.push(`<line x1="${LEFT}" y1="${axisY}" x2="${LEFT + plot}" y2="${axisY}" stroke="#333"/>`);
  for (let t = 0; t <= axisMax; t += step) {
    const label = axisMax >= 600 ? `${+(t / 60).toFixed(1)} min` : `${t} s`;
    out.push(
      `<line x1="${x(t)}" y1="${axisY}" x2="${x(t)}" y2="${axisY + 4}" stroke="#333"/>`,
      `<text x="${x(t)}" y="${axisY + 16}" font-size="10" text-anchor="middle">${label}</text>`,
    );
  }
  // Legend.
  const legendY = axisY + 34;
  PHASES.forEach((p, i) => {
    const lx = LEFT + i * 130;
    out.push(
      `<rect x="${lx}" y="${legendY - 9}" width="12" height="10" fill="${PHASE_COLOURS[p]}"/>`,
      `<text x="${lx + 16}" y="${legendY}" font-size="11">${p}</text>`,
    );
  });
  const height = legendY + 12;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif">`,
    `<title>${esc(title)}</title>`,
    `<rect width="${WIDTH}" height="${height}" fill="#fff"/>`,
    ...out,
    '</svg>',
    '',
  ].join('\n');
}
