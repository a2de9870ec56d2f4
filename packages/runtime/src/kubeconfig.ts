/**
 * Where a process's Kubernetes credentials come from: the --kubeconfig file when given, else the
 * pod's ServiceAccount (in-cluster), else the usual KUBECONFIG / ~/.kube/config.
 *
 * Every problem is a {@link KubeConnectionError}: one line naming the file and what is wrong
 * (the process reports it and exits, see process-main.ts), never a parser's stack or excerpt.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import {
  checkServerUrl,
  firstLine,
  KubeConnectionError,
  kubeconfigDocument,
  readKubeconfigText,
} from './kube-connection.ts';

const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/**
 * One kubeconfig file as client-node's KubeConfig, relative paths resolved against its directory
 * (as `kubectl` does). A file that is missing, unreadable, empty, not YAML or not a kubeconfig
 * is a {@link KubeConnectionError} naming it.
 */
export function loadKubeConfigFile(path: string): KubeConfig {
  const text = readKubeconfigText(path);
  // Checked with our parser first: client-node's would throw a multi-line excerpt of the file.
  kubeconfigDocument(path, text, parseYaml);
  const kc = new KubeConfig();
  try {
    kc.loadFromString(text);
  } catch (err) {
    // client-node's own checks: `clusters[0].cluster.server is missing` and the like.
    throw new KubeConnectionError(`kubeconfig ${path}: ${firstLine(err)}`);
  }
  kc.makePathsAbsolute(dirname(path));
  return kc;
}

/**
 * Checks that the current context names a context and a cluster the configuration defines, and
 * that the cluster's server URL is usable, and returns that URL; `where` (`kubeconfig /path`)
 * starts every message.
 */
export function checkCurrentContext(kc: KubeConfig, where: string): URL {
  const fail = (field: string, expected: string): never => {
    throw new KubeConnectionError(`${where}: ${field}: ${expected}`);
  };
  // Undefined (not the declared string) when the file has no current-context.
  const name: string | undefined = kc.getCurrentContext();
  if (!name) {
    return fail('current-context', 'is not set; set it with kubectl config use-context');
  }
  const context = kc.getContextObject(name);
  if (context === null) return fail('contexts', `has no entry named "${name}"`);
  const cluster = kc.getCluster(context.cluster);
  if (cluster === null) return fail('clusters', `has no entry named "${context.cluster}"`);
  return checkServerUrl(cluster.server, `clusters[${cluster.name}].cluster.server`, where);
}

export function loadKubeConfig(path: string | undefined): KubeConfig {
  if (path !== undefined) {
    const kc = loadKubeConfigFile(path);
    checkCurrentContext(kc, `kubeconfig ${path}`);
    return kc;
  }
  const kc = new KubeConfig();
  if (process.env.KUBERNETES_SERVICE_HOST && existsSync(SERVICE_ACCOUNT_TOKEN)) {
    kc.loadFromCluster();
    return kc;
  }
  // client-node's loadFromDefault falls back to http://localhost:8080 when it finds nothing;
  // a reboot tool must not quietly talk to whatever listens there.
  const listed = (process.env.KUBECONFIG ?? '').split(delimiter).filter((f) => f !== '');
  const candidates = listed.length > 0 ? listed : [join(homedir(), '.kube', 'config')];
  const files = candidates.filter((f) => existsSync(f));
  if (files.length === 0) {
    throw new KubeConnectionError(
      'no Kubernetes configuration found: not in a pod (no service account), no --kubeconfig, and no KUBECONFIG or ~/.kube/config',
    );
  }
  // Each file checked on its own first, so a problem names its file.
  for (const file of files) loadKubeConfigFile(file);
  const where = `kubeconfig ${files.join(delimiter)}`;
  try {
    kc.loadFromDefault();
  } catch (err) {
    throw new KubeConnectionError(`${where}: ${firstLine(err)}`);
  }
  checkCurrentContext(kc, where);
  return kc;
}
