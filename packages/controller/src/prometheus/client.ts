/**
 * The one way the controller talks to Prometheus and Alertmanager: the alerts gate's GETs
 * (gates/alerts.ts) and the health query's POSTs (prometheus/promql.ts) both go through here.
 *
 * - Credentials: `--prometheus-bearer-token-file` or `--prometheus-basic-auth-file`, never both.
 *   The configuration refuses the pair (protocol/config/controller.ts, naming both flags); this
 *   module refuses it again, with the same names, rather than pick one. Without either, a
 *   `user:password@` in the URL is sent as basic authentication.
 * - Files (token, `user:password`, CA) are read at every request, so a rotated Secret is used
 *   without a restart.
 * - One timeout for the whole exchange (connect, headers and body), and one cap on the body
 *   ({@link MAX_BODY_BYTES}), so a misbehaving server can neither hold a request forever nor fill
 *   the controller's memory.
 * - node:http(s), because fetch in Node cannot take a CA without an extra dependency.
 */
import { readFile as fsReadFile } from 'node:fs/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';

export const MAX_BODY_BYTES = 16 * 1024 * 1024;

export interface PrometheusCredentials {
  readonly bearerTokenFile: string | undefined;
  /** File holding `user:password`. */
  readonly basicAuthFile: string | undefined;
  readonly caFile: string | undefined;
}

/** Reads a credential file; rejects with the file system's error. */
export type ReadFile = (path: string) => Promise<string>;

export const readTextFile: ReadFile = (path) => fsReadFile(path, 'utf8');

export interface HttpRequestOptions {
  /** Default GET. */
  readonly method?: 'GET' | 'POST';
  readonly headers: Readonly<Record<string, string>>;
  readonly ca: string | undefined;
  readonly timeoutMs: number;
  /** A POST's form body (`application/x-www-form-urlencoded`). */
  readonly body?: string;
  readonly signal?: AbortSignal;
}

/** One HTTP request. Resolves with any status; rejects only when no (whole) answer arrived. */
export type HttpRequest = (
  url: string,
  options: HttpRequestOptions,
) => Promise<{ readonly status: number; readonly body: string }>;

function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
  }
  return String(err);
}

/**
 * Headers and CA for one request, from the credential files (read now, so a rotated Secret is
 * used). Throws an Error naming the flag and file that could not be used, or both flags when
 * both are set.
 */
export async function prometheusRequestOptions(
  s: PrometheusCredentials,
  readFile: ReadFile = readTextFile,
): Promise<{ headers: Record<string, string>; ca: string | undefined }> {
  if (s.bearerTokenFile !== undefined && s.basicAuthFile !== undefined) {
    throw new Error(
      '--prometheus-bearer-token-file and --prometheus-basic-auth-file are both set; give one (a request carries one Authorization header)',
    );
  }
  const headers: Record<string, string> = { accept: 'application/json' };
  const read = async (flag: string, path: string) => {
    try {
      return (await readFile(path)).trim();
    } catch (err) {
      throw new Error(`cannot read --${flag} ${path}: ${errorText(err)}`);
    }
  };
  if (s.bearerTokenFile !== undefined) {
    const token = await read('prometheus-bearer-token-file', s.bearerTokenFile);
    if (token === '') throw new Error(`--prometheus-bearer-token-file ${s.bearerTokenFile} is empty`);
    headers.authorization = `Bearer ${token}`;
  }
  if (s.basicAuthFile !== undefined) {
    const pair = await read('prometheus-basic-auth-file', s.basicAuthFile);
    if (!pair.includes(':')) {
      throw new Error(`--prometheus-basic-auth-file ${s.basicAuthFile} does not hold "user:password"`);
    }
    headers.authorization = `Basic ${Buffer.from(pair).toString('base64')}`;
  }
  const ca = s.caFile === undefined ? undefined : await read('prometheus-ca-file', s.caFile);
  return { headers, ca };
}

/**
 * The real {@link HttpRequest}. A timeout rejects with `no answer within <n> ms`, a body past
 * {@link MAX_BODY_BYTES} with `the answer is larger than …`; network errors keep their `code`.
 */
export const nodeHttpRequest: HttpRequest = (url, o) =>
  new Promise((resolve, reject) => {
    const target = new URL(url);
    // Credentials in the URL are the fallback: an Authorization header from a file wins.
    const fromUrl: Record<string, string> = {};
    if (target.username !== '') {
      const pair = `${decodeURIComponent(target.username)}:${decodeURIComponent(target.password)}`;
      fromUrl.authorization = `Basic ${Buffer.from(pair).toString('base64')}`;
    }
    target.username = '';
    target.password = '';
    const timeout = AbortSignal.timeout(o.timeoutMs);
    const signal = o.signal === undefined ? timeout : AbortSignal.any([o.signal, timeout]);
    const failed = (err: unknown) =>
      timeout.aborted ? new Error(`no answer within ${o.timeoutMs} ms`) : err;
    const headers: Record<string, string> = { ...fromUrl, ...o.headers };
    if (o.body !== undefined) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      headers['content-length'] = String(Buffer.byteLength(o.body));
    }
    const options = { method: o.method ?? 'GET', headers, signal };
    const onResponse = (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY_BYTES) {
          res.destroy(new Error(`the answer is larger than ${MAX_BODY_BYTES} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', (err) => reject(failed(err)));
    };
    const req =
      target.protocol === 'https:'
        ? httpsRequest(target, { ...options, ...(o.ca === undefined ? {} : { ca: o.ca }) }, onResponse)
        : httpRequest(target, options, onResponse);
    req.on('error', (err) => reject(failed(err)));
    req.end(o.body);
  });
