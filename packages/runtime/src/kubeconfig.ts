/**
 * Where a process's Kubernetes credentials come from: the --kubeconfig file when given, else the
 * pod's ServiceAccount (in-cluster), else the usual KUBECONFIG / ~/.kube/config.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';

const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

export function loadKubeConfig(path: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  if (path !== undefined) kc.loadFromFile(path);
  else if (process.env.KUBERNETES_SERVICE_HOST && existsSync(SERVICE_ACCOUNT_TOKEN)) kc.loadFromCluster();
  else {
    // client-node's loadFromDefault falls back to http://localhost:8080 when it finds nothing;
    // a reboot tool must not quietly talk to whatever listens there.
    const files = (process.env.KUBECONFIG ?? '').split(':').filter((f) => f !== '');
    const candidates = files.length > 0 ? files : [join(homedir(), '.kube', 'config')];
    if (!candidates.some((f) => existsSync(f))) {
      throw new Error(
        'no Kubernetes configuration found: not in a pod (no service account), no --kubeconfig, and no KUBECONFIG or ~/.kube/config',
      );
    }
    kc.loadFromDefault();
  }
  if (!kc.getCurrentCluster()) {
    throw new Error(
      path !== undefined
        ? `kubeconfig ${path} has no current cluster`
        : 'no Kubernetes configuration found: not in a pod, and no KUBECONFIG or ~/.kube/config',
    );
  }
  return kc;
}
