/**
 * The import directions of docs/architecture.md, as a check: which package may import which,
 * that protocol does no I/O, and that no source file imports itself back through a cycle.
 * Pure over a map of path → source text; scripts/import-rules.test.ts runs it over the tree
 * in the unit suite (so CI fails on a broken direction) and over made-up trees (so it can fail).
 */
import { dirname, join, normalize } from 'node:path';

/** The workspace packages under packages/. */
export type PackageName = 'protocol' | 'runtime' | 'controller' | 'agent' | 'cli';

/**
 * Who may import whom. controller → protocol ← agent; cli → protocol; runtime holds the I/O
 * and is shared by the processes; never agent ↔ controller, never a process into the CLI.
 */
export const ALLOWED: Readonly<Record<PackageName, readonly PackageName[]>> = Object.freeze({
  protocol: [],
  runtime: ['protocol'],
  controller: ['protocol', 'runtime'],
  agent: ['protocol', 'runtime'],
  cli: ['protocol', 'runtime'],
});

/**
 * Node's modules that reach outside the process (files, network, child processes, the host).
 * protocol is the rules both sides share: pure, so it imports none of them.
 */
export const IO_MODULES: ReadonlySet<string> = new Set([
  'child_process',
  'cluster',
  'dgram',
  'dns',
  'fs',
  'fs/promises',
  'http',
  'http2',
  'https',
  'inspector',
  'net',
  'os',
  'process',
  'readline',
  'tls',
  'worker_threads',
]);

/** Third-party modules protocol may import: the schema library, and client-node for types only. */
const PROTOCOL_THIRD_PARTY = new Set(['zod', 'zod/mini']);

export interface ImportRef {
  readonly specifier: string;
  /** `import type` / `export type`: erased at run time, no dependency of the running code. */
  readonly typeOnly: boolean;
  readonly line: number;
}

export interface ImportViolation {
  readonly file: string;
  readonly line: number;
  readonly rule: 'direction' | 'protocol-io' | 'cycle';
  readonly message: string;
}

const IMPORT =
  /(?:^|\n)[ \t]*(import|export)(\s+type)?\b[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]|(?:^|\n)[ \t]*import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

/** The module specifiers a source file imports (static, side-effect and dynamic imports). */
export function importsOf(source: string): ImportRef[] {
  // Comments may quote import lines; they are not imports.
  const code = source
    .replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, ' '))
    .replace(/\/\/[^\n]*/g, '');
  const out: ImportRef[] = [];
  for (const m of code.matchAll(IMPORT)) {
    const specifier = m[3] ?? m[4] ?? m[5];
    if (specifier === undefined) continue;
    const before = code.slice(0, (m.index ?? 0) + (m[0].startsWith('\n') ? 1 : 0));
    out.push({ specifier, typeOnly: m[2] !== undefined, line: before.split('\n').length });
  }
  return out;
}

/** `packages/<name>/…` → name; anything else (e2e, bench, sim, scripts) → undefined. */
export function packageOf(path: string): PackageName | undefined {
  const m = /^packages\/([^/]+)\//.exec(path);
  const name = m?.[1];
  return name !== undefined && name in ALLOWED ? (name as PackageName) : undefined;
}

/** What a specifier names: a workspace package, a file, a node builtin, or a third-party module. */
type Target =
  | { readonly kind: 'package'; readonly name: PackageName }
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'builtin'; readonly name: string }
  | { readonly kind: 'third-party'; readonly name: string };

function targetOf(from: string, specifier: string): Target {
  if (specifier.startsWith('node:')) return { kind: 'builtin', name: specifier.slice('node:'.length) };
  const baton = /^@baton\/([^/]+)/.exec(specifier);
  if (baton?.[1] !== undefined && baton[1] in ALLOWED)
    return { kind: 'package', name: baton[1] as PackageName };
  if (specifier.startsWith('.')) return { kind: 'file', path: normalize(join(dirname(from), specifier)) };
  return { kind: 'third-party', name: specifier };
}

/** Checks every file of `files` (repository-relative paths → source). */
export function checkImports(files: ReadonlyMap<string, string>): ImportViolation[] {
  const violations: ImportViolation[] = [];
  const edges = new Map<string, { to: string; line: number }[]>();
  for (const [file, source] of files) {
    const own = packageOf(file);
    if (own === undefined) continue; // tests' harnesses, benches and the simulation may read anything
    const isTest = /\.test\.ts$/.test(file) || /(^|\/)test-support\.ts$/.test(file);
    for (const ref of importsOf(source)) {
      const t = targetOf(file, ref.specifier);
      const into = t.kind === 'package' ? t.name : t.kind === 'file' ? packageOf(t.path) : undefined;
      if (into !== undefined && into !== own && !ALLOWED[own].includes(into)) {
        violations.push({
          file,
          line: ref.line,
          rule: 'direction',
          message: `${own} imports ${into} (${ref.specifier}); ${own} may import ${ALLOWED[own].join(', ') || 'no other package'}`,
        });
      }
      if (own === 'protocol' && !isTest) {
        if (t.kind === 'builtin' && IO_MODULES.has(t.name)) {
          violations.push({
            file,
            line: ref.line,
            rule: 'protocol-io',
            message: `protocol does no I/O, but imports ${ref.specifier} (I/O belongs in runtime)`,
          });
        }
        if (
          t.kind === 'third-party' &&
          !PROTOCOL_THIRD_PARTY.has(t.name) &&
          !(t.name === '@kubernetes/client-node' && ref.typeOnly)
        ) {
          violations.push({
            file,
            line: ref.line,
            rule: 'protocol-io',
            message: `protocol imports ${ref.specifier}${t.name === '@kubernetes/client-node' ? ' for more than its types (write `import type`)' : ''}; it may import zod and client-node's types only`,
          });
        }
      }
      if (t.kind === 'file' && !isTest && files.has(t.path)) {
        const list = edges.get(file) ?? [];
        list.push({ to: t.path, line: ref.line });
        edges.set(file, list);
      }
    }
  }
  violations.push(...cycles(edges));
  return violations;
}

/**
 * Import cycles between source files, type-only imports included: a module that imports its
 * types back from its importer is one job split in two the wrong way.
 */
function cycles(edges: ReadonlyMap<string, readonly { to: string; line: number }[]>): ImportViolation[] {
  const out: ImportViolation[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const seen = new Set<string>();
  const visit = (file: string): void => {
    state.set(file, 'open');
    stack.push(file);
    for (const e of edges.get(file) ?? []) {
      const s = state.get(e.to);
      if (s === 'open') {
        const loop = [...stack.slice(stack.indexOf(e.to)), e.to];
        const key = [...loop.slice(0, -1)].sort().join(' ');
        if (!seen.has(key)) {
          seen.add(key);
          out.push({ file, line: e.line, rule: 'cycle', message: `import cycle: ${loop.join(' → ')}` });
        }
      } else if (s === undefined) visit(e.to);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of [...edges.keys()].sort()) if (!state.has(file)) visit(file);
  return out;
}

/** One line per violation, `file:line: [rule] message`. */
export function formatViolations(violations: readonly ImportViolation[]): string {
  return violations.map((v) => `${v.file}:${v.line}: [${v.rule}] ${v.message}`).join('\n');
}
