/**
 * The planner with the gates that live outside it (alerts, blocking pods) and with the budget.
 * Kept apart from plan.test.ts: these tests are about what holds pending nodes back.
 */
import { GateReason } from '@baton/protocol';
import { describe, expect, it } from 'vitest';
import { constantGate } from '../gates/gate.ts';
import { baseSettings, NOW, testNode, testSlot } from '../testing/test-support.ts';
import { type GateBlock, plan } from './plan.ts';

describe('plan: gates from outside the planner', () => {
  const alertBlock: GateBlock = {
    reason: GateReason.AlertFiring,
    detail: '1 alert(s) active on Prometheus: X',
  };

  it('a cluster-wide blocker holds every pending node, none is granted', () => {
    const p = plan({
      now: NOW,
      nodes: [testNode('a', { needs: true }), testNode('b', { needs: true })],
      leases: [testSlot(0)],
      settings: { ...baseSettings, concurrency: 2 },
      gates: [constantGate(alertBlock)],
    });
    expect(p.grants).toEqual([]);
    expect(p.waiting.get('a')).toEqual({ ...alertBlock, also: [] });
    expect(p.waiting.get('b')?.reason).toBe(GateReason.AlertFiring);
  });

  it('a per-node blocker holds only its node; the next node takes the slot', () => {
    const p = plan({
      now: NOW,
      nodes: [testNode('a', { needs: true, since: 600 }), testNode('b', { needs: true, since: 60 })],
      leases: [testSlot(0)],
      settings: baseSettings,
      gates: [
        {
          blocks: (n) =>
            n.metadata?.name === 'a' ? { reason: GateReason.BlockingPod, detail: 'pod db/x' } : undefined,
        },
      ],
    });
    expect(p.grants).toMatchObject([{ slot: 'baton-slot-0', node: 'b' }]);
    expect(p.waiting.get('a')?.reason).toBe(GateReason.BlockingPod);
  });

  it('reports the first gate as the reason and every other one too', () => {
    const p = plan({
      now: NOW,
      nodes: [testNode('a', { needs: true, labels: { 'baton.dev/opt-out': 'true' } })],
      leases: [],
      settings: { ...baseSettings, windows: [{ days: [0], startSeconds: 0, endSeconds: 60 }] },
      paused: 'paused by manual:alice',
      gates: [constantGate(alertBlock)],
    });
    const w = p.waiting.get('a');
    expect(w?.reason).toBe(GateReason.OptedOut);
    expect(w?.also.map((b) => b.reason)).toEqual([
      GateReason.Paused,
      GateReason.OutsideWindow,
      GateReason.AlertFiring,
    ]);
  });

  it('holders keep their slots and are renewed while a blocker holds the others', () => {
    const p = plan({
      now: NOW,
      nodes: [testNode('busy', { needs: true, phase: 'Draining' }), testNode('b', { needs: true })],
      leases: [testSlot(0, 'busy'), testSlot(1)],
      settings: { ...baseSettings, concurrency: 2 },
      gates: [constantGate(alertBlock)],
    });
    expect(p.renewals).toEqual([{ slot: 'baton-slot-0', node: 'busy', grantId: 'g-busy' }]);
    expect(p.releases).toEqual([]);
    expect(p.grants).toEqual([]);
  });
});
