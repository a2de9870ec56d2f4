import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeLocalPort, runNode, unreachableKubeconfig, waitForHttpOk } from '@baton/runtime/test-support';
import { describe, expect, it } from 'vitest';

const main = join(import.meta.dirname, 'main.ts');

describe('baton-agent main', () => {
  it('refuses to start without a node name, saying where it comes from', async () => {
    const run = runNode([main]);
    expect(await run.exited).toBe(2);
    expect(run.output()).toMatch(/--node-id is required/);
  });

  it('refuses a bad drain timeout and an unknown BATON_ variable, exit code 2', async () => {
    const run = runNode([main, '--node-id=n1', '--drain-timeout=10x'], { BATON_DRAIN_TIMEOT: '5m' });
    expect(await run.exited).toBe(2);
    expect(run.output()).toContain(
      '--drain-timeout: invalid value "10x": expected a duration of at most 24h, such as 30s, 5m or 1h30m',
    );
    expect(run.output()).toContain('BATON_DRAIN_TIMEOT');
  });

  it('takes its node name from KURED_NODE_ID, serves /healthz, is not ready without an API server', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'baton-agent-main-'));
    const port = await freeLocalPort();
    const run = runNode(
      [
        main,
        '--metrics-host=127.0.0.1',
        `--metrics-port=${port}`,
        '--log-format=text',
        `--kubeconfig=${await unreachableKubeconfig(dir)}`,
        `--reboot-sentinel=${join(dir, 'reboot-required')}`,
      ],
      { KURED_NODE_ID: 'node-a' },
    );
    try {
      await waitForHttpOk(`http://127.0.0.1:${port}/healthz`, run);
      // Fail closed: no view of the grants, so not ready, and it says why.
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
      expect(ready.status).toBe(503);
      expect(((await ready.json()) as { reason: string }).reason).toMatch(/sync/);
    } finally {
      expect(await run.stop()).toBe(0);
      await rm(dir, { recursive: true, force: true });
    }
    expect(run.output()).toMatch(/INFO.*baton-agent started/);
    expect(run.output()).toContain('node-a');
  });
});
