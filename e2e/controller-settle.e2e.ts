/**
 * Settling on the real control plane: a rebooted node keeps its slot while a pod on it is not
 * Ready (the slot is the only thing keeping the next node from rebooting), and releases it only
 * once the pod is Ready again and --settle-time has passed since.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentPhase, Annotation } from '@baton/protocol';
import { CoordinationV1Api, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startController } from './harness/controller.ts';
import { Fleet } from './harness/fleet.ts';
import {
  createFakeNodes,
  loadKubeConfig,
  strategicMerge,
  waitFor,
  waitForNodesReady,
} from './harness/kube.ts';
import { createTestNamespace, deleteTestNamespace } from './harness/namespace.ts';
import type { ManagedProcess } from './harness/processes.ts';
import { grantAgentRbac, grantControllerRbac } from './harness/rbac.ts';

const SETTLE_SECONDS = 5;

describe('controller settle', () => {
  let kc: KubeConfig;
  let core: CoreV1Api;
  let leasesApi: CoordinationV1Api;
  let ns: string;
  let dir: string;
  let fleet: Fleet;
  let controller: ManagedProcess | undefined;
  let metricsUrl: string;
  const cleanups: (() => Promise<void>)[] = [];
  let names: string[] = [];

  beforeAll(async () => {
    kc = loadKubeConfig(inject('kubeconfig'));
    core = kc.makeApiClient(CoreV1Api);
    leasesApi = kc.makeApiClient(CoordinationV1Api);
    ns = await createTestNamespace(kc, 'settle');
    dir = await mkdtemp(join(tmpdir(), 'baton-settle-e2e-'));
    names = await createFakeNodes(kc, { prefix: `stl-${randomBytes(2).toString('hex')}`, count: 2 });
    await waitForNodesReady(kc, names);
    cleanups.push(await grantAgentRbac(kc, ns, 'baton-agent'));
    cleanups.push(await grantControllerRbac(kc, ns, 'baton-controller'));
    fleet = new Fleet({ kc, namespace: ns, serviceAccount: 'baton-agent', dir });
    await fleet.add(names);
    const started = await startController(kc, {
      namespace: ns,
      serviceAccount: 'baton-controller',
      dir,
      args: ['--concurrency=1', '--leader-elect=false', `--settle-time=${SETTLE_SECONDS}s`],
    });
    controller = started.process;
    metricsUrl = started.metricsUrl;
  });

  afterAll(async () => {
    await controller?.stop();
    await fleet?.stop();
    for (const c of cleanups) await c();
    await deleteTestNamespace(kc, ns);
    for (const name of names) await core.deleteNode({ name }).catch(() => undefined);
    if (process.env.E2E_KEEP_LOGS) process.stderr.write(`logs kept in ${dir}\n`);
    else await rm(dir, { recursive: true, force: true });
  });

  const setPodReady = (name: string, ready: boolean) =>
    core.patchNamespacedPodStatus(
      {
        name,
        namespace: ns,
        body: {
          status: {
            conditions: [
              {
                type: 'Ready',
                status: ready ? 'True' : 'False',
                lastTransitionTime: new Date().toISOString(),
              },
            ],
          },
        },
      },
      strategicMerge,
    );

  const holderOfSlot0 = async () => {
    try {
      return (
        (await leasesApi.readNamespacedLease({ name: 'baton-slot-0', namespace: ns })).spec?.holderIdentity ??
        ''
      );
    } catch {
      return '';
    }
  };

  it('keeps the slot while a pod on the rebooted node is not Ready; releases after it is Ready plus the settle time', async () => {
    const [first, second] = names.map((n) => fleet.nodes.get(n));
    if (!first || !second) throw new Error('fleet not set up');
    await first.touchSentinel();
    await waitFor('the grant', async () => (await holderOfSlot0()) === first.name, 60_000);
    // The agent pod on the node does not come back Ready after the reboot (as a crashing
    // workload would not). kwok leaves a Running pod's conditions alone.
    await setPodReady(first.pod, false);
    await second.touchSentinel();
    await waitFor(
      'the agent reporting the reboot done',
      async () =>
        (await core.readNode({ name: first.name })).metadata?.annotations?.[Annotation.Phase] ===
        AgentPhase.Rebooted,
      120_000,
    );
    await waitFor(
      'the holder stage PodsNotReady',
      async () =>
        (await (await fetch(metricsUrl)).text()).includes(
          `baton_holder_stage{node="${first.name}",stage="PodsNotReady"} 1`,
        ),
      30_000,
    );
    await new Promise((r) => setTimeout(r, 3000));
    expect(await holderOfSlot0()).toBe(first.name);
    expect(second.reboots).toBe(0);
    expect(controller?.hasExited()).toBe(false);
    const log = await readFile(controller?.logPath ?? '', 'utf8');
    expect(log).toContain(`1 pod(s) not Ready: ${ns}/${first.pod}`);

    const readyAt = Date.now();
    await setPodReady(first.pod, true);
    await waitFor(
      'the slot released and given to the next node',
      async () => (await holderOfSlot0()) === second.name,
      60_000,
    );
    // The settle time counts from the pod's Ready transition, which the API stores in whole
    // seconds: it may start up to 1 s before readyAt, never later.
    expect(Date.now() - readyAt).toBeGreaterThanOrEqual((SETTLE_SECONDS - 1) * 1000);
    await waitFor('the second node rebooted', async () => second.reboots === 1, 120_000);
    expect(first.reboots).toBe(1);
  }, 300_000);
});
