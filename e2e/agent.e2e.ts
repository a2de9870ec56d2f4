/**
 * The agent on the real control plane: real processes with a token bound to an agent pod on
 * their fake node, real sentinels on disk, grants written into slot Leases by hand (the
 * controller's part is not under test here), real evictions against real PDBs. No controller
 * runs: where a reboot is expected, the test plays the controller's acknowledgement on the slot
 * Lease (harness/leases.ts), without which the agent never gives the reboot command.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AgentPhase,
  Annotation,
  EventReason,
  grantOf,
  REBOOT_REQUIRED_CONDITION,
  SlotAnnotation,
} from '@baton/protocol';
import { normalizeKubeError } from '@baton/runtime';
import {
  CoordinationV1Api,
  CoreV1Api,
  type KubeConfig,
  PolicyV1Api,
  type V1Lease,
  type V1Node,
} from '@kubernetes/client-node';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { Fleet, type SimulatedNode } from './harness/fleet.ts';
import { createFakeNodes, loadKubeConfig, mergePatch, waitFor, waitForNodesReady } from './harness/kube.ts';
import {
  type Acknowledger,
  acknowledgeReboot,
  acknowledgeReboots,
  grantSlot,
  releaseSlot,
} from './harness/leases.ts';
import { createTestNamespace, deleteTestNamespace } from './harness/namespace.ts';
import { grantAgentRbac } from './harness/rbac.ts';
import { createPdb, createPinnedDeployment } from './harness/workloads.ts';

const condition = (node: V1Node) =>
  node.status?.conditions?.find((c) => c.type === REBOOT_REQUIRED_CONDITION);
const annotation = (node: V1Node, key: string) => node.metadata?.annotations?.[key];
/** The identity (`<slot>/<grant id>`) of the grant a Lease written by grantSlot carries. */
const identityOf = (lease: V1Lease): string => {
  const g = grantOf(lease);
  if (g === undefined) throw new Error(`${lease.metadata?.name} carries no grant`);
  return g.identity;
};

describe('baton-agent', () => {
  let kc: KubeConfig;
  let core: CoreV1Api;
  let ns: string;
  let dir: string;
  let fleet: Fleet;
  let cleanupRbac: () => Promise<void>;
  /** The test's stand-in for the controller's acknowledgements, stopped after each test. */
  let acks: Acknowledger | undefined;
  const acknowledging = (...nodes: string[]) => {
    acks = acknowledgeReboots(kc, ns, nodes);
    return acks;
  };
  const reasonsOf = async (name: string) =>
    (
      await core.listNamespacedEvent({ namespace: 'default', fieldSelector: `involvedObject.name=${name}` })
    ).items
      // resourceVersion orders writes; timestamps have only second precision.
      .sort((a, b) => Number(a.metadata?.resourceVersion) - Number(b.metadata?.resourceVersion))
      .map((e) => e.reason ?? '');
  const prefix = `agent-${randomBytes(2).toString('hex')}`;
  let names: string[];
  const sim = (i: number): SimulatedNode => fleet.nodes.get(names[i] ?? '') as SimulatedNode;
  const readNode = (i: number) => core.readNode({ name: names[i] ?? '' });

  beforeAll(async () => {
    kc = loadKubeConfig(inject('kubeconfig'));
    core = kc.makeApiClient(CoreV1Api);
    ns = await createTestNamespace(kc, 'agent');
    dir = await mkdtemp(join(tmpdir(), 'baton-agent-e2e-'));
    names = await createFakeNodes(kc, { prefix, count: 11 });
    await waitForNodesReady(kc, names);
    cleanupRbac = await grantAgentRbac(kc, ns, 'baton-agent');
    fleet = new Fleet({
      kc,
      namespace: ns,
      serviceAccount: 'baton-agent',
      dir,
      agentArgs: ['--max-reboot-attempts=2'],
    });
    await fleet.add(names);
  });

  afterEach(async () => {
    await acks?.stop();
    acks = undefined;
  });

  afterAll(async () => {
    await fleet?.stop();
    await cleanupRbac?.();
    await deleteTestNamespace(kc, ns);
    for (const name of names ?? []) await core.deleteNode({ name }).catch(() => undefined);
    // E2E_KEEP_LOGS=1 keeps the agents' logs and sentinels for a look after a failure.
    if (process.env.E2E_KEEP_LOGS) process.stderr.write(`agent logs kept in ${dir}\n`);
    else await rm(dir, { recursive: true, force: true });
  });

  it('reports RebootRequired=True within 2 s of a touch, and False within 2 s of the removal', async () => {
    await waitFor('the first report', async () => condition(await readNode(0))?.status === 'False', 30_000);
    const touched = Date.now();
    await sim(0).touchSentinel();
    await waitFor('RebootRequired=True', async () => condition(await readNode(0))?.status === 'True', 10_000);
    const toTrue = Date.now() - touched;
    const removed = Date.now();
    await sim(0).removeSentinel();
    await waitFor(
      'RebootRequired=False',
      async () => condition(await readNode(0))?.status === 'False',
      10_000,
    );
    const toFalse = Date.now() - removed;
    expect(toTrue).toBeLessThan(2000);
    expect(toFalse).toBeLessThan(2000);
    // The kubelet's (kwok's) conditions are intact next to ours.
    const conditions = (await readNode(0)).status?.conditions?.map((c) => c.type) ?? [];
    expect(conditions).toContain('Ready');
    expect(conditions).toContain(REBOOT_REQUIRED_CONDITION);
  });

  it('reports a reboot a person requests with the annotation, and its withdrawal', async () => {
    const name = names[0] ?? '';
    await core.patchNode(
      { name, body: { metadata: { annotations: { [Annotation.RebootRequested]: 'alice' } } } },
      mergePatch,
    );
    await waitFor(
      'RebootRequired=True (RebootRequested)',
      async () => condition(await readNode(0))?.reason === 'RebootRequested',
      5000,
    );
    await core.patchNode(
      { name, body: { metadata: { annotations: { [Annotation.RebootRequested]: null } } } },
      mergePatch,
    );
    await waitFor('RebootRequired=False', async () => condition(await readNode(0))?.status === 'False', 5000);
  });

  it('cannot write a Lease with its own token (403)', async () => {
    const token = await fleet.agentKubeconfig(names[0] ?? '', join(dir, 'probe.kubeconfig'));
    const asAgent = loadKubeConfig(token).makeApiClient(CoordinationV1Api);
    const err = await asAgent
      .createNamespacedLease({
        namespace: ns,
        body: {
          metadata: { name: 'baton-slot-9' },
          spec: { holderIdentity: names[0], leaseDurationSeconds: 60 },
        },
      })
      .then(
        () => undefined,
        (e: unknown) => normalizeKubeError(e),
      );
    expect(err?.code).toBe(403);
    // Reading is allowed: that is how it learns of its grant.
    await expect(asAgent.listNamespacedLease({ namespace: ns })).resolves.toBeDefined();
  });

  it('on a grant, drains without breaking the PDB, reboots, verifies the new boot and uncordons', async () => {
    const target = names[1] ?? '';
    const policy = kc.makeApiClient(PolicyV1Api);
    // Three replicas on three nodes (one of them the target), minAvailable 2.
    const pool = [names[1], names[2], names[3]] as string[];
    await createPinnedDeployment(kc, ns, { name: 'db', replicas: 3, nodes: pool, spread: true });
    await createPdb(kc, ns, 'db', 2);
    await waitFor('3 db pods running, one on the target', async () => {
      const pods = (await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=db' })).items;
      const running = pods.filter((p) => p.status?.phase === 'Running');
      return running.length === 3 && running.some((p) => p.spec?.nodeName === target);
    });
    await waitFor('PDB allows 1 disruption', async () => {
      const pdb = await policy.readNamespacedPodDisruptionBudget({ name: 'db', namespace: ns });
      return pdb.status?.disruptionsAllowed === 1;
    });

    // Record the PDB's healthy count all along: it must never go below minAvailable.
    let minHealthy = Number.POSITIVE_INFINITY;
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const pods = (await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=db' })).items;
        const healthy = pods.filter(
          (p) =>
            !p.metadata?.deletionTimestamp &&
            p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
        ).length;
        minHealthy = Math.min(minHealthy, healthy);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();

    const bootBefore = (await readNode(1)).status?.nodeInfo?.bootID;
    await sim(1).touchSentinel();
    await waitFor('RebootRequired=True', async () => condition(await readNode(1))?.status === 'True');
    const acked = acknowledging(target);
    const identity = identityOf(await grantSlot(kc, ns, 'baton-slot-0', target));

    await waitFor(
      'the reboot to be verified',
      async () => annotation(await readNode(1), Annotation.Phase) === AgentPhase.Rebooted,
      90_000,
    );
    watching = false;
    await watcher;
    const after = await readNode(1);
    expect(sim(1).reboots).toBe(1);
    expect(after.status?.nodeInfo?.bootID).not.toBe(bootBefore);
    expect(after.spec?.unschedulable ?? false).toBe(false);
    expect(after.spec?.taints?.some((t) => t.key === 'baton.dev/rebooting') ?? false).toBe(false);
    expect(annotation(after, Annotation.RebootFromBootId)).toBeUndefined();
    expect(annotation(after, Annotation.WasUnschedulable)).toBeUndefined();
    // The grant it worked under stays on record (one grant, one attempt); the reboot it did was
    // the one acknowledged on the Lease, from the boot it was on.
    expect(annotation(after, Annotation.Grant)).toBe(identity);
    expect(acked.acknowledged).toEqual([`${identity} start`, `${identity} ${bootBefore}`]);
    await waitFor('RebootRequired=False', async () => condition(await readNode(1))?.status === 'False');
    expect(minHealthy).toBeGreaterThanOrEqual(2);
    const pods = (await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=db' })).items;
    expect(pods.filter((p) => p.spec?.nodeName === target && !p.metadata?.deletionTimestamp)).toHaveLength(0);
    const reasons = (await reasonsOf(target)).filter((r) =>
      ['Draining', 'Rebooting', 'Rebooted'].includes(r),
    );
    expect(reasons).toEqual(['Draining', 'Rebooting', 'Rebooted']);
    await releaseSlot(kc, ns, 'baton-slot-0');
  });

  it('stops a drain when the grant is revoked, and uncordons', async () => {
    const target = names[4] ?? '';
    await createPinnedDeployment(kc, ns, { name: 'pinned', replicas: 1, nodes: [target] });
    // minAvailable 1 of 1: every eviction is refused, so the drain cannot finish.
    await createPdb(kc, ns, 'pinned', 1);
    await waitFor('the pinned pod running', async () => {
      const pods = (await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=pinned' })).items;
      return pods.some((p) => p.status?.phase === 'Running');
    });
    await sim(4).touchSentinel();
    await waitFor('RebootRequired=True', async () => condition(await readNode(4))?.status === 'True');
    // The controller's part: the start acknowledged (the agent cordons only after it).
    const acked = acknowledging(target);
    const revoked = identityOf(await grantSlot(kc, ns, 'baton-slot-1', target));
    await waitFor(
      'draining',
      async () => annotation(await readNode(4), Annotation.Phase) === AgentPhase.Draining,
      30_000,
    );
    expect((await readNode(4)).spec?.unschedulable).toBe(true);
    expect(annotation(await readNode(4), Annotation.Grant)).toBe(revoked);
    await waitFor('an eviction refused by the PDB', async () => {
      const events = await core.listNamespacedEvent({
        namespace: 'default',
        fieldSelector: `involvedObject.name=${target}`,
      });
      return (
        (await fetch(sim(4).metricsUrl).then((r) => r.text())).includes(
          'baton_agent_evictions_total{outcome="blocked"} ',
        ) && events.items.length > 0
      );
    });

    await releaseSlot(kc, ns, 'baton-slot-1');
    await waitFor(
      'aborted and uncordoned',
      async () => {
        const n = await readNode(4);
        return annotation(n, Annotation.Phase) === AgentPhase.Aborted && n.spec?.unschedulable !== true;
      },
      30_000,
    );
    expect(sim(4).reboots).toBe(0);
    const n = await readNode(4);
    expect(n.spec?.taints?.some((t) => t.key === 'baton.dev/rebooting') ?? false).toBe(false);
    expect(annotation(n, Annotation.WasUnschedulable)).toBeUndefined();
    // The grant that ended without a reboot is counted (the controller backs off by it), and
    // stays on record: the agent never starts again under it.
    expect(annotation(n, Annotation.AbortedGrants)).toBe('1');
    expect(annotation(n, Annotation.Grant)).toBe(revoked);
    expect(await reasonsOf(target)).toContain(EventReason.RebootAborted);
    // Only the start was acknowledged: the drain never ended, no reboot was asked for.
    expect(acked.acknowledged).toEqual([`${revoked} start`]);
    // The node still needs its reboot.
    expect(condition(n)?.status).toBe('True');
    await kc
      .makeApiClient(PolicyV1Api)
      .deleteNamespacedPodDisruptionBudget({ name: 'pinned', namespace: ns });
    await sim(4).removeSentinel();
  });

  it('killed mid-drain and restarted, finishes the work it was granted', async () => {
    const target = names[4] ?? '';
    const policy = kc.makeApiClient(PolicyV1Api);
    await policy.createNamespacedPodDisruptionBudget({
      namespace: ns,
      body: {
        metadata: { name: 'pinned-again' },
        spec: { minAvailable: 1, selector: { matchLabels: { app: 'pinned' } } },
      },
    });
    await waitFor('PDB observed', async () => {
      const pdb = await policy.readNamespacedPodDisruptionBudget({ name: 'pinned-again', namespace: ns });
      return (
        pdb.status?.observedGeneration === pdb.metadata?.generation && pdb.status?.disruptionsAllowed === 0
      );
    });
    await sim(4).touchSentinel();
    await waitFor('RebootRequired=True', async () => condition(await readNode(4))?.status === 'True');
    acknowledging(target);
    // A new grant (a new grant id) after the aborted one of the test before: the agent acts on it.
    const identity = identityOf(await grantSlot(kc, ns, 'baton-slot-1', target));
    await waitFor(
      'draining under the new grant',
      async () => {
        const n = await readNode(4);
        return (
          annotation(n, Annotation.Phase) === AgentPhase.Draining &&
          annotation(n, Annotation.Grant) === identity
        );
      },
      30_000,
    );
    await sim(4).killAgent();
    expect((await readNode(4)).spec?.unschedulable).toBe(true);
    await policy.deleteNamespacedPodDisruptionBudget({ name: 'pinned-again', namespace: ns });
    await sim(4).startAgent();
    await waitFor(
      'rebooted after the restart',
      async () => annotation(await readNode(4), Annotation.Phase) === AgentPhase.Rebooted,
      60_000,
    );
    expect(sim(4).reboots).toBe(1);
    const n = await readNode(4);
    expect(n.spec?.unschedulable ?? false).toBe(false);
    expect(annotation(n, Annotation.Grant)).toBe(identity);
    // A reboot ends the run of aborted grants.
    expect(annotation(n, Annotation.AbortedGrants)).toBeUndefined();
    await releaseSlot(kc, ns, 'baton-slot-1');
  });

  it('keeps an administrator cordon after the reboot', async () => {
    const target = names[5] ?? '';
    await core.patchNode({ name: target, body: { spec: { unschedulable: true } } }, mergePatch);
    await sim(5).touchSentinel();
    await waitFor('RebootRequired=True', async () => condition(await readNode(5))?.status === 'True');
    acknowledging(target);
    await grantSlot(kc, ns, 'baton-slot-2', target);
    await waitFor(
      'rebooted',
      async () => annotation(await readNode(5), Annotation.Phase) === AgentPhase.Rebooted,
      60_000,
    );
    expect(sim(5).reboots).toBe(1);
    expect((await readNode(5)).spec?.unschedulable).toBe(true);
    await releaseSlot(kc, ns, 'baton-slot-2');
    await core.patchNode({ name: target, body: { spec: { unschedulable: false } } }, mergePatch);
  });

  it('one grant, one attempt: a sentinel that survives a reboot waits for a new grant; held at the attempt limit', async () => {
    const target = names[2] ?? '';
    sim(2).keepSentinel = true;
    await sim(2).touchSentinel();
    await waitFor('RebootRequired=True', async () => condition(await readNode(2))?.status === 'True');
    acknowledging(target);
    const first = identityOf(await grantSlot(kc, ns, 'baton-slot-3', target, 600));
    await waitFor(
      'the first reboot, counted as an attempt (the sentinel is still there)',
      async () => {
        const node = await readNode(2);
        return (
          annotation(node, Annotation.Phase) === AgentPhase.Rebooted &&
          annotation(node, Annotation.RebootAttempts) === '1'
        );
      },
      90_000,
    );
    expect(sim(2).reboots).toBe(1);
    // The grant is still there and the sentinel still asks: the agent never starts again under
    // the grant it used.
    await new Promise((r) => setTimeout(r, 6000));
    expect(sim(2).reboots).toBe(1);
    const between = await readNode(2);
    expect(annotation(between, Annotation.Phase)).toBe(AgentPhase.Rebooted);
    expect(annotation(between, Annotation.Grant)).toBe(first);
    expect(condition(between)?.status).toBe('True');

    // A new grant: the second attempt, which reaches the limit (2).
    const second = identityOf(await grantSlot(kc, ns, 'baton-slot-3', target, 600));
    // The phase annotation and the condition are two writes (the reporter follows the node):
    // wait for both, or a read between them sees the old reason.
    const n = await waitFor(
      'held, and the condition saying why',
      async () => {
        const node = await readNode(2);
        return annotation(node, Annotation.Phase) === AgentPhase.Held &&
          condition(node)?.reason === 'AttemptLimitReached'
          ? node
          : undefined;
      },
      120_000,
    );
    expect(annotation(n, Annotation.RebootAttempts)).toBe('2');
    expect(annotation(n, Annotation.Grant)).toBe(second);
    expect(sim(2).reboots).toBe(2);
    // And it stays held: no third reboot, not even under a fresh grant.
    await grantSlot(kc, ns, 'baton-slot-3', target, 600);
    await new Promise((r) => setTimeout(r, 6000));
    expect(sim(2).reboots).toBe(2);
    const after = await readNode(2);
    expect(after.spec?.unschedulable ?? false).toBe(false);
    expect(annotation(after, Annotation.Grant)).toBe(second);
    expect(annotation(after, Annotation.Phase)).toBe(AgentPhase.Held);
    await releaseSlot(kc, ns, 'baton-slot-3');
  });

  it('reports Unknown, and never reboots, when the sentinel cannot be checked', async () => {
    const target = names[3] ?? '';
    const node = sim(3);
    await node.stopAgent();
    node.extraArgs = [`--reboot-sentinel=${join(node.dir, 'not-mounted', 'reboot-required')}`];
    await node.startAgent();
    await waitFor(
      'RebootRequired=Unknown',
      async () => condition(await readNode(3))?.status === 'Unknown',
      30_000,
    );
    expect(condition(await readNode(3))?.message).toMatch(/is the host directory mounted/);
    // Even with every reboot it could ask for acknowledged at once, it asks for none.
    const acked = acknowledging(target);
    await grantSlot(kc, ns, 'baton-slot-4', target);
    await new Promise((r) => setTimeout(r, 6000));
    expect(node.reboots).toBe(0);
    const n = await readNode(3);
    expect(n.spec?.unschedulable ?? false).toBe(false);
    expect(annotation(n, Annotation.Grant)).toBeUndefined();
    expect(annotation(n, Annotation.RebootFromBootId)).toBeUndefined();
    expect(acked.acknowledged).toEqual([]);
    await releaseSlot(kc, ns, 'baton-slot-4');
    node.extraArgs = [];
  });

  it('records the grant but cordons only once the start is acknowledged; waits in Rebooting for the reboot acknowledgement, and reboots only after it', async () => {
    const node = sim(7);
    const target = names[7] ?? '';
    await node.touchSentinel();
    await waitFor('RebootRequired=True', async () => condition(await readNode(7))?.status === 'True');
    const bootId = (await readNode(7)).status?.nodeInfo?.bootID ?? '';
    const identity = identityOf(await grantSlot(kc, ns, 'baton-slot-5', target));
    // It records the grant it works under, and touches nothing before the start is acknowledged.
    await waitFor(
      'the grant recorded',
      async () => annotation(await readNode(7), Annotation.Grant) === identity,
      30_000,
    );
    const untilStart = Date.now() + 5000;
    while (Date.now() < untilStart) {
      const n = await readNode(7);
      expect(annotation(n, Annotation.Phase)).toBe(AgentPhase.Cordoning);
      expect(n.spec?.unschedulable ?? false).toBe(false);
      expect(n.spec?.taints?.some((t) => t.key === 'baton.dev/rebooting') ?? false).toBe(false);
      await new Promise((r) => setTimeout(r, 500));
    }
    // The start acknowledged, as the controller would.
    expect(await acknowledgeReboot(kc, ns, identity, undefined)).toBe(true);
    // Drained, it records the reboot (the boot it reboots from) and asks; nobody acknowledges.
    await waitFor(
      'the reboot recorded',
      async () => {
        const n = await readNode(7);
        return (
          annotation(n, Annotation.Phase) === AgentPhase.Rebooting &&
          annotation(n, Annotation.RebootFromBootId) === bootId &&
          annotation(n, Annotation.Grant) === identity
        );
      },
      30_000,
    );
    const waitsUnchanged = async (ms: number) => {
      const until = Date.now() + ms;
      while (Date.now() < until) {
        const n = await readNode(7);
        expect(annotation(n, Annotation.Phase)).toBe(AgentPhase.Rebooting);
        expect(n.spec?.unschedulable).toBe(true);
        expect(node.reboots).toBe(0);
        await new Promise((r) => setTimeout(r, 500));
      }
    };
    await waitsUnchanged(6000);
    // An acknowledgement of another boot is not this reboot's.
    expect(await acknowledgeReboot(kc, ns, identity, `not-${bootId}`)).toBe(true);
    await waitsUnchanged(6000);
    expect((await reasonsOf(target)).filter((r) => r === 'Rebooting')).toEqual([]);
    // The acknowledgement of this boot, on this grant: the command runs, the machine reboots.
    expect(await acknowledgeReboot(kc, ns, identity, bootId)).toBe(true);
    await waitFor('the reboot', async () => node.reboots === 1, 30_000);
    await waitFor(
      'the reboot to be verified',
      async () => annotation(await readNode(7), Annotation.Phase) === AgentPhase.Rebooted,
      60_000,
    );
    const lease = await kc
      .makeApiClient(CoordinationV1Api)
      .readNamespacedLease({ name: 'baton-slot-5', namespace: ns });
    expect(lease.metadata?.annotations?.[SlotAnnotation.RebootFromBootId]).toBe(bootId);
    expect(node.reboots).toBe(1);
    await releaseSlot(kc, ns, 'baton-slot-5');
  });

  it('a reboot command that fails leaves the node cordoned for --shutdown-grace, then aborts; never again under that grant', async () => {
    // `systemctl reboot` can fail (or time out) while the shutdown is under way: undoing at once
    // could free the slot while the machine goes down.
    const node = sim(8);
    const target = names[8] ?? '';
    await node.stopAgent();
    node.failRebootCommand = 1;
    node.extraArgs = ['--shutdown-grace=8s'];
    await node.startAgent();
    await node.touchSentinel();
    await waitFor('RebootRequired=True', async () => condition(await readNode(8))?.status === 'True');
    acknowledging(target);
    const identity = identityOf(await grantSlot(kc, ns, 'baton-slot-6', target, 600));
    await waitFor(
      'the reboot command to run (and fail)',
      async () => (await node.rebootCommandRuns()) === 1,
      60_000,
    );
    const ranAt = Date.now();
    while (Date.now() < ranAt + 6000) {
      const n = await readNode(8);
      expect(annotation(n, Annotation.Phase)).toBe(AgentPhase.Rebooting);
      expect(n.spec?.unschedulable).toBe(true);
      await new Promise((r) => setTimeout(r, 500));
    }
    const n = await waitFor(
      'aborted and uncordoned once the grace is over',
      async () => {
        const n = await readNode(8);
        return annotation(n, Annotation.Phase) === AgentPhase.Aborted && n.spec?.unschedulable !== true
          ? n
          : undefined;
      },
      30_000,
    );
    expect(node.reboots).toBe(0);
    expect(n.spec?.taints?.some((t) => t.key === 'baton.dev/rebooting') ?? false).toBe(false);
    expect(annotation(n, Annotation.RebootFromBootId)).toBeUndefined();
    expect(annotation(n, Annotation.AbortedGrants)).toBe('1');
    expect(annotation(n, Annotation.Grant)).toBe(identity);
    const reasons = await reasonsOf(target);
    expect(reasons.filter((r) => ['Rebooting', 'RebootAborted'].includes(r))).toEqual([
      'Rebooting', // the command is given
      'Rebooting', // it failed: waiting --shutdown-grace
      'RebootAborted',
    ]);
    // The grant is still there and the sentinel still asks: not a second command under it.
    await new Promise((r) => setTimeout(r, 6000));
    expect(await node.rebootCommandRuns()).toBe(1);
    expect(annotation(await readNode(8), Annotation.Phase)).toBe(AgentPhase.Aborted);
    await releaseSlot(kc, ns, 'baton-slot-6');
  });

  it('a reboot command that cannot be started (exit 127) aborts at once', async () => {
    const node = sim(9);
    const target = names[9] ?? '';
    await node.stopAgent();
    node.failRebootCommand = 127;
    await node.startAgent(); // the default --shutdown-grace: 10m
    await node.touchSentinel();
    await waitFor('RebootRequired=True', async () => condition(await readNode(9))?.status === 'True');
    acknowledging(target);
    await grantSlot(kc, ns, 'baton-slot-7', target, 600);
    await waitFor('the reboot command to run', async () => (await node.rebootCommandRuns()) === 1, 60_000);
    await waitFor(
      'aborted and uncordoned at once',
      async () => {
        const n = await readNode(9);
        return annotation(n, Annotation.Phase) === AgentPhase.Aborted && n.spec?.unschedulable !== true;
      },
      15_000,
    );
    expect(node.reboots).toBe(0);
    expect(await reasonsOf(target)).toContain(EventReason.RebootAborted);
    await releaseSlot(kc, ns, 'baton-slot-7');
  });

  it("with kured's --force-reboot, a drain refused by a pod it may not evict reboots anyway", async () => {
    const node = sim(10);
    const target = names[10] ?? '';
    await node.stopAgent();
    // Unmanaged pods kept (not kured's default): the bare pod below stops the drain.
    node.extraArgs = ['--force-reboot', '--evict-unmanaged-pods=false'];
    await node.startAgent();
    // A bare pod, managed by no controller: the drain refuses to evict it (it would not come back).
    await core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: 'bare' },
        spec: { nodeName: target, containers: [{ name: 'bare', image: 'registry.invalid/bare:1' }] },
      },
    });
    await waitFor(
      'the bare pod running',
      async () => (await core.readNamespacedPod({ name: 'bare', namespace: ns })).status?.phase === 'Running',
    );
    await node.touchSentinel();
    await waitFor('RebootRequired=True', async () => condition(await readNode(10))?.status === 'True');
    acknowledging(target);
    await grantSlot(kc, ns, 'baton-slot-8', target);
    await waitFor(
      'the reboot to be verified',
      async () => annotation(await readNode(10), Annotation.Phase) === AgentPhase.Rebooted,
      90_000,
    );
    expect(node.reboots).toBe(1);
    const reasons = await reasonsOf(target);
    expect(reasons).toContain(EventReason.DrainBlocked);
    expect(reasons).not.toContain(EventReason.RebootAborted);
    await core.deleteNamespacedPod({ name: 'bare', namespace: ns, gracePeriodSeconds: 0 });
    await releaseSlot(kc, ns, 'baton-slot-8');
    node.extraArgs = [];
  });

  it('killed after its reboot command while its slot is emptied, the restarted agent waits for the shutdown instead of undoing the cordon', async () => {
    // Two faults at once: the agent process dies right after asking the host to reboot, and its
    // slot is emptied (a person releases it; the Lease's short duration runs out too, which
    // decides nothing) before the new process starts on the same boot. Undoing the cordon then
    // would give the node back while the machine is still going down.
    const node = sim(6);
    const target = names[6] ?? '';
    node.shutdownMs = 20_000;
    await node.touchSentinel();
    await waitFor('RebootRequired=True', async () => condition(await readNode(6))?.status === 'True');
    acknowledging(target);
    await grantSlot(kc, ns, 'baton-slot-3', target, 5);
    await waitFor('the reboot command', async () => node.reboots === 1, 30_000);
    const commandAt = Date.now();
    await node.killAgent();
    await releaseSlot(kc, ns, 'baton-slot-3');
    // Restart once the Lease's own duration is over too.
    await new Promise((r) => setTimeout(r, 6000));
    await node.startAgent();
    // Until the machine goes down, the new agent must leave the node as the old one left it.
    while (Date.now() < commandAt + 17_000) {
      const n = await readNode(6);
      expect(n.spec?.unschedulable).toBe(true);
      expect(annotation(n, Annotation.Phase)).toBe(AgentPhase.Rebooting);
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(node.agent?.hasExited()).toBe(false);
    // The machine goes down and boots: the agent verifies the new boot and uncordons.
    await waitFor(
      'the reboot to be verified',
      async () => annotation(await readNode(6), Annotation.Phase) === AgentPhase.Rebooted,
      90_000,
    );
    const after = await readNode(6);
    expect(after.spec?.unschedulable ?? false).toBe(false);
    expect(node.reboots).toBe(1);
    const reasons = await reasonsOf(target);
    expect(reasons).toContain('Rebooted');
    expect(reasons).not.toContain('RebootAborted');
  }, 180_000);
});
