/**
 * The harness cleans up after itself: a component that does not start fails loudly with its
 * name and log, and a test run that is killed outright leaves no process and no bound port.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, inject, it } from 'vitest';
import { clustersRoot, startCluster } from './harness/cluster.ts';
import { waitFor } from './harness/kube.ts';
import { isAlive } from './harness/processes.ts';

const portOpen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const sock = createConnection({ host: '127.0.0.1', port });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });

// These tests start control planes of their own, which only the local harness can do.
describe.skipIf(!inject('ownCluster'))('the control-plane harness', () => {
  it('fails with the component name and the tail of its log when a component does not come up', async () => {
    const failure = await startCluster({
      name: `broken-${process.pid}`,
      log: () => {},
      extraArgs: { 'kube-apiserver': ['--no-such-flag=1'] },
    }).then(
      () => undefined,
      (err: unknown) => err as Error,
    );
    expect(failure?.message).toMatch(/^kube-apiserver exited during start-up/);
    expect(failure?.message).toContain('unknown flag: --no-such-flag');
    // etcd, already started, was stopped again.
    const owner = JSON.parse(
      readFileSync(join(clustersRoot(), `broken-${process.pid}`, 'owner.json'), 'utf8'),
    ) as { pids: number[] };
    for (const pid of owner.pids) expect(isAlive(pid)).toBe(false);
  });

  it('leaves no process and no bound port behind when the test run is SIGKILLed', async () => {
    const name = `killed-${process.pid}`;
    const script = `
      import { startCluster } from './e2e/harness/cluster.ts';
      const c = await startCluster({ name: ${JSON.stringify(name)}, log: () => {} });
      process.stdout.write('UP ' + c.server + '\\n');
      setInterval(() => {}, 1 << 30);
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      cwd: join(import.meta.dirname, '..'),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const server = await waitFor('the child cluster to be up', async () => /UP (\S+)/.exec(out)?.[1], 90_000);
    const apiPort = Number(new URL(server).port);
    const ownerFile = join(clustersRoot(), name, 'owner.json');
    const { pids } = JSON.parse(readFileSync(ownerFile, 'utf8')) as { pids: number[] };
    expect(pids.length).toBe(5);
    expect(await portOpen(apiPort)).toBe(true);

    child.kill('SIGKILL');
    await waitFor('every component to be gone', async () => pids.every((pid) => !isAlive(pid)), 30_000);
    await waitFor('the API server port to be closed', async () => !(await portOpen(apiPort)), 10_000);
    // The next start in this root removes the dead run's directory.
    await sleep(100);
    await startCluster({ name: `after-${process.pid}`, log: () => {} }).then((c) => c.stop());
    expect(existsSync(join(clustersRoot(), name))).toBe(false);
  });
});
