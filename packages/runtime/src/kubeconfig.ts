/**
 * The one kubeconfig loader (kube-connection.ts) as @kubernetes/client-node's KubeConfig, for
 * the controller and kubectl baton: the same places looked at, the same merge, the same checks
 * and the same one-line {@link KubeConnectionError}s naming the file. What client-node itself
 * understands beyond that (exec credential plugins, auth providers) stays available.
 */
import { createHash } from 'node:crypto';
import type { AgentOptions } from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import {
  findKubeconfig,
  firstLine,
  KubeConnectionError,
  type KubeconfigRequest,
  readKubeconfigFiles,
} from './kube-connection.ts';

/**
 * `--kubeconfig` (a path) or a whole {@link KubeconfigRequest}; by default in-cluster first,
 * then KUBECONFIG or ~/.kube/config.
 */
export function loadKubeConfig(request: string | undefined | KubeconfigRequest): KubeConfig {
  const req: KubeconfigRequest =
    typeof request === 'object' ? request : request === undefined ? {} : { kubeconfig: request };
  const source = findKubeconfig(req);
  const kc = new KubeConfig();
  reuseConnections(kc);
  if (source.kind === 'in-cluster') {
    kc.loadFromCluster();
    if (req.context !== undefined && kc.getContextObject(req.context) === null) {
      const where = 'the in-cluster configuration';
      const known = kc.getContexts().map((c) => c.name);
      throw new KubeConnectionError(`${where}: contexts: has no entry named "${req.context}"`, {
        kind: 'unknown-context',
        where,
        files: [],
        name: req.context,
        requested: true,
        known,
      });
    }
    return kc;
  }
  const resolved = readKubeconfigFiles(source.files, parseYaml, req.context);
  try {
    // The checked, merged document, its paths already absolute; JSON is YAML.
    kc.loadFromString(JSON.stringify(resolved.doc));
  } catch (err) {
    // client-node's own checks: `clusters[0].cluster.server is missing` and the like.
    throw new KubeConnectionError(`${resolved.where}: ${firstLine(err)}`);
  }
  return kc;
}

/** client-node's private per-request hook, replaced by {@link reuseConnections}. */
interface DispatcherHook {
  createDispatcher(cluster: unknown, agentOptions: AgentOptions): { close(): Promise<void> } | undefined;
}

/**
 * client-node 2.0.1 builds a new undici Agent for every API request (`createDispatcher`, called
 * from `applySecurityAuthentication`; only watches' agents are cached): each request opened a new
 * TLS connection and parsed the CA and client certificate again, and the agents left behind kept
 * their sockets until they idled out. An idle controller's profile at 5,000 nodes was mostly TLS
 * set-up for its leader-election requests. Here one dispatcher is kept while the TLS inputs stay
 * the same; when they change (a rotated client certificate file) a new one is made and the old
 * one closed once its requests have ended.
 */
export function reuseConnections(kc: KubeConfig): void {
  const hook = kc as unknown as DispatcherHook;
  if (typeof hook.createDispatcher !== 'function') {
    throw new Error(
      '@kubernetes/client-node no longer has KubeConfig.createDispatcher: see reuseConnections',
    );
  }
  const create = hook.createDispatcher.bind(kc);
  let kept: { key: string; dispatcher: ReturnType<DispatcherHook['createDispatcher']> } | undefined;
  hook.createDispatcher = (cluster, agentOptions) => {
    const key = tlsInputsKey(cluster, agentOptions);
    if (kept?.key === key) return kept.dispatcher;
    const before = kept?.dispatcher;
    kept = { key, dispatcher: create(cluster, agentOptions) };
    before?.close().catch(() => undefined);
    return kept.dispatcher;
  };
}

function tlsInputsKey(cluster: unknown, o: AgentOptions): string {
  const hash = createHash('sha256');
  const c = (cluster ?? {}) as { name?: string; server?: string; proxyUrl?: string; skipTLSVerify?: boolean };
  hash.update(
    JSON.stringify([
      c.name,
      c.server,
      c.proxyUrl,
      c.skipTLSVerify,
      o.rejectUnauthorized,
      o.servername,
      o.passphrase,
    ]),
  );
  for (const part of [o.ca, o.cert, o.key, o.pfx]) {
    hash.update('|');
    for (const item of Array.isArray(part) ? part : [part]) {
      if (item === undefined) continue;
      hash.update(typeof item === 'string' || Buffer.isBuffer(item) ? item : JSON.stringify(item));
    }
  }
  return hash.digest('hex');
}
