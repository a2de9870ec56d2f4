/**
 * Starts one real control plane for the whole e2e run (or uses E2E_KUBECONFIG's cluster) and
 * stops it afterwards, whatever happened in between.
 */
import type { TestProject } from 'vitest/node';
import { type Cluster, startCluster } from './harness/cluster.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Admin kubeconfig of the cluster under test. */
    kubeconfig: string;
    /** True when the harness started the cluster (components can be stopped, paused, restarted). */
    ownCluster: boolean;
    /** The harness's cluster directory (for clusterControl's faults); '' with E2E_KUBECONFIG. */
    clusterDir: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const external = process.env.E2E_KUBECONFIG;
  if (external) {
    process.stderr.write(
      `[e2e] using the existing cluster of E2E_KUBECONFIG=${external}; building nothing\n`,
    );
    project.provide('kubeconfig', external);
    project.provide('ownCluster', false);
    project.provide('clusterDir', '');
    return async () => {};
  }
  const cluster: Cluster = await startCluster({ name: `e2e-${process.pid}` });
  project.provide('kubeconfig', cluster.kubeconfigPath);
  project.provide('ownCluster', true);
  project.provide('clusterDir', cluster.dir);
  const stop = async () => {
    await cluster.stop();
  };
  // Ctrl-C: vitest's teardown may not run; stop the processes before exiting.
  const onSignal = () => {
    void stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return async () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await stop();
  };
}
