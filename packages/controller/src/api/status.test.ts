import { AgentPhase, GateReason } from '@baton/protocol';
import type { V1Lease, V1Node } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { type PlanSettings, plan } from '../plan/plan.ts';
import type { PlannedPass } from '../reconcile/reconciler.ts';
import { baseSettings, NOW, testNode, testSlot } from '../testing/test-support.ts';
import { nodeResponse, statusResponse } from './status.ts';
import type { ReplicaState, ViewSettings } from './view.ts';

const settings: ViewSettings = { namespace: 'baton', concurrency: 1, optOutLabel: 'baton.dev/opt-out' };
const leader: ReplicaState = { identity: 'ctrl-0', leaderElection: true, leader: true, synced: true };
const LATER = new Date(NOW.getTime() + 2_000);

function heldAtLimit(name: string): V1Node {
  const n = testNode(name, { needs: true });
  const rr = n.status?.conditions?.find((c) => c.type === 'RebootRequired');
  if (rr) rr.reason = 'AttemptLimitReached';
  n.metadata = { ...n.metadata, annotations: { 'baton.dev/reboot-attempts': '3' } };
  return n;
}

/** A pass as the Reconciler records it: the real planner over these objects. */
function pass(
  nodes: V1Node[],
  leases: V1Lease[],
  o: { paused?: string; settings?: Partial<PlanSettings> } = {},
): PlannedPass {
  const s = { ...baseSettings, ...o.settings };
  return {
    at: NOW,
    nodes,
    leases,
    paused: o.paused,
    plan: plan({ now: NOW, nodes, leases, settings: s, paused: o.paused }),
  };
}

const fleet = () =>
  pass(
    [
      testNode('a', { needs: true, phase: AgentPhase.Draining }),
      testNode('b', { needs: true, since: 120 }),
      testNode('c', { needs: true, labels: { 'baton.dev/opt-out': 'true' } }),
      testNode('d'),
      heldAtLimit('e'),
    ],
    [testSlot(0, 'a') as V1Lease],
  );

describe('the status answer', () => {
  it('says the replica, the plan time, the slots and where every node stands', () => {
    const r = statusResponse({ now: LATER, replica: leader, settings, pass: fleet() });
    expect(r).toMatchObject({
      kind: 'BatonControllerStatus',
      version: 1,
      time: LATER.toISOString(),
      replica: leader,
      plannedAt: NOW.toISOString(),
      namespace: 'baton',
      concurrency: 1,
      taken: 1,
      pause: { paused: false, detail: null },
      halted: null,
      slots: [
        { name: 'baton-slot-0', index: 0, holder: 'a', granting: null, releasing: null, problem: null },
      ],
    });
    const byName = Object.fromEntries(r.nodes.map((n) => [n.name, n]));
    expect(r.nodes.map((n) => n.name)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(byName.a).toMatchObject({
      needsReboot: 'yes',
      phase: 'Draining',
      slot: 'baton-slot-0',
      state: 'holding',
      blockedBy: [],
      settle: { stage: 'Working', why: 'phase Draining' },
      gate: { status: 'False', reason: GateReason.Granted, message: 'baton-slot-0 names this node' },
    });
    expect(byName.b).toMatchObject({
      needsReboot: 'yes',
      slot: null,
      state: 'waiting',
      blockedBy: [{ reason: GateReason.WaitingForSlot, detail: '1 of 1 slot(s) taken' }],
      gate: { status: 'True', reason: GateReason.WaitingForSlot },
    });
    expect(byName.c?.blockedBy).toEqual([
      { reason: GateReason.OptedOut, detail: 'label baton.dev/opt-out=true' },
    ]);
    expect(byName.d).toMatchObject({ needsReboot: 'no', state: 'idle', blockedBy: [], gate: null });
    expect(byName.e).toMatchObject({
      needsReboot: 'held',
      state: 'waiting',
      blockedBy: [{ reason: GateReason.AttemptLimitReached }],
    });
  });

  it('shows a grant this plan makes and every gate at once while paused', () => {
    const granted = statusResponse({
      now: LATER,
      replica: leader,
      settings,
      pass: pass([testNode('b', { needs: true })], []),
    });
    expect(granted.slots).toEqual([
      { name: 'baton-slot-0', index: 0, holder: null, granting: 'b', releasing: null, problem: null },
    ]);
    expect(granted.nodes[0]).toMatchObject({ state: 'granting', slot: 'baton-slot-0' });

    const paused = statusResponse({
      now: LATER,
      replica: leader,
      settings,
      pass: pass([testNode('b', { needs: true, labels: { 'baton.dev/opt-out': 'true' } })], [], {
        paused: 'paused by manual:ops',
      }),
    });
    expect(paused.pause).toEqual({ paused: true, detail: 'paused by manual:ops' });
    expect(paused.nodes[0]?.blockedBy.map((b) => b.reason)).toEqual([GateReason.OptedOut, GateReason.Paused]);
  });

  it('shows a release and the slot a person holds by hand', () => {
    const r = statusResponse({
      now: LATER,
      replica: leader,
      settings: { ...settings, concurrency: 2 },
      pass: pass(
        [testNode('a')],
        [
          testSlot(0, 'a') as V1Lease,
          { metadata: { name: 'baton-slot-1' }, spec: { holderIdentity: 'manual:ops' } },
        ],
        { settings: { concurrency: 2 } },
      ),
    });
    expect(r.slots.map((s) => [s.name, s.holder, s.releasing])).toEqual([
      ['baton-slot-0', 'a', 'a no longer needs a reboot'],
      ['baton-slot-1', 'manual:ops', null],
    ]);
    expect(r.nodes[0]).toMatchObject({
      state: 'releasing',
      slot: 'baton-slot-0',
      release: { kind: 'NotNeeded', reason: 'a no longer needs a reboot' },
    });
  });

  it('without a plan (a follower that never led): who answers, and nothing else', () => {
    const follower = { ...leader, leader: false };
    const r = statusResponse({ now: LATER, replica: follower, settings, pass: undefined });
    expect(r).toEqual({
      kind: 'BatonControllerStatus',
      version: 1,
      time: LATER.toISOString(),
      replica: follower,
      plannedAt: null,
      namespace: 'baton',
      concurrency: 1,
      taken: null,
      pause: { paused: false, detail: null },
      halted: null,
      slots: [],
      nodes: [],
    });
  });
});

describe('the node answer', () => {
  const ask = (name: string) => nodeResponse({ now: LATER, replica: leader, settings, pass: fleet(), name });

  const around = (...middle: string[]) => [
    'reboot-required:pass',
    'request:info',
    'pause:pass',
    ...middle,
    'cordon:info',
    'phase:info',
  ];
  it.each([
    ['a', 'a holds baton-slot-0; phase Draining', around('slot:pass')],
    [
      'b',
      'b will not be granted a reboot now; held back by: WaitingForSlot',
      around('WaitingForSlot:block', 'slot:info'),
    ],
    [
      'c',
      'c will not be granted a reboot now; held back by: OptedOut',
      around('OptedOut:block', 'slot:info'),
    ],
    ['d', 'd does not need a reboot', ['reboot-required:block', ...around('slot:info').slice(1)]],
    [
      'e',
      'e will not be granted a reboot now; held back by: AttemptLimitReached',
      ['reboot-required:block', ...around('AttemptLimitReached:block', 'slot:info').slice(1)],
    ],
  ])('%s: %s', (name, summary, verdicts) => {
    const r = ask(name);
    expect(r?.summary).toBe(summary);
    expect(r?.gates.map((g) => `${g.gate}:${g.verdict}`)).toEqual(verdicts);
    expect(r).toMatchObject({ kind: 'BatonControllerNode', version: 1, plannedAt: NOW.toISOString() });
  });

  it('says the pause once: as the block of a pending node, as context for a holder', () => {
    const paused = pass(
      [testNode('a', { needs: true, phase: AgentPhase.Draining }), testNode('b', { needs: true })],
      [testSlot(0, 'a') as V1Lease],
      { paused: 'paused by manual:ops' },
    );
    const of = (name: string) =>
      nodeResponse({ now: LATER, replica: leader, settings, pass: paused, name })?.gates.filter((g) =>
        ['pause', GateReason.Paused].includes(g.gate),
      );
    expect(of('a')).toEqual([
      { gate: 'pause', verdict: 'info', text: 'paused by manual:ops (no new grants; holders finish)' },
    ]);
    expect(of('b')).toEqual([{ gate: GateReason.Paused, verdict: 'block', text: 'paused by manual:ops' }]);
  });

  it('says who asked, the cordon and the attempts', () => {
    const n = testNode('r', { needs: true, cordoned: true, phase: AgentPhase.Draining });
    n.metadata = {
      ...n.metadata,
      annotations: {
        ...n.metadata?.annotations,
        'baton.dev/reboot-requested': 'ops',
        'baton.dev/reboot-attempts': '2',
      },
    };
    const r = nodeResponse({ now: LATER, replica: leader, settings, pass: pass([n], []), name: 'r' });
    expect(r?.node).toMatchObject({ requestedBy: 'ops', attempts: 2, cordoned: true });
    expect(r?.gates.find((g) => g.gate === 'request')?.text).toBe('a reboot was requested by "ops"');
    expect(r?.gates.find((g) => g.gate === 'cordon')?.text).toBe('cordoned');
    expect(r?.gates.find((g) => g.gate === 'phase')?.text).toBe(
      'agent phase Draining after 2 reboot attempt(s)',
    );
  });

  it('is undefined for a node the plan does not know', () => {
    expect(ask('nope')).toBeUndefined();
  });
});
