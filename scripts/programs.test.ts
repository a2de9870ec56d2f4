/**
 * Every program the tests, benchmarks, scripts and README commands start is built by
 * e2e/tools/build.sh, installed by ./run, code of this repository, or one of the few base-system
 * programs of scripts/programs.ts — and each entry there is true on this machine. A new launch of
 * a program nobody installs (socat, say) fails here, naming the program and where it starts.
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KURED_PROGRAMS } from '../bench/kured.ts';
import {
  commandWords,
  type Found,
  type ScanContext,
  scanProject,
  scanReadme,
  scanShell,
  scanTypeScript,
} from './program-scan.ts';
import { EXPRESSIONS, onPath, PROGRAMS, WRAPPERS } from './programs.ts';

const root = join(import.meta.dirname, '..');
const read = (path: string) => readFileSync(join(root, path), 'utf8');

/** The programs found that the registry does not know, each with where it is started. */
function unknown(found: readonly Found[], registry: Readonly<Record<string, unknown>> = PROGRAMS): string[] {
  const out = new Map<string, string[]>();
  for (const f of found)
    if (!(f.program in registry)) out.set(f.program, [...(out.get(f.program) ?? []), f.where]);
  return [...out].map(([program, where]) => `${program} (started at ${where.join(', ')})`);
}

const names = (text: string) => commandWords(text).map((w) => w.name ?? `?${w.raw}`);
const noContext: ScanContext = { expressions: {}, wrappers: {}, toolFields: {} };
/** A #! line, written so that this file itself does not hold a script for the scan to read. */
const SHEBANG = ['#', '!/bin/sh'].join('');

describe('the scanner (the check must not pass by seeing nothing)', () => {
  it('takes the command words of shell text: past assignments, redirections, keywords, functions, builtins', () => {
    const script = [
      'set -euo pipefail',
      'log() { printf "%s\\n" "$(date +%T) $*" >&2; }',
      'for tool in go node npm; do command -v "$tool" >/dev/null || { echo missing; exit 1; }; done',
      'case "$1" in',
      '  demo | test) log ok ;;',
      '  *) echo "usage" >&2; exit 2 ;;',
      'esac',
      'GOFLAGS="-x" flock 3 2>/dev/null && (cd /tmp && go build ./...)',
      'exec {lock}>"$dir/.lock"; minor=$(cut -d. -f2 <<<"$v")',
      '[[ $(basename "$f") == x.yaml ]] && continue',
      'kubectl apply -f - <<EOF',
      'socat: not a command, a here-document line',
      'EOF',
      'if [ -x x ]; then exec node_modules/.bin/node a.ts; fi',
      "env A=1 nohup sh -c 'socat TCP-LISTEN:1 STDIO | tee out' &",
      'npx --yes pnpm@12.4.2 run test   # a comment: rm -rf /',
      '"$node" -p 1',
    ].join('\n');
    // `$(…)` substitutions come first: they are read while the text is split into words.
    expect(names(script)).toEqual([
      'date',
      'cut',
      'basename',
      'flock',
      'go',
      'kubectl',
      'node',
      'env',
      'nohup',
      'sh',
      'socat',
      'tee',
      'npx',
      'pnpm',
      '?"$node"',
    ]);
  });

  it('finds socat in an `sh -c` script started from TypeScript, and the check fails naming it', () => {
    const source = [
      "import { spawn } from 'node:child_process';",
      // biome-ignore lint/suspicious/noTemplateCurlyInString: TypeScript source as text
      "spawn('sh', ['-c', `socat TCP-LISTEN:${port},fork UNIX-CONNECT:/x &\\nexec kured`]);",
    ].join('\n');
    const r = scanTypeScript('bench/x.ts', source, noContext);
    expect(r.found.map((f) => f.program)).toEqual(['sh', 'socat', 'kured']);
    expect(unknown(r.found, { sh: 1, kured: 1 })).toEqual(['socat (started at bench/x.ts:2:1)']);
    expect(unknown(r.found).join('\n')).toMatch(/^socat \(started at bench\/x\.ts:2:1\)$/);
  });

  it('follows promisify aliases, startProcess, starters (unshare, nsenter), scripts joined from arrays, #! strings', () => {
    const source = [
      "import { execFile as ef, execSync, fork } from 'node:child_process';",
      "import { promisify } from 'node:util';",
      "import { startProcess } from '../e2e/harness/processes.ts';",
      'const run = promisify(ef);',
      "const OPTS = ['-m', '-n', '-f'];",
      'function script(p: string) {',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: TypeScript source as text
      "  return ['set -e', 'ip link set lo up', `exec '${p}' --x`].join('\\n');",
      '}',
      'let promtool: string;',
      "promtool = await toolBinary('promtool');",
      'export async function go(tools: ToolPaths, p: string) {',
      "  await run('openssl', ['version']);",
      "  await run('/usr/bin/nsenter', ['-m/proc/1/ns/mnt', '--', 'test', '-f', '/x']);",
      '  await run(promtool, []);',
      "  await run(tools.kubectl, ['get', 'nodes']);",
      '  const inside = script(p);',
      "  startProcess({ name: 'k', command: 'unshare', args: [...OPTS, 'sh', '-c', inside], logPath: '' });",
      "  execSync('git rev-parse HEAD | cut -c1-7');",
      "  fork('x.js');",
      `  await writeFile('r.sh', \`${SHEBANG}\\ntouch '\${p}'\\n\`);`,
      '}',
    ].join('\n');
    const r = scanTypeScript('bench/y.ts', source, {
      ...noContext,
      expressions: { 'bench/y.ts: p': ['kured'] },
      toolFields: { kubectl: 'kubectl' },
    });
    expect(r.problems).toEqual([]);
    expect(r.found.map((f) => f.program)).toEqual([
      'openssl',
      'nsenter',
      'test',
      'promtool',
      'kubectl',
      'unshare',
      'sh',
      'ip',
      'kured',
      'sh',
      'git',
      'cut',
      'node',
      'sh',
      'touch',
    ]);
  });

  it('fails on a program it cannot tell, naming file, line and expression, until declared', () => {
    const source = [
      "import { spawn } from 'node:child_process';",
      'export function start(cmd: string) {',
      '  spawn(cmd, []);',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: TypeScript source as text
      "  spawn('bash', ['-c', `${cmd} --flag`]);",
      '}',
    ].join('\n');
    const r = scanTypeScript('e2e/z.ts', source, noContext);
    expect(r.problems).toHaveLength(2);
    expect(r.problems[0]).toMatch(
      /^e2e\/z\.ts:3: cannot tell which program cmd is; declare "e2e\/z\.ts: cmd"/,
    );
    expect(r.problems[1]).toMatch(
      /^e2e\/z\.ts:4: cannot tell which program \$\{cmd\} in a shell script starts/,
    );
    const declared = scanTypeScript('e2e/z.ts', source, {
      ...noContext,
      expressions: { 'e2e/z.ts: cmd': ['helm'] },
    });
    expect(declared.problems).toEqual([]);
    expect(declared.found.map((f) => f.program)).toEqual(['helm', 'bash', 'helm']);
    // child_process loaded at run time cannot be followed: that fails too.
    const dynamic = scanTypeScript('e2e/d.ts', "const cp = await import('node:child_process');", noContext);
    expect(dynamic.problems).toEqual([
      "e2e/d.ts:1: import('node:child_process') at run time; import it statically so the scan sees what it starts",
    ]);
    // A dynamic command word of a shell script, too.
    expect(scanShell('"$tool" --version\n', 'x.sh', {}).problems[0]).toMatch(/^x\.sh:1: cannot tell/);
  });

  it('reads README commands: their words, and the plugin behind `kubectl baton`', () => {
    const r = scanReadme([
      { text: 'kubectl baton status', line: 3 },
      { text: 'kubectl annotate node n a="$(whoami)"', line: 4 },
      { text: 'socat - TCP:127.0.0.1:80', line: 5 },
    ]);
    expect(r.found.map((f) => `${f.program}@${f.where}`)).toEqual([
      'kubectl@README.md line 3',
      'kubectl-baton@README.md line 3',
      'whoami@README.md line 4',
      'kubectl@README.md line 4',
      'socat@README.md line 5',
    ]);
    expect(unknown(r.found)).toEqual(['socat (started at README.md line 5)']);
  });
});

describe('the project', () => {
  it('is scanned whole: its TypeScript, shell scripts, package.json scripts and README commands', () => {
    const { scanned: s } = scan();
    expect(s.shell).toEqual([
      '.ci/run',
      'e2e/harness/real-node/init.sh',
      'e2e/harness/real-node/machine.sh',
      'e2e/tools/build.sh',
      'e2e/tools/images.sh',
      'e2e/tools/system-packages.sh',
      'packages/cli/bin/kubectl-baton',
      'run',
    ]);
    expect(s.typescript).toEqual(
      expect.arrayContaining([
        'bench/kured.ts',
        'e2e/harness/processes.ts',
        'e2e/readme.e2e.ts',
        'scripts/chart.ts',
      ]),
    );
    expect(s.typescript.length).toBeGreaterThan(150);
    expect(s.packageJson).toContain('package.json');
    expect(s.readmeCommands).toBeGreaterThan(40);
    // Launches of each kind are seen where they are.
    const at = (program: string) =>
      scan()
        .found.filter((f) => f.program === program)
        .map((f) => f.where);
    expect(at('openssl')).toEqual([expect.stringMatching(/^e2e\/harness\/pki\.ts:\d+$/)]);
    expect(at('unshare').some((w) => w.startsWith('bench/kured.ts:'))).toBe(true);
    expect(at('kured').some((w) => w.startsWith('bench/kured.ts:'))).toBe(true);
    expect(at('flock')).toEqual([
      expect.stringMatching(/^e2e\/tools\/build\.sh:\d+$/),
      expect.stringMatching(/^e2e\/tools\/images\.sh:\d+$/),
    ]);
    expect(at('whoami')).toEqual([expect.stringMatching(/^README\.md line \d+$/)]);
    expect(at('vitest')).toContain('package.json script "test:unit":1');
  });

  it('can tell every program it starts', () => {
    expect(scan().problems).toEqual([]);
  });

  it('starts only programs of the registry (scripts/programs.ts)', () => {
    expect(unknown(scan().found)).toEqual([]);
  });

  it('has no registry entry that nothing starts', () => {
    const started = new Set([
      ...scan().found.map((f) => f.program),
      ...Object.values(PROGRAMS).flatMap((p) => p.starts ?? []),
    ]);
    const unused = Object.entries(PROGRAMS)
      .filter(([name, p]) => !started.has(name) && !p.runNeeds && p.startedBy === undefined)
      .map(([name]) => name);
    expect(unused).toEqual([]);
  });

  it('declares only expressions and wrappers the code still has', () => {
    for (const key of [...Object.keys(EXPRESSIONS), ...Object.keys(WRAPPERS)]) {
      const [file, expression] = key.split(/: (.*)$/s);
      expect(existsSync(join(root, file ?? '')), key).toBe(true);
      expect(read(file ?? '').includes(expression ?? ''), key).toBe(true);
    }
  });
});

describe('each entry of the registry is true', () => {
  const entries = Object.entries(PROGRAMS);

  it('build: e2e/tools/build.sh builds that binary in that component, and --print-paths names it', () => {
    const script = read('e2e/tools/build.sh');
    const body = script.slice(
      script.indexOf('build_component() {'),
      script.indexOf('esac', script.indexOf('build_component() {')),
    );
    const built: Record<string, string[]> = {};
    for (const arm of body.split(';;')) {
      const component = /^\s*(\w+)\)/m.exec(arm)?.[1];
      if (!component) continue;
      built[component] = [...arm.matchAll(/\b([a-z][\w-]*)=(?:[\w.-]+\/)+[\w.-]+/g)].map((m) => m[1] ?? '');
    }
    expect(Object.keys(built)).toEqual(['etcd', 'k8s', 'kubelet', 'kwok', 'helm', 'prometheus', 'kured']);
    const paths = execFileSync('bash', [join(root, 'e2e', 'tools', 'build.sh'), '--print-paths'], {
      encoding: 'utf8',
    });
    for (const [name, p] of entries) {
      if (p.origin.from !== 'build') continue;
      expect(built[p.origin.component], name).toContain(name);
      expect(paths, name).toMatch(new RegExp(`^${p.origin.component}=`, 'm'));
    }
    // And every binary it builds that something starts is listed.
    const listed = entries.filter(([, p]) => p.origin.from === 'build').map(([n]) => n);
    expect(Object.values(built).flat().sort()).toEqual(listed.sort());
  });

  it('run: ./run installs it (a devDependency with its bin, or pnpm at the pinned version through npx)', () => {
    const pkg = JSON.parse(read('package.json')) as {
      packageManager: string;
      devDependencies: Record<string, string>;
    };
    const run = read('run');
    for (const [name, p] of entries) {
      if (p.origin.from !== 'run') continue;
      if (name === 'pnpm') {
        expect(pkg.packageManager).toMatch(/^pnpm@[\d.]+$/);
        expect(run).toContain(`PNPM_VERSION=${pkg.packageManager.slice('pnpm@'.length)}\n`);
        // biome-ignore lint/suspicious/noTemplateCurlyInString: shell text of ./run
        expect(run).toContain('npx --yes "pnpm@${PNPM_VERSION}"');
        continue;
      }
      expect(pkg.devDependencies[p.origin.package], name).toBeDefined();
      expect(existsSync(join(root, 'node_modules', '.bin', name)), `node_modules/.bin/${name}`).toBe(true);
    }
    expect(run).toMatch(/^pnpm install --frozen-lockfile$/m);
  });

  it('base: on PATH on this machine', () => {
    const missing = entries.filter(([name, p]) => p.origin.from === 'base' && !onPath(name)).map(([n]) => n);
    expect(missing).toEqual([]);
  });

  it('proof: started only by the on-demand proof it belongs to, never by ./run test', () => {
    const found = scan().found;
    for (const [name, { origin }] of entries) {
      if (origin.from !== 'proof') continue;
      const where = found.filter((f) => f.program === name).map((f) => f.where.split(':')[0]);
      expect(where.length, name).toBeGreaterThan(0);
      expect(new Set(where), name).toEqual(new Set([origin.script]));
    }
  });

  it('system: e2e/tools/system-packages.sh installs that Debian package', () => {
    const list = /^PACKAGES='([^']*)'$/m.exec(read('e2e/tools/system-packages.sh'))?.[1] ?? '';
    const installed = new Set(list.split(' ').map((e) => e.split(':')[0]));
    const system = entries.filter(([, p]) => p.origin.from === 'system');
    expect(system.length).toBeGreaterThan(0);
    for (const [name, { origin }] of system)
      if (origin.from === 'system') expect(installed, name).toContain(origin.package);
  });

  it('project: an executable file of the repository', () => {
    for (const [name, { origin }] of entries) {
      if (origin.from !== 'project') continue;
      expect(() => accessSync(join(root, origin.path), constants.X_OK), name).not.toThrow();
    }
  });

  it('./run checks for exactly the programs marked runNeeds', () => {
    const needs = /^for tool in ([\w ]+); do$/m.exec(read('run'))?.[1]?.split(' ') ?? [];
    expect(needs.sort()).toEqual(
      entries
        .filter(([, p]) => p.runNeeds)
        .map(([n]) => n)
        .sort(),
    );
  });

  it('has no socat anywhere: the kured forwarder is the project’s own (bench/tcp-to-unix.ts)', () => {
    expect(PROGRAMS).not.toHaveProperty('socat');
    expect(Object.values(PROGRAMS).flatMap((p) => p.starts ?? [])).not.toContain('socat');
    expect(Object.values(EXPRESSIONS).flat()).not.toContain('socat');
    expect(scan().found.map((f) => f.program)).not.toContain('socat');
  });

  it("the kured part's programs are base programs", () => {
    for (const p of KURED_PROGRAMS) expect(PROGRAMS[p]?.origin.from, p).toBe('base');
  });

  it('the README lists the base packages and names this registry', () => {
    const readme = read('README.md');
    const start = readme.indexOf('### What a machine needs');
    expect(start).toBeGreaterThan(0);
    const section = readme.slice(start, readme.indexOf('\n#', start + 4));
    expect(section).toContain('scripts/programs.ts');
    const packages = new Set(
      entries.flatMap(([, p]) => (p.origin.from === 'base' ? [p.origin.package] : [])),
    );
    for (const p of packages) expect(section, p).toContain(p);
    expect(section).not.toMatch(/socat/);
  });
});

describe('onPath', () => {
  it('finds executable files only, in PATH order, without starting anything', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'baton-onpath-'));
    try {
      await writeFile(join(dir, 'tool'), '');
      await chmod(join(dir, 'tool'), 0o755);
      await writeFile(join(dir, 'plain'), '');
      expect(onPath('tool', `/nonexistent:${dir}`)).toBe(true);
      expect(onPath('plain', dir)).toBe(false);
      expect(onPath('tool', '')).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

let scanned: ReturnType<typeof scanProject> | undefined;
function scan() {
  scanned ??= scanProject(root, { expressions: EXPRESSIONS, wrappers: WRAPPERS });
  return scanned;
}
