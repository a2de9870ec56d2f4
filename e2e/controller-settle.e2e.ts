/**
 * Settling on the real control plane: a rebooted node keeps its slot while a pod on it is not
 * Ready (the slot is the only thing keeping the next node from rebooting), and releases it only
 * once the pod is Ready again and --settle-time has passed since the controller saw it so.
 */
import { AgentPhase, Annotation } from '@baton/protocol';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { loadKubeConfig, setPodReady, waitFor } from './harness/kube.ts';
import { controllerTestbed, type Testbed } from './harness/testbed.ts';

const SETTLE_SECONDS = 5;

describe('controller settle', () => {
  let bed: Testbed | undefined;
  afterAll(async () => {
    await bed?.stop();
  });

  it('keeps the slot while a pod on the rebooted node is not Ready; releases after it is Ready plus the settle time', async () => {
    bed = await controllerTestbed(loadKubeConfig(inject('kubeconfig')), { name: 'settle', nodes: 2 });
    const b = bed;
    const [first, second] = b.nodes;
    if (!first || !second) throw new Error('fleet not set up');
    const ctl = await b.startController([`--settle-time=${SETTLE_SECONDS}s`]);
    await first.touchSentinel();
    await waitFor('the grant', async () => (await b.slotOf(first.name)) !== undefined, 60_000);
    // The agent pod on the node does not come back Ready after the reboot (as a crashing
    // workload would not). kwok leaves a Running pod's conditions alone.
    await setPodReady(b.core, b.ns, first.pod, false);
    await second.touchSentinel();
    await waitFor(
      'the agent reporting the reboot done',
      async () =>
        (await b.core.readNode({ name: first.name })).metadata?.annotations?.[Annotation.Phase] ===
        AgentPhase.Rebooted,
      120_000,
    );
    await waitFor(
      'the holder stage PodsNotReady',
      async () =>
        (await (await fetch(ctl.metricsUrl)).text()).includes(
          `baton_holder_stage{node="${first.name}",stage="PodsNotReady"} 1`,
        ),
      30_000,
    );
    await new Promise((r) => setTimeout(r, 3000));
    expect(await b.slotOf(first.name)).toBeDefined();
    expect(second.reboots).toBe(0);
    expect(ctl.process.hasExited()).toBe(false);
    expect(await ctl.log()).toContain(`1 pod(s) not Ready: ${b.ns}/${first.pod}`);

    const readyAt = Date.now();
    await setPodReady(b.core, b.ns, first.pod, true);
    await waitFor(
      'the slot released and given to the next node',
      async () => (await b.slotOf(second.name)) !== undefined,
      60_000,
    );
    expect(await b.slotOf(first.name)).toBeUndefined();
    // The settle time counts on the controller's own monotonic clock from when it first saw the
    // node healthy, which is after the pod turned Ready (never from a time another machine
    // wrote, such as the pod's lastTransitionTime in whole seconds).
    expect(Date.now() - readyAt).toBeGreaterThanOrEqual(SETTLE_SECONDS * 1000);
    await waitFor('the second node rebooted', async () => second.reboots === 1, 120_000);
    expect(first.reboots).toBe(1);
    expect(b.recorder.maxHolders).toBe(1);
  }, 300_000);
});
