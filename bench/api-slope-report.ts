/**
 * The API slope part of docs/benchmarks.md, from the JSON of a run. Pure: results in, figures
 * and notes out.
 */
import type { ApiSlopeResult, ApiSlopeWindow } from './api-slope.ts';
import { fixedAndSlope } from './audit.ts';
import type { Figure } from './markdown.ts';

/** The goal of issue 18: one heartbeat per 5 minutes per node. */
export const SLOPE_TARGET = 12;

export interface KindLine {
  kind: string;
  fixed: number;
  slope: number;
}

export interface ToolLine {
  fixed: number;
  slope: number;
  kinds: KindLine[];
}

const r1 = (x: number) => Math.round(x * 10) / 10;

/** Requests per hour of a window, summed over the identities given (all when undefined). */
function byKind(w: ApiSlopeWindow, who?: readonly string[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const [id, kinds] of Object.entries(w.perHour)) {
    if (who !== undefined && !who.includes(id)) continue;
    for (const [k, n] of Object.entries(kinds)) out.set(k, (out.get(k) ?? 0) + n);
  }
  return out;
}

/** The line through a tool's two windows, in total and per kind of request (largest slope first). */
export function toolLine(windows: readonly ApiSlopeWindow[], who?: readonly string[]): ToolLine | undefined {
  const [a, b] = [...windows].sort((x, y) => x.nodes - y.nodes);
  if (a === undefined || b === undefined || a.nodes === b.nodes) return undefined;
  const ka = byKind(a, who);
  const kb = byKind(b, who);
  const total = (m: Map<string, number>) => [...m.values()].reduce((x, y) => x + y, 0);
  const line = fixedAndSlope(a.nodes, total(ka), b.nodes, total(kb));
  const kinds = [...new Set([...ka.keys(), ...kb.keys()])]
    .map((kind) => {
      const l = fixedAndSlope(a.nodes, ka.get(kind) ?? 0, b.nodes, kb.get(kind) ?? 0);
      return { kind, fixed: r1(l.fixed), slope: r1(l.slope) };
    })
    .sort((x, y) => y.slope - x.slope || y.fixed - x.fixed);
  return { fixed: r1(line.fixed), slope: r1(line.slope), kinds };
}

/**
 * Whether every kind of a tool's requests came at most once per node in every window: a
 * one-time start-up (kured reads its lock and its Node once, 30 to 90 s after it starts), not a
 * rate that a longer window would keep finding.
 */
export function onlyStartUp(windows: readonly ApiSlopeWindow[], who: readonly string[]): boolean {
  return (
    windows.length > 0 &&
    windows.every((w) =>
      [...byKind(w, who).values()].every((perHour) => (perHour * w.seconds) / 3600 <= w.nodes),
    )
  );
}

/** Seconds of kured's --period ("30s", "1h", "5m"). */
export function periodSeconds(period: string): number {
  const m = /^(\d+)(s|m|h)$/.exec(period);
  if (!m) throw new Error(`kured period: expected <number>s|m|h, got "${period}"`);
  return Number(m[1]) * { s: 1, m: 60, h: 3600 }[m[2] as 's' | 'm' | 'h'];
}

export function apiSlopeFigures(r: ApiSlopeResult): {
  figures: Figure[];
  notes: { heading: string; body: string }[];
} {
  const baton = toolLine(r.baton, ['baton-agent', 'baton-controller']);
  const agents = toolLine(r.baton, ['baton-agent']);
  const kured = toolLine(r.kured, ['kured']);
  const sizes = [...new Set([...r.baton, ...r.kured].map((w) => w.nodes))]
    .sort((x, y) => x - y)
    .join(' and ');
  const figures: Figure[] = [];
  const notes: { heading: string; body: string }[] = [];
  if (baton === undefined) return { figures, notes };
  // Checks an hour at kured's period: its slope is compared with one request a check, to show
  // whether its idle requests follow the period at all.
  const checksPerHour = 3600 / periodSeconds(r.kuredPeriod);
  const load = r.baton[r.baton.length - 1]?.load ?? 0;
  const top = baton.kinds
    .filter((k) => k.slope >= 0.5)
    .map((k) => `${k.kind} ${k.slope}`)
    .join(', ');
  // kured checks its sentinel locally and reads the API only when a reboot is needed: what an
  // idle window counts of it is its start-up, and its steady idle cost is nothing at any period.
  const kuredStartUpOnly = kured !== undefined && onlyStartUp(r.kured, ['kured']);
  const overTarget =
    baton.slope > SLOPE_TARGET
      ? `by ${r1(baton.slope - SLOPE_TARGET)} (${Math.round(((baton.slope - SLOPE_TARGET) / SLOPE_TARGET) * 100)} %): ${top}`
      : '';
  const underKured = kured === undefined || (!kuredStartUpOnly && baton.slope < kured.slope);
  figures.push({
    item: 5,
    what: `API requests per node per hour: the slope (idle, ${sizes} nodes, ${r.windowSeconds} s windows, counted by ServiceAccount in the audit log)`,
    baton: `${baton.slope}`,
    reference:
      kured === undefined
        ? ''
        : kuredStartUpOnly
          ? `kured --period=${r.kuredPeriod}: ${kured.slope} in the windows, all of it start-up (at most one request of each kind per node); 0 in steady state, at any --period`
          : `kured --period=${r.kuredPeriod}: ${kured.slope} (${checksPerHour} checks an hour; --period=1h not measured)`,
    ratio:
      kured !== undefined && kured.slope > 0 && !kuredStartUpOnly
        ? `baton / kured at ${r.kuredPeriod} = ${(baton.slope / kured.slope).toFixed(2)}×`
        : '',
    target: `≤ ${SLOPE_TARGET}, and below kured at the same detection latency`,
    met: baton.slope <= SLOPE_TARGET && underKured,
    note: [
      overTarget,
      underKured
        ? ''
        : "below kured: not possible, kured sends nothing while no reboot is needed; baton's per-node requests are the heartbeat that shows a live agent",
    ]
      .filter((x) => x !== '')
      .join('; '),
    load,
  });
  figures.push({
    item: 5,
    what: 'API requests per hour whatever the fleet size: the fixed cost (the same line at 0 nodes)',
    baton: `${baton.fixed}`,
    reference: kured !== undefined ? `kured --period=${r.kuredPeriod}: ${kured.fixed}` : '',
    ratio: '',
    target: '',
    met: undefined,
    note: '',
    load,
  });
  const table = (name: string, l: ToolLine) =>
    [
      `${name}:`,
      '',
      '| request | fixed per hour | per node per hour |',
      '|---|---|---|',
      ...l.kinds
        .filter((k) => Math.abs(k.slope) >= 0.05 || Math.abs(k.fixed) >= 0.5)
        .map((k) => `| \`${k.kind}\` | ${k.fixed} | ${k.slope} |`),
      `| all | ${l.fixed} | ${l.slope} |`,
    ].join('\n');
  const windows = [...r.baton, ...r.kured]
    .map(
      (w) =>
        `${Object.keys(w.perHour).join(' + ') || '(none)'} at ${w.nodes} nodes: load ${w.load.mean} (${w.load.min}–${w.load.max})`,
    )
    .join('; ');
  notes.push({
    heading: 'API load as a slope',
    body: [
      `Each tool ran idle on ${sizes} nodes of a control plane of its own whose API server wrote an audit log (one line per request as it arrived, watches counted when opened). After ${r.settleSeconds} s of settling (kured: ${r.kuredSettleSeconds ?? r.settleSeconds} s), ${r.windowSeconds} s were counted, by ServiceAccount: baton-agent and baton-controller for baton, kured for kured. The two sizes give requests per hour = fixed + slope × nodes.`,
      '',
      table('baton (agents and controller)', baton),
      '',
      agents !== undefined ? `Of baton's slope, the agents' own: ${agents.slope} per node per hour.` : '',
      '',
      kured !== undefined ? table(`kured --period=${r.kuredPeriod}`, kured) : 'kured: not run.',
      '',
      `Windows: ${windows}.`,
    ].join('\n'),
  });
  return { figures, notes };
}
