/**
 * Where the agent's API server is and how it authenticates, without @kubernetes/client-node
 * (which alone costs the agent about 22 MiB of resident memory): the pod's ServiceAccount
 * in-cluster, or a kubeconfig file with a token or a client certificate.
 *
 * Precedence as in {@link loadKubeConfig}: --kubeconfig, else in-cluster, else KUBECONFIG (its
 * first existing file) or ~/.kube/config. Never a silent fallback to http://localhost:8080.
 * Authentication plugins (exec, auth-provider) and basic auth are refused with the field named:
 * an agent runs in-cluster, and a half-understood kubeconfig must not talk to the wrong server.
 *
 * Every problem is a {@link KubeConnectionError}: one line naming the file and what is wrong,
 * never the file's content or a credential. The helpers for that (reading the file, checking its
 * YAML, checking a server URL) are shared with the controller's and kubectl baton's loaders.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { quote, redactCredentials } from '@baton/protocol/config';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface KubeConnection {
  /** `https://host:port`, possibly with a path prefix. */
  readonly server: URL;
  readonly ca: Buffer | undefined;
  readonly cert: Buffer | undefined;
  readonly key: Buffer | undefined;
  readonly insecureSkipTlsVerify: boolean;
  readonly tlsServerName: string | undefined;
  /** The bearer token to send now: a token file is re-read, since the kubelet rotates it. */
  token(): string | undefined;
  /** For logs and errors: `in-cluster (ServiceAccount)` or `kubeconfig /path, context c`. */
  readonly description: string;
}

/**
 * The Kubernetes configuration cannot be used: no kubeconfig, a file that is missing, unreadable
 * or not a kubeconfig, no current context. The message is one line, naming the file.
 */
export class KubeConnectionError extends Error {
  override readonly name = 'KubeConnectionError';
}

/** Why a file could not be read, in a few words: `no such file`, `is a directory, not a file`. */
export function describeFileError(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  switch (code) {
    case 'ENOENT':
      return 'no such file';
    case 'EISDIR':
      return 'is a directory, not a file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied (the file cannot be read by this user)';
    case 'ENOTDIR':
      return 'a part of the path is not a directory';
    case 'ELOOP':
      return 'too many levels of symbolic links';
    default:
      return `cannot be read (${typeof code === 'string' ? code : firstLine(err)})`;
  }
}

/** The first line of an error's message (a YAML parser's message goes on with an excerpt of the file). */
export function firstLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return (message.split('\n')[0] ?? '').replace(/:\s*$/, '').trim() || 'unknown error';
}

/** The text of a kubeconfig file; a {@link KubeConnectionError} naming the file if it cannot be read. */
export function readKubeconfigText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new KubeConnectionError(`kubeconfig ${path}: ${describeFileError(err)}`);
  }
}

/**
 * A kubeconfig's text parsed by `parse` (a YAML parser), checked to be a mapping. Refuses an
 * empty file, text that is not YAML (with the parser's first line only: the rest quotes the file,
 * and the file holds credentials) and a document that is not a mapping, naming the file.
 */
export function kubeconfigDocument(
  path: string,
  text: string,
  parse: (text: string) => unknown,
): Record<string, unknown> {
  const where = `kubeconfig ${path}`;
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new KubeConnectionError(`${where}: not valid YAML: ${redactCredentials(firstLine(err))}`);
  }
  if (doc === null || doc === undefined) {
    throw new KubeConnectionError(
      `${where}: the file is empty; expected a kubeconfig with clusters, users and contexts`,
    );
  }
  if (!isDict(doc)) {
    throw new KubeConnectionError(
      `${where}: not a kubeconfig: expected a YAML mapping with clusters, users and contexts, found ${Array.isArray(doc) ? 'a list' : `a ${typeof doc}`}`,
    );
  }
  return doc;
}

/**
 * A cluster's `server`, checked: an http(s) URL without credentials or a query string in it
 * (credentials belong in the user entry; the URL shows up in messages). `field` names it in
 * errors, which show the URL only with its credentials redacted.
 */
export function checkServerUrl(value: unknown, field: string, where: string): URL {
  const fail = (expected: string): never => {
    throw new KubeConnectionError(`${where}: ${field}: ${expected}`);
  };
  if (typeof value !== 'string' || value === '') return fail('expected an https:// URL');
  const shown = quote(redactCredentials(value));
  let server: URL;
  try {
    server = new URL(value);
  } catch {
    return fail(`${shown} is not a URL`);
  }
  if (server.protocol !== 'https:' && server.protocol !== 'http:') {
    // `user:password@host` parses with the user as its scheme: never name that one.
    fail(
      /^[^/]*@/.test(value)
        ? `${shown} does not start with https://`
        : `expected an https:// URL, not ${server.protocol}`,
    );
  }
  if (server.username !== '' || server.password !== '') {
    fail(
      `${shown} has credentials in it; they are not sent from there: give them in the user entry (a token or a client certificate)`,
    );
  }
  if (server.search !== '')
    fail(`${quote(`${server.origin}${server.pathname}?…`)} has a query string; expected none`);
  return server;
}

/** How often a token file is read again (projected tokens are refreshed well before expiry). */
const TOKEN_REREAD_MS = 60_000;

function tokenFromFile(file: string, now: () => number = () => Date.now()): () => string {
  let cached: { token: string; readAt: number; mtimeMs: number } | undefined;
  return () => {
    const t = now();
    if (cached === undefined || t - cached.readAt >= TOKEN_REREAD_MS) {
      const mtimeMs = statSync(file).mtimeMs;
      if (cached === undefined || mtimeMs !== cached.mtimeMs) {
        cached = { token: readFileSync(file, 'utf8').trim(), readAt: t, mtimeMs };
      } else cached.readAt = t;
    }
    return cached.token;
  };
}

export interface LoadOptions {
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly serviceAccountDir?: string;
  readonly home?: string;
}

export async function loadKubeConnection(
  kubeconfig: string | undefined,
  opts: LoadOptions = {},
): Promise<KubeConnection> {
  const env = opts.env ?? process.env;
  const saDir = opts.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
  if (kubeconfig !== undefined) return fromKubeconfigFile(kubeconfig);
  if (env.KUBERNETES_SERVICE_HOST && existsSync(join(saDir, 'token'))) return inCluster(env, saDir);
  const files = (env.KUBECONFIG ?? '').split(':').filter((f) => f !== '');
  const candidates = files.length > 0 ? files : [join(opts.home ?? homedir(), '.kube', 'config')];
  const found = candidates.find((f) => existsSync(f));
  if (found === undefined) {
    throw new KubeConnectionError(
      'no Kubernetes configuration found: not in a pod (no service account), no --kubeconfig, and no KUBECONFIG or ~/.kube/config',
    );
  }
  return fromKubeconfigFile(found);
}

function inCluster(env: Readonly<Record<string, string | undefined>>, saDir: string): KubeConnection {
  const host = env.KUBERNETES_SERVICE_HOST ?? '';
  const port = env.KUBERNETES_SERVICE_PORT || '443';
  const server = new URL(`https://${host.includes(':') ? `[${host}]` : host}:${port}`);
  const caFile = join(saDir, 'ca.crt');
  let ca: Buffer;
  try {
    ca = readFileSync(caFile);
  } catch (err) {
    throw new KubeConnectionError(`service account CA ${caFile}: ${describeFileError(err)}`);
  }
  return {
    server,
    ca,
    cert: undefined,
    key: undefined,
    insecureSkipTlsVerify: false,
    tlsServerName: undefined,
    token: tokenFromFile(join(saDir, 'token')),
    description: 'in-cluster (ServiceAccount)',
  };
}

type Dict = Record<string, unknown>;

const isDict = (v: unknown): v is Dict => v !== null && typeof v === 'object' && !Array.isArray(v);

async function fromKubeconfigFile(path: string): Promise<KubeConnection> {
  const text = readKubeconfigText(path);
  // Loaded only here: in-cluster agents never pay for a YAML parser.
  const { parse } = await import('yaml');
  return parseKubeconfig(kubeconfigDocument(path, text, parse), path);
}

/** Resolves the current context of a parsed kubeconfig; every refusal names the field. */
export function parseKubeconfig(doc: unknown, path: string): KubeConnection {
  const where = `kubeconfig ${path}`;
  const fail = (field: string, expected: string): never => {
    throw new KubeConnectionError(`${where}: ${field}: ${expected}`);
  };
  if (!isDict(doc)) return fail('(document)', 'expected a YAML mapping with clusters, users and contexts');
  const contextName = doc['current-context'];
  if (typeof contextName !== 'string' || contextName === '') {
    return fail('current-context', 'is not set; set it with kubectl config use-context');
  }
  const named = (list: string, name: string, field: string): Dict => {
    const entries = doc[list];
    const entry = Array.isArray(entries)
      ? entries.find((e: unknown) => isDict(e) && e.name === name)
      : undefined;
    if (!isDict(entry) || !isDict(entry[field])) return fail(list, `has no entry named "${name}"`);
    return entry[field] as Dict;
  };
  const context = named('contexts', contextName, 'context');
  const clusterName = context.cluster;
  const userName = context.user;
  if (typeof clusterName !== 'string')
    return fail(`contexts[${contextName}].context.cluster`, 'expected a name');
  const cluster = named('clusters', clusterName, 'cluster');
  const user = typeof userName === 'string' && userName !== '' ? named('users', userName, 'user') : {};
  const base = dirname(path);
  const file = (v: unknown, field: string): Buffer | undefined => {
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || v === '') return fail(field, 'expected a file path');
    const p = isAbsolute(v) ? v : join(base, v);
    try {
      return readFileSync(p);
    } catch (err) {
      return fail(field, `cannot read ${p}: ${describeFileError(err)}`);
    }
  };
  const data = (v: unknown, field: string): Buffer | undefined => {
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || !/^[A-Za-z0-9+/=\s]+$/.test(v)) return fail(field, 'expected base64 data');
    return Buffer.from(v, 'base64');
  };
  const c = `clusters[${clusterName}].cluster`;
  const u = `users[${String(userName)}].user`;

  const server = checkServerUrl(cluster.server, `${c}.server`, where);
  if (cluster['proxy-url'] !== undefined) fail(`${c}.proxy-url`, 'proxies are not supported by baton');
  for (const unsupported of ['exec', 'auth-provider', 'username', 'password', 'as', 'as-groups']) {
    if (user[unsupported] !== undefined) {
      fail(
        `${u}.${unsupported}`,
        'not supported by baton; use a ServiceAccount token or a client certificate',
      );
    }
  }
  const tokenFile = user.tokenFile;
  let token: () => string | undefined;
  if (typeof user.token === 'string' && user.token !== '') {
    const fixed = user.token;
    token = () => fixed;
  } else if (tokenFile !== undefined) {
    if (typeof tokenFile !== 'string' || tokenFile === '')
      return fail(`${u}.tokenFile`, 'expected a file path');
    const p = isAbsolute(tokenFile) ? tokenFile : join(base, tokenFile);
    if (!existsSync(p)) fail(`${u}.tokenFile`, `${p} does not exist`);
    token = tokenFromFile(p);
  } else token = () => undefined;

  const cert =
    data(user['client-certificate-data'], `${u}.client-certificate-data`) ??
    file(user['client-certificate'], `${u}.client-certificate`);
  const key =
    data(user['client-key-data'], `${u}.client-key-data`) ?? file(user['client-key'], `${u}.client-key`);
  if ((cert === undefined) !== (key === undefined)) {
    fail(u, 'a client certificate needs both client-certificate(-data) and client-key(-data)');
  }
  const insecure = cluster['insecure-skip-tls-verify'];
  if (insecure !== undefined && typeof insecure !== 'boolean') {
    fail(`${c}.insecure-skip-tls-verify`, 'expected true or false');
  }
  const tlsServerName = cluster['tls-server-name'];
  if (tlsServerName !== undefined && typeof tlsServerName !== 'string') {
    fail(`${c}.tls-server-name`, 'expected a host name');
  }
  return {
    server,
    ca:
      data(cluster['certificate-authority-data'], `${c}.certificate-authority-data`) ??
      file(cluster['certificate-authority'], `${c}.certificate-authority`),
    cert,
    key,
    insecureSkipTlsVerify: insecure === true,
    tlsServerName: tlsServerName as string | undefined,
    token,
    description: `${where}, context ${contextName}`,
  };
}
