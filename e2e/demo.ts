/**
 * `./run demo`: a local control plane with a few fake nodes, left running until Ctrl-C.
 * (For now it shows the harness; later issues add the chart, the controller and the agents.)
 */
import { startCluster } from './harness/cluster.ts';
import { createFakeNodes, loadKubeConfig, waitForNodesReady } from './harness/kube.ts';

const nodeCount = Number(process.env.DEMO_NODES ?? '4');
if (!Number.isInteger(nodeCount) || nodeCount < 1 || nodeCount > 500) {
  process.stderr.write(`DEMO_NODES must be an integer from 1 to 500, got "${process.env.DEMO_NODES}"\n`);
  process.exit(2);
}

// DEMO_CLUSTER_NAME lets the demo's own test run beside a demo a person has running.
const cluster = await startCluster({ name: process.env.DEMO_CLUSTER_NAME ?? 'demo' });
let stopping = false;
const stop = async (code: number) => {
  if (stopping) return;
  stopping = true;
  process.stdout.write('\nStopping the control plane...\n');
  await cluster.stop();
  process.stdout.write('Stopped; nothing left running.\n');
  process.exit(code);
};
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));

try {
  const kc = loadKubeConfig(cluster.kubeconfigPath);
  const nodes = await createFakeNodes(kc, { prefix: 'demo-node', count: nodeCount });
  await waitForNodesReady(kc, nodes);
  process.stdout.write(
    [
      '',
      `A real control plane is running on ${cluster.server} with ${nodeCount} fake nodes (kwok).`,
      '',
      `  export KUBECONFIG=${cluster.kubeconfigPath}`,
      '  kubectl get nodes',
      '',
      `Logs of each component: ${cluster.dir}/logs/`,
      'Press Ctrl-C to stop and clean up.',
      '',
    ].join('\n'),
  );
} catch (err) {
  process.stderr.write(`demo failed: ${(err as Error).message}\n`);
  await stop(1);
}
// Keep the process (and so the cluster) alive until a signal arrives.
setInterval(() => {}, 1 << 30);
