/**
 * The operator procedures of README "Operations", each done as the README says (kubectl baton,
 * or the plain kubectl form) on a running rollout, and checked for what the README promises —
 * not only that the command exits 0 (readme.e2e.ts runs every README command once). Each test
 * is a world of its own (harness/testbed.ts: fresh fake nodes with a real agent each, the real
 * controller with short periods, every slot Lease change recorded).
 *
 * (a) Disabling reboots: a pause lets the node rebooting finish and grants nothing more until
 *     resumed; `--for` ends the pause by itself; the opt-out label keeps a node out.
 * (b) A stuck reboot: halted after --reboot-timeout (Event, metric, RebootGate); `kubectl baton
 *     release NODE --force` gives up on the node, the halt clears and the next node reboots.
 * (c) Manual unlock: a slot held by hand and a SlotInvalid slot block until emptied; emptying the
 *     slot of a node mid-reboot is refused by kubectl baton and, done with kubectl, frees no
 *     capacity until the node is back.
 * (d) A held node: after --max-reboot-attempts; removing baton.dev/reboot-attempts lets it try
 *     again.
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
import { afterEach, describe, expect, inject, it } from 'vitest';
import { metricSample } from './harness/gates.ts';
import type { InvariantRecorder } from './harness/invariant-recorder.ts';
import { downtimeOverlap } from './harness/invariants.ts';
import { loadKubeConfig, mergePatch, waitFor } from './harness/kube.ts';
import {
  grantTimes,
  heldBack,
  kubectl,
  kubectlBaton,
  neverGranted,
  nodeEvents,
  phaseOf,
  rebootRequired,
  rebootsOf,
  rolloutDone,
  watchInvariants,
} from './harness/operator.ts';
import { controllerTestbed, type Testbed } from './harness/testbed.ts';

const kubeconfig = () => inject('kubeconfig');
const kc = () => loadKubeConfig(kubeconfig());
/** Short settle time: the procedures, not the settling, are under test here. */
const SETTLE = '--settle-time=2s';

describe('operations (README "Operations")', () => {
  let bed: Testbed | undefined;
  let invariants: InvariantRecorder | undefined;
  afterEach(async () => {
    await invariants?.stop();
    invariants = undefined;
    await bed?.stop();
    bed = undefined;
  });

  /** `kubectl baton …` in the testbed's namespace; fails the test on an unexpected exit code. */
  const baton = async (expectCode: number, ...args: string[]) => {
    const b = bed;
    if (!b) throw new Error('no testbed');
    const r = await kubectlBaton(kubeconfig(), b.ns, ...args);
    expect(r.code, `kubectl baton ${args.join(' ')}: ${r.stdout}${r.stderr}`).toBe(expectCode);
    return r;
  };
  const plainKubectl = async (...args: string[]) => {
    const r = await kubectl(kubeconfig(), ...args);
    expect(r.code, `kubectl ${args.join(' ')}: ${r.stdout}${r.stderr}`).toBe(0);
    return r;
  };

  it('disabling: a pause lets the rebooting node finish and grants nothing until resumed; --for ends by itself; opt-out keeps a node out', async () => {
    bed = await controllerTestbed(kc(), { name: 'opa', nodes: 4, rebootMs: 4000 });
    const b = bed;
    invariants = await watchInvariants(b, 1);
    const [first, second, third, optedOut] = b.nodes;
    if (!first || !second || !third || !optedOut) throw new Error('no node');
    const ctl = await b.startController([SETTLE]);
    await plainKubectl('label', 'node', optedOut.name, 'baton.dev/opt-out=true');
    await optedOut.touchSentinel();
    await first.touchSentinel();
    await waitFor('the first grant', () => b.slotOf(first.name), 60_000);
    await waitFor('the first node rebooting', async () => first.reboots === 1, 60_000);

    // Paused while the first node reboots: it finishes and its slot is released.
    const pause = await baton(0, 'pause', '--reason', 'change freeze');
    expect(pause.stdout).toMatch(
      /^Paused by manual:.*: no new reboot grants until kubectl baton resume; reason: change freeze\./,
    );
    expect(pause.stdout).toContain(
      `Already granted, and finishing their reboot: ${first.name} (baton-slot-0).`,
    );
    await second.touchSentinel();
    await waitFor(
      'the first node rebooted and its slot released while paused',
      async () =>
        phaseOf(await b.core.readNode({ name: first.name })) === AgentPhase.Rebooted &&
        b.recorder.holders().length === 0,
      60_000,
    );
    await heldBack(b, second, GateReason.Paused);
    expect(await metricSample(ctl.metricsUrl, 'baton_paused', {})).toBe(1);
    // Several controller periods (1 s): nothing granted.
    await neverGranted(b, [second, optedOut], 5000);
    expect((await b.rebootGate(optedOut.name))?.reason).toBe(GateReason.OptedOut);

    const resume = await baton(0, 'resume');
    expect(resume.stdout).toMatch(/^Resumed: the pause by manual:.* \(change freeze\) is lifted/);
    await waitFor('the second node granted after resume', () => b.slotOf(second.name), 10_000);
    await rolloutDone(b, [second]);
    expect(await b.slotOf(optedOut.name)).toBeUndefined();

    // A pause for 8 s ends by itself: granted without a resume, not before.
    const pausedAt = Date.now();
    await baton(0, 'pause', '--for', '8s');
    await third.touchSentinel();
    await heldBack(b, third, GateReason.Paused);
    await neverGranted(b, [third, optedOut], pausedAt + 6000 - Date.now());
    await waitFor('the third node granted once the pause ended', () => b.slotOf(third.name), 30_000);
    const [thirdGranted] = grantTimes(b, third);
    expect(thirdGranted).toBeGreaterThanOrEqual(pausedAt + 8000);
    // Nobody resumed: the pause Lease is still there, its time is over.
    const lease = await b.leases.readNamespacedLease({ name: PAUSE_LEASE, namespace: b.ns });
    expect(lease.spec?.leaseDurationSeconds).toBe(8);
    expect(lease.spec?.holderIdentity).toMatch(new RegExp(`^${MANUAL_HOLDER_PREFIX}`));
    await rolloutDone(b, [third]);
    expect(await metricSample(ctl.metricsUrl, 'baton_paused', {})).toBe(0);

    // The opted-out node waited through all of it; undoing the label lets it reboot.
    expect(b.recorder.grantsOf(optedOut.name)).toBe(0);
    expect((await b.rebootGate(optedOut.name))?.reason).toBe(GateReason.OptedOut);
    await plainKubectl('label', 'node', optedOut.name, 'baton.dev/opt-out-');
    await rolloutDone(b, [optedOut]);

    const all = [first, second, third, optedOut];
    const end = await invariants.checkEnd(new Map(all.map((n) => [n.name, n.reboots])));
    expect(end).toEqual([]);
    expect(invariants.violations()).toEqual([]);
    expect(all.map((n) => b.recorder.grantsOf(n.name))).toEqual([1, 1, 1, 1]);
    // In the order the operations allowed.
    expect(b.recorder.grants.map((g) => g.node)).toEqual(all.map((n) => n.name));
  }, 300_000);

  it('a stuck reboot: halted after --reboot-timeout (Event, metric, RebootGate); release NODE --force gives up on it, the halt clears, the next node reboots', async () => {
    bed = await controllerTestbed(kc(), { name: 'opb', nodes: 2 });
    const b = bed;
    const [lost, waiting] = b.nodes;
    if (!lost || !waiting) throw new Error('no node');
    lost.neverReturn = true;
    const ctl = await b.startController(['--reboot-timeout=1m', SETTLE]);
    await lost.touchSentinel();
    await waitFor('the grant', () => b.slotOf(lost.name), 60_000);
    await waiting.touchSentinel();
    await waitFor('the machine down for good', async () => lost.reboots === 1, 60_000);

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
    const gate = await waitFor('the waiting node says why', async () => {
      const g = await b.rebootGate(waiting.name);
      return g?.reason === GateReason.RolloutHalted ? g : undefined;
    });
    expect(gate.message).toContain(lost.name);
    expect(
      await metricSample(ctl.metricsUrl, 'baton_node_blocked', {
        node: waiting.name,
        reason: GateReason.RolloutHalted,
      }),
    ).toBe(1);
    await neverGranted(b, [waiting], 3000);
    // A person looks: which node holds the slot, in which phase.
    const status = await baton(0, 'status');
    expect(status.stdout).toMatch(new RegExp(`^baton-slot-0\\s+${lost.name}\\s`, 'm'));
    expect(status.stdout).toMatch(new RegExp(`^${lost.name}\\s+yes\\s+Rebooting\\s+baton-slot-0\\s`, 'm'));
    expect(status.stdout).toMatch(new RegExp(`^${waiting.name}\\s+yes\\s+-\\s+-\\s+RolloutHalted\\s`, 'm'));

    // Gives up on it: refused without --force (it is mid-reboot), done with it.
    const grant = (await b.core.readNode({ name: lost.name })).metadata?.annotations?.[Annotation.Grant];
    expect(grant).toMatch(/^baton-slot-0\//);
    const refused = await baton(6, 'release', lost.name);
    expect(refused.stderr).toMatch(/refused: .* is mid-reboot/);
    expect(await b.slotOf(lost.name)).toBe('baton-slot-0');
    const grantsBefore = b.recorder.grants.length;
    const forced = await baton(0, 'release', lost.name, '--force');
    expect(forced.stdout).toBe(
      `Released baton-slot-0 (was held by ${lost.name}).\nGave up on ${lost.name} (${Annotation.GivenUp}=${grant}): it no longer counts as holding a slot.\n`,
    );
    // Emptied — or already granted again, to the waiting node under a new grant: the controller
    // may be quicker than this read.
    const slot = await b.leases.readNamespacedLease({ name: 'baton-slot-0', namespace: b.ns });
    const holder = slot.spec?.holderIdentity ?? '';
    expect(['', waiting.name]).toContain(holder);
    const grantId = slot.metadata?.annotations?.[SlotAnnotation.GrantId];
    if (holder === '') expect(grantId).toBeUndefined();
    else expect(`baton-slot-0/${grantId}`).not.toBe(grant);
    expect((await b.core.readNode({ name: lost.name })).metadata?.annotations?.[Annotation.GivenUp]).toBe(
      grant,
    );

    await waitFor(
      'the halt cleared',
      async () => (await metricSample(ctl.metricsUrl, 'baton_rollout_halted', {})) === 0,
      30_000,
    );
    // "baton then goes on with the next node": the freed slot goes to the waiting node, not back
    // to the node given up on (its agent is dead, its last RebootRequired still says True): that
    // one waits, RebootGate GivenUp, until its agent reports back.
    const nextGrant = await waitFor('the next grant', async () => b.recorder.grants[grantsBefore], 30_000);
    expect(nextGrant.node, `granted ${nextGrant.slot} to the node given up on`).toBe(waiting.name);
    await heldBack(b, lost, GateReason.GivenUp);
    await rolloutDone(b, [waiting]);
    expect([lost.reboots, waiting.reboots]).toEqual([1, 1]);
    expect(await metricSample(ctl.metricsUrl, 'baton_halts_total', {})).toBe(1);
    // What giving up means: the lost machine is still down while the next one went down.
    expect(downtimeOverlap(b.fleet.rebootLog, 1, new Date()).max).toBe(2);
  }, 300_000);

  it('manual unlock: a slot held by hand, and a SlotInvalid one, block until emptied; emptying the slot of a node mid-reboot is refused by kubectl baton, and done with kubectl frees no capacity until the node is back', async () => {
    bed = await controllerTestbed(kc(), { name: 'opc', nodes: 4 });
    const b = bed;
    invariants = await watchInvariants(b, 1);
    const [byHand, afterInvalid, midReboot, next] = b.nodes;
    if (!byHand || !afterInvalid || !midReboot || !next) throw new Error('no node');
    const ctl = await b.startController([SETTLE]);
    const emptyWithKubectl = () =>
      plainKubectl(
        '-n',
        b.ns,
        'patch',
        'lease',
        'baton-slot-0',
        '--type=merge',
        '-p',
        '{"spec":{"holderIdentity":null}}',
      );

    // 1. A slot held by hand blocks a pending node until `kubectl baton release baton-slot-0`.
    await b.leases.createNamespacedLease({
      namespace: b.ns,
      body: { metadata: { name: 'baton-slot-0' }, spec: { holderIdentity: `${MANUAL_HOLDER_PREFIX}ops` } },
    });
    await byHand.touchSentinel();
    await heldBack(b, byHand, GateReason.WaitingForSlot);
    await neverGranted(b, [byHand], 4000);
    const released = await baton(0, 'release', 'baton-slot-0');
    expect(released.stdout).toBe(`Released baton-slot-0 (was held by ${MANUAL_HOLDER_PREFIX}ops).\n`);
    await rolloutDone(b, [byHand]);

    // 2. A node holder written without a grant id: SlotInvalid, blocks until emptied with kubectl.
    await b.leases.patchNamespacedLease(
      { name: 'baton-slot-0', namespace: b.ns, body: { spec: { holderIdentity: midReboot.name } } },
      mergePatch,
    );
    await afterInvalid.touchSentinel();
    const invalid = await waitFor('the SlotInvalid Event', async () =>
      (await b.core.listNamespacedEvent({ namespace: b.ns })).items.find(
        (e) => e.reason === EventReason.SlotInvalid && e.involvedObject.name === 'baton-slot-0',
      ),
    );
    expect(invalid.type).toBe('Warning');
    expect(invalid.message).toMatch(/has no baton\.dev\/grant-id annotation: it is not a grant/);
    await heldBack(b, afterInvalid, GateReason.WaitingForSlot);
    await neverGranted(b, [afterInvalid], 4000);
    await emptyWithKubectl();
    await rolloutDone(b, [afterInvalid]);

    // 3. A node mid-reboot (its reboot command given; the machine goes down 8 s later).
    midReboot.shutdownMs = 8000;
    await midReboot.touchSentinel();
    await waitFor('the grant', () => b.slotOf(midReboot.name), 60_000);
    await next.touchSentinel();
    await waitFor('the reboot command', async () => midReboot.reboots === 1, 60_000);
    const bySlot = await baton(6, 'release', 'baton-slot-0');
    expect(bySlot.stderr).toMatch(
      new RegExp(`refused: ${midReboot.name} is mid-reboot \\(phase Rebooting since .*--force`),
    );
    await baton(6, 'release', midReboot.name);
    expect(await b.slotOf(midReboot.name)).toBe('baton-slot-0');
    // The plain kubectl patch is accepted; the controller goes on counting the node.
    await emptyWithKubectl();
    expect(
      (await b.leases.readNamespacedLease({ name: 'baton-slot-0', namespace: b.ns })).spec?.holderIdentity ??
        '',
    ).toBe('');
    await waitFor(
      'the node counted from its own record',
      async () =>
        (await metricSample(ctl.metricsUrl, 'baton_holder_stage', {
          node: midReboot.name,
          stage: 'Orphaned',
        })) === 1,
      10_000,
    );
    const [down] = rebootsOf(b, midReboot);
    while (down?.upAt === undefined) {
      expect(await b.slotOf(next.name)).toBeUndefined();
      await new Promise((r) => setTimeout(r, 300));
    }
    await rolloutDone(b, [midReboot, next]);
    const [nextGranted] = grantTimes(b, next);
    expect(nextGranted).toBeGreaterThanOrEqual(down.upAt.getTime() - 1000);

    const all = [byHand, afterInvalid, midReboot, next];
    const end = await invariants.checkEnd(new Map(all.map((n) => [n.name, n.reboots])));
    expect(end).toEqual([]);
    expect(invariants.violations()).toEqual([]);
    expect(invariants.checker.maxDown).toBe(1);
    // One grant each (the SlotInvalid holder written by hand was no grant: it had no grant id).
    const grantsOf = (n: { name: string }) =>
      b.recorder.grants.filter((g) => g.node === n.name && g.grantId !== undefined).length;
    expect(all.map(grantsOf)).toEqual([1, 1, 1, 1]);
  }, 300_000);

  it('a held node: after --max-reboot-attempts it is held and never granted; kubectl annotate node NODE baton.dev/reboot-attempts- lets it try again', async () => {
    bed = await controllerTestbed(kc(), { name: 'opd', nodes: 1, agentArgs: ['--max-reboot-attempts=1'] });
    const b = bed;
    const [held] = b.nodes;
    if (!held) throw new Error('no node');
    held.keepSentinel = true; // whatever keeps asking for the reboot is not fixed
    await b.startController([SETTLE]);
    const heldAgain = async (reboots: number) =>
      waitFor(
        `held after ${reboots} reboot(s), its slot released`,
        async () => {
          const n = await b.core.readNode({ name: held.name });
          return (
            held.reboots === reboots &&
            phaseOf(n) === AgentPhase.Held &&
            rebootRequired(n)?.reason === 'AttemptLimitReached' &&
            b.recorder.holders().length === 0
          );
        },
        120_000,
      );
    await held.touchSentinel();
    await heldAgain(1);
    await waitFor(
      'the RebootGate says why',
      async () => (await b.rebootGate(held.name))?.reason === GateReason.AttemptLimitReached,
    );
    await neverGranted(b, [held], 4000);
    expect(b.recorder.grantsOf(held.name)).toBe(1);

    await plainKubectl('annotate', 'node', held.name, `${Annotation.RebootAttempts}-`);
    await waitFor('granted again', async () => b.recorder.grantsOf(held.name) === 2, 30_000);
    await heldAgain(2);
    const grants = b.recorder.grants.map((g) => g.grantId);
    expect(new Set(grants).size).toBe(2);
  }, 300_000);
});
