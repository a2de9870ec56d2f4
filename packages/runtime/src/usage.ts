/**
 * `--help` text and the Markdown configuration reference, both rendered from the option tables
 * of @baton/protocol, so neither can drift from what the parser accepts.
 */
import type { OptionRow } from '@baton/protocol/config';

function envText(row: OptionRow): string {
  return row.env.join(', ');
}

/** Plain-text usage for `--help`. */
export function formatUsage(program: string, summary: string, rows: readonly OptionRow[]): string {
  const lines = [
    `Usage: ${program} [flags]`,
    '',
    summary,
    '',
    'Flags (each also readable from the environment variables shown):',
    '',
  ];
  for (const row of rows) {
    const names = [row.flag, ...row.aliases].join(', ');
    const dflt = row.required
      ? `required: ${row.required}`
      : row.default !== undefined
        ? `default ${row.default}`
        : 'optional';
    lines.push(`  ${names}`);
    lines.push(`      ${row.description}`);
    lines.push(`      Expected: ${row.expected}. ${dflt}. Env: ${envText(row)}.`);
    if (row.kind === 'repeatable') lines.push('      May be given more than once.');
    lines.push('');
  }
  lines.push('A flag on the command line wins over the environment, which wins over the default.', '');
  return lines.join('\n');
}

const cell = (text: string | undefined): string => (text ?? '').replaceAll('|', '\\|').replaceAll('\n', ' ');

/** A Markdown table of every option, for docs/configuration.md. */
export function formatReferenceTable(rows: readonly OptionRow[]): string {
  const out = [
    '| Flag | Environment | Default | Expected | Description | kured |',
    '|---|---|---|---|---|---|',
  ];
  for (const row of rows) {
    const flag =
      [row.flag, ...row.aliases].map((f) => `\`${f}\``).join(', ') +
      (row.kind === 'repeatable' ? ' (repeatable)' : '');
    const dflt = row.required
      ? `required (${row.required})`
      : row.default !== undefined
        ? `\`${row.default}\``
        : '—';
    const kured = row.kured ? `\`${row.kured}\`${row.kuredNote ? `: ${row.kuredNote}` : ''}` : '';
    out.push(
      `| ${cell(flag)} | ${cell(row.env.map((e) => `\`${e}\``).join(', '))} | ${cell(dflt)} | ${cell(row.expected)} | ${cell(row.description)} | ${cell(kured)} |`,
    );
  }
  return `${out.join('\n')}\n`;
}
