import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseQueryResponse, promInstantQuery } from './promql.ts';

describe('parseQueryResponse', () => {
  it.each([
    {
      name: 'a vector',
      status: 200,
      body: '{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"db"},"value":[1.5,"1"]}]}}',
      want: { kind: 'vector', samples: [{ metric: { job: 'db' }, value: 1 }] },
    },
    {
      name: 'a scalar',
      status: 200,
      body: '{"status":"success","data":{"resultType":"scalar","result":[1.5,"0"]}}',
      want: { kind: 'scalar', value: 0 },
    },
  ])('$name', (c) => {
    expect(parseQueryResponse(c.status, c.body)).toEqual(c.want);
  });

  it.each([
    {
      name: 'a PromQL error',
      status: 400,
      body: '{"status":"error","errorType":"bad_data","error":"parse error at char 3"}',
      err: 'HTTP 400: bad_data: parse error at char 3',
    },
    {
      name: 'not JSON',
      status: 502,
      body: '<html>bad gateway</html>',
      err: /HTTP 502 with a body that is not JSON/,
    },
    {
      name: 'a range vector',
      status: 200,
      body: '{"status":"success","data":{"resultType":"matrix","result":[]}}',
      err: /expected an instant vector or a scalar, got resultType matrix/,
    },
  ])('$name is an error saying so', (c) => {
    expect(() => parseQueryResponse(c.status, c.body)).toThrow(c.err);
  });
});

describe('promInstantQuery against a loopback HTTP server', () => {
  let server: Server;
  let base: string;
  let dir: string;
  const seen: { url: string; auth: string | undefined; body: string }[] = [];
  let delayMs = 0;

  const read = (req: IncomingMessage) =>
    new Promise<string>((resolve) => {
      let b = '';
      req.on('data', (c: Buffer) => (b += c.toString()));
      req.on('end', () => resolve(b));
    });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'baton-promql-'));
    server = createServer(async (req, res) => {
      const body = await read(req);
      seen.push({ url: req.url ?? '', auth: req.headers.authorization, body });
      setTimeout(() => {
        res.setHeader('content-type', 'application/json');
        res.end(
          '{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"1"]}]}}',
        );
      }, delayMs);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await rm(dir, { recursive: true, force: true });
  });

  it('POSTs the expression to <url>/api/v1/query with a bearer token read from its file', async () => {
    const token = join(dir, 'token');
    await writeFile(token, 's3cret\n');
    const q = promInstantQuery({ url: `${base}/prom/`, bearerTokenFile: token, timeoutMs: 5000 });
    expect(await q('up{job="db"} == 1')).toEqual({ kind: 'vector', samples: [{ metric: {}, value: 1 }] });
    expect(seen.at(-1)).toEqual({
      url: '/prom/api/v1/query',
      auth: 'Bearer s3cret',
      body: 'query=up%7Bjob%3D%22db%22%7D+%3D%3D+1',
    });
    // Rotation: the file is read again at every request.
    await writeFile(token, 'rotated');
    await q('up');
    expect(seen.at(-1)?.auth).toBe('Bearer rotated');
  });

  it('sends basic authentication from a user:password file', async () => {
    const file = join(dir, 'basic');
    await writeFile(file, 'alice:pw');
    await promInstantQuery({ url: base, basicAuthFile: file, timeoutMs: 5000 })('up');
    expect(seen.at(-1)?.auth).toBe(`Basic ${Buffer.from('alice:pw').toString('base64')}`);
  });

  it('an unreachable Prometheus is an error naming it', async () => {
    const q = promInstantQuery({ url: 'http://127.0.0.1:1', timeoutMs: 5000 });
    await expect(q('up')).rejects.toThrow('Prometheus at http://127.0.0.1:1 unreachable: ECONNREFUSED');
  });

  it('no answer within the timeout is an error saying so', async () => {
    delayMs = 2000;
    try {
      const q = promInstantQuery({ url: base, timeoutMs: 200 });
      await expect(q('up')).rejects.toThrow(/unreachable: no answer within 200 ms/);
    } finally {
      delayMs = 0;
    }
  });
});
