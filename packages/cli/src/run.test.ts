import { once } from 'node:events';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CliError, ExitCode } from './errors.ts';
import { runCli } from './run.ts';

/** runCli in-process, without a cluster: what reaches stdout and stderr, and the exit code. */
async function cli(argv: string[], connect?: () => never) {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, {
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
    env: {},
    connect:
      connect ??
      (() => {
        throw new Error('no cluster in a unit test');
      }),
  });
  return { code, stdout, stderr };
}

describe('runCli', () => {
  it('prints help on stdout and exits 0, without touching a cluster', async () => {
    const r = await cli(['--help']);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toMatch(/^Usage: kubectl baton COMMAND \[flags\]/);
    expect(r.stdout).toMatch(
      /Exit codes:\n {2}0 {2}done\n {2}1 {2}unexpected error\n {2}2 {2}bad command line/,
    );
    const one = await cli(['pause', '--help']);
    expect(one.stdout).toMatch(/^Usage: kubectl baton pause \[--for DURATION\] \[--reason TEXT\]/);
    expect(one.stdout).toMatch(/--for DURATION {3}end the pause by itself after this long/);
  });

  it('documents the stable -o json shape in status --help', async () => {
    const r = await cli(['status', '--help']);
    expect(r.stdout).toContain('{ "kind": "BatonStatus", "version": 1');
    for (const field of [
      '"pause"',
      '"slots"',
      '"nodes"',
      '"needsReboot"',
      '"blocked"',
      '"granted"',
      '"since"',
    ]) {
      expect(r.stdout).toContain(field);
    }
  });

  it('a usage error goes to stderr with exit 2 and a pointer to --help', async () => {
    const r = await cli(['pause', '--for', '2d']);
    expect(r).toMatchObject({ code: ExitCode.Usage, stdout: '' });
    expect(r.stderr).toBe(
      'kubectl baton: --for: invalid value "2d" ("d" (days) is not a unit here: write 24h for a day): expected a duration such as 30s, 5m or 1h30m\nRun kubectl baton --help for the commands and flags.\n',
    );
  });

  it('a CliError from connecting keeps its exit code; anything else is exit 1', async () => {
    const noCluster = await cli(['status'], () => {
      throw new CliError(
        ExitCode.NoCluster,
        'no cluster: no --kubeconfig, no KUBECONFIG and no ~/.kube/config',
      );
    });
    expect(noCluster).toMatchObject({
      code: ExitCode.NoCluster,
      stderr: 'kubectl baton: no cluster: no --kubeconfig, no KUBECONFIG and no ~/.kube/config\n',
    });
    const bug = await cli(['status']);
    expect(bug.code).toBe(ExitCode.Failed);
    expect(bug.stderr).toMatch(/^kubectl baton: unexpected error: Error: no cluster in a unit test/);
  });
});

describe('--request-timeout', () => {
  it('gives up on an API server that accepts the connection and never answers: exit 3, the flag named', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((socket) => sockets.push(socket)); // reads nothing, writes nothing
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const { port } = silent.address() as { port: number };
    const dir = await mkdtemp(join(tmpdir(), 'baton-cli-timeout-'));
    const kubeconfig = join(dir, 'kubeconfig');
    await writeFile(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [
          { name: 'c', cluster: { server: `https://127.0.0.1:${port}`, 'insecure-skip-tls-verify': true } },
        ],
        users: [{ name: 'u', user: { token: 't' } }],
        contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
        'current-context': 'x',
      }),
    );
    try {
      let stderr = '';
      const started = Date.now();
      const code = await runCli(['status', '--kubeconfig', kubeconfig, '--request-timeout=1s'], {
        stdout: () => {},
        stderr: (t) => (stderr += t),
        env: {},
      });
      expect(code).toBe(ExitCode.NoCluster);
      expect(stderr).toBe(
        `kubectl baton: no answer from the API server at https://127.0.0.1:${port} within 1s while trying to list nodes (--request-timeout; 0 waits forever)\n`,
      );
      expect(sockets.length).toBeGreaterThan(0); // it did connect; the silence is what timed out
      expect(Date.now() - started).toBeLessThan(20_000); // not the default 30 s
    } finally {
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });
});
