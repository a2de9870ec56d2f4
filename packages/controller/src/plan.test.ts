import { AgentPhase, Annotation } from '@baton/protocol';
import type { V1Node } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { GRANTED_NODE_ANNOTATION, type PlanSettings, plan, type SlotLease } from './plan.ts';
import { baseSettings, NOW } from './test-support.ts';

const ago = (s: number) => new Date(NOW.getTime() - s * 1000).toISOString();

const settings: PlanSettings = baseSettings;

interface NodeSpec {
  needs?: boolean;
  since?: number;
  reason?: string;
  phase?: string;
  phaseSince?: number;
  ready?: boolean;
  cordoned?: boolean;
  wasUnschedulable?: string;
  labels?: Record<string, string>;
}

function node(name: string, o: NodeSpec = {}): V1Node {
  const annotations: Record<string, string> = {};
  if (o.phase) annotations[Annotation.Phase] = o.phase;
  if (o.phaseSince !== undefined) annotations[Annotation.PhaseSince] = ago(o.phaseSince);
  if (o.wasUnschedulable) annotations[Annotation.WasUnschedulable] = o.wasUnschedulable;
  return {
    metadata: { name, labels: o.labels ?? {}, annotations },
    spec: { unschedulable: o.cordoned },
    status: {
      conditions: [
        { type: 'Ready', status: o.ready === false ? 'False' : 'True' },
        {
          type: 'RebootRequired',
          status: o.needs ? 'True' : 'False',
          reason: o.reason ?? (o.needs ? 'SentinelPresent' : 'NoSentinel'),
          lastTransitionTime: ago(o.since ?? 60) as unknown as Date,
        },
      ],
    },
  };
}

function slot(i: number, holder?: string, acquiredSecondsAgo = 30, byUs = true): SlotLease {
  return {
    metadata: {
      name: `baton-slot-${i}`,
      annotations: holder && byUs ? { [GRANTED_NODE_ANNOTATION]: holder } : {},
    },
    spec: holder
      ? {
          holderIdentity: holder,
          acquireTime: ago(acquiredSecondsAgo),
          renewTime: ago(5),
          leaseDurationSeconds: 300,
        }
      : {},
  };
}

const run = (nodes: V1Node[], leases: SlotLease[], over: Partial<PlanSettings> = {}, now = NOW) =>
  plan({ now, nodes, leases, settings: { ...settings, ...over } });

describe('plan: granting', () => {
  it('grants the free slot to the node waiting longest; the others wait for a slot', () => {
    const p = run(
      [node('a', { needs: true, since: 60 }), node('b', { needs: true, since: 600 }), node('c')],
      [slot(0)],
    );
    expect(p.grants).toMatchObject([{ slot: 'baton-slot-0', node: 'b' }]);
    expect(p.waiting.get('a')?.reason).toBe('WaitingForSlot');
    expect(p.waiting.has('c')).toBe(false);
  });

  it('creates the grant even when the slot Lease does not exist yet', () => {
    expect(run([node('a', { needs: true })], []).grants).toMatchObject([{ slot: 'baton-slot-0', node: 'a' }]);
  });

  it('orders by the priority label before waiting time', () => {
    const p = run(
      [
        node('old', { needs: true, since: 900 }),
        node('vip', { needs: true, since: 10, labels: { 'baton.dev/priority': '10' } }),
      ],
      [],
      { concurrency: 1 },
    );
    expect(p.grants.map((g) => g.node)).toEqual(['vip']);
  });

  it('reboots the node the controller runs on after the others, even if it waited longest', () => {
    const nodes = [node('ctl', { needs: true, since: 900 }), node('b', { needs: true, since: 10 })];
    expect(run(nodes, [], { concurrency: 1, controllerNode: 'ctl' }).grants.map((g) => g.node)).toEqual([
      'b',
    ]);
    expect(run(nodes, [], { concurrency: 1 }).grants.map((g) => g.node)).toEqual(['ctl']);
    // Alone, it is rebooted like any other.
    expect(run([nodes[0] ?? node('x')], [], { concurrency: 1, controllerNode: 'ctl' }).grants).toHaveLength(
      1,
    );
  });

  it('fills up to concurrency, never more, counting slots already held', () => {
    const nodes = ['a', 'b', 'c', 'd'].map((n) => node(n, { needs: true }));
    const p = run(
      [...nodes, node('busy', { needs: true, phase: AgentPhase.Draining, phaseSince: 10 })],
      [slot(0, 'busy')],
      {
        concurrency: 3,
      },
    );
    expect(p.grants).toHaveLength(2);
    expect(p.taken).toBe(3);
  });

  it('never grants a held node, an opted-out node, or outside the window', () => {
    const p = run(
      [
        node('held', { needs: true, reason: 'AttemptLimitReached' }),
        node('out', { needs: true, labels: { 'baton.dev/opt-out': 'true' } }),
      ],
      [],
    );
    expect(p.grants).toEqual([]);
    expect(p.waiting.get('out')?.reason).toBe('OptedOut');
    expect(p.waiting.has('held')).toBe(false);
    const closed = run([node('a', { needs: true })], [], {
      windows: [{ days: [0], startSeconds: 0, endSeconds: 60 }],
    });
    expect(closed.grants).toEqual([]);
    expect(closed.waiting.get('a')?.reason).toBe('OutsideWindow');
  });
});

describe('plan: lowering and raising concurrency', () => {
  const busy = (n: string) => node(n, { needs: true, phase: AgentPhase.Draining, phaseSince: 10 });

  it('lowered from 3 to 1 with 3 holders: no grant until holders fall below 1', () => {
    const p = run(
      [busy('a'), busy('b'), busy('c'), node('d', { needs: true })],
      [slot(0, 'a'), slot(1, 'b'), slot(2, 'c')],
      {
        concurrency: 1,
      },
    );
    expect(p.grants).toEqual([]);
    expect(p.taken).toBe(3);
    expect(p.waiting.get('d')?.reason).toBe('WaitingForSlot');
  });

  it('lowered to 1 while slot 2 frees: the freed slot above the limit is not reused', () => {
    const done = node('c', { phase: AgentPhase.Rebooted, phaseSince: 5 });
    const p = run([done, node('d', { needs: true })], [slot(0), slot(2, 'c')], { concurrency: 1 });
    expect(p.releases.map((r) => r.slot)).toEqual(['baton-slot-2']);
    expect(p.grants).toMatchObject([{ slot: 'baton-slot-0', node: 'd' }]);
  });
});

describe('plan: holders', () => {
  it('renews a node that is working, releases one that settled', () => {
    const p = run(
      [
        node('a', { needs: true, phase: AgentPhase.Rebooting, phaseSince: 5 }),
        node('b', { phase: AgentPhase.Rebooted, phaseSince: 5 }),
      ],
      [slot(0, 'a'), slot(1, 'b')],
      { concurrency: 2 },
    );
    expect(p.renewals).toEqual([{ slot: 'baton-slot-0', node: 'a' }]);
    expect(p.releases).toEqual([
      { slot: 'baton-slot-1', holder: 'b', kind: 'Settled', reason: 'rebooted and settled' },
    ]);
  });

  it('does not count a Rebooted phase from before this grant', () => {
    const p = run(
      [node('a', { needs: true, phase: AgentPhase.Rebooted, phaseSince: 3600 })],
      [slot(0, 'a', 30)],
    );
    expect(p.releases).toEqual([]);
    expect(p.renewals).toHaveLength(1);
  });

  it('waits for Ready, the uncordon and the settle time before releasing', () => {
    const rebooted = (o: NodeSpec) => node('a', { phase: AgentPhase.Rebooted, phaseSince: 5, ...o });
    expect(run([rebooted({ ready: false })], [slot(0, 'a')]).releases).toEqual([]);
    expect(run([rebooted({ cordoned: true, wasUnschedulable: 'false' })], [slot(0, 'a')]).releases).toEqual(
      [],
    );
    expect(run([rebooted({})], [slot(0, 'a')], { settleMs: 60_000 }).releases).toEqual([]);
    expect(run([rebooted({})], [slot(0, 'a')], { settleMs: 60_000 }).wakeInMs).toBe(55_000);
    expect(run([rebooted({})], [slot(0, 'a')], { settleMs: 4_000 }).releases).toHaveLength(1);
  });

  it('frees the slot of a deleted node, but never a slot held by hand', () => {
    const p = run(
      [node('x', { needs: true })],
      [slot(0, 'gone'), slot(1, 'manual:alice', 30, false), slot(2, 'not-a-node', 30, false)],
      {
        concurrency: 3,
      },
    );
    expect(p.releases).toEqual([
      { slot: 'baton-slot-0', holder: 'gone', kind: 'NodeDeleted', reason: 'node gone no longer exists' },
    ]);
    expect(p.grants).toMatchObject([{ slot: 'baton-slot-0', node: 'x' }]);
    expect(p.taken).toBe(3);
  });

  it('releases a grant whose node stopped needing a reboot before it started', () => {
    const p = run([node('a')], [slot(0, 'a')]);
    expect(p.releases.map((r) => r.reason)).toEqual(['a no longer needs a reboot']);
  });

  it('halts the rollout when a granted node does not settle in time, and says which', () => {
    const p = run(
      [
        node('stuck', { needs: true, phase: AgentPhase.Rebooting, phaseSince: 2000 }),
        node('next', { needs: true }),
      ],
      [slot(0, 'stuck', 3600)],
      { concurrency: 2, rebootTimeoutMs: 1800_000 },
    );
    expect(p.halted?.node).toBe('stuck');
    expect(p.grants).toEqual([]);
    expect(p.waiting.get('next')?.reason).toBe('RolloutHalted');
  });
});
