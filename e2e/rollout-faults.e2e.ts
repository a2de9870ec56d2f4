/**
 * A whole rollout under faults, on the real control plane, with two real controller replicas
 * (leader election) and a real agent per node. The invariant recorder watches every slot Lease
 * and every Node throughout and checks, at each observed resourceVersion, that no more than
 * `concurrency` slots name a holder, that no agent cordoned its node before the start of its grant
 * was acknowledged, and that no agent started a reboot without a slot Lease naming its node with
 * the grant it recorded; that every reboot the simulator performed was
 * acknowledged on its grant's Lease; at the end, that no node is left cordoned or mid-reboot and
 * every node rebooted exactly once (cross-checked with the simulator's own record of reboots).
 *
 * Faults, each at least once, at moments chosen by what the recorder sees: an agent SIGKILLed
 * mid-drain, the controller leader SIGKILLed, an agent SIGKILLed mid-reboot (its reboot command
 * still running), kube-apiserver SIGKILLed and restarted, etcd paused (SIGSTOP) for 4 s.
 *
 * The agent killed while its reboot command runs leaves a reboot on record under an acknowledged
 * grant: its successor cannot know whether the command went through, so it waits the whole
 * --shutdown-grace (short here) before it aborts; the controller then backs off that node
 * (--abort-backoff, short here) and grants it again later.
 *
 * Only when the harness owns the control plane (it restarts and pauses its components); the
 * control plane is healthy again when the file ends.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentPhase, Annotation } from '@baton/protocol';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { clusterControl } from './harness/cluster.ts';
import { ControllerReplicas, FAULT_KINDS, FaultInjector } from './harness/faults.ts';
import { Fleet, type SimulatedNode } from './harness/fleet.ts';
import { InvariantRecorder } from './harness/invariant-recorder.ts';
import { createFakeNodes, loadKubeConfig, waitFor, waitForNodesReady } from './harness/kube.ts';
import { createTestNamespace, deleteTestNamespace } from './harness/namespace.ts';
import { grantAgentRbac, grantControllerRbac } from './harness/rbac.ts';

const NODES = 7;
const CONCURRENCY = 2;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!inject('ownCluster'))('a rollout under faults', () => {
  let kc: KubeConfig;
  let core: CoreV1Api;
  let ns: string;
  let dir: string;
  let names: string[] = [];
  let fleet: Fleet;
  let recorder: InvariantRecorder;
  let controllers: ControllerReplicas;
  let faults: FaultInjector;
  const cleanups: (() => Promise<void>)[] = [];
  const log = (line: string) => process.stderr.write(`[rollout-faults] ${line}\n`);

  beforeAll(async () => {
    kc = loadKubeConfig(inject('kubeconfig'));
    core = kc.makeApiClient(CoreV1Api);
    ns = await createTestNamespace(kc, 'rfaults');
    dir = await mkdtemp(join(tmpdir(), 'baton-rollout-faults-'));
    names = await createFakeNodes(kc, { prefix: `rf-${randomBytes(2).toString('hex')}`, count: NODES });
    await waitForNodesReady(kc, names);
    cleanups.push(await grantAgentRbac(kc, ns, 'baton-agent'));
    cleanups.push(await grantControllerRbac(kc, ns, 'baton-controller'));
    fleet = new Fleet({
      kc,
      namespace: ns,
      serviceAccount: 'baton-agent',
      dir: join(dir, 'fleet'),
      rebootMs: 1000,
      // Windows wide enough to hit: a drain that lasts 3 s, a reboot command that runs 2 s.
      rebootCommandMs: 2000,
      kubeletPodStatus: true,
      agentArgs: ['--drain-delay=3s', '--shutdown-grace=10s'],
    });
    await fleet.add(names);
    recorder = new InvariantRecorder({
      kc,
      namespace: ns,
      concurrency: CONCURRENCY,
      nodeSelector: `baton.dev/e2e-fleet=${ns}`,
      reboots: () => fleet.rebootLog,
    });
    await recorder.start();
    controllers = new ControllerReplicas(kc, {
      namespace: ns,
      serviceAccount: 'baton-controller',
      dir: join(dir, 'controllers'),
      args: [
        `--concurrency=${CONCURRENCY}`,
        '--period=1s',
        '--grant-duration=30s',
        '--abort-backoff=2s',
        '--leader-election-lease-duration=6s',
        '--leader-election-renew-deadline=4s',
        '--leader-election-retry-period=1s',
      ],
    });
    await controllers.start('ctl-a');
    await controllers.start('ctl-b');
    faults = new FaultInjector({
      control: clusterControl(inject('clusterDir')),
      fleet,
      controllers,
      nodes: () => recorder.checker.nodes(),
      log,
    });
  }, 600_000);

  afterAll(async () => {
    await recorder?.stop();
    await controllers?.stop();
    await fleet?.stop();
    // The next file shares this control plane: it must answer again before anything is deleted.
    if (kc)
      await waitFor(
        'the API server to answer',
        async () => (await core.listNamespace()) !== undefined,
        180_000,
      );
    for (const c of cleanups) await c();
    if (ns) await deleteTestNamespace(kc, ns);
    for (const name of names) await core.deleteNode({ name }).catch(() => undefined);
    if (process.env.E2E_KEEP_LOGS) process.stderr.write(`logs kept in ${dir}\n`);
    else if (dir) await rm(dir, { recursive: true, force: true });
  }, 300_000);

  it('every fault once: never more holders than allowed, no reboot without a grant, each node rebooted once, none left cordoned', async () => {
    const all = names.map((n) => fleet.nodes.get(n) as SimulatedNode);
    await waitFor('a leader', () => controllers.leader());
    for (const n of all) await n.touchSentinel();
    const rebooted = () => fleet.rebootLog.length;

    // Each fault at the moment it is meant for; the rollout must not end before the last one.
    await waitFor('an agent killed mid-drain', () => faults.killAgentIn(AgentPhase.Draining), 300_000);
    await waitFor('a first reboot', async () => rebooted() >= 1, 300_000);
    await waitFor('the leader killed', () => faults.killLeader(), 120_000);
    await waitFor('an agent killed mid-reboot', () => faults.killAgentIn(AgentPhase.Rebooting), 300_000);
    await waitFor('three reboots', async () => rebooted() >= 3, 300_000);
    await faults.restartApiserver();
    await waitFor('four reboots', async () => rebooted() >= 4, 300_000);
    await faults.pauseEtcd(4000);
    expect(rebooted()).toBeLessThan(NODES); // the faults came mid-rollout

    await waitFor(
      'every node rebooted, reported Rebooted, and every slot released',
      async () => {
        if (!all.every((n) => n.reboots >= 1)) return false;
        const nodes = await core.listNode({ labelSelector: `baton.dev/e2e-fleet=${ns}` });
        const done = nodes.items.every(
          (n) => n.metadata?.annotations?.[Annotation.Phase] === AgentPhase.Rebooted,
        );
        return done && recorder.holders().length === 0;
      },
      600_000,
    );
    await sleep(3000); // nothing more happens: no second reboot, the watches caught up
    const end = await recorder.checkEnd(new Map(all.map((n) => [n.name, n.reboots])));
    log(
      `faults: ${JSON.stringify(faults.counts)}; max holders ${recorder.checker.maxHolders}; max down ${recorder.checker.maxDown}`,
    );
    log(
      `reboot requests seen: ${recorder.checker.requests.length}; cordons seen: ${recorder.checker.cordons.length}; watch errors: ${recorder.errors.length}`,
    );

    expect(end).toEqual([]);
    expect(recorder.violations()).toEqual([]);
    for (const k of FAULT_KINDS) expect(faults.counts[k], k).toBeGreaterThanOrEqual(1);
    expect(recorder.checker.maxHolders).toBe(CONCURRENCY);
    // Ground truth, not Leases: never more machines down at once than the concurrency.
    expect(recorder.checker.maxDown).toBeGreaterThanOrEqual(1);
    expect(recorder.checker.maxDown).toBeLessThanOrEqual(CONCURRENCY);
    expect(all.map((n) => n.reboots)).toEqual(all.map(() => 1));
    // Every request was judged against the Leases of its moment, and every one was under the
    // grant its agent recorded.
    expect(recorder.checker.requests.every((r) => r.granted === true)).toBe(true);
    // Every node was cordoned by its agent at least once, each time under its grant with the
    // start acknowledged (the check saw them: it is not satisfied by seeing nothing).
    expect(recorder.checker.cordons.length).toBeGreaterThanOrEqual(NODES);
    expect(recorder.checker.cordons.every((c) => c.started === true)).toBe(true);
    // No replica died but the ones killed on purpose (and those were started again).
    expect(controllers.crashed().filter((id) => !faults.killed.has(id))).toEqual([]);
  }, 1_200_000);
});
