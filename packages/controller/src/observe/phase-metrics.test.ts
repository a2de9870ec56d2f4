import { AgentPhase, Annotation, REBOOT_REQUIRED_CONDITION } from '@baton/protocol';
import type { V1Node } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { PhaseTracker } from './phase-metrics.ts';

const T0 = Date.UTC(2026, 0, 5, 2, 0, 0);
const at = (s: number) => new Date(T0 + s * 1000);

function node(name: string, phase?: string, sinceS?: number, requiredSinceS?: number): V1Node {
  return {
    metadata: {
      name,
      annotations:
        phase === undefined
          ? {}
          : { [Annotation.Phase]: phase, [Annotation.PhaseSince]: at(sinceS ?? 0).toISOString() },
    },
    status: {
      conditions:
        requiredSinceS === undefined
          ? []
          : [
              {
                type: REBOOT_REQUIRED_CONDITION,
                status: 'True',
                reason: 'SentinelPresent',
                lastTransitionTime: at(requiredSinceS).toISOString() as unknown as Date,
              },
            ],
    },
  };
}

describe('PhaseTracker', () => {
  it('measures waiting, draining (cordon included), rebooting (verify included) and settling, and counts the reboot', () => {
    const t = new PhaseTracker();
    const none = new Map<string, Date>();
    const held = new Map([['a', at(130)]]);
    expect(t.observe([node('a', undefined, undefined, 100)], none, at(120))).toEqual({
      durations: [],
      outcomes: [],
    });
    // Granted: the wait is from the condition's transition to the grant's acquireTime.
    expect(t.observe([node('a', undefined, undefined, 100)], held, at(130.5)).durations).toEqual([
      { stage: 'waiting', seconds: 30 },
    ]);
    expect(t.observe([node('a', AgentPhase.Cordoning, 131)], held, at(131)).durations).toEqual([]);
    expect(t.observe([node('a', AgentPhase.Draining, 132)], held, at(132)).durations).toEqual([]);
    expect(t.observe([node('a', AgentPhase.Rebooting, 171)], held, at(171)).durations).toEqual([
      { stage: 'draining', seconds: 40 },
    ]);
    expect(t.observe([node('a', AgentPhase.Verifying, 200)], held, at(200)).durations).toEqual([]);
    expect(t.observe([node('a', AgentPhase.Rebooted, 231)], held, at(231))).toEqual({
      durations: [{ stage: 'rebooting', seconds: 60 }],
      outcomes: ['rebooted'],
    });
    // The same grant renewed is not a new grant.
    expect(t.observe([node('a', AgentPhase.Rebooted, 231)], held, at(250)).durations).toEqual([]);
    expect(t.observe([node('a', AgentPhase.Rebooted, 231)], none, at(291)).durations).toEqual([
      { stage: 'settling', seconds: 60 },
    ]);
  });

  it('measures settling when the reboot and the release arrive in one snapshot', () => {
    const t = new PhaseTracker();
    t.observe([node('a', AgentPhase.Verifying, 10)], new Map([['a', at(0)]]), at(10));
    expect(t.observe([node('a', AgentPhase.Rebooted, 20)], new Map(), at(25)).durations).toEqual([
      { stage: 'rebooting', seconds: 10 },
      { stage: 'settling', seconds: 5 },
    ]);
  });

  it('reports each change once, whatever the number of snapshots', () => {
    const t = new PhaseTracker();
    t.observe([node('a', AgentPhase.Draining, 10)], new Map(), at(0));
    const twice = [
      t.observe([node('a', AgentPhase.Rebooting, 20)], new Map(), at(0)),
      t.observe([node('a', AgentPhase.Rebooting, 20)], new Map(), at(0)),
    ];
    expect(twice.map((o) => o.durations.length)).toEqual([1, 0]);
  });

  it.each([
    [AgentPhase.Aborted, 'aborted'],
    [AgentPhase.Held, 'held'],
  ] as const)('counts %s as its outcome, and measures the drain that led there', (phase, outcome) => {
    const t = new PhaseTracker();
    t.observe([node('a', AgentPhase.Draining, 10)], new Map(), at(0));
    expect(t.observe([node('a', phase, 25)], new Map(), at(0))).toEqual({
      durations: [{ stage: 'draining', seconds: 15 }],
      outcomes: [outcome],
    });
    expect(t.observe([node('a', phase, 25)], new Map(), at(40)).durations).toEqual([]);
  });

  it('takes the first sight after a start as the baseline, never inventing a duration', () => {
    const t = new PhaseTracker();
    expect(t.observe([node('a', AgentPhase.Rebooted, 10)], new Map(), at(0))).toEqual({
      durations: [],
      outcomes: [],
    });
    expect(t.observe([node('b', AgentPhase.Rebooting, 10)], new Map(), at(0))).toEqual({
      durations: [],
      outcomes: [],
    });
    // b's reboot started at 10 by its annotation: that start is known, so its end measures.
    expect(t.observe([node('b', AgentPhase.Rebooted, 70)], new Map(), at(0)).durations).toEqual([
      { stage: 'rebooting', seconds: 60 },
    ]);
  });

  it('ignores a nonsense phase time, and forgets deleted nodes', () => {
    const t = new PhaseTracker();
    const bad = node('a', AgentPhase.Draining, 10);
    (bad.metadata?.annotations ?? {})[Annotation.PhaseSince] = 'yesterday';
    expect(t.observe([bad], new Map(), at(0))).toEqual({ durations: [], outcomes: [] });
    t.observe([node('b', AgentPhase.Draining, 10)], new Map(), at(0));
    t.observe([], new Map(), at(0));
    // b came back: a baseline again, not a drain measured across its deletion.
    expect(t.observe([node('b', AgentPhase.Rebooting, 50)], new Map(), at(0)).durations).toEqual([]);
  });

  it('measures no wait when the condition is not True or its time is unreadable', () => {
    const t = new PhaseTracker();
    expect(t.observe([node('a')], new Map([['a', at(10)]]), at(10)).durations).toEqual([]);
    const n = node('b', undefined, undefined, 5);
    const c = n.status?.conditions?.[0];
    if (c) c.lastTransitionTime = 'soon' as unknown as Date;
    expect(t.observe([n], new Map([['b', at(10)]]), at(10)).durations).toEqual([]);
  });
});
