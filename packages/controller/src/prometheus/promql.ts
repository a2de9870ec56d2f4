/**
 * A PromQL instant query over HTTP (`POST <prometheus>/api/v1/query`), with the credentials and
 * CA of the --prometheus-* options. Files are read at every request, so a rotated token works
 * without a restart. Every failure is thrown as an Error whose message says what went wrong in
 * words fit for a log line or a halt message; callers fail closed on it.
 */
import { readFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface PromSample {
  readonly metric: Readonly<Record<string, string>>;
  readonly value: number;
}

export type PromResult =
  | { readonly kind: 'vector'; readonly samples: readonly PromSample[] }
  | { readonly kind: 'scalar'; readonly value: number };

export interface PromQueryOptions {
  /** Base URL of Prometheus, e.g. `http://prometheus.monitoring:9090` (a path prefix is kept). */
  readonly url: string;
  readonly bearerTokenFile?: string | undefined;
  /** File holding `user:password`. */
  readonly basicAuthFile?: string | undefined;
  readonly caFile?: string | undefined;
  readonly timeoutMs: number;
}

export type PromQuery = (expr: string, signal?: AbortSignal) => Promise<PromResult>;

async function authorization(o: PromQueryOptions): Promise<string | undefined> {
  if (o.bearerTokenFile !== undefined) {
    return `Bearer ${(await readFile(o.bearerTokenFile, 'utf8')).trim()}`;
  }
  if (o.basicAuthFile !== undefined) {
    const pair = (await readFile(o.basicAuthFile, 'utf8')).trim();
    return `Basic ${Buffer.from(pair).toString('base64')}`;
  }
  return undefined;
}

function sampleValue(raw: unknown): number {
  // Prometheus sends [<unix seconds>, "<value as a string>"]; NaN and ±Inf come as strings too.
  const text = Array.isArray(raw) ? raw[1] : undefined;
  if (typeof text !== 'string') throw new Error('a sample without a value');
  return Number(text);
}

/** Parses the JSON body of /api/v1/query. Exported for tests. */
export function parseQueryResponse(status: number, body: string): PromResult {
  let doc: {
    status?: unknown;
    error?: unknown;
    errorType?: unknown;
    data?: { resultType?: unknown; result?: unknown };
  };
  try {
    doc = JSON.parse(body) as typeof doc;
  } catch {
    throw new Error(`HTTP ${status} with a body that is not JSON: ${body.slice(0, 200)}`);
  }
  if (doc.status !== 'success') {
    const what = typeof doc.error === 'string' ? doc.error : 'no error message';
    throw new Error(
      `HTTP ${status}: ${typeof doc.errorType === 'string' ? `${doc.errorType}: ` : ''}${what}`,
    );
  }
  const { resultType, result } = doc.data ?? {};
  if (resultType === 'scalar') return { kind: 'scalar', value: sampleValue(result) };
  if (resultType === 'vector' && Array.isArray(result)) {
    return {
      kind: 'vector',
      samples: result.map((s: { metric?: Record<string, string>; value?: unknown }) => ({
        metric: s.metric ?? {},
        value: sampleValue(s.value),
      })),
    };
  }
  throw new Error(`expected an instant vector or a scalar, got resultType ${String(resultType)}`);
}

export function promInstantQuery(o: PromQueryOptions): PromQuery {
  const base = new URL(o.url);
  const endpoint = new URL(`${base.pathname.replace(/\/+$/, '')}/api/v1/query`, base);
  return async (expr, signal) => {
    const auth = await authorization(o);
    const ca = o.caFile === undefined ? undefined : await readFile(o.caFile);
    const body = new URLSearchParams({ query: expr }).toString();
    const request = endpoint.protocol === 'https:' ? httpsRequest : httpRequest;
    const timeout = AbortSignal.timeout(o.timeoutMs);
    const abort = signal === undefined ? timeout : AbortSignal.any([signal, timeout]);
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(
        endpoint,
        {
          method: 'POST',
          signal: abort,
          ...(ca !== undefined ? { ca } : {}),
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            'content-length': Buffer.byteLength(body),
            accept: 'application/json',
            ...(auth !== undefined ? { authorization: auth } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
          );
          res.on('error', reject);
        },
      );
      req.on('error', (err: NodeJS.ErrnoException) => {
        const why = timeout.aborted ? `no answer within ${o.timeoutMs} ms` : (err.code ?? err.message);
        reject(new Error(`Prometheus at ${base.origin} unreachable: ${why}`));
      });
      req.end(body);
    });
    return parseQueryResponse(status, text);
  };
}
