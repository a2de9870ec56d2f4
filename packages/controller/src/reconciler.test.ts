import { AgentPhase, Annotation } from '@baton/protocol';
import { createLogger } from '@baton/runtime';
import type { V1Lease, V1Node } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { Notification } from './notify.ts';
import type { PlanSettings } from './plan.ts';
import { Reconciler } from './reconciler.ts';
import { baseSettings, NOW } from './test-support.ts';

const ago = (s: number) => new Date(NOW.getTime() - s * 1000).toISOString();

const settings: PlanSettings = baseSettings;

function node(name: string, o: { needs?: boolean; phase?: string; phaseSince?: number } = {}): V1Node {
  return {
    metadata: {
      name,
      annotations: o.phase
        ? { [Annotation.Phase]: o.phase, [Annotation.PhaseSince]: ago(o.phaseSince ?? 5) }
        : {},
    },
    status: {
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

const held = (holder: string, acquiredSecondsAgo: number): V1Lease => ({
  metadata: { name: 'baton-slot-0', annotations: { 'baton.dev/granted-node': holder } },
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
  recordWorkloads?: (node: string) => Promise<string>;
}) {
  const sent: Notification[] = [];
  const watched: string[][] = [];
  const grants: { slot: string; node: string; workloads: string | undefined }[] = [];
  const r = new Reconciler(settings, {
    nodes: () => state.nodes,
    leases: () => state.leases,
    synced: () => true,
    recordWorkloads: state.recordWorkloads,
    slots: {
      grant: async (slot, node, _wasUnschedulable, workloads) => {
        grants.push({ slot, node, workloads });
        return true;
      },
      renew: async () => true,
      release: async () => true,
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
    renewAfterMs: 60_000,
    mayAct: () => state.leader ?? true,
    notify: (n) => sent.push(n),
    settle: {
      facts: (holders) => {
        watched.push([...holders]);
        return new Map(holders.map((h) => [h, { pods: { observed: true, notReady: [] } }]));
      },
      watched: () => watched.at(-1) ?? [],
      stop: async () => undefined,
    },
  });
  return { r, sent, watched, grants };
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
      nodes: [node('stuck', { needs: true, phase: AgentPhase.Rebooting, phaseSince: 3000 })],
      leases: [held('stuck', 3600)],
    };
    const s = setup(state);
    await s.r.reconcile();
    await s.r.reconcile();
    expect(s.sent).toHaveLength(1);
    expect(s.sent[0]).toMatchObject({ event: 'RolloutHalted', node: 'stuck' });
    expect(s.sent[0]?.reason).toMatch(/granted 3600 s ago and has not settled \(phase Rebooting\)/);
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
