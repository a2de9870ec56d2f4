import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fillPlaceholders, planFor, readmeCommands, stripComment } from './readme.ts';

const root = join(import.meta.dirname, '..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');

describe('readmeCommands', () => {
  it('takes every line of a sh block, joins continuations, keeps here-documents whole, drops comments', () => {
    const md = [
      '# Title',
      'Run `kubectl get nodes` or `kubectl baton` (the plugin) or `kubectl',
      'baton status -o json`.',
      '## Install',
      '```sh',
      '# a comment line',
      'helm install x \\',
      '  --set a=b   # why',
      '',
      'kubectl apply -f - <<EOF',
      'kind: Lease # not a comment here? it is yaml, kept',
      'EOF',
      "echo 'a # b' # c",
      '```',
      '```',
      'not a command',
      '```',
    ].join('\n');
    expect(readmeCommands(md)).toEqual([
      { text: 'kubectl get nodes', section: 'Title', line: 2, source: 'inline', block: undefined },
      { text: 'kubectl baton status -o json', section: 'Title', line: 2, source: 'inline', block: undefined },
      { text: 'helm install x --set a=b', section: 'Install', line: 7, source: 'block', block: 0 },
      {
        text: 'kubectl apply -f - <<EOF\nkind: Lease # not a comment here? it is yaml, kept\nEOF',
        section: 'Install',
        line: 10,
        source: 'block',
        block: 0,
      },
      { text: "echo 'a # b'", section: 'Install', line: 13, source: 'block', block: 0 },
    ]);
  });

  it('strips trailing comments only outside quotes and only after a space', () => {
    expect(stripComment('kubectl get x   # note')).toBe('kubectl get x');
    expect(stripComment('echo "a # b" # c')).toBe('echo "a # b"');
    expect(stripComment('curl http://x/#frag')).toBe('curl http://x/#frag');
    expect(stripComment('echo a\\ #b')).toBe('echo a\\ #b');
  });

  it('fills the placeholders a reader would', () => {
    expect(
      fillPlaceholders('kubectl baton why NODE; helm --set r=<registry>/x; E2E_KUBECONFIG=~/.kube/config', {
        node: 'n-1',
        registry: 'registry.example',
        kubeconfig: '/tmp/kc',
      }),
    ).toBe('kubectl baton why n-1; helm --set r=registry.example/x; E2E_KUBECONFIG=/tmp/kc');
    // NODE only as a word: an annotation key or a node's own name keeps its letters.
    expect(fillPlaceholders('NODES NODE_NAME', { node: 'x', registry: '', kubeconfig: '' })).toBe(
      'NODES NODE_NAME',
    );
  });
});

describe('every command in README.md', () => {
  const commands = readmeCommands(readme);

  it('is found (the parser did not go blind)', () => {
    expect(commands.length).toBeGreaterThan(40);
    expect(commands.map((c) => c.text)).toContain('./run demo');
    expect(commands.map((c) => c.text)).toContain('./run test');
    expect(
      commands.filter((c) => c.text.startsWith('helm install baton charts/baton -n baton')),
    ).toHaveLength(1);
  });

  it('that ./run test stands for is what .ci/run, ./run and package.json really run', () => {
    const ci = readFileSync(join(root, '.ci', 'run'), 'utf8');
    const run = readFileSync(join(root, 'run'), 'utf8');
    const testScript: string = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts.test;
    expect(ci).toMatch(/^exec \.\/run test$/m);
    for (const c of commands) {
      const plan = planFor(c);
      if (plan.by !== 'ci') continue;
      if (plan.script === undefined) expect(c.text).toBe('./run test');
      else if (plan.script === 'install') expect(run).toMatch(/^pnpm install --frozen-lockfile$/m);
      else
        expect(testScript.split(' && '), `${c.text} (README line ${c.line})`).toContain(
          `pnpm run ${plan.script}`,
        );
    }
  });

  it('is run by e2e/demo.e2e.ts (the demo and its "try this") or by e2e/readme.e2e.ts', () => {
    const demoTest = readFileSync(join(root, 'e2e', 'demo.e2e.ts'), 'utf8');
    const readmeTest = readFileSync(join(root, 'e2e', 'readme.e2e.ts'), 'utf8');
    const byDemo = commands.filter((c) => planFor(c).by === 'demo');
    expect(byDemo.map((c) => c.text)).toContain('./run demo');
    // Both tests take their list from the README through planFor, so nothing is left out by hand.
    expect(demoTest).toMatch(/planFor\(c\)\.by === 'demo'/);
    expect(readmeTest).toMatch(/planFor\(c\)\.by === 'readme'/);
  });
});
