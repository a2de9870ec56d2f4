import { AgentPhase, Annotation, SlotAnnotation } from '@baton/protocol';
import type { V1Node } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { baseSettings, NOW } from '../testing/test-support.ts';
import {
  GRANTED_NODE_ANNOTATION,
  type PlanObservations,
  type PlanSettings,
  plan,
  type RebootUnderway,
  type SlotLease,
} from './plan.ts';

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
  /** The slot whose grant the agent recorded with its phase (default 0); or a full identity. */
  slot?: number;
  grant?: string;
  fromBoot?: string;
  bootId?: string;
  givenUp?: string;
}

function node(name: string, o: NodeSpec = {}): V1Node {
  const annotations: Record<string, string> = {};
  if (o.phase) annotations[Annotation.Phase] = o.phase;
  if (o.phaseSince !== undefined) annotations[Annotation.PhaseSince] = ago(o.phaseSince);
  if (o.wasUnschedulable) annotations[Annotation.WasUnschedulable] = o.wasUnschedulable;
  if (o.phase || o.grant) annotations[Annotation.Grant] = o.grant ?? `baton-slot-${o.slot ?? 0}/g-${name}`;
  if (o.fromBoot) annotations[Annotation.RebootFromBootId] = o.fromBoot;
  if (o.givenUp) annotations[Annotation.GivenUp] = o.givenUp;
  return {
    metadata: { name, labels: o.labels ?? {}, annotations },
    spec: { unschedulable: o.cordoned },
    status: {
      nodeInfo: { bootID: o.bootId ?? 'b1' } as never,
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

function slot(
  i: number,
  holder?: string,
  acquiredSecondsAgo = 30,
  byUs = true,
  extra: Record<string, string> = {},
): SlotLease {
  return {
    metadata: {
      name: `baton-slot-${i}`,
      annotations:
        holder && byUs
          ? { [GRANTED_NODE_ANNOTATION]: holder, [SlotAnnotation.GrantId]: `g-${holder}`, ...extra }
          : {},
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

/** Observations as a controller would have them: every grant seen `ageMs` ago, healthy for `healthyMs`. */
const seen = (
  o: {
    ageMs?: number;
    healthyMs?: number;
    backoff?: Record<string, number>;
    reboots?: readonly RebootUnderway[];
  } = {},
): PlanObservations => ({
  grantAgeMs: () => o.ageMs ?? 0,
  healthyForMs: () => o.healthyMs,
  healthySince: () => (o.healthyMs === undefined ? undefined : new Date(NOW.getTime() - o.healthyMs)),
  backoffRemainingMs: (n) => o.backoff?.[n],
  rebootsUnderway: () => o.reboots ?? [],
});

const run = (
  nodes: V1Node[],
  leases: SlotLease[],
  over: Partial<PlanSettings> = {},
  now = NOW,
  observed: PlanObservations = seen(),
) => plan({ now, nodes, leases, settings: { ...settings, ...over }, observed });

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
  const busy = (n: string, slot: number) =>
    node(n, { needs: true, phase: AgentPhase.Draining, phaseSince: 10, slot });

  it('lowered from 3 to 1 with 3 holders: no grant until holders fall below 1', () => {
    const p = run(
      [busy('a', 0), busy('b', 1), busy('c', 2), node('d', { needs: true })],
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
    const done = node('c', { phase: AgentPhase.Rebooted, phaseSince: 5, slot: 2 });
    const p = run([done, node('d', { needs: true })], [slot(0), slot(2, 'c')], { concurrency: 1 });
    expect(p.releases.map((r) => r.slot)).toEqual(['baton-slot-2']);
    expect(p.grants).toMatchObject([{ slot: 'baton-slot-0', node: 'd' }]);
  });
});

describe('plan: holders', () => {
  it('renews a node that is working, releases one that settled: each by its grant id', () => {
    const p = run(
      [
        node('a', { needs: true, phase: AgentPhase.Rebooting, phaseSince: 5 }),
        node('b', { phase: AgentPhase.Rebooted, phaseSince: 5, slot: 1 }),
      ],
      [slot(0, 'a'), slot(1, 'b')],
      { concurrency: 2 },
    );
    expect(p.renewals).toEqual([{ slot: 'baton-slot-0', node: 'a', grantId: 'g-a' }]);
    expect(p.releases).toEqual([
      { slot: 'baton-slot-1', holder: 'b', grantId: 'g-b', kind: 'Settled', reason: 'rebooted and settled' },
    ]);
  });

  it('judges progress by the grant recorded with the phase, never by its time', () => {
    // A Rebooted phase recorded under an earlier grant of the same slot is not this grant's work.
    const older = run(
      [node('a', { needs: true, phase: AgentPhase.Rebooted, grant: 'baton-slot-0/earlier' })],
      [slot(0, 'a', 30)],
    );
    expect(older.releases).toEqual([]);
    expect(older.renewals).toHaveLength(1);
    expect(older.holding.get('a')?.stage).toBe('NoProgress');
    // Issue 14, point 3: an agent 3 s behind the controller, whose condition went False mid-drain,
    // was released as NotNeeded (its phase-since looked older than the grant) and the next node
    // granted in the same pass. Its work is recorded under this grant: it keeps its slot.
    for (const phaseSince of [-3, 3, 86_400, -86_400]) {
      const p = run(
        [node('a', { needs: false, phase: AgentPhase.Draining, phaseSince }), node('b', { needs: true })],
        [slot(0, 'a', 0)],
      );
      expect(p.releases, `phase-since ${phaseSince} s ago`).toEqual([]);
      expect(p.grants).toEqual([]);
    }
  });

  it('an aborted grant settles like a reboot before its slot moves, whatever its times say', () => {
    // Issue 14, point 3: a phase-since dated in the future on Aborted released every new grant at once.
    const aborted = (o: NodeSpec = {}) =>
      node('a', { needs: true, phase: AgentPhase.Aborted, phaseSince: -3600, ...o });
    expect(run([aborted({ ready: false })], [slot(0, 'a')]).releases).toEqual([]);
    const p = run([aborted()], [slot(0, 'a')], {}, NOW, seen({ healthyMs: 0 }));
    expect(p.releases).toMatchObject([{ kind: 'Aborted', grantId: 'g-a' }]);
    // The node is not granted again in the same pass: it backs off.
    expect(p.grants).toEqual([]);
    expect(p.waiting.get('a')?.reason).toBe('BackingOff');
  });

  it('waits for Ready, the uncordon and the settle time (its own observation) before releasing', () => {
    const rebooted = (o: NodeSpec) => node('a', { phase: AgentPhase.Rebooted, phaseSince: 5, ...o });
    expect(run([rebooted({ ready: false })], [slot(0, 'a')]).releases).toEqual([]);
    expect(run([rebooted({ cordoned: true, wasUnschedulable: 'false' })], [slot(0, 'a')]).releases).toEqual(
      [],
    );
    const first = run([rebooted({})], [slot(0, 'a')], { settleMs: 60_000 });
    expect(first.releases).toEqual([]);
    expect(first.wakeInMs).toBe(60_000);
    expect(first.holding.get('a')).toMatchObject({
      stage: 'Settling',
      healthy: true,
      identity: 'baton-slot-0/g-a',
    });
    const later = run([rebooted({})], [slot(0, 'a')], { settleMs: 60_000 }, NOW, seen({ healthyMs: 55_000 }));
    expect(later.releases).toEqual([]);
    expect(later.wakeInMs).toBe(5_000);
    expect(
      run([rebooted({})], [slot(0, 'a')], { settleMs: 4_000 }, NOW, seen({ healthyMs: 4_000 })).releases,
    ).toHaveLength(1);
  });

  it('frees the slot of a deleted node before its reboot was acknowledged, never a slot held by hand', () => {
    const p = run(
      [node('x', { needs: true })],
      [slot(0, 'gone'), slot(1, 'manual:alice', 30, false), slot(2, 'not-a-node', 30, false)],
      { concurrency: 3 },
    );
    expect(p.releases).toEqual([
      {
        slot: 'baton-slot-0',
        holder: 'gone',
        grantId: 'g-gone',
        kind: 'NodeDeleted',
        reason: 'node gone no longer exists',
        unacknowledged: 'reboot',
      },
    ]);
    expect(p.grants).toMatchObject([{ slot: 'baton-slot-0', node: 'x' }]);
    expect(p.taken).toBe(3);
  });

  it('a started grant whose node lost its record (Node re-created) settles, then is released, never on a reboot', () => {
    // The long simulation found a slot held for good: the start acknowledged, then the Node
    // deleted and registered again without baton's annotations; the release as not needed
    // (which must find no acknowledgement) could never be written.
    const started = slot(0, 'a', 30, true, { [SlotAnnotation.Started]: 'true' });
    const cordoned = run([node('a', { cordoned: true }), node('b', { needs: true })], [started]);
    expect(cordoned.releases).toEqual([]);
    expect(cordoned.holding.get('a')?.stage).toBe('Cordoned');
    expect(cordoned.grants).toEqual([]);
    const back = run([node('a'), node('b', { needs: true })], [started]);
    expect(back.releases).toEqual([
      {
        slot: 'baton-slot-0',
        holder: 'a',
        grantId: 'g-a',
        kind: 'Aborted',
        reason:
          "a's record of its work under the grant is gone (Node re-created, or its annotations overwritten) and no reboot was acknowledged; settled",
        unacknowledged: 'reboot',
      },
    ]);
    // Settled counts from this controller's own observation, as for any holder.
    const settling = run([node('a'), node('b', { needs: true })], [started], { settleMs: 60_000 });
    expect(settling.releases).toEqual([]);
    expect(settling.holding.get('a')?.stage).toBe('Settling');
  });

  it('keeps the slot of a node deleted after its reboot was acknowledged, until it is back on another boot', () => {
    // Issue 14, point 2: a Node deleted and re-created during its reboot freed its slot.
    const acked = slot(0, 'a', 30, true, { [SlotAnnotation.RebootFromBootId]: 'b1' });
    const gone = run([node('x', { needs: true })], [acked]);
    expect(gone.releases).toEqual([]);
    expect(gone.grants).toEqual([]);
    expect(gone.holding.get('a')?.stage).toBe('NodeGone');
    // Registered again by its kubelet: no record of the grant, still on the boot it reboots from.
    const back = (bootId: string) =>
      run([node('a', { bootId }), node('x', { needs: true })], [acked], {}, NOW, seen({ healthyMs: 0 }));
    expect(back('b1').releases).toEqual([]);
    expect(back('b1').grants).toEqual([]);
    expect(back('b2').releases).toMatchObject([{ slot: 'baton-slot-0', holder: 'a', kind: 'Settled' }]);
  });

  it('counts a node mid-reboot by its own record when its Lease was deleted or emptied by hand', () => {
    // Issue 14, point 2: deleting or emptying a held slot Lease while its node was Rebooting let
    // the same plan grant that slot to another node: two nodes down at concurrency 1.
    const rebooting = node('a', { needs: true, phase: AgentPhase.Rebooting, fromBoot: 'b1' });
    for (const leases of [[], [slot(0)]]) {
      const p = run([rebooting, node('b', { needs: true })], leases);
      expect(p.grants).toEqual([]);
      expect(p.taken).toBe(1);
      expect(p.holding.get('a')?.stage).toBe('Orphaned');
      expect(p.waiting.get('b')?.reason).toBe('WaitingForSlot');
    }
    // Its slot index stays reserved even with room elsewhere.
    const two = run([rebooting, node('b', { needs: true })], [], { concurrency: 2 });
    expect(two.grants).toMatchObject([{ slot: 'baton-slot-1', node: 'b' }]);
    // A person gave up on that very grant: no longer counted, and not granted again before its
    // agent reports back (the next node goes first, as kubectl baton release --force promises).
    const givenUp = node('a', {
      needs: true,
      phase: AgentPhase.Rebooting,
      fromBoot: 'b1',
      givenUp: 'baton-slot-0/g-a',
      since: 9999,
    });
    const next = run([givenUp, node('b', { needs: true })], []);
    expect(next.grants).toMatchObject([{ node: 'b' }]);
    expect(next.waiting.get('a')?.reason).toBe('GivenUp');
    // Its agent came back and finished: an ordinary pending node again.
    const back = node('a', {
      needs: true,
      phase: AgentPhase.Rebooted,
      givenUp: 'baton-slot-0/g-a',
      since: 9999,
    });
    expect(run([back, node('b', { needs: true })], []).grants).toMatchObject([{ node: 'a' }]);
  });

  it('remembers an acknowledged reboot whose Node object and slot Lease were both deleted, until the node is back', () => {
    // Issue 14, found by the long simulation (seed 20269128, schedule 155,792): a person deleted
    // the Node object of a node going down and then its slot Lease; nothing left said the machine
    // was down, and the next node was granted: two down at concurrency 1.
    const acked = slot(0, 'a', 30, true, { [SlotAnnotation.RebootFromBootId]: 'b1' });
    const first = run([node('x', { needs: true })], [acked]);
    expect(first.rebootsUnderway).toEqual([{ identity: 'baton-slot-0/g-a', node: 'a', fromBootId: 'b1' }]);
    expect(first.taken).toBe(1); // counted once: its Lease carries it
    const remembered = seen({ reboots: first.rebootsUnderway });
    const x = node('x', { needs: true });
    // Both gone: still counted, its slot index kept, the next node waits.
    const gone = run([x], [], {}, NOW, remembered);
    expect(gone.grants).toEqual([]);
    expect(gone.taken).toBe(1);
    expect(gone.holding.get('a')).toMatchObject({ stage: 'Orphaned', identity: 'baton-slot-0/g-a' });
    expect(gone.holding.get('a')?.why).toMatch(/restart the controller/);
    expect(gone.waiting.get('x')?.reason).toBe('WaitingForSlot');
    expect(gone.rebootsUnderway).toEqual(first.rebootsUnderway);
    expect(run([x], [], { concurrency: 2 }, NOW, remembered).grants).toMatchObject([
      { slot: 'baton-slot-1', node: 'x' },
    ]);
    // Registered again without a record, still on the boot it reboots from, or not Ready yet on
    // a new one: still counted.
    for (const a of [node('a'), node('a', { bootId: 'b2', ready: false })]) {
      const p = run([a, x], [], {}, NOW, remembered);
      expect(p.grants).toEqual([]);
      expect(p.holding.get('a')?.stage).toBe('Orphaned');
    }
    // Ready on a new boot: forgotten, the next node goes.
    const back = run([node('a', { bootId: 'b2' }), x], [], {}, NOW, remembered);
    expect(back.rebootsUnderway).toEqual([]);
    expect(back.grants).toMatchObject([{ node: 'x' }]);
    // Its agent wrote the record back and says the work under that grant ended (aborted: the
    // machine never went down), or a person gave up on that grant: forgotten.
    const ended = node('a', { phase: AgentPhase.Aborted, grant: 'baton-slot-0/g-a' });
    const givenUp = node('a', { givenUp: 'baton-slot-0/g-a' });
    for (const a of [ended, givenUp]) {
      const p = run([a, x], [], {}, NOW, remembered);
      expect(p.rebootsUnderway).toEqual([]);
      expect(p.grants).toMatchObject([{ node: 'x' }]);
    }
    // Its agent wrote the record back mid-reboot: counted once, by the record.
    const rewritten = node('a', { phase: AgentPhase.Rebooting, grant: 'baton-slot-0/g-a', fromBoot: 'b1' });
    const once = run([rewritten, x], [], {}, NOW, remembered);
    expect(once.taken).toBe(1);
    expect(once.rebootsUnderway).toHaveLength(1);
    // Gone longer than the reboot timeout: the rollout halts, saying what a person can do.
    const late = run(
      [x],
      [],
      {},
      NOW,
      seen({ reboots: first.rebootsUnderway, ageMs: settings.rebootTimeoutMs + 1 }),
    );
    expect(late.halted?.node).toBe('a');
    expect(late.halted?.detail).toMatch(/restart the controller/);
  });

  it('acknowledges the start of the work, then a recorded reboot, once each, on the grant it belongs to', () => {
    const cordoning = node('a', { needs: true, phase: AgentPhase.Cordoning });
    expect(run([cordoning], [slot(0, 'a')]).acknowledgements).toEqual([
      { slot: 'baton-slot-0', node: 'a', grantId: 'g-a', bootId: undefined },
    ]);
    const started = slot(0, 'a', 30, true, { [SlotAnnotation.Started]: 'true' });
    expect(run([cordoning], [started]).acknowledgements).toEqual([]);
    const rebooting = node('a', { needs: true, phase: AgentPhase.Rebooting, fromBoot: 'b1' });
    expect(run([rebooting], [started]).acknowledgements).toEqual([
      { slot: 'baton-slot-0', node: 'a', grantId: 'g-a', bootId: 'b1' },
    ]);
    const acked = slot(0, 'a', 30, true, {
      [SlotAnnotation.Started]: 'true',
      [SlotAnnotation.RebootFromBootId]: 'b1',
    });
    expect(run([rebooting], [acked]).acknowledgements).toEqual([]);
    const otherGrant = node('a', {
      needs: true,
      phase: AgentPhase.Rebooting,
      fromBoot: 'b1',
      grant: 'baton-slot-0/old',
    });
    expect(run([otherGrant], [slot(0, 'a')]).acknowledgements).toEqual([]);
  });

  it('releases a grant whose node stopped needing a reboot before it started', () => {
    const p = run([node('a')], [slot(0, 'a')]);
    expect(p.releases.map((r) => r.reason)).toEqual(['a no longer needs a reboot']);
  });

  it('lets a grant lapse when its node starts no work within the grant duration, and backs off', () => {
    const young = run([node('a', { needs: true })], [slot(0, 'a')], {}, NOW, seen({ ageMs: 10_000 }));
    expect(young.releases).toEqual([]);
    expect(young.wakeInMs).toBe(settings.grantDurationMs - 10_000);
    const p = run(
      [node('a', { needs: true })],
      [slot(0, 'a')],
      {},
      NOW,
      seen({ ageMs: settings.grantDurationMs }),
    );
    expect(p.releases).toMatchObject([{ kind: 'Lapsed', grantId: 'g-a' }]);
    expect(p.grants).toEqual([]);
    expect(p.waiting.get('a')?.reason).toBe('BackingOff');
  });

  it('holds a node that is backing off, and says for how long', () => {
    const p = run([node('a', { needs: true })], [], {}, NOW, seen({ backoff: { a: 42_000 } }));
    expect(p.grants).toEqual([]);
    expect(p.waiting.get('a')).toMatchObject({
      reason: 'BackingOff',
      detail: expect.stringMatching(/in 42 s/),
    });
    expect(p.wakeInMs).toBe(42_000);
  });

  it('halts the rollout when a granted node does not settle in time (its own observation), and says which', () => {
    const p = run(
      [
        node('stuck', { needs: true, phase: AgentPhase.Rebooting, phaseSince: 2000 }),
        node('next', { needs: true }),
      ],
      [slot(0, 'stuck', 3600)],
      { concurrency: 2, rebootTimeoutMs: 1800_000 },
      NOW,
      seen({ ageMs: 1800_001 }),
    );
    expect(p.halted?.node).toBe('stuck');
    expect(p.grants).toEqual([]);
    expect(p.waiting.get('next')?.reason).toBe('RolloutHalted');
    // A grant acquired an hour ago by another replica's clock, first seen by this one now: not overdue.
    const fresh = run(
      [node('stuck', { needs: true, phase: AgentPhase.Rebooting })],
      [slot(0, 'stuck', 3600)],
      { rebootTimeoutMs: 1800_000 },
    );
    expect(fresh.halted).toBeUndefined();
  });
});
