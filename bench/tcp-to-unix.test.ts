/**
 * The forwarder that replaced socat in the kured benchmark, on real sockets: a Unix-socket server
 * (the bench's side) and TCP clients (kured's side), in this process and as the child process
 * bench/kured.ts starts inside each namespace.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { writeForwarder } from './kured.ts';
import { forwardTcpToUnix, parseArgs } from './tcp-to-unix.ts';

let dir: string;
let upstream: Server;
let socket: string;
/** What the Unix side received, per connection, and how many connections it saw. */
let received: Buffer[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'baton-fwd-'));
  socket = join(dir, 'api.sock');
  // Answers each connection with "ok:" and then echoes everything back; records what came.
  upstream = createServer({ allowHalfOpen: true }, (conn) => {
    const chunks: Buffer[] = [];
    received.push(Buffer.alloc(0));
    const i = received.length - 1;
    conn.on('error', () => undefined); // a client gone first: nothing to assert here
    conn.write('ok:');
    conn.on('data', (d: Buffer) => {
      chunks.push(d);
      received[i] = Buffer.concat(chunks);
      conn.write(d);
    });
    conn.on('end', () => conn.end());
  });
  await new Promise<void>((resolve) => upstream.listen(socket, resolve));
});

afterAll(async () => {
  await new Promise<void>((resolve) => upstream.close(() => resolve()));
  await rm(dir, { recursive: true, force: true });
});

afterEach(() => {
  received = [];
});

/** Sends `data` over TCP to the port, half-closes, and returns all it got back until closed. */
function exchange(port: number, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const c = connect({ host: '127.0.0.1', port, allowHalfOpen: true }, () => c.end(data));
    const got: Buffer[] = [];
    c.on('data', (d: Buffer) => got.push(d));
    c.on('error', reject);
    c.on('close', () => resolve(Buffer.concat(got)));
  });
}

/** Connects and waits until the forwarder closes the connection (cleanly or by a reset). */
function closedByForwarder(port: number): Promise<string> {
  return new Promise((resolve) => {
    const c = connect({ host: '127.0.0.1', port });
    let how = 'closed';
    c.on('data', () => (how = 'data'));
    c.on('error', (err: NodeJS.ErrnoException) => (how = err.code ?? err.message));
    c.on('close', () => resolve(how));
  });
}

async function waitForFile(path: string, child: ChildProcess, timeoutMs = 20_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(path)) {
    if (child.exitCode !== null) throw new Error(`the forwarder exited with ${child.exitCode}`);
    if (Date.now() > deadline) throw new Error(`no ${path} after ${timeoutMs} ms`);
    await sleep(20);
  }
  return readFileSync(path, 'utf8');
}

describe('forwardTcpToUnix', () => {
  it('carries bytes both ways, a MiB intact, and passes the half-close on', async () => {
    const server = await forwardTcpToUnix('127.0.0.1', 0, socket);
    try {
      const port = (server.address() as { port: number }).port;
      const data = randomBytes(1 << 20);
      const back = await exchange(port, data);
      expect(back.subarray(0, 3).toString()).toBe('ok:');
      expect(back.subarray(3).equals(data)).toBe(true);
      expect(received[0]?.equals(data)).toBe(true);
    } finally {
      server.close();
    }
  });

  it('keeps concurrent connections apart', async () => {
    const server = await forwardTcpToUnix('127.0.0.1', 0, socket);
    try {
      const port = (server.address() as { port: number }).port;
      const answers = await Promise.all(
        Array.from({ length: 20 }, (_, i) => exchange(port, Buffer.from(`request ${i}`))),
      );
      expect(answers.map((a) => a.toString())).toEqual(
        Array.from({ length: 20 }, (_, i) => `ok:request ${i}`),
      );
      expect(received).toHaveLength(20);
    } finally {
      server.close();
    }
  });

  it('closes the client when the Unix side is not there, and keeps serving', async () => {
    const server = await forwardTcpToUnix('127.0.0.1', 0, join(dir, 'nothing.sock'));
    try {
      const port = (server.address() as { port: number }).port;
      expect(await closedByForwarder(port)).toMatch(/^(closed|ECONNRESET)$/);
      expect(await closedByForwarder(port)).toMatch(/^(closed|ECONNRESET)$/);
    } finally {
      server.close();
    }
  });

  it('fails to start on a port in use', async () => {
    const first = await forwardTcpToUnix('127.0.0.1', 0, socket);
    try {
      const port = (first.address() as { port: number }).port;
      await expect(forwardTcpToUnix('127.0.0.1', port, socket)).rejects.toThrow(/EADDRINUSE/);
    } finally {
      first.close();
    }
  });
});

describe('parseArgs', () => {
  it('takes host, port, socket and ready file, nothing else', () => {
    expect(parseArgs(['127.0.0.1', '6443', '/s', '/r'])).toEqual({
      host: '127.0.0.1',
      port: 6443,
      socket: '/s',
      ready: '/r',
    });
    for (const bad of [
      [],
      ['127.0.0.1', 'x', '/s', '/r'],
      ['127.0.0.1', '70000', '/s', '/r'],
      ['a', '1', '/s'],
    ]) {
      expect(() => parseArgs(bad)).toThrow(/usage: node bench\/tcp-to-unix.ts/);
    }
  });
});

describe('the forwarder as bench/kured.ts starts it', () => {
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const c of children) c.kill('SIGKILL');
  });

  it.each([
    ['the TypeScript source', async () => join(import.meta.dirname, 'tcp-to-unix.ts')],
    ['the JavaScript written for the namespaces', async () => writeForwarder(dir)],
  ])('%s: a process that writes its ready file once it listens, then forwards', async (_, script) => {
    const ready = join(dir, `ready-${children.length}`);
    const child = spawn(process.execPath, [await script(), '127.0.0.1', '0', socket, ready], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    children.push(child);
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const port = Number((await waitForFile(ready, child)).trim());
    expect(port).toBeGreaterThan(0);
    expect((await exchange(port, Buffer.from('GET /version'))).toString()).toBe('ok:GET /version');
    expect(stderr).toBe('');
  });

  it('exits 1 with the usage on a bad command line', async () => {
    const child = spawn(process.execPath, [join(import.meta.dirname, 'tcp-to-unix.ts'), 'x'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(1);
    expect(stderr).toMatch(/^tcp-to-unix: usage: /);
  });
});
