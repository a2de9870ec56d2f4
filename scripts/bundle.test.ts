/**
 * The images run nothing but `node main.mjs`: prove each bundle starts on its own, outside the
 * workspace (no node_modules next to it), serves /healthz and refuses a bad configuration.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeLocalPort, runNode, unreachableKubeconfig, waitForHttpOk } from '@baton/runtime/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundle, bundles } from './bundle.ts';

describe('the image bundles', () => {
  let out: string;
  beforeAll(async () => {
    out = await mkdtemp(join(tmpdir(), 'baton-bundle-'));
    await bundle(out);
  }, 60_000);
  afterAll(async () => rm(out, { recursive: true, force: true }));

  it('are single files with their source maps, nothing else to copy', async () => {
    for (const { out: file } of Object.values(bundles)) {
      const dir = join(out, file, '..');
      const files = (await readdir(dir)).sort();
      expect(files.filter((f) => !f.endsWith('.map') && !f.endsWith('.LEGAL.txt'))).toEqual(['main.mjs']);
    }
  });

  it('keep the heavy libraries out of the agent (it runs on every node; memory budget)', async () => {
    const map = JSON.parse(await readFile(join(out, `${bundles.agent.out}.map`), 'utf8')) as {
      sources: string[];
    };
    const packages = new Set(
      map.sources.flatMap((s) => {
        const m = /.*node_modules\/((?:@[^/]+\/)?[^/]+)\/(.*)$/.exec(s);
        return m ? [m[2]?.startsWith('v4/classic') ? `${m[1]}/classic` : m[1]] : [];
      }),
    );
    for (const heavy of ['@kubernetes/client-node', 'fastify', 'zod/classic', 'js-yaml']) {
      expect(packages, heavy).not.toContain(heavy);
    }
    // Present, and what the agent does use: the small parts.
    expect(packages).toContain('pino');
    expect(packages).toContain('zod');
  });

  it.each([
    ['controller', [] as string[]],
    ['agent', ['--node-id=node-a', '--reboot-sentinel=/nonexistent/reboot-required']],
  ] as const)('%s bundle starts alone, serves /healthz and stops on SIGTERM', async (name, args) => {
    const port = await freeLocalPort();
    const kubeconfig = await unreachableKubeconfig(out);
    const run = runNode([
      join(out, bundles[name].out),
      ...args,
      `--kubeconfig=${kubeconfig}`,
      '--metrics-host=127.0.0.1',
      `--metrics-port=${port}`,
    ]);
    try {
      await waitForHttpOk(`http://127.0.0.1:${port}/healthz`, run);
    } finally {
      expect(await run.stop()).toBe(0);
    }
    expect(run.output()).toContain(`"name":"baton-${name}"`);
  });

  it.each(['controller', 'agent'] as const)('%s bundle exits 2 on a bad flag', async (name) => {
    const run = runNode([join(out, bundles[name].out), '--node-id=n', '--metrics-port=99999']);
    expect(await run.exited).toBe(2);
    expect(run.output()).toMatch(/--metrics-port: invalid value "99999"/);
  });
});
