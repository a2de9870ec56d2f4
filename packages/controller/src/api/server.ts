/**
 * The controller's HTTP surface, on fastify: the probes and the scrape every process serves
 * (`/healthz`, `/readyz`, `/metrics`, the same bodies and codes as the runtime's node:http
 * server: the chart's probes and the e2e harness read them) and a read-only JSON API over this
 * replica's view (view.ts, status.ts):
 *
 * - `GET /api/v1/status`: the pause, the slots, and per node whether it needs a reboot, its
 *   phase, its slot and every gate that holds it back, as of this replica's last plan.
 * - `GET /api/v1/nodes/:name`: one node, with every verdict in words (`kubectl baton why`).
 *
 * Nothing here writes, and it reads no Secret: what it shows is what the Node and Lease objects
 * and the RebootGate condition already show to whoever may read them, so it sits on the metrics
 * port with no auth of its own. Every error (unknown path or node, another method, a failure)
 * has one JSON shape: `{ "error": { "status", "reason", "message" } }`; 405 says `allow`.
 *
 * Built apart from listening (fastify's "separate app from server"): tests use `inject()`.
 */
import { STATUS_CODES } from 'node:http';
import { HEALTHY_BODY, type HttpServer, type HttpServerOptions, readinessAnswer } from '@baton/runtime';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import {
  errorSchema,
  healthSchema,
  nodeParamsSchema,
  nodeSchema,
  readinessSchema,
  statusSchema,
} from './schemas.ts';
import { nodeResponse, statusResponse } from './status.ts';
import type { ControllerView } from './view.ts';

export interface ControllerHttpOptions extends HttpServerOptions {
  readonly view: ControllerView;
  /** Wall-clock time for the answers' `time` (the controller's clock, offset in tests). */
  readonly now: () => Date;
}

/** The only methods any route answers (HEAD is GET without a body). */
const ALLOW = 'GET, HEAD';

export interface ErrorBody {
  readonly error: { readonly status: number; readonly reason: string; readonly message: string };
}

/** HTTP's own words for the status, as one word: NotFound, MethodNotAllowed, ServiceUnavailable, … */
export function reasonOf(status: number): string {
  return (STATUS_CODES[status] ?? 'Error').replace(/[^A-Za-z]/g, '');
}

/** An error's own status when it is an HTTP error status, else 500. */
function statusOf(err: { statusCode?: number }): number {
  const s = err.statusCode;
  return s !== undefined && s >= 400 && s < 600 ? s : 500;
}

function sendError(reply: FastifyReply, status: number, message: string): FastifyReply {
  const body: ErrorBody = { error: { status, reason: reasonOf(status), message } };
  return reply.code(status).type('application/json; charset=utf-8').send(body);
}

const errorResponses = {
  400: errorSchema,
  404: errorSchema,
  405: errorSchema,
  500: errorSchema,
  503: errorSchema,
};

/** The fastify app, routes registered, not listening. */
export function buildControllerApp(opts: ControllerHttpOptions): FastifyInstance {
  const app = Fastify({
    // The process logs with its own pino; a line per probe or scrape would only be noise.
    logger: false,
    // Probes and scrapers reconnect; idle keep-alive sockets must not hold a stopping process.
    keepAliveTimeout: 5_000,
    forceCloseConnections: true,
    // A Node's name is at most 253 characters: a longer one is no node's (414).
    routerOptions: { maxParamLength: 253 },
    // The router's own refusals (that too long name, a malformed URL) in the same shape.
    frameworkErrors: (err, _req, reply) => {
      void sendError(reply, statusOf(err), err.message);
    },
  });

  app.get('/healthz', { schema: { response: { 200: healthSchema } } }, async () => HEALTHY_BODY);

  app.get(
    '/readyz',
    { schema: { response: { 200: readinessSchema, 503: readinessSchema } } },
    (_req, reply) => {
      const { code, body } = readinessAnswer(opts.readiness());
      return reply.code(code).send(body);
    },
  );

  app.get('/metrics', async (_req, reply) =>
    reply.type(opts.registry.contentType).send(await opts.registry.metrics()),
  );

  app.get('/api/v1/status', { schema: { response: { 200: statusSchema, ...errorResponses } } }, async () =>
    statusResponse({
      now: opts.now(),
      replica: opts.view.replica(),
      settings: opts.view.settings,
      pass: opts.view.last(),
    }),
  );

  app.get<{ Params: { name: string } }>(
    '/api/v1/nodes/:name',
    { schema: { params: nodeParamsSchema, response: { 200: nodeSchema, ...errorResponses } } },
    async (req, reply) => {
      const { view } = opts;
      const replica = view.replica();
      const pass = view.last();
      if (pass === undefined) {
        const why = !replica.leader
          ? `this replica (${replica.identity}) does not lead and has not planned; ask the leader`
          : 'this replica has not planned yet (its Node and Lease watches are not in sync)';
        return sendError(reply, 503, why);
      }
      const answer = nodeResponse({
        now: opts.now(),
        replica,
        settings: view.settings,
        pass,
        name: req.params.name,
      });
      if (answer === undefined)
        return sendError(
          reply,
          404,
          `node ${JSON.stringify(req.params.name)} is not in this replica's view (planned at ${pass.at.toISOString()})`,
        );
      return answer;
    },
  );

  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0] ?? '/';
    // A path some route serves, asked with another method: 405, and which methods it takes.
    if (app.findRoute({ method: 'GET', url: path }) !== null) {
      void reply.header('allow', ALLOW);
      return sendError(reply, 405, `${req.method} ${path}: only ${ALLOW}`);
    }
    return sendError(
      reply,
      404,
      `no route ${path}; try /healthz, /readyz, /metrics, /api/v1/status or /api/v1/nodes/NAME`,
    );
  });

  app.setErrorHandler((err: { statusCode?: number; message: string }, _req, reply) =>
    sendError(reply, statusOf(err), err.message),
  );

  return app;
}

/** The controller's {@link HttpServer}: what the runtime listens on and closes. */
export function controllerHttpServer(opts: ControllerHttpOptions): HttpServer {
  const app = buildControllerApp(opts);
  return {
    listen: ({ host, port }) => app.listen({ host, port }),
    close: () => app.close(),
  };
}
