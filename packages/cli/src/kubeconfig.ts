/**
 * The user's kubeconfig, found the way kubectl finds it: `--kubeconfig`, else the files of
 * KUBECONFIG merged (the first file to set a name or the current context wins), else
 * ~/.kube/config, else the pod's ServiceAccount when run inside a cluster; then `--context`.
 * Exec credential plugins and the rest of kubeconfig's user forms come with client-node.
 *
 * Never a silent default: client-node alone falls back to http://localhost:8080, and a tool
 * that releases reboot permissions must not talk to whatever listens there.
 *
 * Every problem is one line naming the file (exit code 3, "no cluster"); never a YAML parser's
 * excerpt of the file, and never a credential: a server URL with one in it is refused, so the
 * URL the other messages show carries none.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { checkServerUrl, KubeConnectionError, loadKubeConfigFile } from '@baton/runtime';
import { KubeConfig } from '@kubernetes/client-node';
import { CliError, ExitCode } from './errors.ts';

const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

export interface KubeConfigSource {
  readonly kubeconfig: string | undefined;
  readonly context: string | undefined;
}

const noCluster = (message: string) => new CliError(ExitCode.NoCluster, message);

/** The runtime's loader: a missing, unreadable, empty or garbage file is one line naming it. */
function loadFile(path: string): KubeConfig {
  try {
    return loadKubeConfigFile(path);
  } catch (err) {
    if (err instanceof KubeConnectionError) throw noCluster(err.message);
    throw err;
  }
}

/** kubectl's merge: the first file that names a cluster, user or context, or the current context, wins. */
export function mergeKubeConfigs(configs: readonly KubeConfig[]): KubeConfig {
  const firstByName = <T extends { name: string }>(lists: readonly (readonly T[])[]): T[] => {
    const seen = new Map<string, T>();
    for (const list of lists) for (const item of list) if (!seen.has(item.name)) seen.set(item.name, item);
    return [...seen.values()];
  };
  const merged = new KubeConfig();
  merged.loadFromOptions({
    clusters: firstByName(configs.map((c) => c.clusters)),
    users: firstByName(configs.map((c) => c.users)),
    contexts: firstByName(configs.map((c) => c.contexts)),
    currentContext: configs.map((c) => c.currentContext).find((c) => c !== undefined && c !== '') ?? '',
  });
  return merged;
}

export function loadUserKubeConfig(
  source: KubeConfigSource,
  env: Readonly<Record<string, string | undefined>> = process.env,
  home: string = homedir(),
): KubeConfig {
  let kc: KubeConfig;
  /** Starts every message about the configuration: which file(s) it came from. */
  let where: string;
  if (source.kubeconfig !== undefined) {
    if (!existsSync(source.kubeconfig)) throw noCluster(`--kubeconfig ${source.kubeconfig}: no such file`);
    kc = loadFile(source.kubeconfig);
    where = `kubeconfig ${source.kubeconfig}`;
  } else {
    const listed = (env.KUBECONFIG ?? '').split(delimiter).filter((f) => f !== '');
    const files = (listed.length > 0 ? listed : [join(home, '.kube', 'config')]).filter((f) => existsSync(f));
    if (files.length > 0) {
      kc = mergeKubeConfigs(files.map(loadFile));
      where = files.length === 1 ? `kubeconfig ${files[0]}` : `the kubeconfig files ${files.join(delimiter)}`;
    } else if (env.KUBERNETES_SERVICE_HOST && existsSync(SERVICE_ACCOUNT_TOKEN)) {
      kc = new KubeConfig();
      kc.loadFromCluster();
      where = 'the in-cluster configuration';
    } else {
      throw noCluster(
        listed.length > 0
          ? `no cluster: none of the KUBECONFIG files exist (${listed.join(delimiter)})`
          : `no cluster: no --kubeconfig, no KUBECONFIG and no ${join(home, '.kube', 'config')}`,
      );
    }
  }
  if (source.context !== undefined) {
    if (kc.getContextObject(source.context) === null) {
      const known = kc.getContexts().map((c) => c.name);
      throw noCluster(
        `--context ${source.context}: no such context in ${where} (${known.length > 0 ? `contexts: ${known.join(', ')}` : 'it has none'})`,
      );
    }
    kc.setCurrentContext(source.context);
  }
  const cluster = kc.getCurrentCluster();
  if (cluster === null) {
    // Undefined (not the declared string) when no file sets a current-context.
    const current: string | undefined = kc.getCurrentContext();
    throw noCluster(
      !current
        ? `no cluster: ${where} has no current context; give --context or run kubectl config use-context`
        : kc.getContextObject(current) === null
          ? `no cluster: ${where}: the current context ${current} is not defined; give --context or run kubectl config use-context`
          : `no cluster: ${where}: context ${current} names a cluster the kubeconfig does not define`,
    );
  }
  try {
    checkServerUrl(cluster.server, `clusters[${cluster.name}].cluster.server`, where);
  } catch (err) {
    if (err instanceof KubeConnectionError) throw noCluster(err.message);
    throw err;
  }
  return kc;
}
