/**
 * Test support for starting baton's processes as real child processes (no cluster needed):
 * run with the same Node as the tests, wait for /healthz, collect output, stop with SIGTERM.
 * Not exported from the package index: tests import it by path.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ChildRun {
  readonly output: () => string;
  readonly exited: Promise<number | null>;
  stop(): Promise<number | null>;
}

export function runNode(args: readonly string[], env: Record<string, string> = {}): ChildRun {
  const child = spawn(process.execPath, [...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    output: () => out,
    exited,
    async stop() {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

export async function freeLocalPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Polls `url` until it answers 200; fails with the child's output if it exits or times out. */
export async function waitForHttpOk(url: string, run: ChildRun, timeoutMs = 20_000): Promise<Response> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void run.exited.then(() => (exited = true));
  while (Date.now() < deadline) {
    if (exited) throw new Error(`process exited before ${url} answered; output:\n${run.output()}`);
    try {
      const res = await fetch(url);
      if (res.ok) return res;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms; output:\n${run.output()}`);
}

/** A kubeconfig file whose API server does not exist (127.0.0.1:1), for processes that must start without a cluster. */
export async function unreachableKubeconfig(dir: string): Promise<string> {
  const { writeFile } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const path = join(dir, 'unreachable.kubeconfig');
  await writeFile(
    path,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters: [{name: none, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]',
      'users: [{name: none, user: {token: "none"}}]',
      'contexts: [{name: none, context: {cluster: none, user: none}}]',
      'current-context: none',
      '',
    ].join('\n'),
  );
  return path;
}

/** A kubeconfig the loaders must refuse, and the line they must refuse it with. */
export interface BrokenKubeconfig {
  readonly what: string;
  readonly path: string;
  /** Matches the whole message after `kubeconfig <path>: `. */
  readonly problem: RegExp;
}

/**
 * Writes the kubeconfig files every loader (agent, controller, kubectl baton) must refuse with
 * one line naming the file, and never with their content: a token sits in each one that has
 * content, `hunter2`, which no message may show. `context` adds the ones whose YAML is a
 * mapping but whose current context cannot be used (kubectl baton words those its own way).
 */
export async function writeBrokenKubeconfigs(
  dir: string,
  options: { readonly context?: boolean } = {},
): Promise<readonly BrokenKubeconfig[]> {
  const { mkdir, writeFile } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const cluster = (server: string) => `clusters: [{name: c, cluster: {server: "${server}"}}]`;
  const user = 'users: [{name: u, user: {token: hunter2}}]';
  const files: [string, string | undefined, RegExp][] = [
    ['a missing file', undefined, /^no such file$/],
    ['a directory', '', /^is a directory, not a file$/],
    ['an empty file', '', /^the file is empty; expected a kubeconfig with clusters, users and contexts$/],
    ['only comments', '# nothing here\n', /^the file is empty/],
    [
      'garbage YAML',
      `${user}\nclusters: [unclosed\n  token: hunter2 {\n`,
      /^not valid YAML: .* at line \d+, column \d+$/,
    ],
    ['a string', 'just some text\n', /^not a kubeconfig: expected a YAML mapping .*, found a string$/],
    ['a list', '- a\n- b\n', /^not a kubeconfig: expected a YAML mapping .*, found a list$/],
  ];
  if (options.context) {
    files.push(
      [
        'no current context',
        `${cluster('https://127.0.0.1:1')}\n${user}\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n`,
        /^current-context: is not set; set it with kubectl config use-context$/,
      ],
      [
        'a current context it does not define',
        `current-context: y\n${cluster('https://127.0.0.1:1')}\n${user}\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n`,
        /^contexts: has no entry named "y"$/,
      ],
      [
        'a context naming a cluster it does not define',
        `current-context: x\n${cluster('https://127.0.0.1:1')}\n${user}\ncontexts: [{name: x, context: {cluster: d, user: u}}]\n`,
        /^clusters: has no entry named "d"$/,
      ],
    );
  }
  files.push([
    'a password in the server URL',
    `current-context: x\n${cluster('https://admin:hunter2@127.0.0.1:1')}\n${user}\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n`,
    /^clusters\[c\]\.cluster\.server: "https:\/\/\(redacted\)@127\.0\.0\.1:1\/?" has credentials in it/,
  ]);
  const cases: BrokenKubeconfig[] = [];
  for (const [i, [what, content, problem]] of files.entries()) {
    const path = join(dir, `broken-${i}`);
    if (what === 'a directory') await mkdir(path);
    else if (content !== undefined) await writeFile(path, content);
    cases.push({ what, path, problem });
  }
  return cases;
}
