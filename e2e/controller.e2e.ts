/**
 * The controller and the agents together on the real control plane: real processes, their own
 * ServiceAccount tokens, real drains and simulated reboots. A recorder polls the slot Leases
 * all along and checks that never more nodes hold a slot than allowed.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AgentPhase,
  Annotation,
  EventReason,
  grantNaming,
  MANUAL_HOLDER_PREFIX,
  PAUSE_LEASE,
  REBOOT_REQUIRED_CONDITION,
  SLOT_LEASE_PREFIX,
} from '@baton/protocol';
import {
  CoordinationV1Api,
  CoreV1Api,
  type KubeConfig,
  V1MicroTime,
  type V1Node,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startController } from './harness/controller.ts';
import { Fleet } from './harness/fleet.ts';
import { createFakeNodes, loadKubeConfig, waitFor, waitForNodesReady } from './harness/kube.ts';
import { createTestNamespace, deleteTestNamespace } from './harness/namespace.ts';
import type { ManagedProcess } from './harness/processes.ts';
import { grantAgentRbac, grantControllerRbac } from './harness/rbac.ts';

const condition = (n: V1Node) => n.status?.conditions?.find((c) => c.type === REBOOT_REQUIRED_CONDITION);

describe('controller and agents', () => {
  let kc: KubeConfig;
  let core: CoreV1Api;
  let leasesApi: CoordinationV1Api;
  let ns: string;
  let dir: string;
  let fleet: Fleet;
  let controller: ManagedProcess | undefined;
  /** The controller's HTTP base: its read-only API is beside /metrics. */
  let http = '';
  const cleanups: (() => Promise<void>)[] = [];
  const prefix = `ctl-${randomBytes(2).toString('hex')}`;
  let names: string[];
  // The recorder.
  let recording = true;
  let maxHolders = 0;
  const grantsSeen: string[] = [];
  let recorder: Promise<void> | undefined;

  beforeAll(async () => {
    kc = loadKubeConfig(inject('kubeconfig'));
    core = kc.makeApiClient(CoreV1Api);
    leasesApi = kc.makeApiClient(CoordinationV1Api);
    ns = await createTestNamespace(kc, 'ctl');
    dir = await mkdtemp(join(tmpdir(), 'baton-ctl-e2e-'));
    names = await createFakeNodes(kc, { prefix, count: 5 });
    await waitForNodesReady(kc, names);
    cleanups.push(await grantAgentRbac(kc, ns, 'baton-agent'));
    cleanups.push(await grantControllerRbac(kc, ns, 'baton-controller'));
    fleet = new Fleet({ kc, namespace: ns, serviceAccount: 'baton-agent', dir });
    await fleet.add(names);
    const started = await startController(kc, {
      namespace: ns,
      serviceAccount: 'baton-controller',
      dir,
      args: ['--concurrency=1', '--grant-duration=60s'],
    });
    controller = started.process;
    http = started.metricsUrl.replace(/\/metrics$/, '');
    recorder = (async () => {
      while (recording) {
        const leases = (await leasesApi.listNamespacedLease({ namespace: ns })).items;
        const holders = names.filter((n) => grantNaming(n, leases) !== undefined);
        maxHolders = Math.max(maxHolders, holders.length);
        for (const h of holders) if (grantsSeen.at(-1) !== h) grantsSeen.push(h);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
  });

  afterAll(async () => {
    recording = false;
    await recorder;
    await controller?.stop();
    await fleet?.stop();
    for (const c of cleanups) await c();
    await deleteTestNamespace(kc, ns);
    for (const name of names ?? []) await core.deleteNode({ name }).catch(() => undefined);
    if (process.env.E2E_KEEP_LOGS) process.stderr.write(`logs kept in ${dir}\n`);
    else await rm(dir, { recursive: true, force: true });
  });

  it('reboots three nodes that need it one at a time, each exactly once, never two holders at once', async () => {
    const targets = [0, 1, 2].map((i) => fleet.nodes.get(names[i] ?? ''));
    for (const t of targets) await t?.touchSentinel();
    await waitFor(
      'all three rebooted and released',
      async () => {
        const nodes = await Promise.all(targets.map((t) => core.readNode({ name: t?.name ?? '' })));
        const leases = (await leasesApi.listNamespacedLease({ namespace: ns })).items;
        return (
          nodes.every(
            (n) =>
              n.metadata?.annotations?.[Annotation.Phase] === AgentPhase.Rebooted &&
              condition(n)?.status === 'False',
          ) &&
          leases
            .filter((l) => l.metadata?.name?.startsWith(SLOT_LEASE_PREFIX))
            .every((l) => !l.spec?.holderIdentity)
        );
      },
      120_000,
    );
    expect(targets.map((t) => t?.reboots)).toEqual([1, 1, 1]);
    expect(maxHolders).toBe(1);
    expect([...grantsSeen].sort()).toEqual(targets.map((t) => t?.name).sort());
    for (const i of [3, 4]) expect(fleet.nodes.get(names[i] ?? '')?.reboots).toBe(0);
    // The story is on each node as Events: the controller's grant and release around the
    // agent's drain and reboot, in that order.
    for (const t of targets) {
      const events = await waitFor(`the Events of ${t?.name}`, async () => {
        const list = (
          await core.listNamespacedEvent({
            namespace: 'default',
            fieldSelector: `involvedObject.name=${t?.name}`,
          })
        ).items.sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
        const reasons = list.map((e) => e.reason);
        return reasons.includes(EventReason.Settled) ? list : undefined;
      });
      const reasons = events.map((e) => e.reason ?? '');
      // Two processes write them: the controller's grant Event may land after the agent's first
      // step (it is written after the grant itself). Each one's own Events are in order.
      const agentSteps = ['Draining', 'Rebooting', 'Rebooted'];
      expect(reasons.filter((r) => agentSteps.includes(r))).toEqual(agentSteps);
      expect(reasons.filter((r) => r === EventReason.RebootGranted || r === EventReason.Settled)).toEqual([
        EventReason.RebootGranted,
        EventReason.Settled,
      ]);
      expect(reasons.indexOf(EventReason.Settled)).toBeGreaterThan(reasons.indexOf('Rebooted'));
      expect(events.find((e) => e.reason === EventReason.RebootGranted)?.reportingComponent).toBe(
        'baton.dev/baton-controller',
      );
    }
  });

  it('grants nothing while paused, and grants within 2 s of the pause ending', async () => {
    await leasesApi.createNamespacedLease({
      namespace: ns,
      body: { metadata: { name: PAUSE_LEASE }, spec: { holderIdentity: `${MANUAL_HOLDER_PREFIX}e2e` } },
    });
    const target = fleet.nodes.get(names[3] ?? '');
    await target?.touchSentinel();
    await waitFor(
      'RebootRequired=True',
      async () => condition(await core.readNode({ name: target?.name ?? '' }))?.status === 'True',
    );
    await new Promise((r) => setTimeout(r, 3000));
    const leases = (await leasesApi.listNamespacedLease({ namespace: ns })).items;
    expect(grantNaming(target?.name ?? '', leases)).toBeUndefined();
    // The controller's own API says so: paused, and the pause holds the node back.
    const status = (await (await fetch(`${http}/api/v1/status`)).json()) as {
      replica: { leader: boolean };
      pause: { paused: boolean };
    };
    expect(status.replica.leader).toBe(true);
    expect(status.pause.paused).toBe(true);
    const why = await fetch(`${http}/api/v1/nodes/${target?.name}`);
    expect(why.status).toBe(200);
    expect(await why.json()).toMatchObject({
      node: { name: target?.name, needsReboot: 'yes', state: 'waiting', blockedBy: [{ reason: 'Paused' }] },
    });

    const resumed = Date.now();
    await leasesApi.deleteNamespacedLease({ name: PAUSE_LEASE, namespace: ns });
    await waitFor(
      'a grant after the pause',
      async () =>
        grantNaming(target?.name ?? '', (await leasesApi.listNamespacedLease({ namespace: ns })).items) !==
        undefined,
      10_000,
    );
    expect(Date.now() - resumed).toBeLessThan(2000);
    await waitFor('rebooted', async () => target?.reboots === 1, 60_000);
    expect(maxHolders).toBe(1);
  });

  it('blocks on a slot held by hand until a person empties it', async () => {
    // A person holds slot 0 by hand: nothing else may reboot.
    await waitFor(
      'slot 0 free',
      async () =>
        !(await leasesApi.readNamespacedLease({ name: 'baton-slot-0', namespace: ns })).spec?.holderIdentity,
      60_000,
    );
    const fresh = await leasesApi.readNamespacedLease({ name: 'baton-slot-0', namespace: ns });
    await leasesApi.replaceNamespacedLease({
      name: 'baton-slot-0',
      namespace: ns,
      body: {
        ...fresh,
        spec: {
          ...fresh.spec,
          holderIdentity: 'manual:alice',
          renewTime: new V1MicroTime(),
          leaseDurationSeconds: 3600,
        },
      },
    });
    const target = fleet.nodes.get(names[4] ?? '');
    await target?.touchSentinel();
    await waitFor(
      'RebootRequired=True',
      async () => condition(await core.readNode({ name: target?.name ?? '' }))?.status === 'True',
    );
    await new Promise((r) => setTimeout(r, 3000));
    expect(target?.reboots).toBe(0);
    const held = await leasesApi.readNamespacedLease({ name: 'baton-slot-0', namespace: ns });
    expect(held.spec?.holderIdentity).toBe('manual:alice');
    const status = (await (await fetch(`${http}/api/v1/status`)).json()) as {
      slots: { name: string; holder: string | null }[];
      nodes: { name: string; state: string; blockedBy: { reason: string }[] }[];
    };
    expect(status.slots.find((sl) => sl.name === 'baton-slot-0')?.holder).toBe('manual:alice');
    expect(status.nodes.find((n) => n.name === target?.name)).toMatchObject({
      state: 'waiting',
      blockedBy: [{ reason: 'WaitingForSlot' }],
    });
    expect((await fetch(`${http}/api/v1/nodes/no-such-node`)).status).toBe(404);
    // Emptying the holder by hand releases it; the waiting node goes.
    await leasesApi.replaceNamespacedLease({
      name: 'baton-slot-0',
      namespace: ns,
      body: { ...held, spec: { leaseDurationSeconds: 3600 } },
    });
    await waitFor('rebooted after the manual release', async () => target?.reboots === 1, 60_000);
    expect(maxHolders).toBe(1);
  });
});
