/**
 * `./run demo` does what the README says: a control plane with fake nodes that kubectl can
 * list, and Ctrl-C stops every process it started.
 */
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, inject, it } from 'vitest';
import { clustersRoot } from './harness/cluster.ts';
import { waitFor } from './harness/kube.ts';
import { isAlive } from './harness/processes.ts';

const run = promisify(execFile);

describe.skipIf(!inject('ownCluster'))('the demo', () => {
  it('prints a kubeconfig that kubectl can use to list the fake nodes, and cleans up on Ctrl-C', async () => {
    const name = `demo-test-${process.pid}`;
    const child = spawn(process.execPath, [join(import.meta.dirname, 'demo.ts')], {
      env: { ...process.env, DEMO_CLUSTER_NAME: name, DEMO_NODES: '2' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

    const kubeconfig = await waitFor(
      'the demo to print its kubeconfig',
      async () => /export KUBECONFIG=(\S+)/.exec(out)?.[1],
      120_000,
    );
    expect(out).toContain('kubectl get nodes');
    const { stdout } = await run('kubectl', ['--kubeconfig', kubeconfig, 'get', 'nodes', '--no-headers']);
    const rows = stdout.trim().split('\n');
    expect(rows).toHaveLength(2);
    for (const row of rows) expect(row).toMatch(/^demo-node-\d\s+Ready\s/);

    const { pids } = JSON.parse(readFileSync(join(clustersRoot(), name, 'owner.json'), 'utf8')) as {
      pids: number[];
    };
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(out).toContain('nothing left running');
    for (const pid of pids) expect(isAlive(pid)).toBe(false);
  });
});
