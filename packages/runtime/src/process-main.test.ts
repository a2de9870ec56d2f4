import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { KubeConnectionError } from './kube-connection.ts';
import {
  type CommonConfig,
  type Component,
  EXIT_BAD_CONFIG,
  EXIT_NO_CLUSTER,
  type ProcessSpec,
  type Running,
  startProcess,
} from './process-main.ts';

function capture() {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  return { io: { stdout, stderr }, out: () => out, err: () => err };
}

const config: CommonConfig = {
  logFormat: 'json',
  logLevel: 'info',
  metricsHost: '127.0.0.1',
  metricsPort: 0,
};

function spec(
  start: () => Promise<Running>,
  parse = () => config,
  http?: Component['http'],
): ProcessSpec<CommonConfig> {
  return {
    name: 'baton-test',
    parseConfig: parse,
    usage: () => 'usage\n',
    build: async () => ({ http, start }),
  };
}

describe('startProcess', () => {
  it('stops on an unusable kubeconfig with exit code 3 and one line, before logging anything', async () => {
    const c = capture();
    const result = await startProcess(
      spec(async () => {
        throw new KubeConnectionError('kubeconfig /k: no such file');
      }),
      [],
      {},
      c.io,
    );
    expect(result).toEqual({ kind: 'exit', code: EXIT_NO_CLUSTER });
    expect(EXIT_NO_CLUSTER).toBe(3);
    expect(c.err()).toBe('baton-test: not starting: kubeconfig /k: no such file\n');
    expect(c.out()).toBe('');
  });

  it('never prints a credential in that line', async () => {
    const c = capture();
    await startProcess(
      spec(async () => {
        throw new KubeConnectionError('kubeconfig /k: server "https://admin:hunter2@h" is wrong');
      }),
      [],
      {},
      c.io,
    );
    expect(c.err()).toBe('baton-test: not starting: kubeconfig /k: server "https://(redacted)@h" is wrong\n');
  });

  it('stops on a bad configuration with exit code 2, credentials redacted', async () => {
    const c = capture();
    const result = await startProcess(
      spec(
        async () => ({ stop: async () => {} }),
        () => {
          throw new Error('--x: invalid value "http://u:hunter2@h/?token=hunter2"');
        },
      ),
      [],
      {},
      c.io,
    );
    expect(result).toEqual({ kind: 'exit', code: EXIT_BAD_CONFIG });
    expect(c.err()).toContain('--x: invalid value "http://(redacted)@h/?token=(redacted)"');
    expect(c.err()).not.toContain('hunter2');
  });

  it('lets other start failures through (runMain prints them, exit code 1)', async () => {
    const c = capture();
    await expect(
      startProcess(
        spec(async () => {
          throw new Error('boom');
        }),
        [],
        {},
        c.io,
      ),
    ).rejects.toThrow('boom');
  });

  it('logs that it serves once the component runs', async () => {
    const c = capture();
    const result = await startProcess(
      spec(async () => ({ stop: async () => {} })),
      [],
      {},
      c.io,
    );
    expect(result.kind).toBe('started');
    if (result.kind === 'started') await result.started.stop();
    expect(c.out()).toContain('serving /healthz, /readyz and /metrics');
  });

  it('builds before it listens: an unusable kubeconfig found while building stops it the same way', async () => {
    const c = capture();
    const result = await startProcess(
      {
        name: 'baton-test',
        parseConfig: () => config,
        usage: () => '',
        build: async () => {
          throw new KubeConnectionError('kubeconfig /k: no such file');
        },
      },
      [],
      {},
      c.io,
    );
    expect(result).toEqual({ kind: 'exit', code: EXIT_NO_CLUSTER });
    expect(c.out()).toBe('');
  });

  it("serves through the component's own HTTP server when it brings one", async () => {
    const c = capture();
    const calls: string[] = [];
    const result = await startProcess(
      spec(
        async () => ({ stop: async () => void calls.push('stop') }),
        () => config,
        (surface) => ({
          listen: async () => {
            calls.push(`listen ready=${surface.readiness().ready}`);
            return 'http://own:1';
          },
          close: async () => void calls.push('close'),
        }),
      ),
      [],
      {},
      c.io,
    );
    expect(result.kind).toBe('started');
    if (result.kind !== 'started') return;
    expect(result.started.address).toBe('http://own:1');
    await result.started.stop();
    expect(calls).toEqual(['listen ready=false', 'stop', 'close']);
  });
});
