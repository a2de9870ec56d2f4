import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tailOf } from '../e2e/harness/processes.ts';
import {
  KURED_PROGRAMS,
  kuredPrerequisites,
  kuredSkipReason,
  startKuredProcess,
  writeForwarder,
} from './kured.ts';

describe('kuredSkipReason: whether the kured part can run on this machine', () => {
  it('runs as root with every program and namespaces that work', () => {
    expect(kuredSkipReason({ uid: 0, missing: [] })).toBeUndefined();
  });

  it('says why in one line: not root, a program missing, or both', () => {
    expect(kuredSkipReason({ uid: 1000, missing: [] })).toBe(
      'needs root for its PID, mount and network namespaces (running as uid 1000)',
    );
    expect(kuredSkipReason({ uid: 0, missing: ['nsenter', 'ip'] })).toBe(
      'needs nsenter, ip (base system: util-linux, iproute2, coreutils; see scripts/programs.ts)',
    );
    const both = kuredSkipReason({ uid: 1000, missing: ['unshare'] }) ?? '';
    expect(both).toMatch(/^needs root .*; needs unshare /);
    expect(both).not.toContain('\n');
  });

  it('names a failed trial unshare (root without CAP_SYS_ADMIN in a container), first line only', () => {
    expect(
      kuredSkipReason({
        uid: 0,
        missing: [],
        unshareError: 'unshare: unshare failed: Operation not permitted\nmore',
      }),
    ).toBe('cannot make namespaces here: unshare: unshare failed: Operation not permitted');
  });

  it('never mentions socat: the forwarder is the project’s own', () => {
    expect(KURED_PROGRAMS).not.toContain('socat');
    expect(KURED_PROGRAMS).toEqual(expect.arrayContaining(['unshare', 'nsenter', 'ip']));
  });
});

/** As the bench decides: on a machine where the kured part would be skipped, so is this. */
const skip = kuredSkipReason(await kuredPrerequisites());

describe.skipIf(skip !== undefined)(
  `a kured process as the bench starts it${skip ? ` (skipped: ${skip})` : ''}`,
  () => {
    const listen = (server: Server, at: string | { host: string; port: number }) =>
      new Promise<void>((resolve) => server.listen(at, resolve));

    it('is PID 1 of its namespaces, finds its token, and reaches the API server through the forwarder', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'baton-kured-ns-'));
      // The "API server": a Unix socket answering each line. A TCP server on the host holds the
      // same port, as the real API server does: only a network namespace of its own lets the
      // forwarder listen there too.
      const api = createServer((c) => c.on('data', () => c.end('pong through the Unix socket\n')));
      const host = createServer((c) => c.end('the host, not the namespace\n'));
      try {
        await listen(api, join(dir, 'api.sock'));
        await listen(host, { host: '127.0.0.1', port: 0 });
        const port = (host.address() as { port: number }).port;
        await writeFile(join(dir, 'token'), 'a-token');
        await writeFile(join(dir, 'ca.crt'), 'a-ca');
        const result = join(dir, 'result.json');
        const proc = startKuredProcess({
          node: 'kured-ns-0',
          binary: process.execPath,
          flags: [join(import.meta.dirname, 'fake-kured.ts'), result, "--reboot-command=/it's quoted"],
          apiPort: port,
          socket: join(dir, 'api.sock'),
          forwarder: await writeForwarder(dir),
          token: join(dir, 'token'),
          caCert: join(dir, 'ca.crt'),
          logPath: join(dir, 'kured.log'),
        });
        expect(await proc.exited, tailOf(proc.logPath)).toBe('exit code 0');
        expect(JSON.parse(await readFile(result, 'utf8'))).toEqual({
          pid: 1,
          nodeId: 'kured-ns-0',
          flags: ["--reboot-command=/it's quoted"],
          token: 'a-token',
          ca: 'a-ca',
          forwarderReady: true,
          nsenterSeesPrivateRun: true,
          api: 'pong through the Unix socket',
        });
        // The tmpfs on /run was the namespace's own.
        expect(existsSync('/run/forwarder.ready')).toBe(false);
      } finally {
        api.close();
        host.close();
        await rm(dir, { recursive: true, force: true });
      }
    });
  },
);
