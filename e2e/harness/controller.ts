/** A real baton-controller process with a ServiceAccount token of its own. */
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { freePort } from './cluster.ts';
import { AGENT_MAIN } from './fleet.ts';
import { mintServiceAccountToken, writeTokenKubeconfig } from './kube.ts';
import { type ManagedProcess, startProcess } from './processes.ts';

export const CONTROLLER_MAIN = join(AGENT_MAIN, '..', '..', '..', 'controller', 'src', 'main.ts');

export async function startController(
  kc: KubeConfig,
  opts: { namespace: string; serviceAccount: string; dir: string; args?: readonly string[] },
): Promise<{ process: ManagedProcess; metricsUrl: string }> {
  const token = await mintServiceAccountToken(kc, {
    namespace: opts.namespace,
    serviceAccount: opts.serviceAccount,
  });
  const kubeconfig = await writeTokenKubeconfig(
    kc,
    token,
    join(opts.dir, 'controller.kubeconfig'),
    'controller',
  );
  const port = await freePort();
  const proc = startProcess({
    name: 'controller',
    command: process.execPath,
    args: [
      CONTROLLER_MAIN,
      `--namespace=${opts.namespace}`,
      `--kubeconfig=${kubeconfig}`,
      '--metrics-host=127.0.0.1',
      `--metrics-port=${port}`,
      ...(opts.args ?? []),
    ],
    logPath: join(opts.dir, 'controller.log'),
  });
  return { process: proc, metricsUrl: `http://127.0.0.1:${port}/metrics` };
}
