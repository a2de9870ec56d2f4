/**
 * Finds the external programs the project's code, shell scripts and README commands start, for
 * the check in scripts/programs.test.ts (every one must be in the registry of
 * scripts/programs.ts). Pure: text in, programs (with where) and problems out; no file is read
 * and nothing is started here.
 *
 * - TypeScript: calls of node:child_process (spawn, execFile, exec, their Sync forms, fork, and
 *   `promisify(execFile)` aliases), the harness's `startProcess({ command })` and the wrappers
 *   the registry names. A literal program is taken as written (a path by its last part); any
 *   other expression must resolve (process.execPath, a tool of e2e/harness/tools.ts, a variable
 *   set from one) or be declared in the registry, else the check fails on it. A shell started
 *   with `-c` has its script scanned as shell text; so have string literals that begin with a
 *   `#!/bin/sh` line (scripts written to files and run).
 * - Shell text (scripts, `sh -c` scripts, README commands, package.json scripts): the command
 *   words, i.e. the first word of each simple command, inside `$(…)` too, past assignments,
 *   redirections, keywords and the script's own functions; shell builtins are not programs.
 *
 * scanProject reads the repository's files and runs all of the above on them.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { readmeCommands } from '../e2e/readme.ts';

/** One program started, and from where. */
export interface Found {
  readonly program: string;
  /** file:line, or README line, or package.json script. */
  readonly where: string;
}

export interface ScanResult {
  readonly found: Found[];
  /** Launches whose program cannot be told; each names the file, line and expression. */
  readonly problems: string[];
}

/** What the scanner needs to know of the project beyond the text (scripts/programs.ts gives it). */
export interface ScanContext {
  /**
   * Expressions that are not literals, by `<file>: <expression as written>`: the programs they
   * can be ([] for a parameter whose callers are scanned instead, e.g. a wrapper's).
   */
  readonly expressions: Readonly<Record<string, readonly string[]>>;
  /** Functions whose argument is a program, by `<file>: <name>` → argument index. */
  readonly wrappers: Readonly<Record<string, number>>;
  /** Names of the harness's tool paths (ToolPaths of e2e/harness/tools.ts) → binary. */
  readonly toolFields: Readonly<Record<string, string>>;
}

// ---------------------------------------------------------------------------------------------
// Shell text

/** Builtins of bash and dash (and keywords): run by the shell itself, never a program. */
const BUILTINS = new Set(
  (
    ': . [ [[ ]] alias bg break builtin caller cd command compgen complete continue declare dirs disown ' +
    'echo enable eval exec exit export false fc fg getopts hash help history jobs kill let local logout ' +
    'mapfile popd printf pushd pwd read readarray readonly return set shift shopt source suspend test ' +
    'times trap true type typeset ulimit umask unalias unset wait'
  ).split(' '),
);
const SHELLS = new Set(['sh', 'bash', 'dash']);
const KEYWORDS = new Set(['if', 'then', 'else', 'elif', 'fi', 'do', 'done', 'while', 'until', '!', 'time']);
/** Programs that start the program named by their first plain argument. */
const STARTERS = new Set([
  'env',
  'nohup',
  'setsid',
  'timeout',
  'nice',
  'xargs',
  'sudo',
  'unshare',
  'nsenter',
]);
/** An option or an assignment before the program a starter runs (`-m`, `--`, `A=b`, `timeout`'s `5s`). */
const isOption = (w: string | undefined): boolean =>
  w !== undefined && (w.startsWith('-') || /^[A-Za-z_]\w*=/.test(w) || /^\d/.test(w));

type Token =
  | { readonly kind: 'op'; readonly text: string }
  | { readonly kind: 'word'; readonly text: string };

/** A command word found in shell text: `raw` as written, `name` the program (undefined: dynamic). */
export interface CommandWord {
  readonly raw: string;
  readonly name: string | undefined;
  /** 1-based line in the text. */
  readonly line: number;
}

/** Drops here-document bodies (data, not commands), keeping the line count. */
function dropHeredocs(text: string): string {
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /(?<!<)<<-?\s*(['"]?)(\w+)\1(?!<)/.exec(lines[i] ?? '');
    if (!m) continue;
    const end = m[2];
    for (let j = i + 1; j < lines.length; j++) {
      const done = (lines[j] ?? '').trim() === end;
      lines[j] = '';
      if (done) {
        i = j;
        break;
      }
    }
  }
  return lines.join('\n');
}

/** The index just past the `)` that closes a `(` opened before `from` (quotes respected). */
function closing(text: string, from: number, open: string, close: string): number {
  let depth = 1;
  for (let i = from; i < text.length; i++) {
    const c = text[i];
    if (c === '\\') i++;
    else if (c === "'") i = text.indexOf("'", i + 1) === -1 ? text.length : text.indexOf("'", i + 1);
    else if (c === '"') {
      i++;
      while (i < text.length && text[i] !== '"') {
        if (text[i] === '\\') i++;
        else if (text[i] === '$' && text[i + 1] === '(') i = closing(text, i + 2, '(', ')') - 1;
        i++;
      }
    } else if (c === open) depth++;
    else if (c === close && --depth === 0) return i + 1;
  }
  return text.length;
}

/**
 * Splits shell text into words and operators. A word keeps its quotes and expansions as written;
 * every `$(…)` and backquote inside is scanned too (its words go to `nested`, with the line).
 */
function tokenize(
  text: string,
  nested: (inner: string, line: number) => void,
): Array<Token & { line: number }> {
  const out: Array<Token & { line: number }> = [];
  let i = 0;
  let line = 1;
  let word = '';
  let wordLine = 1;
  const flush = () => {
    if (word !== '') out.push({ kind: 'word', text: word, line: wordLine });
    word = '';
  };
  const add = (s: string) => {
    if (word === '') wordLine = line;
    word += s;
  };
  const countLines = (s: string) => {
    line += s.split('\n').length - 1;
  };
  while (i < text.length) {
    const c = text[i] ?? '';
    if (c === '#' && word === '') {
      while (i < text.length && text[i] !== '\n') i++;
      continue;
    }
    if (c === '\\') {
      if (text[i + 1] === '\n') {
        i += 2;
        line++;
        continue;
      }
      add(text.slice(i, i + 2));
      i += 2;
      continue;
    }
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      const s = text.slice(i, end === -1 ? text.length : end + 1);
      add(s);
      countLines(s);
      i += s.length;
      continue;
    }
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') {
        if (text[j] === '\\') j++;
        else if (text[j] === '$' && text[j + 1] === '(' && text[j + 2] !== '(') {
          const end = closing(text, j + 2, '(', ')');
          nested(text.slice(j + 2, end - 1), line + text.slice(i, j).split('\n').length - 1);
          j = end - 1;
        } else if (text[j] === '`') {
          const end = text.indexOf('`', j + 1);
          nested(text.slice(j + 1, end), line);
          j = end;
        }
        j++;
      }
      const s = text.slice(i, j + 1);
      add(s);
      countLines(s);
      i = j + 1;
      continue;
    }
    if (c === '$' && text[i + 1] === '(' && text[i + 2] === '(') {
      const end = closing(text, i + 3, '(', ')') + 1;
      add(text.slice(i, end));
      i = end;
      continue;
    }
    if (c === '$' && text[i + 1] === '(') {
      const end = closing(text, i + 2, '(', ')');
      nested(text.slice(i + 2, end - 1), line);
      const s = text.slice(i, end);
      add(s);
      countLines(s);
      i = end;
      continue;
    }
    if (c === '$' && text[i + 1] === '{') {
      const end = closing(text, i + 2, '{', '}');
      add(text.slice(i, end));
      i = end;
      continue;
    }
    if (c === '`') {
      const end = text.indexOf('`', i + 1);
      nested(text.slice(i + 1, end), line);
      add(text.slice(i, end + 1));
      i = end + 1;
      continue;
    }
    if (c === ' ' || c === '\t') {
      flush();
      i++;
      continue;
    }
    if (c === '\n') {
      flush();
      out.push({ kind: 'op', text: '\n', line });
      line++;
      i++;
      continue;
    }
    const two = text.slice(i, i + 2);
    if (['&&', '||', ';;', '|&'].includes(two)) {
      flush();
      out.push({ kind: 'op', text: two, line });
      i += 2;
      continue;
    }
    if (c === '>' || c === '<') {
      // A redirection stays one word with its target: `2>&1`, `>"$f"`, `{lock}>file`, `<<<"$v"`.
      const start = word;
      let j = i;
      while (text[j] === '>' || text[j] === '<' || text[j] === '&' || text[j] === '|') j++;
      word = '';
      flush();
      out.push({ kind: 'word', text: `${start}${text.slice(i, j)}`, line });
      i = j;
      continue;
    }
    if (c === ';' || c === '|' || c === '&' || c === '(' || c === ')') {
      flush();
      out.push({ kind: 'op', text: c, line });
      i++;
      continue;
    }
    add(c);
    i++;
  }
  flush();
  return out;
}

/** The word without its quotes, or undefined when part of it is an expansion or a substitution. */
function literal(word: string): string | undefined {
  let out = '';
  for (let i = 0; i < word.length; i++) {
    const c = word[i];
    if (c === "'") {
      const end = word.indexOf("'", i + 1);
      out += word.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      const end = word.indexOf('"', i + 1);
      const inner = word.slice(i + 1, end);
      if (/[$`]/.test(inner)) return undefined;
      out += inner;
      i = end;
    } else if (c === '\\') {
      out += word[i + 1] ?? '';
      i++;
    } else if (c === '$' || c === '`') return undefined;
    else out += c;
  }
  // A template's `${…}` (marked by scanTypeScript) is not a literal either, quoted or not.
  return out.includes('\uE000') ? undefined : out;
}

/** A program's name as the registry knows it: a path by its last part. */
export function programName(word: string): string {
  return word.slice(word.lastIndexOf('/') + 1);
}

const isAssignment = (w: string) => /^[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?\+?=/.test(w);
const isRedirection = (w: string) => /^(\d*|\{\w+\}|&)?[<>]/.test(w);
/** A redirection operator whose target is the next word. */
const redirectionTakesNext = (w: string) => /^(\d*|\{\w+\}|&)?(<<?<?|>>?|>&|<&|&>>?)-?$/.test(w);

/** The command words of shell text: the programs and functions it runs, builtins left out. */
export function commandWords(text: string): CommandWord[] {
  const words: Array<CommandWord & { plain: boolean }> = [];
  const functions = new Set<string>();
  const walk = (src: string, lineOffset: number) => {
    const tokens = tokenize(dropHeredocs(src), (inner, line) => walk(inner, lineOffset + line - 1));
    let start = true;
    /** Words to skip until this keyword (a `for … in …; do` list, a `case` pattern). */
    let until: string | undefined;
    let caseDepth = 0;
    let inPattern = false;
    let afterStarter = false;
    let inTest = false;
    for (let k = 0; k < tokens.length; k++) {
      const t = tokens[k];
      if (!t) continue;
      const next = tokens[k + 1];
      if (inTest) {
        if (t.text === ']]') inTest = false;
        continue;
      }
      if (until !== undefined) {
        if (t.kind === 'word' && t.text === until) {
          if (until === 'in' && caseDepth > 0) inPattern = true;
          until = undefined;
          start = true;
        }
        continue;
      }
      if (inPattern) {
        if (t.kind === 'word' && t.text === 'esac') {
          caseDepth--;
          inPattern = false;
          start = false;
        } else if (t.kind === 'op' && t.text === ')') {
          inPattern = false;
          start = true;
        }
        continue;
      }
      if (t.kind === 'op') {
        if (t.text === ';;') inPattern = caseDepth > 0;
        start = true;
        afterStarter = false;
        continue;
      }
      if (!start) continue;
      const w = t.text;
      if (isAssignment(w)) continue;
      if (isRedirection(w)) {
        if (redirectionTakesNext(w)) k++;
        continue;
      }
      if (w === '{' || w === '}' || KEYWORDS.has(w)) continue;
      if (w === 'esac') {
        caseDepth--;
        continue;
      }
      if (w === 'for' || w === 'select') {
        until = 'do';
        continue;
      }
      if (w === 'case') {
        caseDepth++;
        until = 'in';
        continue;
      }
      if (w === '[[') {
        inTest = true;
        start = false;
        continue;
      }
      if (w === 'function' && next?.kind === 'word') {
        functions.add(next.text);
        k++;
        continue;
      }
      if (next?.kind === 'op' && next.text === '(' && tokens[k + 2]?.text === ')') {
        functions.add(w);
        k += 2;
        continue;
      }
      if (w === 'exec' || w === 'command' || w === 'builtin') {
        // `command -v x` only looks x up; `exec x`, `command x` run it.
        if (w === 'builtin' || (w === 'command' && next?.kind === 'word' && /^-[vV]$/.test(next.text))) {
          start = false;
        }
        continue;
      }
      if (afterStarter && isOption(w)) continue;
      const name = literal(w);
      if (name !== undefined && BUILTINS.has(name) && !afterStarter) {
        start = false;
        continue;
      }
      const program = name === undefined ? undefined : programName(name);
      // A function of the script is only ever a plain command word (a starter cannot run one).
      words.push({ raw: w, name: program, line: t.line + lineOffset, plain: !afterStarter });
      afterStarter = program !== undefined && STARTERS.has(program);
      start = afterStarter;
      const arg = tokens[k + 1];
      const script = tokens[k + 2];
      if (program !== undefined && SHELLS.has(program) && arg?.text === '-c' && script?.kind === 'word') {
        // `sh -c '<script>'`: the script's own commands.
        const inner = literal(script.text);
        if (inner !== undefined) walk(inner, lineOffset + script.line - 1);
        k += 2;
      }
      if (program === 'npx') {
        // `npx [--yes] pnpm@12.4.2 …` starts pnpm, fetched by npx.
        const pkg = tokens.slice(k + 1).find((x) => x.kind === 'op' || !x.text.startsWith('-'));
        const bare =
          pkg?.kind === 'word' ? /^["']?(@?[A-Za-z0-9][\w./-]*?)(@|["']?$)/.exec(pkg.text)?.[1] : undefined;
        if (pkg?.kind === 'word') {
          words.push({ raw: pkg.text, name: bare, line: pkg.line + lineOffset, plain: false });
        }
      }
    }
  };
  walk(text, 0);
  return words
    .filter((w) => !(w.plain && w.name !== undefined && functions.has(w.name)))
    .map(({ raw, name, line }) => ({ raw, name, line }));
}

/** The interpreter a file's first line names (`#!/usr/bin/env bash` → bash), if any. */
export function shebang(text: string): string[] {
  const m = /^#!\s*(\S+)(?:[ \t]+(\S+))?/.exec(text);
  if (!m?.[1]) return [];
  const first = programName(m[1]);
  return first === 'env' && m[2] ? [first, programName(m[2])] : [first];
}

/**
 * The programs a shell script starts: its interpreter and its command words. A dynamic command
 * word (`"$node"`) must be declared as `<where>: <word>` in `expressions`.
 */
export function scanShell(
  text: string,
  where: string,
  expressions: ScanContext['expressions'],
  resolveMarker?: (index: number) => { programs?: readonly string[]; problem?: string },
): ScanResult {
  const found: Found[] = [];
  const problems: string[] = [];
  for (const p of shebang(text)) found.push({ program: p, where: `${where}:1` });
  for (const w of commandWords(text)) {
    const at = `${where}:${w.line}`;
    if (w.name !== undefined) {
      found.push({ program: w.name, where: at });
      continue;
    }
    const marker = /^'?\uE000(\d+)\uE000'?$/.exec(w.raw);
    if (marker && resolveMarker) {
      const r = resolveMarker(Number(marker[1]));
      if (r.programs) for (const p of r.programs) found.push({ program: p, where: at });
      else problems.push(r.problem ?? `${at}: cannot tell the program of ${w.raw}`);
      continue;
    }
    const declared = expressions[`${where}: ${w.raw}`];
    if (declared) for (const p of declared) found.push({ program: p, where: at });
    else
      problems.push(
        `${at}: cannot tell which program the command word ${w.raw.replaceAll(/\uE000\d+\uE000/g, '<expression>')} starts; ` +
          `declare "${where}: ${w.raw}" in EXPRESSIONS of scripts/programs.ts`,
      );
  }
  return { found, problems };
}

/**
 * The programs README commands start: their command words, and the plugin behind `kubectl
 * baton` (kubectl runs `kubectl-baton` from the PATH).
 */
export function scanReadme(commands: readonly { text: string; line: number }[]): ScanResult {
  const found: Found[] = [];
  const problems: string[] = [];
  for (const c of commands) {
    const r = scanShell(c.text, `README.md:${c.line}`, {});
    found.push(...r.found.map((f) => ({ ...f, where: `README.md line ${c.line}` })));
    problems.push(...r.problems);
    for (const m of c.text.matchAll(/(?:^|[;&|(]\s*)kubectl\s+([a-z][\w-]*)/g)) {
      if (m[1] === 'baton') found.push({ program: 'kubectl-baton', where: `README.md line ${c.line}` });
    }
  }
  return { found, problems };
}

// ---------------------------------------------------------------------------------------------
// TypeScript

const CHILD_PROCESS = new Set(['node:child_process', 'child_process']);
/** node:child_process functions: whether the first argument is a program or a shell command. */
const CP_FUNCTIONS: Record<string, 'program' | 'shell' | 'node'> = {
  spawn: 'program',
  spawnSync: 'program',
  execFile: 'program',
  execFileSync: 'program',
  exec: 'shell',
  execSync: 'shell',
  fork: 'node',
};

/**
 * The programs a TypeScript file starts. `file` is its path from the repository's root (the
 * key of its declarations in `ctx.expressions`).
 */
export function scanTypeScript(file: string, text: string, ctx: ScanContext): ScanResult {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const found: Found[] = [];
  const problems: string[] = [];
  const lineOf = (n: ts.Node) => sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1;
  const at = (n: ts.Node) => `${file}:${lineOf(n)}`;
  const textOf = (n: ts.Node) => n.getText(sf).replaceAll(/\s+/g, ' ');

  // Local names of node:child_process functions, and of harness startProcess.
  const cp = new Map<string, keyof typeof CP_FUNCTIONS>();
  const cpNamespaces = new Set<string>();
  let startProcessName: string | undefined;
  const declarations = new Map<string, ts.Node[]>();
  const functions = new Map<string, ts.FunctionLikeDeclaration>();
  const remember = (name: string, node: ts.Node) =>
    declarations.set(name, [...(declarations.get(name) ?? []), node]);

  const collect = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const from = node.moduleSpecifier.text;
      const bindings = node.importClause?.namedBindings;
      if (CHILD_PROCESS.has(from) && bindings) {
        if (ts.isNamespaceImport(bindings)) cpNamespaces.add(bindings.name.text);
        else
          for (const el of bindings.elements) {
            const original = (el.propertyName ?? el.name).text;
            if (original in CP_FUNCTIONS) cp.set(el.name.text, original as keyof typeof CP_FUNCTIONS);
          }
      }
      // The harness's startProcess (e2e/harness/processes.ts), not @baton/runtime's.
      if (/(^|\/)processes\.ts$/.test(from) && bindings && ts.isNamedImports(bindings)) {
        for (const el of bindings.elements) {
          if ((el.propertyName ?? el.name).text === 'startProcess') startProcessName = el.name.text;
        }
      }
    }
    if (ts.isVariableDeclaration(node)) {
      if (ts.isIdentifier(node.name)) {
        remember(node.name.text, node);
        // const run = promisify(execFile)
        const init = node.initializer;
        if (
          init &&
          ts.isCallExpression(init) &&
          ts.isIdentifier(init.expression) &&
          init.expression.text === 'promisify' &&
          init.arguments[0] &&
          ts.isIdentifier(init.arguments[0])
        ) {
          const inner = cp.get(init.arguments[0].text);
          if (inner) cp.set(node.name.text, inner);
        }
        if (init && (ts.isArrowFunction(init) || ts.isFunctionExpression(init)))
          functions.set(node.name.text, init);
      } else {
        for (const el of node.name.elements) {
          if (ts.isBindingElement(el) && ts.isIdentifier(el.name)) remember(el.name.text, el);
        }
      }
    }
    if (ts.isParameter(node) && ts.isIdentifier(node.name)) remember(node.name.text, node);
    if (ts.isFunctionDeclaration(node) && node.name) functions.set(node.name.text, node);
    if (ts.isBinaryExpression(node) && node.operatorToken.kind === ts.SyntaxKind.EqualsToken) {
      if (ts.isIdentifier(node.left)) remember(node.left.text, node);
    }
    ts.forEachChild(node, collect);
  };
  // Imports first (aliases refer to them), then the rest.
  for (const s of sf.statements) if (ts.isImportDeclaration(s)) collect(s);
  for (const s of sf.statements) if (!ts.isImportDeclaration(s)) collect(s);

  const unwrap = (e: ts.Expression): ts.Expression => {
    let x = e;
    while (
      ts.isAwaitExpression(x) ||
      ts.isParenthesizedExpression(x) ||
      ts.isAsExpression(x) ||
      ts.isNonNullExpression(x) ||
      ts.isSatisfiesExpression(x)
    )
      x = x.expression;
    return x;
  };

  const initializerOf = (d: ts.Node): ts.Expression | undefined => {
    if (ts.isVariableDeclaration(d) || ts.isParameter(d)) return d.initializer;
    if (ts.isBinaryExpression(d)) return d.right;
    if (ts.isBindingElement(d)) {
      // const { kubectl } = await ensureTools(): the property name says which tool.
      return undefined;
    }
    return undefined;
  };

  /** The programs an expression can be; undefined when it cannot be told. */
  const programsOf = (expr: ts.Expression, depth = 0): readonly string[] | undefined => {
    const declared = ctx.expressions[`${file}: ${textOf(expr)}`];
    if (declared) return declared;
    const e = unwrap(expr);
    if (e !== expr) return programsOf(e, depth);
    if (ts.isStringLiteral(e) || ts.isNoSubstitutionTemplateLiteral(e)) return [programName(e.text)];
    if (ts.isPropertyAccessExpression(e)) {
      if (textOf(e) === 'process.execPath') return ['node'];
      const tool = ctx.toolFields[e.name.text];
      return tool ? [tool] : undefined;
    }
    if (ts.isCallExpression(e)) {
      const callee = textOf(e.expression);
      const last = e.arguments[e.arguments.length - 1];
      if (callee === 'toolBinary' && last && ts.isStringLiteral(last)) return [last.text];
      if (
        ['join', 'resolve', 'path.join', 'path.resolve'].includes(callee) &&
        last &&
        ts.isStringLiteral(last)
      ) {
        return [programName(last.text)];
      }
      return undefined;
    }
    if (ts.isIdentifier(e) && depth < 5) {
      const tool = ctx.toolFields[e.text];
      if (tool) return [tool];
      // `let x: string;` then `x = …`: the assignments say what it is.
      const decls = (declarations.get(e.text) ?? []).filter(
        (d) => !(ts.isVariableDeclaration(d) && d.initializer === undefined),
      );
      if (decls.length === 0) return undefined;
      const all: string[] = [];
      for (const d of decls) {
        const init = initializerOf(d);
        const r = init ? programsOf(init, depth + 1) : undefined;
        if (!r) return undefined;
        all.push(...r);
      }
      return all;
    }
    return undefined;
  };

  /** Marked template text: `${…}` becomes \uE000<index>\uE000, the expression kept in `marks`. */
  const marks: ts.Expression[] = [];
  const mark = (e: ts.Expression) => {
    marks.push(e);
    return `\uE000${marks.length - 1}\uE000`;
  };
  /** The text of a string expression (shell script), or undefined. */
  const textOfString = (expr: ts.Expression, depth = 0): string | undefined => {
    const e = unwrap(expr);
    if (ts.isStringLiteral(e) || ts.isNoSubstitutionTemplateLiteral(e)) return e.text;
    if (ts.isTemplateExpression(e)) {
      let s = e.head.text;
      for (const span of e.templateSpans) s += mark(span.expression) + span.literal.text;
      return s;
    }
    if (ts.isBinaryExpression(e) && e.operatorToken.kind === ts.SyntaxKind.PlusToken) {
      const l = textOfString(e.left, depth);
      const r = textOfString(e.right, depth);
      return l === undefined || r === undefined ? undefined : l + r;
    }
    if (depth > 5) return undefined;
    if (ts.isIdentifier(e)) {
      const decls = declarations.get(e.text) ?? [];
      const texts = decls.map((d) => {
        const init = initializerOf(d);
        return init ? textOfString(init, depth + 1) : undefined;
      });
      return texts.length > 0 && texts.every((t) => t !== undefined) ? texts.join('\n') : undefined;
    }
    if (ts.isCallExpression(e)) {
      // [...lines].join('\n')
      if (
        ts.isPropertyAccessExpression(e.expression) &&
        e.expression.name.text === 'join' &&
        e.arguments[0] &&
        ts.isStringLiteral(e.arguments[0])
      ) {
        const items = elementsOf(e.expression.expression, depth + 1);
        if (!items) return undefined;
        const texts = items.map((x) => textOfString(x, depth + 1));
        return texts.every((t) => t !== undefined) ? texts.join(e.arguments[0].text) : undefined;
      }
      // A function of this file: what it returns.
      if (ts.isIdentifier(e.expression)) {
        const fn = functions.get(e.expression.text);
        const returned = fn ? returnsOf(fn) : [];
        const texts = returned.map((r) => textOfString(r, depth + 1));
        return texts.length > 0 && texts.every((t) => t !== undefined) ? texts.join('\n') : undefined;
      }
    }
    return undefined;
  };
  const returnsOf = (fn: ts.FunctionLikeDeclaration): ts.Expression[] => {
    if (fn.body && !ts.isBlock(fn.body)) return [fn.body];
    const out: ts.Expression[] = [];
    const visit = (n: ts.Node) => {
      if (ts.isFunctionLike(n) && n !== fn) return;
      if (ts.isReturnStatement(n) && n.expression) out.push(n.expression);
      ts.forEachChild(n, visit);
    };
    if (fn.body) visit(fn.body);
    return out;
  };
  /** The elements of an array expression, spreads of local constant arrays flattened. */
  const elementsOf = (expr: ts.Expression, depth = 0): ts.Expression[] | undefined => {
    const e = unwrap(expr);
    if (ts.isArrayLiteralExpression(e)) {
      const out: ts.Expression[] = [];
      for (const el of e.elements) {
        if (ts.isSpreadElement(el)) {
          const inner = depth < 5 ? elementsOf(el.expression, depth + 1) : undefined;
          if (inner) out.push(...inner);
          else out.push(el.expression); // unknown elements: kept as they are (not a literal)
        } else out.push(el);
      }
      return out;
    }
    if (ts.isIdentifier(e) && depth < 5) {
      const decls = declarations.get(e.text) ?? [];
      const init = decls.length === 1 && decls[0] ? initializerOf(decls[0]) : undefined;
      return init ? elementsOf(init, depth + 1) : undefined;
    }
    return undefined;
  };
  const literalOf = (e: ts.Expression): string | undefined => {
    const x = unwrap(e);
    return ts.isStringLiteral(x) || ts.isNoSubstitutionTemplateLiteral(x) ? x.text : undefined;
  };

  /** Scans shell text found in this file; `${…}` command words resolve as expressions here. */
  const shell = (text: string, node: ts.Node) => {
    const r = scanShell(text, at(node), ctx.expressions, (index) => {
      const e = marks[index];
      if (!e) return { problem: `${at(node)}: lost a template expression` };
      const programs = programsOf(e);
      return programs
        ? { programs }
        : {
            problem: `${at(e)}: cannot tell which program \${${textOf(e)}} in a shell script starts; declare "${file}: ${textOf(e)}" in EXPRESSIONS of scripts/programs.ts`,
          };
    });
    found.push(...r.found);
    problems.push(...r.problems);
  };

  /** A launch: the program expression and the arguments' array expression (if known). */
  const launch = (node: ts.Node, program: ts.Expression, args: ts.Expression | undefined) => {
    const programs = programsOf(program);
    if (!programs) {
      problems.push(
        `${at(program)}: cannot tell which program ${textOf(program)} is; declare "${file}: ${textOf(program)}" in EXPRESSIONS of scripts/programs.ts`,
      );
      return;
    }
    for (const p of programs) found.push({ program: p, where: at(node) });
    const elements = args ? (elementsOf(args) ?? []) : [];
    // What the program starts in turn: `sh -c <script>`, `unshare … sh -c …`, `nsenter … -- test`.
    const seq = [programs.length === 1 ? programs[0] : undefined, ...elements.map(literalOf)];
    let i = 0;
    while (i < seq.length) {
      const word = seq[i];
      if (word === undefined) break;
      const name = programName(word);
      if (SHELLS.has(name) && seq[i + 1] === '-c') {
        const script = elements[i + 1];
        const text = script ? textOfString(script) : undefined;
        if (text === undefined) problems.push(`${at(node)}: cannot read the script of ${name} -c here`);
        else shell(text, script ?? node);
        break;
      }
      if (!STARTERS.has(name)) break;
      // The starter's options, then the program it starts.
      let j = i + 1;
      while (j < seq.length && isOption(seq[j])) j++;
      const nested = seq[j];
      if (nested === undefined) break;
      found.push({ program: programName(nested), where: at(node) });
      i = j;
    }
  };

  const visit = (node: ts.Node): void => {
    if (ts.isCallExpression(node)) {
      const callee = node.expression;
      let fnName: string | undefined;
      let original: string | undefined;
      if (ts.isIdentifier(callee)) {
        fnName = callee.text;
        original = cp.get(fnName);
      } else if (
        ts.isPropertyAccessExpression(callee) &&
        ts.isIdentifier(callee.expression) &&
        cpNamespaces.has(callee.expression.text)
      ) {
        // import * as cp from 'node:child_process'; cp.spawn(…)
        fnName = callee.name.text;
        original = fnName in CP_FUNCTIONS ? fnName : undefined;
      }
      const kind = original !== undefined ? CP_FUNCTIONS[original] : undefined;
      // A child_process the scan cannot follow: loaded at run time instead of imported.
      const loader = ts.isIdentifier(callee)
        ? callee.text
        : callee.kind === ts.SyntaxKind.ImportKeyword
          ? 'import'
          : '';
      const spec = node.arguments[0];
      if (
        (loader === 'require' || loader === 'import') &&
        spec &&
        ts.isStringLiteral(spec) &&
        CHILD_PROCESS.has(spec.text)
      ) {
        problems.push(
          `${at(node)}: ${loader}('${spec.text}') at run time; import it statically so the scan sees what it starts`,
        );
      }
      const [first, second] = node.arguments;
      if (kind === 'program' && first) launch(node, first, second);
      else if (kind === 'node') found.push({ program: 'node', where: at(node) });
      else if (kind === 'shell' && first) {
        found.push({ program: 'sh', where: at(node) });
        const text = textOfString(first);
        if (text === undefined) problems.push(`${at(node)}: cannot read the shell command of ${fnName}`);
        else shell(text, first);
      } else if (fnName !== undefined && fnName === startProcessName && first) {
        const o = unwrap(first);
        const prop = (name: string): ts.Expression | undefined => {
          if (!ts.isObjectLiteralExpression(o)) return undefined;
          for (const p of o.properties) {
            if (ts.isPropertyAssignment(p) && p.name.getText(sf) === name) return p.initializer;
            if (ts.isShorthandPropertyAssignment(p) && p.name.text === name) return p.name;
          }
          return undefined;
        };
        const command = prop('command');
        if (command) launch(node, command, prop('args'));
        else problems.push(`${at(node)}: startProcess without a readable command`);
      } else if (fnName !== undefined && ctx.wrappers[`${file}: ${fnName}`] !== undefined) {
        const arg = node.arguments[ctx.wrappers[`${file}: ${fnName}`] ?? 0];
        if (arg) launch(node, arg, undefined);
      }
    }
    // Script text written to a file and run: a string that starts with a `#!` line.
    if (
      ts.isStringLiteral(node) ||
      ts.isNoSubstitutionTemplateLiteral(node) ||
      ts.isTemplateExpression(node)
    ) {
      const head = ts.isTemplateExpression(node) ? node.head.text : node.text;
      if (head.startsWith('#!')) {
        const interpreter = shebang(head);
        if (interpreter.some((p) => SHELLS.has(p))) {
          const text = textOfString(node);
          if (text !== undefined) shell(text, node);
        } else for (const p of interpreter) found.push({ program: p, where: at(node) });
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return { found, problems };
}

// ---------------------------------------------------------------------------------------------
// The repository

/** Not the project's code: dependencies, outputs, the Go modules of the tools. */
const SKIP_DIRS = new Set(['node_modules', '.git', 'dist', 'coverage', '.cache']);
const SKIP_PATHS = new Set(['bench/results', 'charts', 'docs']);

/** Files of the repository (relative paths), dependencies and outputs left out. */
export function projectFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      const rel = relative(root, path);
      if (SKIP_DIRS.has(name) || SKIP_PATHS.has(rel)) continue;
      if (statSync(path).isDirectory()) walk(path);
      else out.push(rel);
    }
  };
  walk(root);
  return out.sort();
}

/** The binaries of e2e/harness/tools.ts's ToolPaths, by field name (`kubeApiserver` → kube-apiserver). */
export function toolFields(toolsTs: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of toolsTs.matchAll(/(\w+): join\(d\('\w+'\), '([\w-]+)'\)/g)) {
    if (m[1] && m[2]) out[m[1]] = m[2];
  }
  return out;
}

export interface ProjectScan extends ScanResult {
  /** What was scanned, so a test can tell the scan did not go blind. */
  readonly scanned: {
    readonly typescript: string[];
    readonly shell: string[];
    readonly packageJson: string[];
    readonly readmeCommands: number;
  };
}

/**
 * Every program the repository's code, shell scripts, package.json scripts and README commands
 * start. `ctx.toolFields` is filled from e2e/harness/tools.ts when not given.
 */
export function scanProject(root: string, ctx: Omit<ScanContext, 'toolFields'>): ProjectScan {
  const full: ScanContext = {
    ...ctx,
    toolFields: toolFields(readFileSync(join(root, 'e2e', 'harness', 'tools.ts'), 'utf8')),
  };
  const found: Found[] = [];
  const problems: string[] = [];
  const add = (r: ScanResult) => {
    found.push(...r.found);
    problems.push(...r.problems);
  };
  const scanned = {
    typescript: [] as string[],
    shell: [] as string[],
    packageJson: [] as string[],
    readmeCommands: 0,
  };
  for (const file of projectFiles(root)) {
    const text = () => readFileSync(join(root, file), 'utf8');
    if (file.endsWith('.ts')) {
      scanned.typescript.push(file);
      add(scanTypeScript(file, text(), full));
    } else if (file.endsWith('package.json')) {
      scanned.packageJson.push(file);
      const scripts = (JSON.parse(text()) as { scripts?: Record<string, string> }).scripts ?? {};
      for (const [name, script] of Object.entries(scripts)) {
        add(scanShell(script, `${file} script "${name}"`, ctx.expressions));
      }
    } else if (
      file.endsWith('.sh') ||
      SHELLS.has(shebang(readFileSync(join(root, file)).subarray(0, 64).toString()).at(-1) ?? '')
    ) {
      scanned.shell.push(file);
      add(scanShell(text(), file, ctx.expressions));
    }
  }
  const commands = readmeCommands(readFileSync(join(root, 'README.md'), 'utf8'));
  scanned.readmeCommands = commands.length;
  add(scanReadme(commands));
  return { found, problems, scanned };
}
