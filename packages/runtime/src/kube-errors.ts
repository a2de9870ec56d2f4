/**
 * One normalizer for every error the Kubernetes client can throw, so call sites decide on a
 * small typed shape instead of poking at `ApiException` bodies (raw JSON text), watch errors
 * (`statusCode`) and network errors (`code`) each in their own way.
 */

export interface KubeError {
  /** HTTP status, or 0 when the request never got an answer (network, TLS, timeout). */
  readonly code: number;
  /** `metav1.Status.reason` (`Conflict`, `AlreadyExists`, `NotFound`, `TooManyRequests`, …) or a network code. */
  readonly reason: string;
  readonly message: string;
  /** Seconds from a `Retry-After` header or `status.details.retryAfterSeconds` (eviction 429s carry it). */
  readonly retryAfterSeconds: number | undefined;
  readonly cause: unknown;
}

interface StatusBody {
  reason?: string;
  message?: string;
  details?: { retryAfterSeconds?: number };
}

function parseStatusBody(body: unknown): StatusBody {
  if (typeof body === 'string') {
    try {
      return parseStatusBody(JSON.parse(body));
    } catch {
      return { message: body };
    }
  }
  if (body instanceof Uint8Array) return parseStatusBody(Buffer.from(body).toString('utf8'));
  if (body !== null && typeof body === 'object') return body as StatusBody;
  return {};
}

function headerValue(headers: unknown, name: string): string | undefined {
  if (headers === null || typeof headers !== 'object') return undefined;
  for (const [k, v] of Object.entries(headers as Record<string, unknown>)) {
    if (k.toLowerCase() === name && typeof v === 'string') return v;
  }
  return undefined;
}

const reasonByCode: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  409: 'Conflict',
  410: 'Expired',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

/** Turns anything thrown by @kubernetes/client-node (or fetch beneath it) into a {@link KubeError}. */
export function normalizeKubeError(err: unknown): KubeError {
  const e = (err ?? {}) as {
    code?: unknown;
    statusCode?: unknown;
    body?: unknown;
    headers?: unknown;
    message?: unknown;
    cause?: { code?: unknown; message?: unknown };
  };
  const httpCode = typeof e.code === 'number' ? e.code : typeof e.statusCode === 'number' ? e.statusCode : 0;
  if (httpCode > 0) {
    const status = parseStatusBody(e.body);
    const header = headerValue(e.headers, 'retry-after');
    const fromHeader = header !== undefined && /^\d+$/.test(header) ? Number(header) : undefined;
    return {
      code: httpCode,
      reason: status.reason ?? reasonByCode[httpCode] ?? `HTTP${httpCode}`,
      message: status.message ?? (typeof e.message === 'string' ? e.message : `HTTP ${httpCode}`),
      retryAfterSeconds: fromHeader ?? status.details?.retryAfterSeconds,
      cause: err,
    };
  }
  const netCode =
    typeof e.code === 'string' ? e.code : typeof e.cause?.code === 'string' ? e.cause.code : 'NetworkError';
  const message =
    typeof e.message === 'string' && e.message !== ''
      ? e.message
      : typeof e.cause?.message === 'string'
        ? e.cause.message
        : String(err);
  return { code: 0, reason: netCode, message, retryAfterSeconds: undefined, cause: err };
}

export const isConflict = (err: unknown): boolean => normalizeKubeError(err).code === 409;
export const isNotFound = (err: unknown): boolean => normalizeKubeError(err).code === 404;
export const isAlreadyExists = (err: unknown): boolean => {
  const k = normalizeKubeError(err);
  return k.code === 409 && k.reason === 'AlreadyExists';
};
/** Worth retrying as is: no answer, throttled, or the server is briefly unavailable. */
export const isTransient = (err: unknown): boolean => {
  const { code } = normalizeKubeError(err);
  return code === 0 || code === 429 || code === 500 || code === 503 || code === 504;
};

/** One line for logs and error messages: `409 Conflict: the object has been modified…`. */
export function describeKubeError(err: unknown): string {
  const k = normalizeKubeError(err);
  return k.code > 0 ? `${k.code} ${k.reason}: ${k.message}` : `${k.reason}: ${k.message}`;
}
