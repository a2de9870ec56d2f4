/** A real baton-controller process with a ServiceAccount token of its own. */

import { appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { CONTROLLER_NODE_FLAGS, MALLOC_ENV } from '../../scripts/bundle.ts';
import { freePort } from './cluster.ts';
import { AGENT_MAIN } from './fleet.ts';
import { mintPodToken, mintServiceAccountToken, writeTokenKubeconfig } from './kube.ts';
import { type ManagedProcess, startProcess, startReaper } from './processes.ts';

export const CONTROLLER_MAIN = join(AGENT_MAIN, '..', '..', '..', 'controller', 'src', 'main.ts');

/**
 * One reaper for every controller this process starts: if the test or bench process dies
 * without stopping them (a SIGKILL, a crash), they are killed with it instead of running on.
 */
let controllerPids: string | undefined;
function reapWithThisProcess(pid: number): void {
  if (controllerPids === undefined) {
    controllerPids = join(tmpdir(), `baton-controllers-${process.pid}.pids`);
    startReaper(process.pid, controllerPids);
  }
  appendFileSync(controllerPids, `${pid}\n`);
}

export async function startController(
  kc: KubeConfig,
  opts: {
    namespace: string;
    serviceAccount: string;
    dir: string;
    args?: readonly string[];
    /** Bind the token to this pod (a controller pod of the chart's Deployment), as the kubelet would. */
    pod?: string;
    /** Replaces the default --namespace flag (e.g. with the chart's own flags); --kubeconfig and the metrics address are always added. */
    replaceArgs?: readonly string[];
    env?: Readonly<Record<string, string>>;
    /** Lifetime of the token, default 1 h; a long-running demo asks more. */
    tokenExpirationSeconds?: number;
    /** The controller's entry file: the TypeScript source (default) or the image's bundle. */
    entry?: string;
    /** Node's own flags before the entry; with a bundle `entry`, its image's flags by default. */
    nodeArgs?: readonly string[];
  },
): Promise<{ process: ManagedProcess; metricsUrl: string }> {
  const token =
    opts.pod === undefined
      ? await mintServiceAccountToken(kc, {
          namespace: opts.namespace,
          serviceAccount: opts.serviceAccount,
          expirationSeconds: opts.tokenExpirationSeconds,
        })
      : (
          await mintPodToken(kc, {
            namespace: opts.namespace,
            serviceAccount: opts.serviceAccount,
            pod: opts.pod,
            expirationSeconds: opts.tokenExpirationSeconds,
          })
        ).token;
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
      ...(opts.nodeArgs ?? (opts.entry !== undefined ? CONTROLLER_NODE_FLAGS : [])),
      opts.entry ?? CONTROLLER_MAIN,
      `--kubeconfig=${kubeconfig}`,
      ...(opts.replaceArgs ?? [`--namespace=${opts.namespace}`]),
      '--metrics-host=127.0.0.1',
      `--metrics-port=${port}`,
      ...(opts.args ?? []),
    ],
    // The image's malloc settings when the bundle runs (scripts/bundle.ts).
    env: {
      ...process.env,
      ...(opts.entry !== undefined ? MALLOC_ENV : {}),
      ...opts.env,
    },
    logPath: join(opts.dir, 'controller.log'),
  });
  reapWithThisProcess(proc.pid);
  return { process: proc, metricsUrl: `http://127.0.0.1:${port}/metrics` };
}
