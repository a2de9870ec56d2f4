import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeLocalPort, runNode, unreachableKubeconfig, waitForHttpOk } from '@baton/runtime/test-support';
import { describe, expect, it } from 'vitest';

const main = join(import.meta.dirname, 'main.ts');

describe('baton-controller main', () => {
  it('refuses a bad configuration with exit code 2, naming every bad flag, before doing anything', async () => {
    const run = runNode([main, '--concurrency=-1', '--time-zone=Mars/Olympus', '--reboot-dayz=mo']);
    expect(await run.exited).toBe(2);
    const out = run.output();
    expect(out).toContain('baton-controller: invalid configuration, not starting');
    expect(out).toMatch(/--concurrency: invalid value "-1"/);
    expect(out).toMatch(/--time-zone: invalid value "Mars\/Olympus"/);
    expect(out).toMatch(/unknown flag --reboot-dayz.*--reboot-days/);
    // It never got as far as serving or logging.
    expect(out).not.toContain('serving /healthz');
  });

  it('starts, serves /healthz, /readyz, /metrics and the API, and stops on SIGTERM', async () => {
    const port = await freeLocalPort();
    const dir = await mkdtemp(join(tmpdir(), 'baton-controller-main-'));
    const run = runNode(
      [
        main,
        `--metrics-host=127.0.0.1`,
        `--metrics-port=${port}`,
        '--leader-elect=false',
        `--kubeconfig=${await unreachableKubeconfig(dir)}`,
      ],
      { POD_NAMESPACE: 'baton-test' },
    );
    try {
      const health = await waitForHttpOk(`http://127.0.0.1:${port}/healthz`, run);
      expect(await health.json()).toEqual({ status: 'ok' });
      // No API server: not ready, and it decides nothing on a view it does not have.
      expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(503);
      expect(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).toContain(
        'process_resident_memory_bytes',
      );
      // The read-only API: who answers, and that it has planned nothing without a view.
      const status = await fetch(`http://127.0.0.1:${port}/api/v1/status`);
      expect(status.status).toBe(200);
      expect(await status.json()).toMatchObject({
        kind: 'BatonControllerStatus',
        replica: { leaderElection: false, leader: true, synced: false },
        plannedAt: null,
        namespace: 'baton-test',
        nodes: [],
      });
      const node = await fetch(`http://127.0.0.1:${port}/api/v1/nodes/n1`);
      expect(node.status).toBe(503);
      expect(await node.json()).toMatchObject({ error: { status: 503, reason: 'ServiceUnavailable' } });
      const post = await fetch(`http://127.0.0.1:${port}/api/v1/status`, { method: 'POST' });
      expect(post.status).toBe(405);
      expect(post.headers.get('allow')).toBe('GET, HEAD');
    } finally {
      expect(await run.stop()).toBe(0);
      await rm(dir, { recursive: true, force: true });
    }
    const lines = run
      .output()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { name: string; msg: string; namespace?: string });
    expect(lines.every((l) => l.name === 'baton-controller')).toBe(true);
    expect(lines.find((l) => l.namespace)?.namespace).toBe('baton-test');
    expect(lines.at(-1)?.msg).toBe('stopped');
  });

  it('refuses a health query without a Prometheus to ask, naming both flags (exit 2)', async () => {
    const run = runNode([main, '--health-query=up == 0']);
    expect(await run.exited).toBe(2);
    expect(run.output()).toMatch(/--health-query.*--prometheus-url/s);
  });

  it('prints every flag with --help and exits 0', async () => {
    const run = runNode([main, '--help']);
    expect(await run.exited).toBe(0);
    expect(run.output()).toContain('--concurrency');
    expect(run.output()).toContain('--lock-release-delay');
  });
});
