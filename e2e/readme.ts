/**
 * The commands of README.md, as a test sees them: every shell command in a ```sh block and every
 * inline code span that starts like a command, with where it is and how a test runs it. Pure:
 * e2e/readme.e2e.ts runs them on the control plane, e2e/demo.e2e.ts runs the demo's, and
 * e2e/readme.test.ts checks that each one has a way to be run, so a command added to the README
 * and run by no test fails the build.
 */

export interface ReadmeCommand {
  /** As written: continuation lines joined, a here-document's body and terminator included, no trailing comment. */
  readonly text: string;
  /** The nearest heading above it. */
  readonly section: string;
  /** 1-based line of the README where it starts. */
  readonly line: number;
  /** A line of a ```sh block, or an inline code span in the prose. */
  readonly source: 'block' | 'inline';
  /** Index of its ```sh block (commands of one block share a shell: an `export` carries on). */
  readonly block: number | undefined;
}

/** Inline code spans that are commands, not names: what a reader would paste into a shell. */
const INLINE_COMMAND = /^(?:kubectl|helm|touch|export|\.\/run|npx|[A-Z_]+=\S+ \.\/run)\s+\S/;
/**
 * Names that look like commands: the plugin, a kubectl subcommand and a plugin subcommand
 * mentioned as tools (what `kubectl baton release` does without arguments is no command), not run.
 */
const NOT_A_COMMAND = new Set(['kubectl baton', 'kubectl drain', 'kubectl baton release']);

/** Removes a trailing ` # comment` outside quotes (a `#` inside a word, like `a#b`, stays). */
export function stripComment(line: string): string {
  let quote: string | undefined;
  let escaped = -1; // index of the last character escaped by a backslash
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote !== undefined) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"') i++;
      continue;
    }
    if (c === "'" || c === '"') quote = c;
    else if (c === '\\') escaped = ++i;
    else if (c === '#' && (i === 0 || (/\s/.test(line[i - 1] ?? '') && escaped !== i - 1))) {
      return line.slice(0, i).trimEnd();
    }
  }
  return line.trimEnd();
}

export function readmeCommands(markdown: string): ReadmeCommand[] {
  const lines = markdown.split('\n');
  const out: ReadmeCommand[] = [];
  let section = '';
  let block = -1;
  let fence: 'sh' | 'other' | undefined;
  const prose: { text: string; line: number; section: string }[] = [];

  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    const opening = /^```(\S*)\s*$/.exec(line);
    if (fence === undefined && opening) {
      fence = ['sh', 'bash', 'shell'].includes(opening[1] ?? '') ? 'sh' : 'other';
      if (fence === 'sh') block++;
      continue;
    }
    if (fence !== undefined && /^```\s*$/.test(line)) {
      fence = undefined;
      continue;
    }
    if (fence === 'other') continue;
    if (fence === undefined) {
      const heading = /^#{1,6}\s+(.*)$/.exec(line);
      if (heading) section = heading[1]?.trim() ?? '';
      prose.push({ text: line, line: i + 1, section });
      continue;
    }
    // A line of a ```sh block.
    if (/^\s*(#|$)/.test(line)) continue;
    const startLine = i + 1;
    let text = stripComment(line);
    while (text.endsWith('\\') && i + 1 < lines.length) {
      i++;
      text = `${text.slice(0, -1).trimEnd()} ${stripComment((lines[i] ?? '').trim())}`;
    }
    const heredoc = /<<-?\s*['"]?(\w+)['"]?/.exec(text);
    if (heredoc) {
      const end = heredoc[1] ?? '';
      const body: string[] = [];
      while (i + 1 < lines.length) {
        i++;
        const b = lines[i] ?? '';
        body.push(b);
        if (b.trim() === end) break;
      }
      text = [text, ...body].join('\n');
    }
    out.push({ text, section, line: startLine, source: 'block', block });
  }

  // Inline code spans of the prose (a span may run over a line break).
  const joined = prose.map((p) => p.text).join('\n');
  const lineStarts: number[] = [];
  let offset = 0;
  for (const p of prose) {
    lineStarts.push(offset);
    offset += p.text.length + 1;
  }
  for (const m of joined.matchAll(/`([^`]+)`/g)) {
    const span = (m[1] ?? '').replace(/\s*\n\s*/g, ' ').trim();
    if (!INLINE_COMMAND.test(span) || NOT_A_COMMAND.has(span)) continue;
    let k = 0;
    while (k + 1 < lineStarts.length && (lineStarts[k + 1] ?? 0) <= (m.index ?? 0)) k++;
    const at = prose[k];
    out.push({
      text: span,
      section: at?.section ?? '',
      line: at?.line ?? 0,
      source: 'inline',
      block: undefined,
    });
  }
  return out.sort((a, b) => a.line - b.line);
}

/** How a test runs a README command. */
export type RunPlan =
  /**
   * e2e/readme.e2e.ts runs it on the control plane with the chart installed, placeholders filled
   * in; a benchmark with `env`: sizes small enough for a test (its full size is an hour's work).
   */
  | { readonly by: 'readme'; readonly env?: Readonly<Record<string, string>> }
  /** e2e/demo.e2e.ts runs it against the demo it starts (`./run demo` and the commands the demo prints). */
  | { readonly by: 'demo' }
  /** `./run test` runs it: `./run test` itself (`.ci/run`), its `pnpm install`, or a script package.json's `test` script runs. */
  | { readonly by: 'ci'; readonly script: string | undefined };

/**
 * The benchmarks the README names, shrunk to a few nodes: the test proves the command works end
 * to end (its own control plane, its report), not the figures.
 */
export const QUICK_BENCH_ENV: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  'bench:soak': { SOAK_REBOOTS: '3', SOAK_NODES: '3', SOAK_CONCURRENCY: '2', SOAK_FAULT_GAP_MS: '5000' },
  bench: {
    BENCH_ONLY: 'rollout',
    BENCH_TRIALS: '2',
    BENCH_ROLLOUT_NODES: '2',
    BENCH_REBOOT_SECONDS: '1',
    BENCH_API_WINDOW_S: '5',
    BENCH_SCALE: '',
  },
};

/** The demo's own commands: the demo and what the README says to try against it. */
const DEMO = /(^|\s)\.\/run demo$|~\/\.cache\/baton\/clusters\/demo/;

export function planFor(cmd: ReadmeCommand): RunPlan {
  if (cmd.text === './run test') return { by: 'ci', script: undefined };
  if (DEMO.test(cmd.text)) return { by: 'demo' };
  // The quickstart's block is the demo's "what to try" list, run against the demo.
  if (cmd.source === 'block' && cmd.section.startsWith('Quickstart')) return { by: 'demo' };
  if (/^npx pnpm@[\d.]+ install$/.test(cmd.text)) return { by: 'ci', script: 'install' };
  const script = /^npx pnpm@[\d.]+ run ([\w:-]+)$/.exec(cmd.text)?.[1];
  const quick = script !== undefined ? QUICK_BENCH_ENV[script] : undefined;
  if (quick !== undefined) return { by: 'readme', env: quick };
  if (script !== undefined) return { by: 'ci', script };
  return { by: 'readme' };
}

/** Placeholders a reader replaces, and what the tests put in their place. */
export interface Fill {
  readonly node: string;
  readonly registry: string;
  readonly kubeconfig: string;
}

export function fillPlaceholders(text: string, fill: Fill): string {
  return text
    .replace(/\bNODE\b/g, fill.node)
    .replace(/<registry>/g, fill.registry)
    .replace(/~\/\.kube\/config/g, fill.kubeconfig);
}
