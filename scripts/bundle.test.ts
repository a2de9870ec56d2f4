/**
 * The images run nothing but `node main.mjs`: prove each bundle starts on its own, outside the
 * workspace (no node_modules next to it), serves /healthz and refuses a bad configuration. The
 * kubectl plugin's bundle runs as an executable file by itself and prints its help.
 */
import { execFile } from 'node:child_process';
import { chmod, copyFile, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
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
      expect(files.filter((f) => !f.endsWith('.map') && !f.endsWith('.LEGAL.txt'))).toEqual([basename(file)]);
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

  it("keep WebAssembly and fetch out of the agent: its image's lite mode has no WebAssembly, which undici's fetch needs", async () => {
    expect(bundles.agent.nodeFlags).toContain('--lite-mode');
    const code = await readFile(join(out, bundles.agent.out), 'utf8');
    expect(code).not.toMatch(/\bWebAssembly\b/);
    expect(code).not.toMatch(/(^|[^\w.$])fetch\(/m);
    // And lite mode is what the test says: no WebAssembly on the image's Node.
    const r = runNode([...bundles.agent.nodeFlags, '-e', 'console.log(typeof WebAssembly)']);
    expect(await r.exited).toBe(0);
    expect(r.output().trim()).toBe('undefined');
  });

  it.each([
    ['controller', [] as string[]],
    ['agent', ['--node-id=node-a', '--reboot-sentinel=/nonexistent/reboot-required']],
  ] as const)('%s bundle starts alone, serves /healthz and stops on SIGTERM', async (name, args) => {
    const port = await freeLocalPort();
    const kubeconfig = await unreachableKubeconfig(out);
    // With the image's Node flags (Dockerfile.<name>'s ENTRYPOINT): the agent runs in lite mode.
    const run = runNode([
      ...bundles[name].nodeFlags,
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

  describe('kubectl-baton', () => {
    const run = promisify(execFile);
    // The directory of the running Node first on PATH: `#!/usr/bin/env node` must find Node 24.
    const env = { PATH: `${dirname(process.execPath)}:/usr/bin:/bin`, HOME: tmpdir() };

    it('is one executable file that starts on its own, copied anywhere as kubectl-baton, and prints its help', async () => {
      const file = join(out, bundles['kubectl-baton'].out);
      expect((await stat(file)).mode & 0o111).not.toBe(0);
      expect((await readFile(file, 'utf8')).startsWith('#!/usr/bin/env node\n')).toBe(true);
      const alone = await mkdtemp(join(tmpdir(), 'baton-plugin-'));
      try {
        const plugin = join(alone, 'kubectl-baton');
        await copyFile(file, plugin);
        await chmod(plugin, 0o755);
        const { stdout } = await run(plugin, ['--help'], { env });
        expect(stdout).toMatch(/^Usage: kubectl baton COMMAND/);
        for (const command of ['status', 'why', 'pause', 'resume', 'release', 'request', 'cancel']) {
          expect(stdout).toContain(`kubectl baton ${command}`);
        }
        expect(stdout).toMatch(/Exit codes:/);
      } finally {
        await rm(alone, { recursive: true, force: true });
      }
    });

    it('exits 2 on an unknown command and 3 when no cluster is configured', async () => {
      const file = join(out, bundles['kubectl-baton'].out);
      const bad = await run(file, ['frobnicate'], { env }).catch((e: { code: number; stderr: string }) => e);
      expect(bad).toMatchObject({ code: 2 });
      expect((bad as { stderr: string }).stderr).toMatch(/unknown command "frobnicate"/);
      const none = await run(file, ['status'], { env: { ...env, KUBECONFIG: join(out, 'missing') } }).catch(
        (e: { code: number; stderr: string }) => e,
      );
      expect(none).toMatchObject({ code: 3 });
      expect((none as { stderr: string }).stderr).toMatch(/no cluster: none of the KUBECONFIG files exist/);
    });

    it('keeps the controller out of the plugin (the pause semantics it shares come from protocol)', async () => {
      const map = JSON.parse(await readFile(join(out, `${bundles['kubectl-baton'].out}.map`), 'utf8')) as {
        sources: string[];
      };
      expect(map.sources.some((s) => s.endsWith('packages/protocol/src/pause.ts'))).toBe(true);
      expect(map.sources.filter((s) => s.includes('packages/controller/'))).toEqual([]);
      expect(map.sources.some((s) => s.includes('node_modules/prom-client/'))).toBe(false);
    });
  });
});
