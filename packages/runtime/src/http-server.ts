/**
 * The HTTP surface both processes share: `/healthz` (the process is alive), `/readyz` (it can
 * do its job; the reason when not) and `/metrics` (prom-client, from the process's own registry).
 * Built separately from `listen` so tests use `inject` without a socket.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';

export interface Readiness {
  readonly ready: boolean;
  /** Why not ready, in words (shown in the /readyz body). */
  readonly reason: string;
}

export interface HttpServerOptions {
  readonly registry: Registry;
  /** Called on every /readyz request. */
  readonly readiness: () => Readiness;
}

export function buildHttpServer(opts: HttpServerOptions): FastifyInstance {
  const app = Fastify({ logger: false });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const r = opts.readiness();
    return reply
      .code(r.ready ? 200 : 503)
      .send({ status: r.ready ? 'ready' : 'not ready', reason: r.reason });
  });
  app.get('/metrics', async (_req, reply) => {
    const body = await opts.registry.metrics();
    return reply.header('content-type', opts.registry.contentType).send(body);
  });
  return app;
}
