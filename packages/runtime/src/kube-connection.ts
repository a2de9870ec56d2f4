/**
 * The one kubeconfig loader, for the agent, the controller and kubectl baton: where the
 * credentials come from, read, checked and merged here; then either a {@link KubeConnection}
 * (the agent's small client: no @kubernetes/client-node, which alone costs it about 22 MiB of
 * resident memory) or client-node's KubeConfig (kubeconfig.ts, the controller and the CLI).
 *
 * Where from: `--kubeconfig`; else, for the processes, the pod's ServiceAccount in a cluster,
 * then the files of KUBECONFIG or ~/.kube/config; for kubectl baton (`order: 'files-first'`,
 * as kubectl) the files first, then the ServiceAccount. Several KUBECONFIG files are merged as
 * kubectl does: the first file to name a cluster, user or context, or to set the current context,
 * wins; a missing one is skipped. Relative paths in a file are resolved against its directory.
 * Never a silent fallback to http://localhost:8080. `context` (kubectl baton's --context)
 * replaces the current context.
 *
 * Every problem is a {@link KubeConnectionError}: one line naming the file and what is wrong,
 * never the file's content or a credential (the processes exit with code 3, as does kubectl
 * baton, which words some of them its own way from {@link KubeConnectionError.problem}).
 * For the agent's connection, authentication plugins (exec, auth-provider) and basic auth are
 * refused with the field named: an agent runs in-cluster, and a half-understood kubeconfig must
 * not talk to the wrong server.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
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
  /** What went wrong, for a front end that words it its own way (kubectl baton). */
  readonly problem: KubeconfigProblem | undefined;
  constructor(message: string, problem?: KubeconfigProblem) {
    super(message);
    this.problem = problem;
  }
}

export type KubeconfigProblem =
  /** No --kubeconfig, no ServiceAccount, none of `listed` (KUBECONFIG's files, or ~/.kube/config) exists. */
  | { readonly kind: 'none-found'; readonly listed: readonly string[]; readonly fromEnv: boolean }
  /** The --kubeconfig file does not exist. */
  | { readonly kind: 'no-such-file'; readonly path: string }
  | ({ readonly kind: 'no-current-context' } & ProblemPlace)
  /** `name` is not defined; `requested`: it came from --context. */
  | ({
      readonly kind: 'unknown-context';
      readonly name: string;
      readonly requested: boolean;
      readonly known: readonly string[];
    } & ProblemPlace)
  | ({ readonly kind: 'unknown-cluster'; readonly context: string; readonly cluster: string } & ProblemPlace);

/** Where a context problem is: `files` merged, or (no files) the in-cluster configuration. */
export interface ProblemPlace {
  readonly where: string;
  readonly files: readonly string[];
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
    const missing = (err as { code?: unknown } | null)?.code === 'ENOENT';
    throw new KubeConnectionError(
      `kubeconfig ${path}: ${describeFileError(err)}`,
      missing ? { kind: 'no-such-file', path } : undefined,
    );
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

export type KubeconfigOrder = 'in-cluster-first' | 'files-first';

export interface KubeconfigRequest {
  /** `--kubeconfig`. */
  readonly kubeconfig?: string | undefined;
  /** `--context`: replaces the current context. */
  readonly context?: string | undefined;
  /** The processes: in-cluster first (default); kubectl baton: files first, as kubectl. */
  readonly order?: KubeconfigOrder;
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly serviceAccountDir?: string;
  readonly home?: string;
}

/** Kept for the agent's call sites: {@link KubeconfigRequest} without the file and context. */
export type LoadOptions = Pick<KubeconfigRequest, 'env' | 'serviceAccountDir' | 'home'>;

export type KubeconfigSource =
  | {
      readonly kind: 'in-cluster';
      readonly serviceAccountDir: string;
      readonly env: Readonly<Record<string, string | undefined>>;
    }
  | { readonly kind: 'files'; readonly files: readonly string[] };

/** Where the configuration comes from; reads no file. */
export function findKubeconfig(req: KubeconfigRequest = {}): KubeconfigSource {
  const env = req.env ?? process.env;
  const saDir = req.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
  if (req.kubeconfig !== undefined) return { kind: 'files', files: [req.kubeconfig] };
  const inCluster = Boolean(env.KUBERNETES_SERVICE_HOST) && existsSync(join(saDir, 'token'));
  const order = req.order ?? 'in-cluster-first';
  if (inCluster && order === 'in-cluster-first') return { kind: 'in-cluster', serviceAccountDir: saDir, env };
  const listed = (env.KUBECONFIG ?? '').split(delimiter).filter((f) => f !== '');
  const candidates = listed.length > 0 ? listed : [join(req.home ?? homedir(), '.kube', 'config')];
  const files = candidates.filter((f) => existsSync(f));
  if (files.length > 0) return { kind: 'files', files };
  if (inCluster) return { kind: 'in-cluster', serviceAccountDir: saDir, env };
  throw new KubeConnectionError(
    'no Kubernetes configuration found: not in a pod (no service account), no --kubeconfig, and no KUBECONFIG or ~/.kube/config',
    { kind: 'none-found', listed: candidates, fromEnv: listed.length > 0 },
  );
}

type Dict = Record<string, unknown>;

const isDict = (v: unknown): v is Dict => v !== null && typeof v === 'object' && !Array.isArray(v);

/** A kubeconfig read from its files, merged, its context chosen and checked. */
export interface ResolvedKubeconfig {
  /** `kubeconfig /path` (or the files, joined): starts every message about it. */
  readonly where: string;
  /** The merged document (paths absolute), its current context the chosen one. */
  readonly doc: Dict;
  readonly contextName: string;
  readonly clusterName: string;
  readonly cluster: Dict;
  readonly userName: string | undefined;
  readonly user: Dict;
  readonly server: URL;
}

/** The fields holding file paths, resolved against the file's directory as kubectl does. */
const PATH_FIELDS: Readonly<Record<string, readonly string[]>> = {
  clusters: ['certificate-authority'],
  users: ['client-certificate', 'client-key', 'tokenFile', 'token-file'],
};

function absolutePaths(doc: Dict, base: string): Dict {
  const out: Dict = { ...doc };
  for (const [list, fields] of Object.entries(PATH_FIELDS)) {
    const entries = doc[list];
    if (!Array.isArray(entries)) continue;
    const field = list === 'clusters' ? 'cluster' : 'user';
    out[list] = entries.map((e: unknown) => {
      if (!isDict(e) || !isDict(e[field])) return e;
      const inner: Dict = { ...e[field] };
      for (const f of fields) {
        const v = inner[f];
        if (typeof v === 'string' && v !== '' && !isAbsolute(v)) inner[f] = join(base, v);
      }
      return { ...e, [field]: inner };
    });
  }
  return out;
}

/** kubectl's merge: the first file that names a cluster, user or context, or sets the current context, wins. */
export function mergeKubeconfigs(docs: readonly Dict[]): Dict {
  const firstByName = (list: string): unknown[] => {
    const seen = new Map<string, unknown>();
    for (const doc of docs) {
      const entries = doc[list];
      if (!Array.isArray(entries)) continue;
      for (const e of entries) {
        const name = isDict(e) && typeof e.name === 'string' ? e.name : undefined;
        if (name !== undefined && !seen.has(name)) seen.set(name, e);
      }
    }
    return [...seen.values()];
  };
  const current = docs
    .map((d) => d['current-context'])
    .find((c): c is string => typeof c === 'string' && c !== '');
  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: firstByName('clusters'),
    users: firstByName('users'),
    contexts: firstByName('contexts'),
    ...(current !== undefined ? { 'current-context': current } : {}),
  };
}

/**
 * Reads, checks and merges the files of `source` (each problem naming its file), then chooses
 * the context (`context`, else the current one) and checks it: it exists, names a cluster that
 * exists, whose server URL is usable.
 */
export function readKubeconfigFiles(
  files: readonly string[],
  parse: (text: string) => unknown,
  context?: string,
): ResolvedKubeconfig {
  const docs = files.map((path) =>
    absolutePaths(kubeconfigDocument(path, readKubeconfigText(path), parse), dirname(path)),
  );
  const where = files.length === 1 ? `kubeconfig ${files[0]}` : `kubeconfig ${files.join(delimiter)}`;
  return resolveContext(
    docs.length === 1 ? (docs[0] as Dict) : mergeKubeconfigs(docs),
    where,
    context,
    files,
  );
}

/** Chooses and checks the context of a (merged) kubeconfig document; `where` starts every message. */
export function resolveContext(
  doc: Dict,
  where: string,
  requested?: string,
  files: readonly string[] = [],
): ResolvedKubeconfig {
  const fail = (field: string, expected: string, problem?: KubeconfigProblem): never => {
    throw new KubeConnectionError(`${where}: ${field}: ${expected}`, problem);
  };
  const entry = (list: string, name: string, field: string): Dict | undefined => {
    const entries = doc[list];
    const found = Array.isArray(entries)
      ? entries.find((e: unknown) => isDict(e) && e.name === name)
      : undefined;
    return isDict(found) && isDict(found[field]) ? (found[field] as Dict) : undefined;
  };
  const names = (list: string): string[] => {
    const entries = doc[list];
    return Array.isArray(entries)
      ? entries.flatMap((e: unknown) => (isDict(e) && typeof e.name === 'string' ? [e.name] : []))
      : [];
  };
  const current = doc['current-context'];
  const contextName = requested ?? (typeof current === 'string' ? current : '');
  if (contextName === '') {
    return fail('current-context', 'is not set; set it with kubectl config use-context', {
      kind: 'no-current-context',
      where,
      files,
    });
  }
  const context = entry('contexts', contextName, 'context');
  if (context === undefined) {
    return fail('contexts', `has no entry named "${contextName}"`, {
      kind: 'unknown-context',
      where,
      name: contextName,
      requested: requested !== undefined,
      known: names('contexts'),
      files,
    });
  }
  const clusterName = context.cluster;
  if (typeof clusterName !== 'string' || clusterName === '') {
    return fail(`contexts[${contextName}].context.cluster`, 'expected a name');
  }
  const cluster = entry('clusters', clusterName, 'cluster');
  if (cluster === undefined) {
    return fail('clusters', `has no entry named "${clusterName}"`, {
      kind: 'unknown-cluster',
      where,
      context: contextName,
      cluster: clusterName,
      files,
    });
  }
  const userName = typeof context.user === 'string' && context.user !== '' ? context.user : undefined;
  const user = userName === undefined ? {} : entry('users', userName, 'user');
  if (user === undefined) return fail('users', `has no entry named "${userName}"`);
  const server = checkServerUrl(cluster.server, `clusters[${clusterName}].cluster.server`, where);
  return {
    where,
    doc: { ...doc, 'current-context': contextName },
    contextName,
    clusterName,
    cluster,
    userName,
    user,
    server,
  };
}

/** The agent's connection: `--kubeconfig`, else in-cluster, else KUBECONFIG or ~/.kube/config. */
export async function loadKubeConnection(
  kubeconfig: string | undefined,
  opts: LoadOptions = {},
): Promise<KubeConnection> {
  const source = findKubeconfig({ ...opts, kubeconfig });
  if (source.kind === 'in-cluster') return inCluster(source.env, source.serviceAccountDir);
  // Loaded only here: in-cluster agents never pay for a YAML parser.
  const { parse } = await import('yaml');
  return kubeConnection(readKubeconfigFiles(source.files, parse));
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

/** One parsed kubeconfig document (relative paths against `path`'s directory) as the agent's connection. */
export function parseKubeconfig(doc: unknown, path: string): KubeConnection {
  const where = `kubeconfig ${path}`;
  if (!isDict(doc)) {
    throw new KubeConnectionError(
      `${where}: (document): expected a YAML mapping with clusters, users and contexts`,
    );
  }
  return kubeConnection(resolveContext(absolutePaths(doc, dirname(path)), where));
}

/** A resolved kubeconfig as the agent's connection; every refusal names the field. */
export function kubeConnection(r: ResolvedKubeconfig): KubeConnection {
  const { where, cluster, user, clusterName, userName, contextName } = r;
  const fail = (field: string, expected: string): never => {
    throw new KubeConnectionError(`${where}: ${field}: ${expected}`);
  };
  const file = (v: unknown, field: string): Buffer | undefined => {
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || v === '') return fail(field, 'expected a file path');
    try {
      return readFileSync(v);
    } catch (err) {
      return fail(field, `cannot read ${v}: ${describeFileError(err)}`);
    }
  };
  const data = (v: unknown, field: string): Buffer | undefined => {
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || !/^[A-Za-z0-9+/=\s]+$/.test(v)) return fail(field, 'expected base64 data');
    return Buffer.from(v, 'base64');
  };
  const c = `clusters[${clusterName}].cluster`;
  const u = `users[${String(userName)}].user`;

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
    if (!existsSync(tokenFile)) fail(`${u}.tokenFile`, `${tokenFile} does not exist`);
    token = tokenFromFile(tokenFile);
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
    server: r.server,
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
