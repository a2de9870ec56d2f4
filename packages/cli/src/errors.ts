/**
 * Exit codes and the errors that carry them. Every failure the CLI can foresee ends as a
 * {@link CliError}: one message for a person, one exit code for a script. API errors are turned
 * into one here, from the runtime's normalizer plus what the CLI was doing (the verb and the
 * resource), because a bare "403 Forbidden" does not tell anyone which permission is missing.
 */
import { normalizeKubeError } from '@baton/runtime';

/** Exit codes; `--help` prints this table, scripts may rely on it. */
export const ExitCode = {
  /** Done (for `why` and `status`: the report was printed, whatever it says). */
  Ok: 0,
  /** Anything not listed below: an unexpected answer from the API server, a bug. */
  Failed: 1,
  /** Bad command line: unknown command or flag, a missing or invalid value. */
  Usage: 2,
  /** No cluster: no kubeconfig or context, or the API server cannot be reached. */
  NoCluster: 3,
  /** No rights: the API server refused (401 or 403); the message names the verb and resource. */
  Forbidden: 4,
  /** Unknown node or slot. */
  NotFound: 5,
  /** Refused: unsafe without --force (releasing the slot of a node mid-reboot), or the object changed meanwhile. */
  Refused: 6,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export const EXIT_CODE_HELP: readonly (readonly [ExitCode, string])[] = [
  [ExitCode.Ok, 'done'],
  [ExitCode.Failed, 'unexpected error'],
  [ExitCode.Usage, 'bad command line (unknown command or flag, invalid value)'],
  [ExitCode.NoCluster, 'no cluster: no kubeconfig or context, or the API server is unreachable'],
  [ExitCode.Forbidden, 'no rights: the API server refused (the message names the verb and resource)'],
  [ExitCode.NotFound, 'unknown node or slot'],
  [ExitCode.Refused, 'refused as unsafe without --force, or changed by someone else meanwhile'],
];

export class CliError extends Error {
  override readonly name = 'CliError';
  readonly exitCode: ExitCode;
  constructor(exitCode: ExitCode, message: string) {
    super(message);
    this.exitCode = exitCode;
  }
}

export const usageError = (message: string): CliError => new CliError(ExitCode.Usage, message);

/** What the CLI was doing when a request failed: `get` `nodes` `node-a`, `update` `leases` `baton-slot-0` in `baton`. */
export interface Action {
  readonly verb: string;
  /** Plural resource as RBAC names it, with its group when not core: `nodes`, `leases.coordination.k8s.io`. */
  readonly resource: string;
  readonly name?: string | undefined;
  readonly namespace?: string | undefined;
}

export function describeAction(a: Action): string {
  const what = a.name !== undefined ? `${a.resource} "${a.name}"` : a.resource;
  const where = a.namespace !== undefined ? ` in namespace ${a.namespace}` : '';
  return `${a.verb} ${what}${where}`;
}

/**
 * An API error as a {@link CliError}. `server` is the API server's URL (for "unreachable"),
 * `user` who the server says we are, when known (for "no rights").
 */
export function kubeFailure(
  err: unknown,
  action: Action,
  server: string,
  options: { readonly requestTimeoutMs?: number } = {},
): CliError {
  if (err instanceof CliError) return err;
  const k = normalizeKubeError(err);
  const doing = describeAction(action);
  if (options.requestTimeoutMs !== undefined && options.requestTimeoutMs > 0 && isAbort(err)) {
    return new CliError(
      ExitCode.NoCluster,
      `no answer from the API server at ${server} within ${options.requestTimeoutMs / 1000}s while trying to ${doing} (--request-timeout; 0 waits forever)`,
    );
  }
  if (k.code === 0) {
    return new CliError(
      ExitCode.NoCluster,
      `cannot reach the API server at ${server} (${networkDetail(err, k.reason, k.message)}); check the kubeconfig's server and your network`,
    );
  }
  if (k.code === 401) {
    return new CliError(
      ExitCode.Forbidden,
      `not authenticated: the API server at ${server} refused the credentials of the kubeconfig (401) while trying to ${doing}; log in again or check the context`,
    );
  }
  if (k.code === 403) {
    const rbac =
      action.namespace !== undefined
        ? `a Role in namespace ${action.namespace}`
        : 'a ClusterRole (nodes are cluster-scoped)';
    return new CliError(
      ExitCode.Forbidden,
      `no rights: you may not ${action.verb} ${action.resource}${action.namespace !== undefined ? ` in namespace ${action.namespace}` : ''} (needed to ${doing}); ask for ${rbac} that allows "${action.verb}" on "${action.resource}". The API server said: ${k.message}`,
    );
  }
  if (k.code === 404) {
    return new CliError(ExitCode.NotFound, `not found: ${doing}: ${k.message}`);
  }
  if (k.code === 409) {
    return new CliError(
      ExitCode.Refused,
      `someone else changed it meanwhile (409 ${k.reason}) while trying to ${doing}; run the command again`,
    );
  }
  return new CliError(ExitCode.Failed, `could not ${doing}: ${k.code} ${k.reason}: ${k.message}`);
}

/** Whether the request was aborted (the only abort the CLI makes is its request timeout). */
function isAbort(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; depth < 5 && e !== null && typeof e === 'object'; depth++) {
    const name = (e as { name?: unknown }).name;
    if (name === 'AbortError' || name === 'TimeoutError') return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * fetch reports every network failure as "fetch failed" and puts the real one (ECONNREFUSED,
 * a certificate error, "bad port") in `cause`, sometimes two levels down: show the whole chain.
 */
export function networkDetail(err: unknown, reason: string, message: string): string {
  const parts: string[] = [];
  let code = reason;
  let e: unknown = err;
  for (let depth = 0; depth < 5 && e !== null && typeof e === 'object'; depth++) {
    const { message: m, code: c } = e as { message?: unknown; code?: unknown };
    if (typeof m === 'string' && m !== '' && !parts.includes(m)) parts.push(m);
    if (typeof c === 'string') code = c;
    e = (e as { cause?: unknown }).cause;
  }
  const text = parts.length > 0 ? parts.join(': ') : message;
  return code === 'NetworkError' || text.includes(code) ? text : `${code}: ${text}`;
}
