/**
 * The user's kubeconfig, found the way kubectl finds it: `--kubeconfig`, else the files of
 * KUBECONFIG merged (the first file to set a name or the current context wins), else
 * ~/.kube/config, else the pod's ServiceAccount when run inside a cluster; then `--context`.
 * Exec credential plugins and the rest of kubeconfig's user forms come with client-node.
 *
 * Never a silent default: client-node alone falls back to http://localhost:8080, and a tool
 * that releases reboot permissions must not talk to whatever listens there.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { CliError, ExitCode } from './errors.ts';

const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

export interface KubeConfigSource {
  readonly kubeconfig: string | undefined;
  readonly context: string | undefined;
}

const noCluster = (message: string) => new CliError(ExitCode.NoCluster, message);

function loadFile(path: string): KubeConfig {
  const kc = new KubeConfig();
  try {
    kc.loadFromFile(path);
  } catch (err) {
    throw noCluster(`cannot read kubeconfig ${path}: ${(err as Error).message}`);
  }
  return kc;
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
  if (source.kubeconfig !== undefined) {
    if (!existsSync(source.kubeconfig)) throw noCluster(`--kubeconfig ${source.kubeconfig}: no such file`);
    kc = loadFile(source.kubeconfig);
  } else {
    const listed = (env.KUBECONFIG ?? '').split(delimiter).filter((f) => f !== '');
    const files = (listed.length > 0 ? listed : [join(home, '.kube', 'config')]).filter((f) => existsSync(f));
    if (files.length > 0) {
      kc = mergeKubeConfigs(files.map(loadFile));
    } else if (env.KUBERNETES_SERVICE_HOST && existsSync(SERVICE_ACCOUNT_TOKEN)) {
      kc = new KubeConfig();
      kc.loadFromCluster();
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
        `--context ${source.context}: no such context in the kubeconfig (${known.length > 0 ? `contexts: ${known.join(', ')}` : 'it has none'})`,
      );
    }
    kc.setCurrentContext(source.context);
  }
  if (kc.getCurrentCluster() === null) {
    const current = kc.getCurrentContext();
    throw noCluster(
      current === '' || kc.getContextObject(current) === null
        ? `no cluster: the kubeconfig has no current context${current !== '' ? ` (${current} is not defined)` : ''}; give --context or run kubectl config use-context`
        : `no cluster: context ${current} names a cluster the kubeconfig does not define`,
    );
  }
  return kc;
}
