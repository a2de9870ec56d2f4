/**
 * Draining 110 pods from one node: baton's agent (the image's bundle, granted a slot by hand, so
 * the figure is cordon + drain + reboot request) next to `kubectl drain` of as many pods on a
 * second node of the same cluster; the agent's resident memory while it drains, sampled every
 * 100 ms.
 */
import { join } from 'node:path';
import { AgentPhase, Annotation } from '@baton/protocol';
import { AppsV1Api, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { Cluster } from '../e2e/harness/cluster.ts';
import { Fleet } from '../e2e/harness/fleet.ts';
import {
  createFakeNodes,
  mergePatch,
  strategicMerge,
  waitFor,
  waitForNodesReady,
} from '../e2e/harness/kube.ts';
import { acknowledgeReboots, grantSlot } from '../e2e/harness/leases.ts';
import { createTestNamespace } from '../e2e/harness/namespace.ts';
import { grantAgentRbac } from '../e2e/harness/rbac.ts';
import { deployPodsOnNode, kubectlDrain, LoadSampler, round, rssMiB, sleep } from './lib.ts';

export interface DrainResult {
  pods: number;
  agentSeconds: number;
  agentPeakRssMiB: number;
  kubectlSeconds: number;
  kubectlPeakRssMiB: number;
  load: { min: number; mean: number; max: number };
}

export async function drainBench(
  kc: KubeConfig,
  cluster: Cluster,
  agentEntry: string,
  pods: number,
  dir: string,
  log: (s: string) => void,
): Promise<DrainResult> {
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const ns = await createTestNamespace(kc, 'bench-drain');
  const [node, refNode] = await createFakeNodes(kc, { prefix: 'drain', count: 2 });
  if (!node || !refNode) throw new Error('no nodes');
  await waitForNodesReady(kc, [node, refNode]);
  // Room for the pods plus the agent's DaemonSet pod (a kwok node allows 110 by default).
  for (const name of [node, refNode]) {
    await core.patchNodeStatus(
      {
        name,
        body: { status: { capacity: { pods: String(pods + 10) }, allocatable: { pods: String(pods + 10) } } },
      },
      strategicMerge,
    );
  }
  await grantAgentRbac(kc, ns, 'baton-agent');
  const fleet = new Fleet({
    kc,
    namespace: ns,
    serviceAccount: 'baton-agent',
    dir: join(dir, 'fleet'),
    agentEntry,
    tokenExpirationSeconds: 6 * 3600,
  });
  try {
    const [sim] = await fleet.add([node]);
    if (!sim?.agent) throw new Error('no agent');
    await deployPodsOnNode(kc, ns, { app: 'load', node, count: pods, timeoutMs: 600_000 });
    await deployPodsOnNode(kc, ns, { app: 'reference', node: refNode, count: pods, timeoutMs: 600_000 });
    log(`drain: ${pods} pods on each of ${node} and ${refNode}`);
    const load = new LoadSampler(1000);

    await sim.touchSentinel();
    await waitFor('RebootRequired=True', async () => {
      const n = await core.readNode({ name: node });
      return n.status?.conditions?.some((c) => c.type === 'RebootRequired' && c.status === 'True');
    });
    const pid = sim.agent.pid;
    const started = Date.now();
    await grantSlot(kc, ns, 'baton-slot-0', node, 600);
    // The controller's part of the handshake (start, then the reboot), as soon as the agent asks.
    const acks = acknowledgeReboots(kc, ns, [node]);
    let peak = 0;
    for (;;) {
      try {
        peak = Math.max(peak, rssMiB(pid));
      } catch {
        break; // the simulated reboot killed it
      }
      const phase = (await core.readNode({ name: node })).metadata?.annotations?.[Annotation.Phase];
      if (phase === AgentPhase.Rebooting || phase === AgentPhase.Verifying || phase === AgentPhase.Rebooted)
        break;
      if (Date.now() - started > 600_000) throw new Error('the agent did not drain in 10 min');
      await sleep(100);
    }
    const agentSeconds = (Date.now() - started) / 1000;
    await acks.stop();
    await fleet.stop();

    const reference = await kubectlDrain(cluster.tools.kubectl, cluster.kubeconfigPath, refNode, 600);
    return {
      pods,
      agentSeconds: round(agentSeconds, 2),
      agentPeakRssMiB: round(peak, 1),
      kubectlSeconds: round(reference.seconds, 2),
      kubectlPeakRssMiB: round(reference.peakRssMiB, 1),
      load: load.stop(),
    };
  } finally {
    await fleet.stop();
    await apps.deleteCollectionNamespacedDeployment({ namespace: ns }).catch(() => undefined);
    for (const name of [node, refNode]) {
      await core
        .patchNode({ name, body: { spec: { unschedulable: false } } }, mergePatch)
        .catch(() => undefined);
    }
  }
}
