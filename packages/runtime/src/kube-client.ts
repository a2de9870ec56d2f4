/**
 * A small Kubernetes REST client over node:https: JSON requests and watch streams, nothing else.
 * The agent makes a handful of calls (its Node, its pods, evictions, Events, Lease watches);
 * this serves them at a fraction of @kubernetes/client-node's memory. Errors carry the HTTP
 * status, body and headers in the shape {@link normalizeKubeError} reads, so the one normalizer
 * serves both clients.
 */
import type { ClientRequest, IncomingHttpHeaders } from 'node:http';
import type { KubeConnection } from './kube-connection.ts';

// Not an ES module import of node:http: that evaluates every export of the module, among them
// its lazy WebSocket, which loads Node's bundled undici; 13 MiB more resident memory in the agent
// (an .mjs importing node:http: 58.9 MiB; taking it with process.getBuiltinModule: 46.1 MiB).
const http = process.getBuiltinModule('node:http');
const https = process.getBuiltinModule('node:https');

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export const PatchType = {
  Merge: 'application/merge-patch+json',
  StrategicMerge: 'application/strategic-merge-patch+json',
  Json: 'application/json-patch+json',
} as const;

export type Query = Readonly<Record<string, string | number | boolean | undefined>>;

export interface KubeRequest {
  readonly method: HttpMethod;
  /** API path such as `/api/v1/nodes/n1`; the server URL's own path prefix is kept. */
  readonly path: string;
  readonly query?: Query;
  readonly body?: unknown;
  /** For PATCH: one of {@link PatchType}. */
  readonly contentType?: string;
}

export interface WatchEvent<T = unknown> {
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  readonly object: T;
}

/** A non-2xx answer. `code`, `body` and `headers` are what normalizeKubeError reads. */
export class KubeApiError extends Error {
  override readonly name = 'KubeApiError';
  readonly code: number;
  readonly body: string;
  readonly headers: Readonly<Record<string, string>>;
  constructor(code: number, body: string, headers: Readonly<Record<string, string>>, what: string) {
    super(`${what}: HTTP ${code}`);
    this.code = code;
    this.body = body;
    this.headers = headers;
  }
}

export interface KubeClient {
  request<T>(req: KubeRequest): Promise<T>;
  /**
   * Streams watch events to `onEvent` until the server ends the watch (resolves), the stream
   * fails or an ERROR event arrives (rejects with a KubeApiError carrying the Status code, e.g.
   * 410 when the resourceVersion is too old), or `signal` aborts (resolves).
   */
  watch<T>(
    path: string,
    query: Query,
    onEvent: (event: WatchEvent<T>) => void,
    signal: AbortSignal,
  ): Promise<void>;
  /** Where it connects and as whom, for logs. */
  readonly description: string;
  close(): void;
}

export interface KubeClientOptions {
  /** Per request (not watch) time limit. */
  readonly requestTimeoutMs?: number;
  /** Watches are asked to end after this long; a silent watch is cut after this plus a margin. */
  readonly watchTimeoutSeconds?: number;
  readonly userAgent?: string;
}

const flatHeaders = (h: IncomingHttpHeaders): Record<string, string> => {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
};

export function createKubeClient(conn: KubeConnection, opts: KubeClientOptions = {}): KubeClient {
  const requestTimeoutMs = opts.requestTimeoutMs ?? 30_000;
  const watchTimeoutSeconds = opts.watchTimeoutSeconds ?? 300;
  const tls = conn.server.protocol === 'https:';
  const agent = tls
    ? new https.Agent({
        keepAlive: true,
        ...(conn.ca !== undefined ? { ca: conn.ca } : {}),
        ...(conn.cert !== undefined ? { cert: conn.cert } : {}),
        ...(conn.key !== undefined ? { key: conn.key } : {}),
        ...(conn.tlsServerName !== undefined ? { servername: conn.tlsServerName } : {}),
        rejectUnauthorized: !conn.insecureSkipTlsVerify,
      })
    : new http.Agent({ keepAlive: true });
  const prefix = conn.server.pathname.replace(/\/$/, '');

  const open = (
    method: HttpMethod,
    path: string,
    query: Query | undefined,
    body: string | undefined,
    contentType: string | undefined,
    accept: string,
  ): ClientRequest => {
    const search = new URLSearchParams();
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) search.set(k, String(v));
    const qs = search.toString();
    const headers: Record<string, string> = { accept, 'user-agent': opts.userAgent ?? 'baton' };
    const token = conn.token();
    if (token !== undefined && token !== '') headers.authorization = `Bearer ${token}`;
    if (body !== undefined) {
      headers['content-type'] = contentType ?? 'application/json';
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    const target = {
      protocol: conn.server.protocol,
      hostname: conn.server.hostname.replace(/^\[|\]$/g, ''),
      port: conn.server.port || (tls ? 443 : 80),
      path: `${prefix}${path}${qs === '' ? '' : `?${qs}`}`,
      method,
      headers,
      agent,
    };
    return tls ? https.request(target) : http.request(target);
  };

  return {
    description: `${conn.server.origin} (${conn.description})`,
    request<T>(req: KubeRequest): Promise<T> {
      const body = req.body === undefined ? undefined : JSON.stringify(req.body);
      const what = `${req.method} ${req.path}`;
      return new Promise<T>((resolve, reject) => {
        const r = open(req.method, req.path, req.query, body, req.contentType, 'application/json');
        r.setTimeout(requestTimeoutMs, () =>
          r.destroy(
            Object.assign(new Error(`${what}: no answer within ${requestTimeoutMs} ms`), {
              code: 'ETIMEDOUT',
            }),
          ),
        );
        r.on('error', reject);
        r.on('response', (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const code = res.statusCode ?? 0;
            if (code < 200 || code > 299) {
              reject(new KubeApiError(code, text, flatHeaders(res.headers), what));
              return;
            }
            try {
              resolve((text === '' ? undefined : JSON.parse(text)) as T);
            } catch (err) {
              reject(new Error(`${what}: the answer is not JSON: ${(err as Error).message}`));
            }
          });
        });
        r.end(body);
      });
    },

    watch<T>(path: string, query: Query, onEvent: (event: WatchEvent<T>) => void, signal: AbortSignal) {
      const what = `WATCH ${path}`;
      return new Promise<void>((resolve, reject) => {
        if (signal.aborted) return resolve();
        let settled = false;
        const done = (err?: unknown) => {
          if (settled) return;
          settled = true;
          signal.removeEventListener('abort', onAbort);
          r.destroy();
          if (err === undefined || signal.aborted) resolve();
          else reject(err);
        };
        const onAbort = () => done();
        // A caller's own timeoutSeconds (spreadWatchTimeouts) wins over the client's.
        const timeoutSeconds =
          typeof query.timeoutSeconds === 'number' ? query.timeoutSeconds : watchTimeoutSeconds;
        const r = open(
          'GET',
          path,
          { ...query, watch: true, allowWatchBookmarks: true, timeoutSeconds },
          undefined,
          undefined,
          'application/json',
        );
        signal.addEventListener('abort', onAbort);
        // The server ends a watch after timeoutSeconds; silence well past that is a dead connection.
        r.setTimeout((timeoutSeconds + 30) * 1000, () =>
          done(
            Object.assign(new Error(`${what}: silent for ${timeoutSeconds + 30} s`), {
              code: 'ETIMEDOUT',
            }),
          ),
        );
        r.on('error', (err) => done(err));
        r.on('response', (res) => {
          const code = res.statusCode ?? 0;
          if (code < 200 || code > 299) {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () =>
              done(
                new KubeApiError(
                  code,
                  Buffer.concat(chunks).toString('utf8'),
                  flatHeaders(res.headers),
                  what,
                ),
              ),
            );
            res.on('error', (err) => done(err));
            return;
          }
          let pending = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            pending += chunk;
            let nl = pending.indexOf('\n');
            while (nl >= 0 && !settled) {
              const line = pending.slice(0, nl).trim();
              pending = pending.slice(nl + 1);
              nl = pending.indexOf('\n');
              if (line === '') continue;
              let event: WatchEvent<T>;
              try {
                event = JSON.parse(line) as WatchEvent<T>;
              } catch (err) {
                return done(new Error(`${what}: a watch line is not JSON: ${(err as Error).message}`));
              }
              if (event.type === 'ERROR') {
                const status = event.object as { code?: unknown; message?: unknown } | undefined;
                const statusCode = typeof status?.code === 'number' ? status.code : 500;
                return done(new KubeApiError(statusCode, JSON.stringify(status ?? {}), {}, what));
              }
              try {
                onEvent(event);
              } catch (err) {
                return done(err);
              }
            }
          });
          res.on('end', () => done());
          res.on('error', (err) => done(err));
          res.on('close', () => done(settled ? undefined : new Error(`${what}: the stream closed early`)));
        });
        r.end();
      });
    },

    close: () => agent.destroy(),
  };
}
