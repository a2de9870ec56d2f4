/**
 * The HTTP surface of a process: `/healthz` (the process is alive), `/readyz` (it can do its
 * job; the reason when not) and `/metrics` (from the process's own registry). Three fixed routes
 * need no framework: node:http keeps the agent's resident memory down (docs/benchmarks.md,
 * "fastify in the agent"). The controller serves the same three, with the same bodies, through
 * fastify beside its read-only API (packages/controller/src/api/).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

// Not an ES module import of node:http: that evaluates every export of the module, among them
// its lazy WebSocket, which loads Node's bundled undici; 13 MiB more resident memory in the agent
// (an .mjs importing node:http: 58.9 MiB; taking it with process.getBuiltinModule: 46.1 MiB).
const { createServer } = process.getBuiltinModule('node:http');

export interface Readiness {
  readonly ready: boolean;
  /** Why not ready, in words (shown in the /readyz body). */
  readonly reason: string;
}

/** What /metrics serves: a prom-client Registry fits. */
export interface MetricsSource {
  readonly contentType: string;
  metrics(): Promise<string>;
}

export interface HttpServerOptions {
  readonly registry: MetricsSource;
  /** Called on every /readyz request. */
  readonly readiness: () => Readiness;
}

export interface HttpServer {
  /** Listens and resolves with `http://host:port` (the bound port when 0 was asked for). */
  listen(opts: { host: string; port: number }): Promise<string>;
  close(): Promise<void>;
}

/** What /healthz answers while the process lives (status 200). */
export const HEALTHY_BODY = { status: 'ok' } as const;

/** What /readyz answers: 200 when ready, 503 with the reason when not (the chart's probes read the code). */
export function readinessAnswer(r: Readiness): {
  readonly code: 200 | 503;
  readonly body: { readonly status: 'ready' | 'not ready'; readonly reason: string };
} {
  return r.ready
    ? { code: 200, body: { status: 'ready', reason: r.reason } }
    : { code: 503, body: { status: 'not ready', reason: r.reason } };
}

function send(res: ServerResponse, code: number, contentType: string, body: string): void {
  res.writeHead(code, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

const json = (res: ServerResponse, code: number, body: unknown) =>
  send(res, code, 'application/json; charset=utf-8', JSON.stringify(body));

async function route(opts: HttpServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    return json(res, 405, { status: 'method not allowed' });
  }
  switch (path) {
    case '/healthz':
      return json(res, 200, HEALTHY_BODY);
    case '/readyz': {
      const { code, body } = readinessAnswer(opts.readiness());
      return json(res, code, body);
    }
    case '/metrics':
      return send(res, 200, opts.registry.contentType, await opts.registry.metrics());
    default:
      return json(res, 404, { status: 'not found', paths: ['/healthz', '/readyz', '/metrics'] });
  }
}

export function buildHttpServer(opts: HttpServerOptions): HttpServer {
  const server = createServer((req, res) => {
    route(opts, req, res).catch((err: unknown) => {
      if (!res.headersSent) json(res, 500, { status: 'error', error: String(err) });
      else res.destroy();
    });
  });
  // Probes and scrapers reconnect; idle keep-alive sockets must not hold a stopping process.
  server.keepAliveTimeout = 5_000;
  return {
    listen: ({ host, port }) =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          const a = server.address() as AddressInfo;
          resolve(`http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`);
        });
      }),
    close: () =>
      new Promise((resolve, reject) => {
        if (!server.listening) return resolve();
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
