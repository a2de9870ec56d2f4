import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeBrokenKubeconfigs } from '@baton/runtime/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliError, ExitCode } from './errors.ts';
import { loadUserKubeConfig } from './kubeconfig.ts';

let dir: string;
const file = (name: string, current: string, contexts: [string, string][], clusters: [string, string][]) => {
  const lines = [
    'apiVersion: v1',
    'kind: Config',
    `current-context: "${current}"`,
    'clusters:',
    ...clusters.map(([n, s]) => `- {name: ${n}, cluster: {server: "${s}"}}`),
    'users:',
    '- {name: u, user: {token: t}}',
    'contexts:',
    ...contexts.map(([n, c]) => `- {name: ${n}, context: {cluster: ${c}, user: u}}`),
  ];
  const path = join(dir, name);
  return writeFile(path, `${lines.join('\n')}\n`).then(() => path);
};

function noCluster(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(ExitCode.NoCluster);
    return (err as CliError).message;
  }
  throw new Error('expected a no-cluster error');
}

describe('loadUserKubeConfig (files only, no cluster)', () => {
  let a: string;
  let b: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'baton-cli-kc-'));
    a = await file('a', 'one', [['one', 'c1']], [['c1', 'https://one.example:6443']]);
    b = await file(
      'b',
      'two',
      [
        ['two', 'c2'],
        ['one', 'c2'],
      ],
      [['c2', 'https://two.example:6443']],
    );
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('uses --kubeconfig and its current context', () => {
    const kc = loadUserKubeConfig({ kubeconfig: b, context: undefined }, {}, dir);
    expect(kc.getCurrentCluster()?.server).toBe('https://two.example:6443');
  });

  it('merges KUBECONFIG as kubectl does: the first file to set a name or the context wins', () => {
    const kc = loadUserKubeConfig(
      { kubeconfig: undefined, context: undefined },
      { KUBECONFIG: `${a}:${b}` },
      dir,
    );
    expect(kc.getCurrentContext()).toBe('one');
    expect(kc.getCurrentCluster()?.server).toBe('https://one.example:6443');
    const two = loadUserKubeConfig(
      { kubeconfig: undefined, context: 'two' },
      { KUBECONFIG: `${a}:${b}` },
      dir,
    );
    expect(two.getCurrentCluster()?.server).toBe('https://two.example:6443');
  });

  it('falls back to ~/.kube/config', async () => {
    const { mkdir, copyFile } = await import('node:fs/promises');
    const home = join(dir, 'home');
    await mkdir(join(home, '.kube'), { recursive: true });
    await copyFile(b, join(home, '.kube', 'config'));
    expect(
      loadUserKubeConfig({ kubeconfig: undefined, context: undefined }, {}, home).getCurrentContext(),
    ).toBe('two');
  });

  it('refuses to guess: no file, an unknown context, a context without a cluster', async () => {
    expect(
      noCluster(() => loadUserKubeConfig({ kubeconfig: join(dir, 'nope'), context: undefined }, {}, dir)),
    ).toMatch(/--kubeconfig .*nope: no such file/);
    expect(
      noCluster(() => loadUserKubeConfig({ kubeconfig: undefined, context: undefined }, {}, dir)),
    ).toMatch(/^no cluster: no --kubeconfig, no KUBECONFIG and no .*\.kube\/config$/);
    expect(
      noCluster(() =>
        loadUserKubeConfig(
          { kubeconfig: undefined, context: undefined },
          { KUBECONFIG: join(dir, 'x') },
          dir,
        ),
      ),
    ).toMatch(/^no cluster: none of the KUBECONFIG files exist/);
    expect(noCluster(() => loadUserKubeConfig({ kubeconfig: a, context: 'prod' }, {}, dir))).toBe(
      `--context prod: no such context in kubeconfig ${a} (contexts: one)`,
    );
    const dangling = await file('d', 'x', [['x', 'missing']], [['c1', 'https://one.example:6443']]);
    expect(noCluster(() => loadUserKubeConfig({ kubeconfig: dangling, context: undefined }, {}, dir))).toBe(
      `no cluster: kubeconfig ${dangling}: context x names a cluster the kubeconfig does not define`,
    );
    const empty = await file('e', '', [], []);
    expect(noCluster(() => loadUserKubeConfig({ kubeconfig: empty, context: undefined }, {}, dir))).toBe(
      `no cluster: kubeconfig ${empty} has no current context; give --context or run kubectl config use-context`,
    );
    const undefinedContext = await file('u', 'gone', [['x', 'c1']], [['c1', 'https://one.example:6443']]);
    expect(
      noCluster(() => loadUserKubeConfig({ kubeconfig: undefinedContext, context: undefined }, {}, dir)),
    ).toBe(
      `no cluster: kubeconfig ${undefinedContext}: the current context gone is not defined; give --context or run kubectl config use-context`,
    );
  });

  it('refuses a broken file in one line naming it, never with its content (exit code 3)', async () => {
    const broken = await mkdtemp(join(tmpdir(), 'baton-cli-kc-broken-'));
    try {
      for (const { what, path, problem } of await writeBrokenKubeconfigs(broken)) {
        const message = noCluster(() =>
          loadUserKubeConfig({ kubeconfig: path, context: undefined }, {}, dir),
        );
        const prefix = what === 'a missing file' ? `--kubeconfig ${path}: ` : `kubeconfig ${path}: `;
        expect(message.startsWith(prefix), message).toBe(true);
        expect(message.slice(prefix.length), what).toMatch(problem);
        expect(message, what).not.toContain('\n');
        expect(message, what).not.toContain('hunter2');
        // The same through KUBECONFIG, where it is one of several files (a missing one is skipped,
        // as kubectl does; a server URL matters only for the current context, here the first file's).
        if (what !== 'a missing file' && !problem.source.includes('server')) {
          expect(
            noCluster(() =>
              loadUserKubeConfig(
                { kubeconfig: undefined, context: undefined },
                { KUBECONFIG: `${a}:${path}` },
                dir,
              ),
            ),
            what,
          ).toMatch(new RegExp(`^kubeconfig ${path}: `));
        }
      }
    } finally {
      await rm(broken, { recursive: true, force: true });
    }
  });

  it('refuses credentials in the server URL, so no message can show them', async () => {
    const withPassword = await file(
      'p',
      'one',
      [['one', 'c1']],
      [['c1', 'https://admin:hunter2@one.example:6443']],
    );
    const message = noCluster(() =>
      loadUserKubeConfig({ kubeconfig: withPassword, context: undefined }, {}, dir),
    );
    expect(message).toMatch(
      /clusters\[c1\]\.cluster\.server: "https:\/\/\(redacted\)@one\.example:6443" has credentials in it/,
    );
    expect(message).not.toContain('hunter2');
  });
});
