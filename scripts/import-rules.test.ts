/**
 * The import directions of docs/architecture.md hold over the tree, and the check catches each
 * kind of break (a made-up file per rule), so a passing run means something.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkImports, formatViolations, importsOf, packageOf } from './import-rules.ts';

const root = join(import.meta.dirname, '..');

function tree(): Map<string, string> {
  const paths = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', 'packages'], {
    cwd: root,
    encoding: 'utf8',
  })
    .split('\n')
    .filter((p) => p.endsWith('.ts'));
  const files = new Map<string, string>();
  for (const p of paths) {
    try {
      files.set(p, readFileSync(join(root, p), 'utf8'));
    } catch {
      // deleted in the work tree, not yet in the index
    }
  }
  return files;
}

describe('import directions', () => {
  it('hold over every package of the tree', () => {
    const files = tree();
    expect(files.size).toBeGreaterThan(100);
    const violations = checkImports(files);
    expect(formatViolations(violations)).toBe('');
  });

  it('reads static, re-exported, side-effect and dynamic imports, not ones in comments', () => {
    const refs = importsOf(
      [
        "import { a } from './a.ts';",
        "import type { B } from '@kubernetes/client-node';",
        "export { c } from '../c.ts';",
        "export type { D } from './d.ts';",
        "import './side.ts';",
        "const e = await import('./e.ts');",
        "// import { x } from './commented.ts';",
        "/* import { y } from './block.ts'; */",
        'import {',
        '  f,',
        "} from './f.ts';",
      ].join('\n'),
    );
    expect(refs.map((r) => [r.specifier, r.typeOnly])).toEqual([
      ['./a.ts', false],
      ['@kubernetes/client-node', true],
      ['../c.ts', false],
      ['./d.ts', true],
      ['./side.ts', false],
      ['./e.ts', false],
      ['./f.ts', false],
    ]);
    expect(refs.find((r) => r.specifier === './f.ts')?.line).toBe(9);
  });

  it('knows the packages by path', () => {
    expect(packageOf('packages/agent/src/reboot/agent.ts')).toBe('agent');
    expect(packageOf('packages/nope/src/x.ts')).toBeUndefined();
    expect(packageOf('e2e/harness/cluster.ts')).toBeUndefined();
  });

  it('fails the agent importing the controller, by package name or by relative path', () => {
    const v = checkImports(
      new Map([
        ['packages/agent/src/a.ts', "import { plan } from '@baton/controller';\n"],
        ['packages/agent/src/b.ts', "\n\nimport { plan } from '../../controller/src/plan/plan.ts';\n"],
        ['packages/controller/src/plan/plan.ts', 'export const plan = 1;\n'],
      ]),
    );
    expect(v.map((x) => [x.file, x.line, x.rule])).toEqual([
      ['packages/agent/src/a.ts', 1, 'direction'],
      ['packages/agent/src/b.ts', 3, 'direction'],
    ]);
    expect(v[0]?.message).toBe(
      'agent imports controller (@baton/controller); agent may import protocol, runtime',
    );
  });

  it('fails the controller importing the agent, the CLI importing the controller, protocol importing runtime', () => {
    const v = checkImports(
      new Map([
        ['packages/controller/src/x.ts', "import { Agent } from '@baton/agent';\n"],
        ['packages/cli/src/x.ts', "import { pauseState } from '@baton/controller/pause';\n"],
        ['packages/protocol/src/x.ts', "import { logger } from '@baton/runtime';\n"],
        ['packages/runtime/src/x.ts', "import { x } from '@baton/protocol';\n"],
      ]),
    );
    expect(v.map((x) => x.file)).toEqual([
      'packages/controller/src/x.ts',
      'packages/cli/src/x.ts',
      'packages/protocol/src/x.ts',
    ]);
  });

  it('fails I/O in protocol: a node module that reaches outside, a client-node value import', () => {
    const v = checkImports(
      new Map([
        ['packages/protocol/src/a.ts', "import { readFileSync } from 'node:fs';\n"],
        ['packages/protocol/src/b.ts', "import { CoreV1Api } from '@kubernetes/client-node';\n"],
        [
          'packages/protocol/src/c.ts',
          "import type { V1Node } from '@kubernetes/client-node';\nimport * as z from 'zod/mini';\n",
        ],
        ['packages/protocol/src/c.test.ts', "import { readFileSync } from 'node:fs';\n"],
        ['packages/runtime/src/d.ts', "import { readFileSync } from 'node:fs';\n"],
      ]),
    );
    expect(v.map((x) => [x.file, x.rule])).toEqual([
      ['packages/protocol/src/a.ts', 'protocol-io'],
      ['packages/protocol/src/b.ts', 'protocol-io'],
    ]);
  });

  it('fails an import cycle between source files, once each, type-only imports included; tests may import anything', () => {
    const v = checkImports(
      new Map([
        ['packages/controller/src/plan/plan.ts', "import { budget } from './budget.ts';\n"],
        ['packages/controller/src/plan/budget.ts', "import { PLAN } from './plan.ts';\n"],
        ['packages/controller/src/gates/a.ts', "import type { B } from './b.ts';\n"],
        ['packages/controller/src/gates/b.ts', "import { a } from './a.ts';\n"],
        ['packages/controller/src/gates/c.ts', 'export const c = 1;\n'],
        [
          'packages/controller/src/gates/c.test.ts',
          "import { a } from './a.ts';\nimport { c } from './c.ts';\n",
        ],
      ]),
    );
    expect(v.map((x) => [x.rule, x.message])).toEqual([
      [
        'cycle',
        'import cycle: packages/controller/src/gates/a.ts → packages/controller/src/gates/b.ts → packages/controller/src/gates/a.ts',
      ],
      [
        'cycle',
        'import cycle: packages/controller/src/plan/budget.ts → packages/controller/src/plan/plan.ts → packages/controller/src/plan/budget.ts',
      ],
    ]);
  });
});
