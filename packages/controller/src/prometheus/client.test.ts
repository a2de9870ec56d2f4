import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_BODY_BYTES, nodeHttpRequest, prometheusRequestOptions } from './client.ts';
import { promInstantQuery } from './promql.ts';

const files: Record<string, string> = {
  '/secret/token': 'tok-123\n',
  '/secret/basic': 'alice:s3cret\n',
  '/secret/ca.pem': '-----BEGIN CERTIFICATE-----\n',
};
const readFile = async (path: string) => {
  const v = files[path];
  if (v === undefined)
    throw Object.assign(new Error(`ENOENT: no such file, open '${path}'`), { code: 'ENOENT' });
  return v;
};
const none = { bearerTokenFile: undefined, basicAuthFile: undefined, caFile: undefined };

describe('prometheusRequestOptions: the one credential rule', () => {
  it('a token file gives a bearer token, a user:password file basic authentication, a CA file the CA', async () => {
    expect(
      await prometheusRequestOptions(
        { ...none, bearerTokenFile: '/secret/token', caFile: '/secret/ca.pem' },
        readFile,
      ),
    ).toEqual({
      headers: { accept: 'application/json', authorization: 'Bearer tok-123' },
      ca: '-----BEGIN CERTIFICATE-----',
    });
    expect(
      (await prometheusRequestOptions({ ...none, basicAuthFile: '/secret/basic' }, readFile)).headers,
    ).toEqual({
      accept: 'application/json',
      authorization: `Basic ${Buffer.from('alice:s3cret').toString('base64')}`,
    });
    expect(await prometheusRequestOptions(none, readFile)).toEqual({
      headers: { accept: 'application/json' },
      ca: undefined,
    });
  });

  it('refuses a token file and a basic-auth file together, naming both flags, and never picks one', async () => {
    const both = { ...none, bearerTokenFile: '/secret/token', basicAuthFile: '/secret/basic' };
    const err = await prometheusRequestOptions(both, readFile).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(
      /--prometheus-bearer-token-file and --prometheus-basic-auth-file are both set/,
    );
    // No credential in the message.
    expect(err?.message).not.toMatch(/tok-123|s3cret/);
  });

  it('names the flag and file it cannot read', async () => {
    await expect(
      prometheusRequestOptions({ ...none, bearerTokenFile: '/secret/gone' }, readFile),
    ).rejects.toThrow('cannot read --prometheus-bearer-token-file /secret/gone: ENOENT');
  });
});

describe('the one client against a loopback server', () => {
  let server: Server;
  let base: string;
  let dir: string;
  const seen: { url: string; auth: string; method: string }[] = [];
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'baton-prom-client-'));
    server = createServer((req, res) => {
      seen.push({
        url: req.url ?? '',
        auth: String(req.headers.authorization ?? ''),
        method: req.method ?? '',
      });
      req.resume();
      if (req.url === '/slow') return; // never answers
      if (req.url?.startsWith('/big')) {
        res.writeHead(200);
        res.end(Buffer.alloc(MAX_BODY_BYTES + 1024 * 1024, 'a'));
        return;
      }
      res.writeHead(req.url === '/missing' ? 404 : 200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await rm(dir, { recursive: true, force: true });
  });

  it('returns status and body, and sends the headers', async () => {
    await expect(
      nodeHttpRequest(`${base}/ok`, {
        headers: { authorization: 'Bearer t' },
        ca: undefined,
        timeoutMs: 5000,
      }),
    ).resolves.toEqual({ status: 200, body: '{"ok":true}' });
    expect(seen.at(-1)?.auth).toBe('Bearer t');
  });
  it('returns a non-2xx status rather than throwing', async () => {
    await expect(
      nodeHttpRequest(`${base}/missing`, { headers: {}, ca: undefined, timeoutMs: 5000 }),
    ).resolves.toMatchObject({
      status: 404,
    });
  });
  it('sends user:password from the URL as basic authentication, unless a file gave one', async () => {
    const withUser = base.replace('http://', 'http://bob:pw@');
    await nodeHttpRequest(`${withUser}/ok`, { headers: {}, ca: undefined, timeoutMs: 5000 });
    expect(seen.at(-1)?.auth).toBe(`Basic ${Buffer.from('bob:pw').toString('base64')}`);
    await nodeHttpRequest(`${withUser}/ok`, {
      headers: { authorization: 'Bearer f' },
      ca: undefined,
      timeoutMs: 5000,
    });
    expect(seen.at(-1)?.auth).toBe('Bearer f');
  });
  it('gives up after the timeout', async () => {
    await expect(
      nodeHttpRequest(`${base}/slow`, { headers: {}, ca: undefined, timeoutMs: 200 }),
    ).rejects.toThrow(/no answer within 200 ms/);
  });
  it('refuses a body larger than 16 MiB', async () => {
    expect(MAX_BODY_BYTES).toBe(16 * 1024 * 1024);
    await expect(
      nodeHttpRequest(`${base}/big`, { headers: {}, ca: undefined, timeoutMs: 10_000 }),
    ).rejects.toThrow(/larger than/);
  });
  it('rejects when nothing listens', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    await expect(
      nodeHttpRequest(`http://127.0.0.1:${port}/`, { headers: {}, ca: undefined, timeoutMs: 5000 }),
    ).rejects.toThrow(/ECONNREFUSED/);
  });

  it('the health query goes through the same client: the same cap, the same credential rule', async () => {
    // The cap: a Prometheus answering more than 16 MiB is an error, not a full memory.
    await expect(promInstantQuery({ url: `${base}/big/`, timeoutMs: 10_000 })('up')).rejects.toThrow(
      /unreachable: the answer is larger than/,
    );
    // Both credential files: refused, naming both flags, and nothing is sent.
    const token = join(dir, 'token');
    const basic = join(dir, 'basic');
    await writeFile(token, 't');
    await writeFile(basic, 'a:b');
    const before = seen.length;
    await expect(
      promInstantQuery({ url: base, bearerTokenFile: token, basicAuthFile: basic, timeoutMs: 5000 })('up'),
    ).rejects.toThrow(/--prometheus-bearer-token-file and --prometheus-basic-auth-file are both set/);
    expect(seen.length).toBe(before);
  });
});
