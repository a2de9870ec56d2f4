/**
 * Text output: the status tables and the why list. Pure functions of the reports and the time,
 * so what a person sees is unit-tested line by line.
 */
import type { StatusReport } from './view.ts';
import type { WhyReport } from './why.ts';

/** A duration the way kubectl prints ages: `45s`, `12m`, `3h5m`, `2d4h`. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 !== 0 && m < 10 ? `${m}m${s % 60}s` : `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return m % 60 !== 0 ? `${h}h${m % 60}m` : `${h}h`;
  const d = Math.floor(h / 24);
  return h % 24 !== 0 ? `${d}d${h % 24}h` : `${d}d`;
}

/** `5m ago` or `in 5m`, relative to `now`; `-` when there is no time. */
export function relative(iso: string | null, now: Date): string {
  if (iso === null) return '-';
  const diff = new Date(iso).getTime() - now.getTime();
  return diff > 0 ? `in ${formatAge(diff)}` : `${formatAge(-diff)} ago`;
}

/** Left-aligned columns separated by two spaces, no trailing blanks. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function pauseLine(report: StatusReport, now: Date): string {
  const p = report.pause;
  if (p.paused) {
    const until = p.until !== null ? '' : ' (until resumed)';
    const left = p.until !== null ? ` (${relative(p.until, now)})` : '';
    const reason = p.reason !== null ? `; reason: ${p.reason}` : '';
    return `Pause: ${p.description ?? 'paused'}${left}${until}${reason}`;
  }
  if (p.holder !== null)
    return `Pause: not paused (the pause by ${p.holder} ended ${relative(p.until, now)})`;
  return 'Pause: not paused';
}

export function formatStatus(report: StatusReport): string {
  const now = new Date(report.time);
  const out: string[] = [pauseLine(report, now), ''];
  if (report.slots.length === 0) {
    out.push(
      `Slots: no slot Leases in namespace ${report.namespace} (the controller creates them when it first grants)`,
    );
  } else {
    out.push(`Slots (namespace ${report.namespace}):`);
    out.push(
      table([
        ['SLOT', 'HOLDER', 'RENEWED'],
        ...report.slots.map((s) => [
          s.name,
          s.holder ?? '-',
          s.holder === null
            ? '-'
            : !s.valid && !s.holder.startsWith('manual:')
              ? 'not a grant (no baton.dev/grant-id)'
              : s.renewed === null
                ? '-'
                : relative(s.renewed, now),
        ]),
      ]),
    );
  }
  out.push('');
  if (report.nodes.length === 0) {
    out.push('No nodes.');
  } else {
    out.push(
      table([
        ['NODE', 'REBOOT', 'PHASE', 'SLOT', 'BLOCKED', 'SINCE'],
        ...report.nodes.map((n) => [
          n.name,
          n.needsReboot,
          n.phase ?? '-',
          n.slot === null ? '-' : n.granted ? n.slot : `${n.slot} (not a grant)`,
          n.blocked ?? '-',
          n.since === null ? '-' : formatAge(now.getTime() - new Date(n.since).getTime()),
        ]),
      ]),
    );
  }
  return `${out.join('\n')}\n`;
}

const VERDICT_WORD = { pass: 'ok', block: 'BLOCKS', info: '-' } as const;

export function formatWhy(report: WhyReport): string {
  const rows = report.gates.map((g) => [g.gate, VERDICT_WORD[g.verdict], g.text]);
  return `${report.summary}\n\n${table([['GATE', 'VERDICT', 'DETAIL'], ...rows])}\n`;
}
