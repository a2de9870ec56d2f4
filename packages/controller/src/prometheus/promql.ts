/**
 * A PromQL instant query over HTTP (`POST <prometheus>/api/v1/query`) through the one
 * Prometheus client (client.ts: credentials, CA, timeout and body cap, files read at every
 * request). Every failure is thrown as an Error whose message says what went wrong in words fit
 * for a log line or a halt message; callers fail closed on it.
 */
import {
  type HttpRequest,
  nodeHttpRequest,
  type PrometheusCredentials,
  prometheusRequestOptions,
  type ReadFile,
  readTextFile,
} from './client.ts';

export interface PromSample {
  readonly metric: Readonly<Record<string, string>>;
  readonly value: number;
}

export type PromResult =
  | { readonly kind: 'vector'; readonly samples: readonly PromSample[] }
  | { readonly kind: 'scalar'; readonly value: number };

export interface PromQueryOptions extends Partial<PrometheusCredentials> {
  /** Base URL of Prometheus, e.g. `http://prometheus.monitoring:9090` (a path prefix is kept). */
  readonly url: string;
  readonly timeoutMs: number;
}

export type PromQuery = (expr: string, signal?: AbortSignal) => Promise<PromResult>;

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

export function promInstantQuery(
  o: PromQueryOptions,
  deps: { readonly http?: HttpRequest; readonly readFile?: ReadFile } = {},
): PromQuery {
  const http = deps.http ?? nodeHttpRequest;
  const readFile = deps.readFile ?? readTextFile;
  const base = new URL(o.url);
  const endpoint = new URL(`${base.pathname.replace(/\/+$/, '')}/api/v1/query`, base);
  return async (expr, signal) => {
    const { headers, ca } = await prometheusRequestOptions(
      { bearerTokenFile: o.bearerTokenFile, basicAuthFile: o.basicAuthFile, caFile: o.caFile },
      readFile,
    );
    let answer: { status: number; body: string };
    try {
      answer = await http(endpoint.href, {
        method: 'POST',
        headers,
        ca,
        timeoutMs: o.timeoutMs,
        body: new URLSearchParams({ query: expr }).toString(),
        ...(signal !== undefined ? { signal } : {}),
      });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const why = e.message?.startsWith('no answer within') ? e.message : (e.code ?? e.message);
      throw new Error(`Prometheus at ${base.origin} unreachable: ${why}`);
    }
    return parseQueryResponse(answer.status, answer.body);
  };
}
