import { PassThrough } from 'node:stream';
import { GateReason, REBOOT_GATE_CONDITION } from '@baton/protocol';
import { createLogger } from '@baton/runtime';
import type { V1Lease, V1Node, V1NodeCondition } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { plan } from '../plan/plan.ts';
import { Reconciler } from '../reconcile/reconciler.ts';
import type { SlotWriter } from '../slots/slot-writes.ts';
import { baseSettings, NOW, testNode, testSlot } from '../testing/test-support.ts';
import {
  desiredGate,
  explainBlocked,
  type GateConditionWriter,
  type GateState,
  gateConditionUpdate,
  MESSAGE_REFRESH_MS,
} from './gate-condition.ts';
import { controllerMetrics } from './metrics.ts';

const withGate = (n: V1Node, c: Partial<V1NodeCondition>): V1Node => ({
  ...n,
  status: {
    ...n.status,
    conditions: [...(n.status?.conditions ?? []), { type: REBOOT_GATE_CONDITION, status: 'True', ...c }],
  },
});
const withRequired = (n: V1Node, status: string, reason: string, message = ''): V1Node => ({
  ...n,
  status: {
    ...n.status,
    conditions: [
      ...(n.status?.conditions ?? []).filter((c) => c.type !== 'RebootRequired'),
      { type: 'RebootRequired', status, reason, message },
    ],
  },
});

describe('explainBlocked', () => {
  it('waiting nodes: reason = first gate, message = every gate', () => {
    const p = plan({
      now: NOW,
      nodes: [testNode('a', { needs: true, labels: { 'baton.dev/opt-out': 'true' } })],
      leases: [],
      settings: baseSettings,
      paused: 'paused by manual:alice',
    });
    expect(explainBlocked([], p).get('a')).toEqual({
      status: 'True',
      reason: GateReason.OptedOut,
      message: 'OptedOut: label baton.dev/opt-out=true; Paused: paused by manual:alice',
    });
  });

  it('a node held at the attempt limit and one whose sentinel is unknown are explained too', () => {
    const held = {
      ...withRequired(testNode('held'), 'True', 'AttemptLimitReached'),
      metadata: { name: 'held', annotations: { 'baton.dev/reboot-attempts': '3' } },
    };
    const unknown = withRequired(testNode('unk'), 'Unknown', 'SentinelError', 'exit code 127');
    const nodes = [held, unknown, testNode('fine')];
    const got = explainBlocked(nodes, plan({ now: NOW, nodes, leases: [], settings: baseSettings }));
    expect(got.get('held')?.reason).toBe(GateReason.AttemptLimitReached);
    expect(got.get('held')?.message).toMatch(
      /after 3 reboot\(s\); delete annotation baton.dev\/reboot-attempts/,
    );
    expect(got.get('unk')).toMatchObject({ reason: GateReason.SentinelUnknown, message: /exit code 127/ });
    expect(got.has('fine')).toBe(false);
  });
});

describe('desiredGate', () => {
  const blocked = new Map<string, GateState>([
    [
      'w',
      { status: 'True', reason: GateReason.WaitingForSlot, message: 'WaitingForSlot: 1 of 1 slot(s) taken' },
    ],
  ]);
  const granted = new Map([['g', 'baton-slot-0']]);
  const cases: { name: string; node: V1Node; want: GateState | undefined }[] = [
    { name: 'a waiting node says why', node: testNode('w', { needs: true }), want: blocked.get('w') },
    {
      name: 'a granted node says Granted',
      node: testNode('g', { needs: true }),
      want: { status: 'False', reason: GateReason.Granted, message: 'baton-slot-0 names this node' },
    },
    { name: 'a node that never needed anything is left untouched', node: testNode('x'), want: undefined },
    {
      name: 'a node that carried the condition turns NotRequired',
      node: withGate(testNode('x'), { reason: 'Granted', status: 'False' }),
      want: { status: 'False', reason: GateReason.NotRequired, message: 'no reboot needed' },
    },
    {
      name: 'a node needing a reboot, neither waiting nor granted (a lost race), is left alone',
      node: withGate(testNode('r', { needs: true }), { reason: 'WaitingForSlot' }),
      want: undefined,
    },
  ];
  it.each(cases)('$name', ({ node, want }) => {
    expect(desiredGate(node, blocked, granted)).toEqual(want);
  });
});

describe('gateConditionUpdate', () => {
  const want: GateState = { status: 'True', reason: GateReason.AlertFiring, message: 'AlertFiring: 1 alert' };
  const at = (msAgo: number) => new Date(NOW.getTime() - msAgo);

  it('writes a condition the node does not have, transition now', () => {
    expect(gateConditionUpdate(testNode('a'), want, NOW)).toEqual({
      type: REBOOT_GATE_CONDITION,
      status: 'True',
      reason: GateReason.AlertFiring,
      message: 'AlertFiring: 1 alert',
      lastHeartbeatTime: NOW,
      lastTransitionTime: NOW,
    });
  });
  it('writes nothing when the node already says the same', () => {
    const n = withGate(testNode('a'), { ...want, lastHeartbeatTime: at(1000) });
    expect(gateConditionUpdate(n, want, NOW)).toBeUndefined();
  });
  it('a new reason with the same status keeps the transition time', () => {
    const n = withGate(testNode('a'), {
      status: 'True',
      reason: GateReason.Paused,
      lastTransitionTime: at(60_000),
      lastHeartbeatTime: at(1000),
    });
    const u = gateConditionUpdate(n, want, NOW);
    expect(u?.reason).toBe(GateReason.AlertFiring);
    expect(u?.lastTransitionTime).toEqual(at(60_000));
  });
  it('a new status moves the transition time', () => {
    const n = withGate(testNode('a'), {
      status: 'True',
      reason: GateReason.Paused,
      lastTransitionTime: at(60_000),
    });
    const u = gateConditionUpdate(n, { status: 'False', reason: GateReason.Granted, message: 'm' }, NOW);
    expect(u?.lastTransitionTime).toEqual(NOW);
  });
  it('a message-only change waits until the last write is a minute old', () => {
    const recent = withGate(testNode('a'), { ...want, message: 'old', lastHeartbeatTime: at(1000) });
    expect(gateConditionUpdate(recent, want, NOW)).toBeUndefined();
    const old = withGate(testNode('a'), {
      ...want,
      message: 'old',
      lastHeartbeatTime: at(MESSAGE_REFRESH_MS + 1),
    });
    expect(gateConditionUpdate(old, want, NOW)?.message).toBe(want.message);
  });
  it('a very long message is cut', () => {
    const u = gateConditionUpdate(testNode('a'), { ...want, message: 'x'.repeat(5000) }, NOW);
    expect(u?.message?.length).toBe(1024);
  });
});

describe('Reconciler writes RebootGate only on change', () => {
  it('explains a blocked node once, then Granted once the gate opens, and never repeats itself', async () => {
    let nodes: V1Node[] = [testNode('a', { needs: true })];
    const leases: V1Lease[] = [testSlot(0) as V1Lease];
    const written: { node: string; c: V1NodeCondition }[] = [];
    const writer: GateConditionWriter = {
      async patch(node, c) {
        written.push({ node, c });
        // Play the API server and the informer: the node now carries what was written.
        nodes = nodes.map((n) =>
          n.metadata?.name === node
            ? {
                ...n,
                status: {
                  ...n.status,
                  conditions: [...(n.status?.conditions ?? []).filter((x) => x.type !== c.type), c],
                },
              }
            : n,
        );
      },
    };
    const slots: SlotWriter = {
      grant: async (slot, node) => {
        leases[0] = testSlot(Number(slot.slice(-1)), node) as V1Lease;
        return true;
      },
      renew: async () => true,
      acknowledge: async () => true,
      release: async () => true,
    };
    let alert: { reason: GateReason; detail: string } | undefined = {
      reason: GateReason.AlertFiring,
      detail: '1 alert(s) active on Prometheus: X',
    };
    const registry = new Registry();
    const reconciler = new Reconciler(baseSettings, {
      nodes: () => nodes,
      leases: () => leases,
      synced: () => true,
      slots,
      events: { record: async () => undefined },
      metrics: controllerMetrics(registry),
      log: createLogger({ name: 't', format: 'json', level: 'silent', destination: new PassThrough() }),
      now: () => NOW,
      monotonicMs: () => 0,
      abortBackoffMs: 60_000,
      renewAfterMs: 60_000,
      mayAct: () => true,
      gates: [{ blocks: () => alert }],
      gateConditions: writer,
    });

    await reconciler.reconcile();
    await reconciler.reconcile();
    expect(written.map((w) => [w.node, w.c.status, w.c.reason])).toEqual([['a', 'True', 'AlertFiring']]);
    expect(written[0]?.c.message).toBe('AlertFiring: 1 alert(s) active on Prometheus: X');
    expect(await registry.getSingleMetricAsString('baton_node_blocked')).toContain(
      'baton_node_blocked{node="a",reason="AlertFiring"} 1',
    );

    alert = undefined;
    await reconciler.reconcile();
    await reconciler.reconcile();
    expect(written.map((w) => [w.node, w.c.status, w.c.reason])).toEqual([
      ['a', 'True', 'AlertFiring'],
      ['a', 'False', 'Granted'],
    ]);
    expect(await registry.getSingleMetricAsString('baton_node_blocked')).not.toContain('node="a"');
  });
});
