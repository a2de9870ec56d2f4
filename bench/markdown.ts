/**
 * docs/benchmarks.md from the JSON of a run. Pure: results in, markdown out. Every figure comes
 * with the machine's load average at the time, and every target with met / missed by how much.
 */

export interface Environment {
  date: string;
  command: string;
  host: { cpus: number; cpuModel: string; memoryGiB: number; kernel: string };
  versions: Record<string, string>;
  sizes: Record<string, number | string>;
  /** Date of an earlier invocation whose parts this report keeps (BENCH_MERGE=1). */
  mergedFrom?: string | undefined;
}

export interface Load {
  min: number;
  mean: number;
  max: number;
}

/** One row of the summary table. */
export interface Figure {
  /** Which benchmark (issue item 1–7). */
  item: number;
  what: string;
  baton: string;
  /** The reference on the same run (kured, kubectl), or ''. */
  reference: string;
  /** A ratio or comparison, or ''. */
  ratio: string;
  target: string;
  /** undefined: no target. */
  met: boolean | undefined;
  /** When missed: by how much and why. */
  note: string;
  load: Load | number;
}

export interface BenchReport {
  env: Environment;
  figures: Figure[];
  /** Sections of prose: heading → paragraphs (findings, causes, what did not fit). */
  notes: { heading: string; body: string }[];
  /** Path of the rollout SVG relative to docs/, if drawn. */
  svg?: string;
  /** Skipped parts and why (a quick run, or what did not fit in the time). */
  skipped: string[];
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function loadText(l: Load | number): string {
  return typeof l === 'number'
    ? l.toFixed(2)
    : `${l.mean.toFixed(2)} (${l.min.toFixed(2)}–${l.max.toFixed(2)})`;
}

function verdict(f: Figure): string {
  if (f.met === undefined) return '';
  return f.met ? 'met' : `**missed**${f.note ? `: ${f.note}` : ''}`;
}

export function renderMarkdown(r: BenchReport): string {
  const lines: string[] = [];
  lines.push('# Benchmarks');
  lines.push('');
  lines.push(
    `Written by \`${r.env.command}\` on ${r.env.date}${r.env.mergedFrom ? ` together with the parts kept from its invocation of ${r.env.mergedFrom} (see below which)` : ''}. Every figure below comes from a run; the JSON it was written from is \`bench/results/bench.json\`. The machine is shared (other test suites ran at the same time), so the 1-minute load average is given next to each figure (mean, and min–max over the measurement).`,
  );
  lines.push('');
  lines.push('## Machine and versions');
  lines.push('');
  lines.push('| | |');
  lines.push('|---|---|');
  lines.push(`| CPU | ${cell(r.env.host.cpuModel)}, ${r.env.host.cpus} cores |`);
  lines.push(`| Memory | ${r.env.host.memoryGiB} GiB |`);
  lines.push(`| Kernel | ${cell(r.env.host.kernel)} |`);
  for (const [k, v] of Object.entries(r.env.versions)) lines.push(`| ${cell(k)} | ${cell(v)} |`);
  lines.push(
    `| Sizes | ${cell(
      Object.entries(r.env.sizes)
        .map(([k, v]) => `${k}=${v}`)
        .join(', '),
    )} |`,
  );
  lines.push('');
  lines.push('## Results');
  lines.push('');
  lines.push('| # | What | baton | Reference (same run) | Ratio | Target | Verdict | Load avg |');
  lines.push('|---|---|---|---|---|---|---|---|');
  for (const f of r.figures) {
    lines.push(
      `| ${f.item} | ${cell(f.what)} | ${cell(f.baton)} | ${cell(f.reference)} | ${cell(f.ratio)} | ${cell(
        f.target,
      )} | ${cell(verdict(f))} | ${loadText(f.load)} |`,
    );
  }
  lines.push('');
  if (r.svg) {
    lines.push('## The rollout, drawn');
    lines.push('');
    lines.push(`![Rollout timeline: baton above kured on one time axis](${r.svg})`);
    lines.push('');
  }
  for (const n of r.notes) {
    lines.push(`## ${n.heading}`);
    lines.push('');
    lines.push(n.body.trim());
    lines.push('');
  }
  if (r.skipped.length > 0) {
    lines.push('## Not measured in this run');
    lines.push('');
    for (const s of r.skipped) lines.push(`- ${s}`);
    lines.push('');
  }
  return lines.join('\n');
}
