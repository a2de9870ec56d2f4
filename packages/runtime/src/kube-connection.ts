/**
 * Where the agent's API server is and how it authenticates, without @kubernetes/client-node
 * (which alone costs the agent about 22 MiB of resident memory): the pod's ServiceAccount
 * in-cluster, or a kubeconfig file with a token or a client certificate.
 *
 * Precedence as in {@link loadKubeConfig}: --kubeconfig, else in-cluster, else KUBECONFIG (its
 * first existing file) or ~/.kube/config. Never a silent fallback to http://localhost:8080.
 * Authentication plugins (exec, auth-provider) and basic auth are refused with the field named:
 * an agent runs in-cluster, and a half-understood kubeconfig must not talk to the wrong server.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';

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

export class KubeConnectionError extends Error {
  override readonly name = 'KubeConnectionError';
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
  return {
    server,
    ca: readFileSync(join(saDir, 'ca.crt')),
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
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new KubeConnectionError(`kubeconfig ${path}: cannot read it: ${(err as Error).message}`);
  }
  // Loaded only here: in-cluster agents never pay for a YAML parser.
  const { parse } = await import('yaml');
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new KubeConnectionError(`kubeconfig ${path}: not valid YAML: ${(err as Error).message}`);
  }
  return parseKubeconfig(doc, path);
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
      return fail(field, `cannot read ${p}: ${(err as Error).message}`);
    }
  };
  const data = (v: unknown, field: string): Buffer | undefined => {
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || !/^[A-Za-z0-9+/=\s]+$/.test(v)) return fail(field, 'expected base64 data');
    return Buffer.from(v, 'base64');
  };
  const c = `clusters[${clusterName}].cluster`;
  const u = `users[${String(userName)}].user`;

  const serverText = cluster.server;
  if (typeof serverText !== 'string') return fail(`${c}.server`, 'expected an https:// URL');
  let server: URL;
  try {
    server = new URL(serverText);
  } catch {
    return fail(`${c}.server`, `"${serverText}" is not a URL`);
  }
  if (server.protocol !== 'https:' && server.protocol !== 'http:') {
    fail(`${c}.server`, `expected an https:// URL, not ${server.protocol}`);
  }
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
