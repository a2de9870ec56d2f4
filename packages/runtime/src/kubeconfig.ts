/**
 * The one kubeconfig loader (kube-connection.ts) as @kubernetes/client-node's KubeConfig, for
 * the controller and kubectl baton: the same places looked at, the same merge, the same checks
 * and the same one-line {@link KubeConnectionError}s naming the file. What client-node itself
 * understands beyond that (exec credential plugins, auth providers) stays available.
 */
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
