/**
 * The controller under load and under faults, on the real control plane, with real agents: a
 * watch records every slot Lease change and the number of slots naming a node at each
 * resourceVersion. The tests share one fleet and run in order:
 *
 * 1. ten pending nodes, concurrency 2: never more than 2 holders at any recorded moment;
 * 2. granted nodes whose Node objects are deleted: after the acknowledged reboot they keep their
 *    slots until they are back on a new boot (the machine may be down); before it, at once;
 * 3. slot Leases edited by hand into nonsense: an Event, the controller keeps running, and they
 *    block rather than grant;
 * 4. two replicas with leader election, the leader SIGKILLed mid-rollout: no over-grant, the
 *    rollout continues and finishes, every node rebooted exactly once.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AgentPhase,
  Annotation,
  grantNaming,
  LEADER_LEASE,
  REBOOT_REQUIRED_CONDITION,
  SlotAnnotation,
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
import { Fleet, type SimulatedNode } from './harness/fleet.ts';
import { metricSample, setRebootRequired } from './harness/gates.ts';
import {
  createFakeNode,
  createFakeNodes,
  loadKubeConfig,
  setBootId,
  waitFor,
  waitForNodesReady,
} from './harness/kube.ts';
import { createTestNamespace, deleteTestNamespace } from './harness/namespace.ts';
import type { ManagedProcess } from './harness/processes.ts';
import { grantAgentRbac, grantControllerRbac } from './harness/rbac.ts';
import { SlotRecorder } from './harness/slot-recorder.ts';

const CONCURRENCY = 2;
const condition = (n: V1Node) => n.status?.conditions?.find((c) => c.type === REBOOT_REQUIRED_CONDITION);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('controller faults and scale', () => {
  let kc: KubeConfig;
  let core: CoreV1Api;
  let leasesApi: CoordinationV1Api;
  let ns: string;
  let dir: string;
  let fleet: Fleet;
  let recorder: SlotRecorder;
  const controllers: ManagedProcess[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  let names: string[] = [];
  const deleted = new Set<string>();
  const node = (i: number): SimulatedNode => {
    const n = fleet.nodes.get(names[i] ?? '');
    if (!n) throw new Error(`no node ${i}`);
    return n;
  };

  const slotHolders = async () =>
    (await leasesApi.listNamespacedLease({ namespace: ns })).items
      .filter((l) => l.metadata?.name?.startsWith('baton-slot-'))
      .map((l) => l.spec?.holderIdentity ?? '')
      .filter((h) => h !== '');

  /** Every given node rebooted `times` times in all, reports False and Rebooted, and no slot names a node. */
  const waitForRolloutDone = async (targets: SimulatedNode[], times: number, timeoutMs: number) => {
    await waitFor(
      `${targets.length} node(s) rebooted and every slot released`,
      async () => {
        if (!targets.every((t) => t.reboots === times)) return false;
        for (const t of targets) {
          const n = await core.readNode({ name: t.name });
          if (condition(n)?.status !== 'False') return false;
          if (n.metadata?.annotations?.[Annotation.Phase] !== AgentPhase.Rebooted) return false;
        }
        return recorder.holders().length === 0;
      },
      timeoutMs,
    );
  };

  const start = async (sub: string, args: readonly string[]) => {
    const d = join(dir, sub);
    await mkdir(d, { recursive: true });
    const started = await startController(kc, {
      namespace: ns,
      serviceAccount: 'baton-controller',
      dir: d,
      args: [`--concurrency=${CONCURRENCY}`, '--grant-duration=60s', ...args],
    });
    controllers.push(started.process);
    metricsUrl = started.metricsUrl;
    return started;
  };
  /** The metrics of the controller started last. */
  let metricsUrl = '';

  beforeAll(async () => {
    kc = loadKubeConfig(inject('kubeconfig'));
    core = kc.makeApiClient(CoreV1Api);
    leasesApi = kc.makeApiClient(CoordinationV1Api);
    ns = await createTestNamespace(kc, 'faults');
    dir = await mkdtemp(join(tmpdir(), 'baton-faults-e2e-'));
    names = await createFakeNodes(kc, { prefix: `flt-${randomBytes(2).toString('hex')}`, count: 10 });
    await waitForNodesReady(kc, names);
    cleanups.push(await grantAgentRbac(kc, ns, 'baton-agent'));
    cleanups.push(await grantControllerRbac(kc, ns, 'baton-controller'));
    fleet = new Fleet({ kc, namespace: ns, serviceAccount: 'baton-agent', dir });
    await fleet.add(names);
    const fleetNames = new Set(names);
    recorder = new SlotRecorder(kc, ns, (h) => fleetNames.has(h));
    await recorder.start();
  }, 600_000);

  afterAll(async () => {
    recorder?.stop();
    for (const c of controllers) await c.stop();
    await fleet?.stop();
    for (const c of cleanups) await c();
    if (ns) await deleteTestNamespace(kc, ns);
    for (const name of names) await core.deleteNode({ name }).catch(() => undefined);
    if (process.env.E2E_KEEP_LOGS) process.stderr.write(`logs kept in ${dir}\n`);
    else if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('ten pending nodes with concurrency 2: never more than 2 holders at any recorded moment', async () => {
    await start('single', []);
    const all = names.map((_, i) => node(i));
    for (const n of all) await n.touchSentinel();
    await waitForRolloutDone(all, 1, 600_000);
    expect(recorder.errors).toEqual([]);
    expect(recorder.maxHolders).toBe(CONCURRENCY); // both slots were used, never more
    expect(recorder.samples.every((s) => s.holders.length <= CONCURRENCY)).toBe(true);
    expect(all.map((n) => n.reboots)).toEqual(all.map(() => 1));
    expect(all.map((n) => recorder.grantsOf(n.name))).toEqual(all.map(() => 1));
  }, 700_000);

  it('scenario 7: a node deleted after its acknowledged reboot keeps its slot until it is back on a new boot; one deleted before, frees it at once', async () => {
    // Two nodes that never come back hold both slots; a third waits.
    const [gone1, gone2, next, early] = [node(0), node(1), node(2), node(6)];
    gone1.neverReturn = true;
    gone2.neverReturn = true;
    await gone1.touchSentinel();
    await gone2.touchSentinel();
    await waitFor(
      'both rebooting and holding',
      async () => gone1.reboots === 2 && gone2.reboots === 2,
      120_000,
    );
    await next.touchSentinel();
    await waitFor(
      'the third node waiting',
      async () => condition(await core.readNode({ name: next.name }))?.status === 'True',
    );
    await sleep(3000);
    expect((await slotHolders()).sort()).toEqual([gone1.name, gone2.name].sort());
    const leases = (await leasesApi.listNamespacedLease({ namespace: ns })).items;
    // The reboot each gave the command for was acknowledged on its slot Lease: the boot it left.
    const bootOf2 = grantNaming(gone2.name, leases)?.rebootFromBootId;
    expect(grantNaming(gone1.name, leases)?.rebootFromBootId).toBeDefined();
    expect(bootOf2).toBeDefined();

    // Their machines are down and their Node objects deleted: the slots stay taken (a deleted
    // Node says nothing about whether the machine is down), and the next node waits.
    await core.deleteNode({ name: gone1.name });
    await core.deleteNode({ name: gone2.name });
    deleted.add(gone1.name);
    deleted.add(gone2.name);
    await waitFor(
      'the holders reported as NodeGone',
      async () =>
        (await metricSample(metricsUrl, 'baton_holder_stage', { node: gone1.name, stage: 'NodeGone' })) === 1,
      30_000,
    );
    const until = Date.now() + 5000;
    while (Date.now() < until) {
      expect((await slotHolders()).sort()).toEqual([gone1.name, gone2.name].sort());
      await sleep(500);
    }
    expect(next.reboots).toBe(1);

    // gone1's kubelet registers the Node again, on a new boot: back, healthy, its slot released.
    await createFakeNode(kc, gone1.name);
    await waitFor(
      'gone1’s slot released and granted to the next node',
      async () => {
        const h = await slotHolders();
        return !h.includes(gone1.name) && h.includes(next.name);
      },
      60_000,
    );
    // next reboots and settles while gone2, still gone, keeps the other slot.
    await waitFor(
      'the next node rebooted and its slot released',
      async () => {
        const n = await core.readNode({ name: next.name });
        return (
          next.reboots === 2 &&
          condition(n)?.status === 'False' &&
          n.metadata?.annotations?.[Annotation.Phase] === AgentPhase.Rebooted &&
          (await slotHolders()).join() === gone2.name
        );
      },
      120_000,
    );
    // gone2 registers again on the boot it was rebooting from: not back yet, the slot stays.
    await createFakeNode(kc, gone2.name, { bootId: bootOf2 });
    await sleep(4000);
    expect(await slotHolders()).toEqual([gone2.name]);
    await setBootId(kc, gone2.name, `back-${Date.now()}`);
    await waitFor('gone2’s slot released', async () => (await slotHolders()).length === 0, 60_000);

    // A granted node deleted before its reboot was acknowledged: its agent cannot have given the
    // command under this grant, so the slot is released at once. (Its agent is stopped and its
    // need reported by hand: the grant stays unacknowledged.)
    await early.stopAgent();
    await setRebootRequired(kc, early.name, true);
    const grant = await waitFor('the grant to the early node', async () =>
      grantNaming(early.name, (await leasesApi.listNamespacedLease({ namespace: ns })).items),
    );
    expect(grant.rebootFromBootId).toBeUndefined();
    await core.deleteNode({ name: early.name });
    deleted.add(early.name);
    await waitFor('the early node’s slot released', async () => (await slotHolders()).length === 0, 15_000);
    const released = await leasesApi.readNamespacedLease({ name: grant.slot, namespace: ns });
    expect(released.metadata?.annotations?.[SlotAnnotation.GrantId]).toBeUndefined();
    expect(recorder.maxHolders).toBeLessThanOrEqual(CONCURRENCY);
    const events = await core.listNamespacedEvent({ namespace: 'default' });
    expect(
      events.items.some(
        (e) => e.involvedObject.name === early.name && /no longer exists/.test(e.message ?? ''),
      ),
    ).toBe(true);
    // Not so the nodes deleted after their acknowledged reboots: they were back, and settled.
    expect(
      events.items.some(
        (e) =>
          [gone1.name, gone2.name].includes(e.involvedObject.name ?? '') &&
          /no longer exists/.test(e.message ?? ''),
      ),
    ).toBe(false);
  }, 300_000);

  it('slot Leases edited into nonsense: an Event each, the controller keeps running, they block rather than grant', async () => {
    const [byGarbage, byFuture, waiting] = [node(3), node(4), node(5)];
    const controller = controllers.at(-1);
    // slot 0: the grant annotation is garbage; slot 1: a node holder written by hand without a
    // grant id (dated in the year 9999, with no duration: times decide nothing); and a slot Lease
    // with an absurd index, held by hand.
    const edit = async (slot: string, body: object) => {
      const fresh = await leasesApi.readNamespacedLease({ name: slot, namespace: ns });
      await leasesApi.replaceNamespacedLease({ name: slot, namespace: ns, body: { ...fresh, ...body } });
    };
    await edit('baton-slot-0', {
      metadata: {
        ...(await leasesApi.readNamespacedLease({ name: 'baton-slot-0', namespace: ns })).metadata,
        annotations: { 'baton.dev/granted-node': '💥{"not": json' },
      },
      spec: { holderIdentity: byGarbage.name, leaseDurationSeconds: 600, renewTime: new V1MicroTime() },
    });
    await edit('baton-slot-1', {
      metadata: {
        ...(await leasesApi.readNamespacedLease({ name: 'baton-slot-1', namespace: ns })).metadata,
        annotations: {},
      },
      spec: { holderIdentity: byFuture.name, acquireTime: new V1MicroTime('9999-12-31T23:59:59.000000Z') },
    });
    await leasesApi.createNamespacedLease({
      namespace: ns,
      body: { metadata: { name: 'baton-slot-4000000000' }, spec: { holderIdentity: 'manual:e2e' } },
    });
    await waiting.touchSentinel();

    const invalidEvents = async () =>
      (await core.listNamespacedEvent({ namespace: ns })).items.filter(
        (e) => e.reason === 'SlotInvalid' && e.involvedObject.kind === 'Lease',
      );
    const evs = await waitFor(
      'an Event on each nonsense slot',
      async () => {
        const e = await invalidEvents();
        return e.length >= 2 ? e : undefined;
      },
      30_000,
    );
    expect(evs.map((e) => e.involvedObject.name).sort()).toEqual(['baton-slot-0', 'baton-slot-1']);
    expect(evs.find((e) => e.involvedObject.name === 'baton-slot-0')?.message).toMatch(
      /does not name the holder/,
    );
    expect(evs.find((e) => e.involvedObject.name === 'baton-slot-1')?.message).toMatch(
      new RegExp(`has no ${SlotAnnotation.GrantId} annotation: it is not a grant`),
    );
    // Blocked, not granted: a while later nothing moved, and the controller still runs.
    await sleep(5000);
    expect(controller?.hasExited()).toBe(false);
    expect((await slotHolders()).sort()).toEqual([byGarbage.name, byFuture.name, 'manual:e2e'].sort());
    expect([byGarbage.reboots, byFuture.reboots, waiting.reboots]).toEqual([1, 1, 1]);
    const renewed = await leasesApi.readNamespacedLease({ name: 'baton-slot-1', namespace: ns });
    // Never "repaired" into a grant.
    expect(renewed.spec?.leaseDurationSeconds).toBeUndefined();
    expect(renewed.metadata?.annotations?.[SlotAnnotation.GrantId]).toBeUndefined();

    // A person empties them: the waiting node goes, nobody else.
    for (const slot of ['baton-slot-0', 'baton-slot-1']) {
      const fresh = await leasesApi.readNamespacedLease({ name: slot, namespace: ns });
      await leasesApi.replaceNamespacedLease({
        name: slot,
        namespace: ns,
        body: {
          ...fresh,
          metadata: { ...fresh.metadata, annotations: {} },
          spec: { leaseDurationSeconds: 60 },
        },
      });
    }
    await leasesApi.deleteNamespacedLease({ name: 'baton-slot-4000000000', namespace: ns });
    await waitForRolloutDone([waiting], 2, 120_000);
    expect([byGarbage.reboots, byFuture.reboots]).toEqual([1, 1]);
    expect(controller?.hasExited()).toBe(false);
    expect(recorder.maxHolders).toBeLessThanOrEqual(CONCURRENCY);
  }, 300_000);

  it('two replicas, the leader SIGKILLed mid-rollout: no over-grant, the rollout finishes, each node rebooted once', async () => {
    for (const c of controllers.splice(0)) await c.stop();
    const election = [
      '--leader-election-lease-duration=6s',
      '--leader-election-renew-deadline=4s',
      '--leader-election-retry-period=1s',
    ];
    const replicas = new Map<string, ManagedProcess>();
    for (const id of ['ctl-a', 'ctl-b']) {
      replicas.set(id, (await start(id, [`--identity=${id}`, ...election])).process);
    }
    const leaderOf = async () => {
      try {
        return (await leasesApi.readNamespacedLease({ name: LEADER_LEASE, namespace: ns })).spec
          ?.holderIdentity;
      } catch {
        return undefined;
      }
    };
    const leader = await waitFor('a leader', async () => {
      const l = await leaderOf();
      return l !== undefined && replicas.has(l) ? l : undefined;
    });

    const targets = names.map((_, i) => node(i)).filter((n) => !deleted.has(n.name));
    const before = new Map(targets.map((t) => [t.name, t.reboots]));
    for (const t of targets) await t.touchSentinel();
    // Mid-rollout: the first grants are out and at least one node is working on it.
    await waitFor('a rollout under way', async () => recorder.holders().length > 0, 60_000);
    const victim = replicas.get(leader);
    if (!victim) throw new Error('no leader process');
    process.kill(-victim.pid, 'SIGKILL');
    await victim.exited;

    const survivor = [...replicas.keys()].find((id) => id !== leader);
    await waitFor('the other replica leads', async () => (await leaderOf()) === survivor, 60_000);
    await waitFor(
      'every node rebooted once more and every slot released',
      async () =>
        targets.every((t) => t.reboots === (before.get(t.name) ?? 0) + 1) && recorder.holders().length === 0,
      600_000,
    );
    await sleep(3000); // nothing more happens: no second reboot of anyone
    expect(targets.map((t) => t.reboots - (before.get(t.name) ?? 0))).toEqual(targets.map(() => 1));
    expect(recorder.maxHolders).toBeLessThanOrEqual(CONCURRENCY);
    expect(recorder.samples.every((s) => s.holders.length <= CONCURRENCY)).toBe(true);
    expect(recorder.errors).toEqual([]);
  }, 700_000);
});
