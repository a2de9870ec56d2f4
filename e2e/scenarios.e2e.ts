/**
 * The scenarios of a whole rollout (issue 6), each on a world of its own (harness/testbed.ts):
 * fresh fake nodes with a real agent each, the real controller process, the chart's identities,
 * every slot Lease change recorded. Reboots are simulated (fleet.ts); times are short.
 *
 * Scenario 7 (a node deleted while it holds a slot) lives in controller-faults.e2e.ts, on its
 * shared fleet: "scenario 7: a node deleted after its acknowledged reboot keeps its slot …".
 */
import {
  AgentPhase,
  Annotation,
  EventReason,
  GateReason,
  MANUAL_HOLDER_PREFIX,
  PAUSE_LEASE,
  SlotAnnotation,
} from '@baton/protocol';
import { AppsV1Api, type CoreV1Api, V1MicroTime, type V1Node } from '@kubernetes/client-node';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { metricSample } from './harness/gates.ts';
import {
  loadKubeConfig,
  mergePatch,
  setBootId,
  setNodeReady,
  setPodReady,
  strategicMerge,
  waitFor,
} from './harness/kube.ts';
import { RealPrometheus } from './harness/prometheus.ts';
import { controllerTestbed, type Testbed } from './harness/testbed.ts';
import { createPdb, createPinnedDeployment } from './harness/workloads.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const kc = () => loadKubeConfig(inject('kubeconfig'));
const phaseOf = (n: V1Node) => n.metadata?.annotations?.[Annotation.Phase];
const required = (n: V1Node) => n.status?.conditions?.find((c) => c.type === 'RebootRequired');

/** Node Events in order of creation (each writer's are in order; see controller.e2e.ts). */
async function nodeEvents(core: CoreV1Api, node: string) {
  return (
    await core.listNamespacedEvent({ namespace: 'default', fieldSelector: `involvedObject.name=${node}` })
  ).items.sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
}

/** Nothing is granted to `node` during `ms` (sampled every 500 ms). */
async function neverGranted(bed: Testbed, node: string, ms: number) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    expect(await bed.slotOf(node), `${node} must not be granted`).toBeUndefined();
    await sleep(500);
  }
}

/** Every listed node rebooted once, reports Rebooted and no longer needs a reboot, and no slot is held. */
async function availableWeb(bed: Testbed): Promise<number> {
  const d = await bed.kc
    .makeApiClient(AppsV1Api)
    .readNamespacedDeployment({ name: 'web', namespace: bed.ns });
  return d.status?.availableReplicas ?? 0;
}

async function rolloutDone(bed: Testbed, names: readonly string[], timeoutMs = 180_000) {
  await waitFor(
    `${names.join(', ')} rebooted and every slot released`,
    async () => {
      for (const name of names) {
        const n = await bed.core.readNode({ name });
        if (phaseOf(n) !== AgentPhase.Rebooted || required(n)?.status !== 'False') return false;
      }
      return bed.recorder.holders().length === 0;
    },
    timeoutMs,
  );
}

describe('rollout scenarios', () => {
  let bed: Testbed | undefined;
  afterEach(async () => {
    await bed?.stop();
    bed = undefined;
  });

  it('scenario 1: one of four nodes needs a reboot: granted, drained, rebooted, uncordoned, released; the logs and Events tell it in order', async () => {
    bed = await controllerTestbed(kc(), { name: 's1', nodes: 4 });
    // With kured's metric asked for: kured's dashboards and alerts read the same story.
    const ctl = await bed.startController(['--kured-metric']);
    const [, target] = bed.nodes;
    if (!target) throw new Error('no node');
    const kuredRequired = (node: string) => metricSample(ctl.metricsUrl, 'kured_reboot_required', { node });
    await waitFor('kured_reboot_required 0 for every node', async () => {
      for (const n of bed?.nodes ?? []) if ((await kuredRequired(n.name)) !== 0) return false;
      return true;
    });
    await target.touchSentinel();
    await waitFor('kured_reboot_required 1 for the node that needs a reboot', async () =>
      (await kuredRequired(target.name)) === 1 ? true : undefined,
    );
    await rolloutDone(bed, [target.name]);
    await waitFor('kured_reboot_required back to 0 after the reboot', async () =>
      (await kuredRequired(target.name)) === 0 ? true : undefined,
    );
    expect(bed.nodes.map((n) => n.reboots)).toEqual([0, 1, 0, 0]);
    expect(bed.recorder.grants.map((g) => `${g.slot}=${g.node}`)).toEqual([`baton-slot-0=${target.name}`]);
    expect(bed.recorder.maxHolders).toBe(1);
    const node = await bed.core.readNode({ name: target.name });
    expect(node.spec?.unschedulable ?? false).toBe(false);
    // The slot is empty and carries no grant record any more.
    const [slot] = await bed.slotLeases();
    expect(slot?.spec?.holderIdentity ?? '').toBe('');
    expect(slot?.metadata?.annotations?.[SlotAnnotation.GrantedNode]).toBeUndefined();
    expect(slot?.metadata?.annotations?.[SlotAnnotation.GrantId]).toBeUndefined();
    expect(slot?.metadata?.annotations?.[SlotAnnotation.RebootFromBootId]).toBeUndefined();
    // The grant was one of a kind (a grant id), and the node keeps the record of it.
    expect(bed.recorder.grants[0]?.grantId).toMatch(/^[0-9a-f-]{36}$/);
    expect(node.metadata?.annotations?.[Annotation.Grant]).toBe(
      `baton-slot-0/${bed.recorder.grants[0]?.grantId}`,
    );

    const events = await waitFor('the Settled Event', async () => {
      const list = await nodeEvents(bed?.core as CoreV1Api, target.name);
      return list.some((e) => e.reason === EventReason.Settled) ? list : undefined;
    });
    const reasons = events.map((e) => e.reason ?? '');
    const agentSteps = [EventReason.Draining, EventReason.Rebooting, EventReason.Rebooted];
    expect(reasons.filter((r) => (agentSteps as string[]).includes(r))).toEqual(agentSteps);
    expect(reasons.filter((r) => r === EventReason.RebootGranted || r === EventReason.Settled)).toEqual([
      EventReason.RebootGranted,
      EventReason.Settled,
    ]);
    expect(reasons.indexOf(EventReason.Settled)).toBeGreaterThan(reasons.indexOf(EventReason.Rebooted));
    for (const other of bed.nodes.filter((n) => n !== target)) {
      const ours = (await nodeEvents(bed.core, other.name)).filter((e) =>
        e.reportingComponent?.startsWith('baton.dev/'),
      );
      expect(ours.map((e) => e.reason)).toEqual([]);
    }

    // The logs: the controller grants, acknowledges the start and then the reboot, then releases;
    // the agent records the grant and cordons, drains, waits for the acknowledgement, reboots,
    // verifies.
    const inOrder = (text: string, steps: string[]) => {
      let at = -1;
      for (const s of steps) {
        const i = text.indexOf(s, at + 1);
        expect(i, `"${s}" after position ${at}`).toBeGreaterThan(at);
        at = i;
      }
    };
    const ctlLog = await ctl.log();
    inOrder(ctlLog, [
      'baton-controller started',
      `"node":"${target.name}","msg":"granted reboot"`,
      `"node":"${target.name}","msg":"acknowledged the start of its work"`,
      `"node":"${target.name}","bootId":`,
      'acknowledged its reboot from boot',
      'released slot',
    ]);
    expect(ctlLog).toMatch(
      new RegExp(`"node":"${target.name}","why":"rebooted and settled","msg":"released slot"`),
    );
    const { readFile } = await import('node:fs/promises');
    inOrder(await readFile(`${target.dir}/agent.log`, 'utf8'), [
      'granted; cordoning',
      'drain ended',
      'drained; waiting for the controller to acknowledge the reboot',
      '"msg":"rebooting"',
      'reboot verified: new bootID; node released',
    ]);
  }, 300_000);

  it("scenario 1b: kured's --prefer-no-schedule-taint and --annotate-nodes: the taint on the node that waits for a slot, off once granted; kured's annotations while a reboot is needed", async () => {
    const key = 'example.com/reboot-pending';
    bed = await controllerTestbed(kc(), {
      name: 's1b',
      nodes: 2,
      agentArgs: [`--prefer-no-schedule-taint=${key}`, '--annotate-nodes'],
      // As the chart configures it: its node policy then lets the agent write that taint and
      // kured's annotations.
      agentConfig: { preferNoScheduleTaint: key, annotateNodes: true },
      rebootMs: 3000,
    });
    const b = bed;
    const tainted = async (name: string) =>
      ((await b.core.readNode({ name })).spec?.taints ?? []).some(
        (t) => t.key === key && t.effect === 'PreferNoSchedule',
      );
    // Both ask before the controller looks: one is granted, the other waits for the slot.
    for (const n of b.nodes) await n.touchSentinel();
    await waitFor('both nodes asking for a reboot', async () => {
      for (const n of b.nodes)
        if (required(await b.core.readNode({ name: n.name }))?.status !== 'True') return false;
      return true;
    });
    await b.startController(['--concurrency=1']);
    const waiting = await waitFor('one node tainted while the other holds the slot', async () => {
      const holders = b.recorder.holders();
      if (holders.length !== 1) return undefined;
      const other = b.nodes.find((n) => n.name !== holders[0]);
      return other !== undefined && (await tainted(other.name)) ? other.name : undefined;
    });
    // The holder never had it: it was granted, not waiting.
    expect(await tainted(b.nodes.find((n) => n.name !== waiting)?.name ?? '')).toBe(false);
    await rolloutDone(
      b,
      b.nodes.map((n) => n.name),
    );
    for (const n of b.nodes) expect(await tainted(n.name), n.name).toBe(false);
    expect(b.recorder.maxHolders).toBe(1);
  }, 300_000);

  it('scenario 2: six nodes, concurrency 1 then 2: one (two) at a time, in the planned order, zero overlaps', async () => {
    bed = await controllerTestbed(kc(), { name: 's2', nodes: 6 });
    const b = bed;
    // The planned order is the priority label's, highest first.
    const order = [3, 0, 5, 1, 4, 2].map((i) => b.nodes[i]?.name ?? '');
    for (const [rank, name] of order.entries()) {
      await b.core.patchNode(
        { name, body: { metadata: { labels: { 'baton.dev/priority': String(100 - rank) } } } },
        mergePatch,
      );
    }
    for (const concurrency of [1, 2]) {
      const grantsBefore = b.recorder.grants.length;
      const samplesBefore = b.recorder.samples.length;
      // Every node pending before the controller looks, so the order is the plan's alone.
      for (const n of b.nodes) await n.touchSentinel();
      await waitFor('every node asking for a reboot', async () => {
        for (const n of b.nodes) {
          if (required(await b.core.readNode({ name: n.name }))?.status !== 'True') return false;
        }
        return true;
      });
      const ctl = await b.startController([`--concurrency=${concurrency}`]);
      await waitFor(
        'every node rebooted again',
        async () => b.nodes.every((n) => n.reboots === concurrency),
        300_000,
      );
      await rolloutDone(b, order);
      await ctl.stop();
      const grants = b.recorder.grants.slice(grantsBefore).map((g) => g.node);
      expect(grants, `concurrency ${concurrency}: grants in the planned order`).toEqual(order);
      const max = Math.max(...b.recorder.samples.slice(samplesBefore).map((s) => s.holders.length));
      expect(max, `concurrency ${concurrency}: never more holders`).toBe(concurrency);
    }
    expect(b.recorder.errors).toEqual([]);
  }, 600_000);

  it('scenario 3: a PDB blocks the drain: abort uncordons, releases, backs off and retries later; force reboots', async () => {
    bed = await controllerTestbed(kc(), {
      name: 's3',
      nodes: 2,
      agentArgs: ['--drain-timeout=4s', '--drain-timeout-policy=abort'],
    });
    const b = bed;
    const [target] = b.nodes;
    if (!target) throw new Error('no node');
    // One replica that may run only on the target, and a PDB that never lets it go.
    await createPinnedDeployment(b.kc, b.ns, { name: 'pinned', replicas: 1, nodes: [target.name] });
    await createPdb(b.kc, b.ns, 'pinned', 1);
    await waitFor('the pinned pod running', async () => {
      const pods = await b.core.listNamespacedPod({ namespace: b.ns, labelSelector: 'app=pinned' });
      return pods.items.some((p) => p.status?.phase === 'Running');
    });
    const ctl = await b.startController(['--abort-backoff=5s']);
    await target.touchSentinel();
    // abort: the drain times out, the agent undoes its cordon, the slot is released ...
    await waitFor(
      'the abort: uncordoned, phase Aborted',
      async () => {
        const n = await b.core.readNode({ name: target.name });
        return phaseOf(n) === AgentPhase.Aborted && n.spec?.unschedulable !== true;
      },
      120_000,
    );
    expect(
      (await b.core.readNode({ name: target.name })).metadata?.annotations?.[Annotation.AbortedGrants],
    ).toBe('1');
    // ... once the node has settled ...
    await waitFor('the slot released as Aborted', async () =>
      (await ctl.log()).includes('"why":"the agent aborted and undid its changes; settled"'),
    );
    // ... and the node backs off (--abort-backoff) before it is tried again.
    const backingOff = await waitFor('the back-off', async () => {
      const gate = await b.rebootGate(target.name);
      return gate?.reason === GateReason.BackingOff ? gate : undefined;
    });
    expect(backingOff.status).toBe('True');
    expect(backingOff.message).toMatch(/its last grant ended without a reboot/);
    expect(b.recorder.grantsOf(target.name)).toBe(1);
    await waitFor('a second grant', async () => b.recorder.grantsOf(target.name) >= 2, 120_000);
    expect(target.reboots).toBe(0);
    const reasons = (await nodeEvents(b.core, target.name)).map((e) => e.reason);
    expect(reasons).toContain(EventReason.DrainBlocked);
    expect(reasons).toContain(EventReason.RebootAborted);
    expect(reasons).toContain(EventReason.SlotReleased);

    // force: the same drain, forced when it times out: the node reboots.
    target.extraArgs = ['--drain-timeout-policy=force'];
    await target.stopAgent();
    await target.startAgent();
    await waitFor('the forced reboot', async () => target.reboots === 1, 180_000);
    await rolloutDone(b, [target.name]);
    expect(b.recorder.maxHolders).toBe(1);
  }, 420_000);

  it('scenario 4: no grant while a blocking pod runs on the node, nor while an alert fires in a real Prometheus', async () => {
    bed = await controllerTestbed(kc(), { name: 's4', nodes: 2 });
    const b = bed;
    const [target] = b.nodes;
    if (!target) throw new Error('no node');
    const prom = await RealPrometheus.start(`${b.dir}/prometheus`, {
      alertName: 'DatabaseBackupRunning',
      firing: false,
    });
    try {
      const ctl = await b.startController([
        '--blocking-pod-selector=app=backup',
        `--prometheus-url=${prom.url}`,
        '--alert-filter-regexp=^RebootRequired$',
      ]);
      await b.core.createNamespacedPod({
        namespace: b.ns,
        body: {
          metadata: { name: 'backup', labels: { app: 'backup' } },
          spec: { nodeName: target.name, containers: [{ name: 'c', image: 'registry.invalid/backup:1' }] },
        },
      });
      await target.touchSentinel();
      await waitFor(
        'held back by the blocking pod',
        async () => (await b.rebootGate(target.name))?.reason === GateReason.BlockingPod,
      );
      expect((await b.rebootGate(target.name))?.message).toContain(`${b.ns}/backup`);
      await neverGranted(b, target.name, 3000);

      // An alert fires; once the controller has seen it (it asks once per --period, and the
      // alert gate comes first), the pod goes: still no grant.
      await prom.setFiring(true);
      await waitFor(
        'held back by the alert',
        async () => (await b.rebootGate(target.name))?.reason === GateReason.AlertFiring,
        60_000,
      );
      await b.core.deleteNamespacedPod({ name: 'backup', namespace: b.ns, gracePeriodSeconds: 0 });
      await waitFor('the pod gone', async () => {
        const pods = await b.core.listNamespacedPod({ namespace: b.ns, labelSelector: 'app=backup' });
        return pods.items.length === 0;
      });
      expect((await b.rebootGate(target.name))?.message).toContain('DatabaseBackupRunning');
      expect(
        await metricSample(ctl.metricsUrl, 'baton_node_blocked', {
          node: target.name,
          reason: GateReason.AlertFiring,
        }),
      ).toBe(1);
      await neverGranted(b, target.name, 3000);

      // The alert resolves: the grant comes, and the reboot.
      await prom.setFiring(false);
      await rolloutDone(b, [target.name]);
      expect(b.recorder.grantsOf(target.name)).toBe(1);
    } finally {
      await prom.stop();
    }
  }, 300_000);

  it('scenario 5: outside the reboot window no grant; when the window opens the rollout proceeds', async () => {
    bed = await controllerTestbed(kc(), { name: 's5', nodes: 2 });
    const b = bed;
    const [target] = b.nodes;
    if (!target) throw new Error('no node');
    // The node asks first; then a controller whose window opens 45 s from now, UTC (it may
    // wrap past midnight). Until then: the OutsideWindow condition, and no grant.
    await target.touchSentinel();
    await waitFor('the node asking for a reboot', async () => {
      return required(await b.core.readNode({ name: target.name }))?.status === 'True';
    });
    const hms = (d: Date) => d.toISOString().slice(11, 19);
    const opens = new Date(Date.now() + 45_000);
    await b.startController([
      `--start-time=${hms(opens)}`,
      `--end-time=${hms(new Date(opens.getTime() + 3_600_000))}`,
    ]);
    const beforeOpening = opens.getTime() - 1500 - Date.now();
    await waitFor(
      'held back outside the window',
      async () => (await b.rebootGate(target.name))?.reason === GateReason.OutsideWindow,
      Math.max(beforeOpening, 1000),
    );
    while (Date.now() < opens.getTime() - 1500) {
      expect(await b.slotOf(target.name)).toBeUndefined();
      await sleep(500);
    }
    await rolloutDone(b, [target.name]);
    const [grant] = b.recorder.grants;
    // acquireTime has microseconds; the window opens on a whole second.
    expect(new Date(grant?.acquireTime ?? 0).getTime()).toBeGreaterThanOrEqual(
      Math.floor(opens.getTime() / 1000) * 1000,
    );
  }, 300_000);

  it('scenario 6: pause and resume; a slot held by hand under a name that is no node blocks until emptied by hand', async () => {
    bed = await controllerTestbed(kc(), { name: 's6', nodes: 2 });
    const b = bed;
    const [first, second] = b.nodes;
    if (!first || !second) throw new Error('no node');
    const ctl = await b.startController();
    await b.leases.createNamespacedLease({
      namespace: b.ns,
      body: { metadata: { name: PAUSE_LEASE }, spec: { holderIdentity: `${MANUAL_HOLDER_PREFIX}e2e` } },
    });
    await first.touchSentinel();
    await waitFor(
      'held back by the pause',
      async () => (await b.rebootGate(first.name))?.reason === GateReason.Paused,
    );
    expect(await metricSample(ctl.metricsUrl, 'baton_paused', {})).toBe(1);
    await neverGranted(b, first.name, 3000);
    await b.leases.deleteNamespacedLease({ name: PAUSE_LEASE, namespace: b.ns });
    await rolloutDone(b, [first.name]);

    // Someone takes the only slot by hand, under a name that is not a node.
    await b.leases.patchNamespacedLease(
      {
        name: 'baton-slot-0',
        namespace: b.ns,
        body: {
          spec: {
            holderIdentity: 'maintenance-window',
            leaseDurationSeconds: 600,
            renewTime: new V1MicroTime(),
          },
        },
      },
      mergePatch,
    );
    await second.touchSentinel();
    await waitFor(
      'the second node waits',
      async () => (await b.rebootGate(second.name))?.reason !== undefined,
    );
    await neverGranted(b, second.name, 4000);
    expect(
      (await b.leases.readNamespacedLease({ name: 'baton-slot-0', namespace: b.ns })).spec?.holderIdentity,
    ).toBe('maintenance-window');
    // Released by hand: the README's JSON patch.
    await b.leases.patchNamespacedLease(
      { name: 'baton-slot-0', namespace: b.ns, body: [{ op: 'remove', path: '/spec/holderIdentity' }] },
      { headers: { 'Content-Type': 'application/json-patch+json' } } as never,
    );
    await rolloutDone(b, [second.name]);
    expect([first.reboots, second.reboots]).toEqual([1, 1]);
  }, 300_000);

  it('scenario 8: a node that never returns halts the rollout, visibly (Event, metric, condition); no further grants', async () => {
    bed = await controllerTestbed(kc(), { name: 's8', nodes: 2 });
    const b = bed;
    const [lost, waiting] = b.nodes;
    if (!lost || !waiting) throw new Error('no node');
    lost.neverReturn = true;
    const ctl = await b.startController(['--reboot-timeout=1m']);
    // The second node asks once the first holds the only slot.
    await lost.touchSentinel();
    await waitFor('the first grant', async () => (await b.slotOf(lost.name)) !== undefined, 60_000);
    await waiting.touchSentinel();
    await waitFor('the lost node rebooting', async () => lost.reboots === 1, 120_000);
    await waitFor(
      'the halt metric',
      async () => (await metricSample(ctl.metricsUrl, 'baton_rollout_halted', {})) === 1,
      120_000,
    );
    const halt = await waitFor('the RolloutHalted Event', async () =>
      (await nodeEvents(b.core, lost.name)).find((e) => e.reason === EventReason.RolloutHalted),
    );
    expect(halt.type).toBe('Warning');
    expect(halt.message).toMatch(
      new RegExp(`^${lost.name} was granted \\d+ s ago and has not settled \\(phase Rebooting\\)`),
    );
    await waitFor(
      'the waiting node says why',
      async () => (await b.rebootGate(waiting.name))?.reason === GateReason.RolloutHalted,
    );
    expect(
      await metricSample(ctl.metricsUrl, 'baton_node_blocked', {
        node: waiting.name,
        reason: GateReason.RolloutHalted,
      }),
    ).toBe(1);
    await neverGranted(b, waiting.name, 5000);
    expect(await b.slotOf(lost.name)).toBe('baton-slot-0');
    expect(waiting.reboots).toBe(0);
  }, 300_000);

  it('scenario 9: a sentinel that never clears: rebooted up to the attempt limit, then held, never granted again', async () => {
    bed = await controllerTestbed(kc(), { name: 's9', nodes: 2, agentArgs: ['--max-reboot-attempts=2'] });
    const b = bed;
    const [stuck] = b.nodes;
    if (!stuck) throw new Error('no node');
    stuck.keepSentinel = true;
    await b.startController();
    await stuck.touchSentinel();
    await waitFor(
      'held at the attempt limit, slot released',
      async () => {
        const n = await b.core.readNode({ name: stuck.name });
        return (
          phaseOf(n) === AgentPhase.Held &&
          required(n)?.reason === 'AttemptLimitReached' &&
          b.recorder.holders().length === 0
        );
      },
      240_000,
    );
    expect(stuck.reboots).toBe(2);
    await waitFor(
      'the RebootGate says so',
      async () => (await b.rebootGate(stuck.name))?.reason === GateReason.AttemptLimitReached,
    );
    const grants = b.recorder.grantsOf(stuck.name);
    await neverGranted(b, stuck.name, 5000);
    expect(b.recorder.grantsOf(stuck.name)).toBe(grants);
    expect(stuck.reboots).toBe(2);
  }, 300_000);

  it('scenario 10: a node an administrator cordoned stays cordoned after its reboot; its slot is released', async () => {
    bed = await controllerTestbed(kc(), { name: 's10', nodes: 2 });
    const b = bed;
    const [cordoned] = b.nodes;
    if (!cordoned) throw new Error('no node');
    await b.core.patchNode({ name: cordoned.name, body: { spec: { unschedulable: true } } }, strategicMerge);
    await b.startController();
    await cordoned.touchSentinel();
    await rolloutDone(b, [cordoned.name]);
    expect(cordoned.reboots).toBe(1);
    const n = await b.core.readNode({ name: cordoned.name });
    expect(n.spec?.unschedulable).toBe(true);
    expect(n.metadata?.annotations?.[Annotation.WasUnschedulable]).toBeUndefined();
  }, 300_000);

  it('scenario 11: settled means the evicted workloads are available again wherever they landed; one that stays unavailable halts the rollout', async () => {
    bed = await controllerTestbed(kc(), { name: 's11', nodes: 3 });
    const b = bed;
    const [target, other, next] = b.nodes;
    if (!target || !other || !next) throw new Error('no node');
    // Two replicas over target and other, a PDB keeping one; the drain of target moves its
    // replica to other.
    await createPinnedDeployment(b.kc, b.ns, {
      name: 'web',
      replicas: 2,
      nodes: [target.name, other.name],
      spread: true,
    });
    await createPdb(b.kc, b.ns, 'web', 1);
    const webPods = async () =>
      (await b.core.listNamespacedPod({ namespace: b.ns, labelSelector: 'app=web' })).items;
    await waitFor('a web pod on each node', async () => {
      const on = new Set(
        (await webPods()).filter((p) => p.status?.phase === 'Running').map((p) => p.spec?.nodeName),
      );
      return on.has(target.name) && on.has(other.name);
    });
    await waitFor('both replicas available', async () => (await availableWeb(b)) === 2);
    target.neverReturn = true; // brought back by hand below, once the replacement is broken
    const ctl = await b.startController(['--reboot-timeout=1m']);
    // The second node asks once the first holds the only slot.
    await target.touchSentinel();
    await waitFor('the first grant', async () => (await b.slotOf(target.name)) !== undefined, 60_000);
    await next.touchSentinel();
    await waitFor('the target rebooting', async () => target.reboots === 1, 120_000);
    // The grant recorded what its drain touches.
    const slot = (await b.slotLeases()).find((l) => l.spec?.holderIdentity === target.name);
    expect(JSON.parse(slot?.metadata?.annotations?.[SlotAnnotation.GrantedWorkloads] ?? '{}')).toEqual({
      workloads: [`Deployment/${b.ns}/web=2`],
      pdbs: [`${b.ns}/web`],
    });
    // The evicted replica landed on the other node; it does not come up (as a crashing app would not).
    const moved = await waitFor('the replacement on the other node', async () => {
      const pods = (await webPods()).filter(
        (p) => p.spec?.nodeName === other.name && p.status?.phase === 'Running',
      );
      return pods.length === 2 ? pods : undefined;
    });
    const replacement = moved.sort((x, y) =>
      String(y.metadata?.creationTimestamp).localeCompare(String(x.metadata?.creationTimestamp)),
    )[0];
    const setReady = (ready: boolean) => setPodReady(b.core, b.ns, replacement?.metadata?.name ?? '', ready);
    await setReady(false);
    await waitFor('the Deployment short of a replica', async () => (await availableWeb(b)) < 2);
    // The node comes back, healthy itself: its own pods are fine (only its agent's).
    await setBootId(b.kc, target.name, `back-${Date.now()}`);
    await setNodeReady(b.kc, target.name, true);
    await target.startAgent();
    await waitFor(
      'the holder stage WorkloadsUnavailable',
      async () =>
        (await metricSample(ctl.metricsUrl, 'baton_holder_stage', {
          node: target.name,
          stage: 'WorkloadsUnavailable',
        })) === 1,
      120_000,
    );
    expect(phaseOf(await b.core.readNode({ name: target.name }))).toBe(AgentPhase.Rebooted);
    // It stays unavailable: the reboot timeout halts the rollout, naming the workload.
    const halt = await waitFor(
      'the RolloutHalted Event',
      async () => (await nodeEvents(b.core, target.name)).find((e) => e.reason === EventReason.RolloutHalted),
      120_000,
    );
    expect(halt.message).toContain(`Deployment/${b.ns}/web: 1 of 2 replica(s) available`);
    expect(await metricSample(ctl.metricsUrl, 'baton_rollout_halted', {})).toBe(1);
    await neverGranted(b, next.name, 3000);
    // The workload recovers where it landed: the node settles, the halt clears, the next node goes.
    await setReady(true);
    await waitFor('the next node granted', async () => (await b.slotOf(next.name)) !== undefined, 120_000);
    expect(await b.slotOf(target.name)).toBeUndefined();
    expect(await ctl.log()).toContain(
      `"node":"${target.name}","why":"rebooted and settled","msg":"released slot"`,
    );
    expect(b.recorder.maxHolders).toBe(1);
  }, 420_000);

  it('scenario 11b: a workload already short of a replica before the grant is asked back only what it had; the rollout goes on', async () => {
    bed = await controllerTestbed(kc(), { name: 's11b', nodes: 2 });
    const b = bed;
    const [target, other] = b.nodes;
    if (!target || !other) throw new Error('no node');
    await createPinnedDeployment(b.kc, b.ns, {
      name: 'web',
      replicas: 2,
      nodes: [target.name, other.name],
      spread: true,
    });
    const running = async () =>
      (await b.core.listNamespacedPod({ namespace: b.ns, labelSelector: 'app=web' })).items.filter(
        (p) => p.status?.phase === 'Running',
      );
    const onOther = await waitFor('a web pod on each node', async () => {
      const pods = await running();
      const there = pods.find((p) => p.spec?.nodeName === other.name);
      return pods.some((p) => p.spec?.nodeName === target.name) ? there : undefined;
    });
    // The replica on the other node fails its readiness probe before any reboot is asked for.
    await setPodReady(b.core, b.ns, onOther.metadata?.name ?? '', false);
    await waitFor('the Deployment short of a replica', async () => (await availableWeb(b)) === 1);
    await b.startController(['--reboot-timeout=2m']);
    await target.touchSentinel();
    const grant = await waitFor('the grant', async () =>
      (await b.slotLeases()).find((l) => l.spec?.holderIdentity === target.name),
    );
    expect(JSON.parse(grant.metadata?.annotations?.[SlotAnnotation.GrantedWorkloads] ?? '{}')).toEqual({
      workloads: [`Deployment/${b.ns}/web=1`],
      pdbs: [],
    });
    // The evicted replica comes up on the other node; the broken one stays broken. One available,
    // as before the reboot: settled, released, no halt.
    await rolloutDone(b, [target.name], 240_000);
    expect(target.reboots).toBe(1);
    expect(await availableWeb(b)).toBe(1);
    expect((await nodeEvents(b.core, target.name)).map((e) => e.reason)).not.toContain(
      EventReason.RolloutHalted,
    );
  }, 420_000);
});
