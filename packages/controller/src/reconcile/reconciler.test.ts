import { AgentPhase, Annotation, SlotAnnotation } from '@baton/protocol';
import { createLogger } from '@baton/runtime';
import type { V1Lease, V1Node } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { Notification } from '../observe/notify.ts';
import type { PlanSettings } from '../plan/plan.ts';
import { baseSettings, NOW } from '../testing/test-support.ts';
import { type PlannedPass, Reconciler } from './reconciler.ts';

const ago = (s: number) => new Date(NOW.getTime() - s * 1000).toISOString();

const settings: PlanSettings = baseSettings;

function node(
  name: string,
  o: { needs?: boolean; phase?: string; grant?: string; fromBoot?: string; aborted?: number } = {},
): V1Node {
  const annotations: Record<string, string> = {};
  if (o.phase) {
    annotations[Annotation.Phase] = o.phase;
    annotations[Annotation.PhaseSince] = ago(5);
    annotations[Annotation.Grant] = o.grant ?? `baton-slot-0/g-${name}`;
  }
  if (o.fromBoot) annotations[Annotation.RebootFromBootId] = o.fromBoot;
  if (o.aborted) annotations[Annotation.AbortedGrants] = String(o.aborted);
  return {
    metadata: { name, annotations },
    status: {
      nodeInfo: { bootID: 'b1' } as never,
      conditions: [
        { type: 'Ready', status: 'True' },
        {
          type: 'RebootRequired',
          status: o.needs ? 'True' : 'False',
          lastTransitionTime: ago(600) as unknown as Date,
        },
      ],
    },
  };
}

const held = (holder: string, acquiredSecondsAgo: number, extra: Record<string, string> = {}): V1Lease => ({
  metadata: {
    name: 'baton-slot-0',
    annotations: {
      'baton.dev/granted-node': holder,
      [SlotAnnotation.GrantId]: `g-${holder}`,
      [SlotAnnotation.Started]: 'true',
      ...extra,
    },
  },
  spec: {
    holderIdentity: holder,
    // Watch events carry MicroTime as strings; the client's type says Date.
    acquireTime: ago(acquiredSecondsAgo) as never,
    renewTime: ago(1) as never,
    leaseDurationSeconds: 300,
  },
});

function setup(state: {
  nodes: V1Node[];
  leases: V1Lease[];
  leader?: boolean;
  fresh?: (name: string) => V1Node | undefined;
  freshLeases?: () => V1Lease[];
  recordWorkloads?: (node: string) => Promise<string>;
  settings?: Partial<PlanSettings>;
  planned?: (pass: PlannedPass) => void;
}) {
  const sent: Notification[] = [];
  const watched: string[][] = [];
  const writes: string[] = [];
  const grants: { slot: string; node: string; workloads: string | undefined }[] = [];
  const clock = { mono: 1_000_000 };
  const r = new Reconciler(
    { ...settings, ...state.settings },
    {
      nodes: () => state.nodes,
      leases: () => state.leases,
      synced: () => true,
      recordWorkloads: state.recordWorkloads,
      readNode: state.fresh === undefined ? undefined : async (n) => state.fresh?.(n),
      freshLeases: state.freshLeases === undefined ? undefined : async () => state.freshLeases?.() ?? [],
      slots: {
        grant: async (slot, node, _wasUnschedulable, workloads) => {
          writes.push(`grant ${slot} ${node}`);
          grants.push({ slot, node, workloads });
          return true;
        },
        renew: async (slot, e) => {
          writes.push(`renew ${slot} ${e.node}/${e.grantId}`);
          return true;
        },
        acknowledge: async (slot, e, bootId) => {
          writes.push(`acknowledge ${slot} ${e.node}/${e.grantId} ${bootId}`);
          return true;
        },
        release: async (slot, holder, grantId) => {
          writes.push(`release ${slot} ${holder}/${grantId}`);
          return true;
        },
      },
      events: { record: async () => undefined },
      metrics: {
        granted: () => undefined,
        released: () => undefined,
        observe: () => undefined,
        fleet: () => undefined,
      },
      log: createLogger({ name: 'test', format: 'json', level: 'silent' }),
      now: () => NOW,
      monotonicMs: () => clock.mono,
      abortBackoffMs: 60_000,
      renewAfterMs: 60_000,
      mayAct: () => state.leader ?? true,
      notify: (n) => sent.push(n),
      planned: state.planned,
      settle: {
        facts: (holders) => {
          watched.push([...holders]);
          return new Map(holders.map((h) => [h, { pods: { observed: true, notReady: [] } }]));
        },
        watched: () => watched.at(-1) ?? [],
        stop: async () => undefined,
      },
    },
  );
  return { r, sent, watched, grants, writes, clock };
}

describe('Reconciler: the workloads record of a grant', () => {
  it('writes what the node runs with the grant', async () => {
    const s = setup({
      nodes: [node('a', { needs: true })],
      leases: [],
      recordWorkloads: async (n) => `{"workloads":["Deployment/app/${n}"],"pdbs":[]}`,
    });
    await s.r.reconcile();
    expect(s.grants).toEqual([
      { slot: 'baton-slot-0', node: 'a', workloads: '{"workloads":["Deployment/app/a"],"pdbs":[]}' },
    ]);
  });

  it('does not grant when it cannot tell what the node runs (fail closed), and tries again later', async () => {
    let fail = true;
    const s = setup({
      nodes: [node('a', { needs: true })],
      leases: [],
      recordWorkloads: async () => {
        if (fail) throw new Error('403 forbidden: cannot list pods');
        return '{"workloads":[],"pdbs":[]}';
      },
    });
    await s.r.reconcile();
    expect(s.grants).toEqual([]);
    expect(s.sent).toEqual([]);
    fail = false;
    await s.r.reconcile();
    expect(s.grants.map((g) => g.node)).toEqual(['a']);
  });
});

describe('Reconciler: what it tells the read-only API', () => {
  it('tells every plan with what it was made from, and nothing while it does not lead', async () => {
    const passes: PlannedPass[] = [];
    const state = {
      nodes: [node('a', { needs: true }), node('b', { needs: true })],
      leases: [],
      leader: false,
    };
    const s = setup({ ...state, planned: (p) => passes.push(p) });
    await s.r.reconcile();
    expect(passes).toEqual([]);
    state.leader = true;
    const t = setup({ ...state, planned: (p) => passes.push(p) });
    await t.r.reconcile();
    expect(passes).toHaveLength(1);
    expect(passes[0]).toMatchObject({ at: NOW, paused: undefined, nodes: state.nodes, leases: [] });
    expect(passes[0]?.plan.grants.map((g) => g.node)).toEqual(['a']);
    expect(passes[0]?.plan.waiting.get('b')?.reason).toBe('WaitingForSlot');
  });
});

describe('Reconciler: leadership is asked before every write', () => {
  it('a replica that loses its lease during a slow workload listing writes nothing more in that pass', async () => {
    // Issue 14, point 4: mayAct() was asked once per pass; a pass outlasting the gap between the
    // renew deadline and a takeover kept writing as a deposed leader.
    const state = {
      nodes: [node('a', { needs: true }), node('b', { phase: AgentPhase.Rebooted })],
      leases: [held('b', 600)],
      leader: true,
      settings: { concurrency: 2, settleMs: 0 },
      recordWorkloads: async () => {
        state.leader = false; // the lease was lost while the pods were listed
        return '{"workloads":[],"pdbs":[]}';
      },
    };
    const s = setup(state);
    await s.r.reconcile();
    // The release came before the listing; no grant, acknowledgement or renewal after it.
    expect(s.writes).toEqual(['release baton-slot-0 b/g-b']);
  });

  it('releases and renews only the very grant the plan saw (its grant id)', async () => {
    const s = setup({
      nodes: [node('a', { needs: true, phase: AgentPhase.Draining })],
      leases: [{ ...held('a', 600), spec: { ...held('a', 600).spec, renewTime: ago(200) as never } }],
    });
    await s.r.reconcile();
    expect(s.writes).toEqual(['renew baton-slot-0 a/g-a']);
  });
});

describe('Reconciler: grants on a fresh list of the Leases', () => {
  it('never grants a node a second slot, or a slot too many, because its cache lags', async () => {
    // The simulation found a controller whose Lease cache did not show yet the grant it had just
    // made: it granted the same node a second slot.
    const state = {
      nodes: [node('a', { needs: true }), node('b', { needs: true })],
      leases: [] as V1Lease[],
      settings: { concurrency: 2 },
      freshLeases: () => [held('a', 1)],
    };
    const s = setup(state);
    await s.r.reconcile();
    // The cache shows nothing held: a and b are both planned; the fresh list shows a holding a
    // slot already, so only b is granted.
    expect(s.grants.map((g) => g.node)).toEqual(['b']);
    // Two slots held on the API server: nothing more.
    state.freshLeases = () => [held('a', 1), { ...held('c', 1), metadata: { name: 'baton-slot-1' } }];
    const t = setup({ ...state, nodes: [node('d', { needs: true })] });
    await t.r.reconcile();
    expect(t.grants).toEqual([]);
  });
});

describe('Reconciler: the reboot acknowledgement', () => {
  it('acknowledges, on the slot Lease, the reboot the agent recorded under this grant', async () => {
    const s = setup({
      nodes: [node('a', { needs: true, phase: AgentPhase.Rebooting, fromBoot: 'b1' })],
      leases: [held('a', 30)],
    });
    await s.r.reconcile();
    expect(s.writes).toContain('acknowledge baton-slot-0 a/g-a b1');
  });

  it('remembers the reboot it acknowledged: deleting the Node object and the Lease lets no other node go', async () => {
    // Issue 14 (the long simulation, seed 20269128): both deleted right after the acknowledgement,
    // before the cache ever showed it on the Lease.
    const state = {
      nodes: [
        node('a', { needs: true, phase: AgentPhase.Rebooting, fromBoot: 'b1' }),
        node('b', { needs: true }),
      ],
      leases: [held('a', 30)],
    };
    const s = setup(state);
    await s.r.reconcile();
    expect(s.writes).toContain('acknowledge baton-slot-0 a/g-a b1');
    state.nodes = [node('b', { needs: true })];
    state.leases = [];
    await s.r.reconcile();
    expect(s.grants).toEqual([]);
    // Back, Ready on a new boot: forgotten, and the next node goes.
    const back = node('a');
    back.status = { ...back.status, nodeInfo: { bootID: 'b2' } as never };
    state.nodes = [back, node('b', { needs: true })];
    await s.r.reconcile();
    expect(s.grants).toMatchObject([{ slot: 'baton-slot-0', node: 'b' }]);
  });

  it('acknowledges the start of the work first: the agent cordons only after it', async () => {
    const s = setup({
      nodes: [node('a', { needs: true, phase: AgentPhase.Cordoning })],
      leases: [held('a', 30, { [SlotAnnotation.Started]: 'x' })].map((l) => {
        const { [SlotAnnotation.Started]: _, ...rest } = l.metadata?.annotations ?? {};
        return { ...l, metadata: { ...l.metadata, annotations: rest } };
      }),
    });
    await s.r.reconcile();
    expect(s.writes).toContain('acknowledge baton-slot-0 a/g-a undefined');
  });

  it('acknowledges nothing for a phase recorded under another grant', async () => {
    const s = setup({
      nodes: [
        node('a', { needs: true, phase: AgentPhase.Rebooting, fromBoot: 'b1', grant: 'baton-slot-0/older' }),
      ],
      leases: [held('a', 30)],
    });
    await s.r.reconcile();
    expect(s.writes.filter((w) => w.startsWith('acknowledge'))).toEqual([]);
  });
});

describe('Reconciler: time is its own, on a monotonic clock', () => {
  it('the settle time runs from when this controller first saw the node healthy', async () => {
    const state = {
      nodes: [node('a', { phase: AgentPhase.Rebooted })],
      leases: [held('a', 600)],
      settings: { settleMs: 60_000 },
    };
    const s = setup(state);
    await s.r.reconcile();
    s.clock.mono += 59_000;
    await s.r.reconcile();
    expect(s.writes.filter((w) => w.startsWith('release'))).toEqual([]);
    s.clock.mono += 1_000;
    await s.r.reconcile();
    expect(s.writes.filter((w) => w.startsWith('release'))).toEqual(['release baton-slot-0 a/g-a']);
  });

  it('a grant its node never starts on lapses after --grant-duration, then the node backs off', async () => {
    // Never started: no start acknowledged on the Lease (a started grant whose record is gone
    // is another case, below).
    const lease = held('a', 0);
    delete lease.metadata?.annotations?.[SlotAnnotation.Started];
    const state = { nodes: [node('a', { needs: true })], leases: [lease] };
    const s = setup(state);
    await s.r.reconcile();
    s.clock.mono += settings.grantDurationMs;
    await s.r.reconcile();
    expect(s.writes.filter((w) => w.startsWith('release'))).toEqual(['release baton-slot-0 a/g-a']);
    expect(s.sent.find((n) => n.event === 'RebootFinished')).toMatchObject({ outcome: 'Lapsed' });
  });

  it('confirms on a fresh read that a node did nothing before letting its grant lapse', async () => {
    // The simulation found a controller whose node watch lagged a minute: it saw a drained node
    // as never started, released its grant as lapsed and granted the next node while the first
    // one's pods were still coming back.
    const working = node('a', { needs: true, phase: AgentPhase.Draining });
    const state = { nodes: [node('a', { needs: true })], leases: [held('a', 0)], fresh: () => working };
    const s = setup(state);
    await s.r.reconcile();
    s.clock.mono += settings.grantDurationMs;
    await s.r.reconcile();
    expect(s.writes.filter((w) => w.startsWith('release'))).toEqual([]);
    // Read fresh, it really did nothing: released.
    state.fresh = () => node('a', { needs: true });
    await s.r.reconcile();
    expect(s.writes.filter((w) => w.startsWith('release'))).toEqual(['release baton-slot-0 a/g-a']);
  });

  it('a controller that starts (restarted, or newly leading) backs off a node whose last grant was aborted', async () => {
    // The simulation found a controller restarted twice during a run of refused drains granting
    // the node again at once each time: the back-off lived only in memory.
    const state = { nodes: [node('a', { needs: true, phase: AgentPhase.Aborted, aborted: 2 })], leases: [] };
    const s = setup(state);
    await s.r.reconcile();
    expect(s.grants).toEqual([]);
    s.clock.mono += 119_000;
    await s.r.reconcile();
    expect(s.grants).toEqual([]);
    s.clock.mono += 1_000;
    await s.r.reconcile();
    expect(s.grants.map((g) => g.node)).toEqual(['a']);
  });

  it('backs off after an aborted grant, doubling per aborted grant in a row', async () => {
    // Issue 14, point 7: a node whose drain is always refused was granted again at once.
    const state = {
      nodes: [node('a', { needs: true, phase: AgentPhase.Aborted, aborted: 1 })],
      leases: [held('a', 600)],
    };
    const s = setup(state);
    await s.r.reconcile(); // released (settled: nothing else to wait for)
    state.leases = [];
    state.nodes = [node('a', { needs: true, aborted: 1 })];
    await s.r.reconcile();
    expect(s.grants).toEqual([]);
    s.clock.mono += 59_000;
    await s.r.reconcile();
    expect(s.grants).toEqual([]);
    s.clock.mono += 1_000;
    await s.r.reconcile();
    expect(s.grants.map((g) => g.node)).toEqual(['a']);
    // Aborted again (the agent counts 2 in a row): twice as long.
    state.nodes = [
      node('a', { needs: true, phase: AgentPhase.Aborted, aborted: 2, grant: 'baton-slot-0/g-a' }),
    ];
    state.leases = [held('a', 1)];
    await s.r.reconcile();
    state.leases = [];
    state.nodes = [node('a', { needs: true, aborted: 2 })];
    s.clock.mono += 119_000;
    await s.r.reconcile();
    expect(s.grants).toHaveLength(1);
    s.clock.mono += 1_000;
    await s.r.reconcile();
    expect(s.grants).toHaveLength(2);
  });
});

describe('Reconciler notifications', () => {
  it('announces a grant once it is written', async () => {
    const s = setup({ nodes: [node('a', { needs: true })], leases: [] });
    await s.r.reconcile();
    expect(s.sent).toEqual([{ event: 'RebootGranted', node: 'a', slot: 'baton-slot-0', reason: 'granted' }]);
  });

  it('announces a finished reboot with how it ended and how long the slot was held', async () => {
    const s = setup({ nodes: [node('a', { phase: AgentPhase.Rebooted })], leases: [held('a', 120)] });
    await s.r.reconcile();
    expect(s.sent).toEqual([
      {
        event: 'RebootFinished',
        node: 'a',
        slot: 'baton-slot-0',
        outcome: 'Settled',
        reason: 'rebooted and settled',
        durationSeconds: 120,
      },
    ]);
  });

  it('announces a halt once, with the node and why, and its end', async () => {
    const state = {
      nodes: [node('stuck', { needs: true, phase: AgentPhase.Rebooting })],
      leases: [held('stuck', 3600)],
    };
    const s = setup(state);
    await s.r.reconcile();
    s.clock.mono += settings.rebootTimeoutMs + 1_000;
    await s.r.reconcile();
    await s.r.reconcile();
    expect(s.sent).toHaveLength(1);
    expect(s.sent[0]).toMatchObject({ event: 'RolloutHalted', node: 'stuck' });
    expect(s.sent[0]?.reason).toMatch(/granted 1801 s ago and has not settled \(phase Rebooting\)/);
    state.leases = [];
    state.nodes = [node('stuck')];
    await s.r.reconcile();
    expect(s.sent[1]).toEqual({ event: 'RolloutResumed', node: 'stuck', reason: 'its slot was released' });
  });

  it('a replica that is not the leader announces nothing', async () => {
    const s = setup({ nodes: [node('a', { needs: true })], leases: [], leader: false });
    await s.r.reconcile();
    expect(s.sent).toEqual([]);
  });
});

describe('Reconciler pod watches', () => {
  it('watches the pods of the holders while leading, and none once it is not the leader', async () => {
    const state = {
      nodes: [node('a', { needs: true, phase: AgentPhase.Draining }), node('b')],
      leases: [held('a', 30)],
      leader: true,
    };
    const s = setup(state);
    await s.r.reconcile();
    expect(s.watched.at(-1)).toEqual(['a']);
    state.leader = false;
    await s.r.reconcile();
    expect(s.watched.at(-1)).toEqual([]);
  });
});
