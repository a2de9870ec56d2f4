/**
 * The agent's decisions, against an in-memory node: what it does on a grant, after a reboot,
 * and — above all — after a restart in the middle of its work.
 */
import { AgentPhase, Annotation, type LeaseLike, SlotAnnotation } from '@baton/protocol';
import type { V1Node } from '@kubernetes/client-node';
import { beforeEach, describe, expect, it } from 'vitest';
import type { DrainResult } from '../drain/index.ts';
import { RebootNotStartedError } from '../host/rebooter.ts';
import type { NodeApi, NodeMetadataPatch } from '../kube/agent-api.ts';
import type { SentinelReading } from '../sentinel/sentinel.ts';
import { Agent, type AgentDeps, type AgentSettings } from './agent.ts';

const NOW = new Date('2026-11-25T03:00:00.000Z');
const NODE = 'node-a';

const settings: AgentSettings = {
  nodeName: NODE,
  maxRebootAttempts: 3,
  drainDelayMs: 0,
  rebootDelayMs: 0,
  shutdownGraceMs: 600_000,
  drainTimeoutPolicy: 'abort',
  forceRefusedDrain: false,
  preRebootLabels: [{ key: 'example.com/rebooting', value: 'true' }],
  postRebootLabels: [{ key: 'example.com/rebooting', value: 'false' }],
  preRebootTaint: undefined,
};

const present: SentinelReading = { status: 'True', reason: 'SentinelPresent', message: 'exists' };
const absent: SentinelReading = { status: 'False', reason: 'NoSentinel', message: 'absent' };
const drained: DrainResult = { outcome: 'drained', evicted: 3, rounds: 2, elapsedMs: 100 };

/** A grant of slot 0 with this grant id; `ack` = the boot id the controller acknowledged. */
function slot(holder: string, id = 'g1', ack?: string, renewed = '2026-11-25T02:59:00.000000Z'): LeaseLike {
  return {
    metadata: {
      name: 'baton-slot-0',
      annotations: {
        [SlotAnnotation.GrantId]: id,
        ...(ack === undefined ? {} : { [SlotAnnotation.RebootFromBootId]: ack }),
      },
    },
    spec: { holderIdentity: holder, acquireTime: renewed, renewTime: renewed, leaseDurationSeconds: 300 },
  };
}

/** The identity the agent records for {@link slot}'s grant. */
const G1 = 'baton-slot-0/g1';

/** An in-memory Node with the write semantics the agent relies on. */
class FakeNode implements NodeApi {
  node: V1Node;
  writes: string[] = [];
  reads = 0;
  constructor(node: V1Node) {
    this.node = node;
  }
  async read() {
    this.reads++;
    return structuredClone(this.node);
  }
  async patchCondition() {
    this.writes.push('condition');
    return structuredClone(this.node);
  }
  async patchMetadata(patch: NodeMetadataPatch) {
    this.node.metadata ??= {};
    const meta = this.node.metadata;
    for (const [field, values] of [
      ['labels', patch.labels],
      ['annotations', patch.annotations],
    ] as const) {
      if (!values) continue;
      meta[field] ??= {};
      const target = meta[field];
      for (const [k, v] of Object.entries(values)) {
        if (v === null) delete target[k];
        else target[k] = v;
      }
      this.writes.push(`${field}:${Object.keys(values).join(',')}`);
    }
    return this.read();
  }
  async update(mutate: (n: V1Node) => V1Node | undefined) {
    const next = mutate(await this.read());
    if (next) {
      this.node = next;
      this.writes.push('update');
    }
    return this.read();
  }
  ann(key: string) {
    return this.node.metadata?.annotations?.[key];
  }
}

function makeNode(
  opts: {
    annotations?: Record<string, string>;
    unschedulable?: boolean;
    bootId?: string;
    ready?: boolean;
  } = {},
) {
  return new FakeNode({
    metadata: { name: NODE, annotations: { ...opts.annotations } },
    spec: { unschedulable: opts.unschedulable, taints: [{ key: 'other', effect: 'NoSchedule' }] },
    status: {
      nodeInfo: { bootID: opts.bootId ?? 'boot-1' } as NonNullable<V1Node['status']>['nodeInfo'],
      conditions: [{ type: 'Ready', status: opts.ready === false ? 'False' : 'True' }],
    },
  });
}

interface World {
  now: Date;
  /** The monotonic clock, ms. */
  mono: number;
  /** Play the controller: acknowledge on the Lease, as soon as it is read, the start only, or the reboot too. */
  autoAck: 'none' | 'start' | 'all';
  /** What a fresh read from the API server returns, when it differs from the watch. */
  apiLeases: LeaseLike[] | undefined;
  /** How the reboot command fails, if it does: it ran and failed, or it could not start. */
  rebootFailure: 'none' | 'ran' | 'not-started';
  node: FakeNode;
  leases: LeaseLike[];
  synced: boolean;
  reading: SentinelReading;
  drainResult: DrainResult;
  drains: number;
  reboots: number;
  events: string[];
  agent: Agent;
}

function world(
  node: FakeNode,
  over: Partial<AgentSettings> = {},
  watchedNode?: () => V1Node | undefined,
): World {
  const w = {
    now: NOW,
    mono: 1_000_000,
    autoAck: 'all',
    rebootFailure: 'none',
    node,
    leases: [] as LeaseLike[],
    synced: true,
    reading: present,
    drainResult: drained,
    drains: 0,
    reboots: 0,
    events: [] as string[],
  } as World;
  /**
   * As the controller does: the Lease of the grant the node works under says the work may start,
   * and which boot it reboots from.
   */
  const acknowledged = (l: LeaseLike): LeaseLike => {
    const from = w.node.ann(Annotation.RebootFromBootId);
    const recorded = w.node.ann(Annotation.Grant);
    const id = l.metadata?.annotations?.[SlotAnnotation.GrantId];
    if (w.autoAck === 'none' || recorded !== `${l.metadata?.name}/${id}` || l.spec?.holderIdentity !== NODE)
      return l;
    const acks: Record<string, string> = { [SlotAnnotation.Started]: 'true' };
    if (from !== undefined && w.autoAck === 'all') acks[SlotAnnotation.RebootFromBootId] = from;
    return { ...l, metadata: { ...l.metadata, annotations: { ...l.metadata?.annotations, ...acks } } };
  };
  const deps: AgentDeps = {
    node,
    ...(watchedNode ? { watchedNode } : {}),
    events: { record: async (_type, reason) => void w.events.push(reason) },
    leases: { list: () => w.leases.map(acknowledged), synced: () => w.synced },
    readSlot: async (name) => {
      const l = (w.apiLeases ?? w.leases).find((x) => x.metadata?.name === name);
      return l === undefined ? undefined : acknowledged(l);
    },
    checkSentinel: async () => w.reading,
    lastReading: () => w.reading,
    drain: async (stillGranted) => {
      w.drains++;
      if (!(await stillGranted()))
        return { outcome: 'revoked', evicted: 0, rounds: 1, elapsedMs: 0, remaining: [] };
      return w.drainResult;
    },
    rebooter: {
      description: 'fake',
      reboot: async () => {
        if (w.rebootFailure === 'not-started') throw new RebootNotStartedError('systemctl: not found');
        w.reboots++;
        if (w.rebootFailure === 'ran') throw new Error('Failed to connect to bus');
      },
    },
    clock: { now: () => w.now, monotonicMs: () => w.mono, sleep: async () => {} },
    log: { info: () => {}, warn: () => {}, error: () => {} },
  };
  w.agent = new Agent({ ...settings, ...over }, deps);
  return w;
}

/** Reconciles as the watch would make it: again as each of the controller's acknowledgements arrives. */
async function reconcileThroughAck(w: World): Promise<string> {
  let step = await w.agent.reconcile();
  for (let i = 0; i < 3 && step === 'waiting-for-acknowledgement' && w.autoAck !== 'none'; i++)
    step = await w.agent.reconcile();
  return step;
}

describe('the agent, given a grant', () => {
  let w: World;
  beforeEach(() => {
    w = world(makeNode());
    w.leases = [slot(NODE)];
  });

  it('records the grant, then touches nothing before the controller acknowledges the start', async () => {
    w.autoAck = 'none';
    expect(await w.agent.reconcile()).toBe('waiting-for-acknowledgement');
    expect(w.node.ann(Annotation.Grant)).toBe(G1);
    expect(w.node.ann(Annotation.Phase)).toBe(AgentPhase.Cordoning);
    expect(w.node.node.spec?.unschedulable).toBeFalsy();
    expect(w.drains).toBe(0);
    // The grant released before the start was acknowledged (it lapsed, or the node stopped
    // needing a reboot): it gives up the grant; nothing was touched.
    w.leases = [];
    expect(await w.agent.reconcile()).toBe('aborted');
    expect(w.node.node.spec?.unschedulable).toBeFalsy();
    expect(w.drains).toBe(0);
  });

  it('records the grant and the cordon state, cordons, taints, drains, waits for the acknowledgement, reboots', async () => {
    w.autoAck = 'start';
    expect(await w.agent.reconcile()).toBe('waiting-for-acknowledgement');
    expect(w.node.ann(Annotation.Grant)).toBe(G1);
    expect(w.node.ann(Annotation.WasUnschedulable)).toBe('false');
    expect(w.node.ann(Annotation.RebootFromBootId)).toBe('boot-1');
    expect(w.node.ann(Annotation.Phase)).toBe(AgentPhase.Rebooting);
    expect(w.node.node.spec?.unschedulable).toBe(true);
    expect(w.node.node.spec?.taints?.map((t) => t.key)).toEqual(['other', 'baton.dev/rebooting']);
    expect(w.node.node.metadata?.labels?.['example.com/rebooting']).toBe('true');
    // Drained, recorded, and no command without the controller's acknowledgement on the Lease.
    expect([w.drains, w.reboots]).toEqual([1, 0]);
    expect(await w.agent.reconcile()).toBe('waiting-for-acknowledgement');
    w.autoAck = 'all';
    expect(await w.agent.reconcile()).toBe('rebooting');
    expect([w.drains, w.reboots]).toEqual([1, 1]);
    expect(w.events).toEqual(['Draining', 'Rebooting']);
    // The grant and the cordon state were written before the node was touched.
    expect(
      w.node.writes.indexOf(
        'annotations:baton.dev/phase,baton.dev/phase-since,baton.dev/grant,baton.dev/was-unschedulable',
      ),
    ).toBeLessThan(w.node.writes.indexOf('update'));
  });

  it('an acknowledgement for another boot, or on a Lease now carrying another grant, is none', async () => {
    w.autoAck = 'start';
    expect(await w.agent.reconcile()).toBe('waiting-for-acknowledgement');
    w.leases = [slot(NODE, 'g1', 'boot-0')];
    expect(await w.agent.reconcile()).toBe('waiting-for-acknowledgement');
    // Released and granted again (another acquisition) meanwhile: not the grant it drained under.
    w.leases = [slot(NODE, 'g2', 'boot-1')];
    expect(await w.agent.reconcile()).toBe('aborted');
    expect(w.reboots).toBe(0);
  });

  it('checks the acknowledged grant with a fresh read of the Lease, not the watch, right before the command', async () => {
    w.autoAck = 'start';
    expect(await w.agent.reconcile()).toBe('waiting-for-acknowledgement');
    // The lagging watch shows the acknowledgement; the API server no longer has the Lease.
    w.leases = [slot(NODE, 'g1', 'boot-1')];
    w.apiLeases = [];
    expect(await w.agent.reconcile()).toBe('aborted');
    expect(w.reboots).toBe(0);
  });

  it('does nothing for a grant naming another node, a Lease without a grant id, or an unsynced view', async () => {
    const noId: LeaseLike = { metadata: { name: 'baton-slot-0' }, spec: { holderIdentity: NODE } };
    for (const setup of [
      () => (w.leases = [slot('node-b')]),
      () => (w.leases = [noId]),
      () => {
        w.leases = [slot(NODE)];
        w.synced = false;
      },
    ]) {
      setup();
      expect(['idle', 'waiting-for-sync']).toContain(await w.agent.reconcile());
    }
    expect(w.node.writes).toEqual([]);
    expect(w.drains + w.reboots).toBe(0);
  });

  it("acts on a grant whatever its times say: it never compares another machine's clock with its own", async () => {
    // Issue 14, point 3: an agent clock ahead of the controller's saw every new grant expired, or
    // older than its last Aborted phase. Times are for people; the identity decides.
    w.leases = [slot(NODE, 'g1', undefined, '2020-01-01T00:00:00.000000Z')];
    expect(await reconcileThroughAck(w)).toBe('rebooting');
    expect(w.reboots).toBe(1);
  });

  it('does not act when the node no longer needs a reboot, or is held at the attempt limit', async () => {
    w.reading = absent;
    expect(await w.agent.reconcile()).toBe('idle');
    w.reading = present;
    w.node.node.metadata!.annotations![Annotation.RebootAttempts] = '3';
    expect(await w.agent.reconcile()).toBe('idle');
    expect(w.node.writes).toEqual([]);
  });

  it('acts on a reboot a person requested, without a sentinel', async () => {
    w.reading = absent;
    w.node.node.metadata!.annotations![Annotation.RebootRequested] = 'alice';
    expect(await reconcileThroughAck(w)).toBe('rebooting');
  });

  it('aborts and undoes its cordon when the drain is revoked, keeping other taints', async () => {
    w.drainResult = { outcome: 'revoked', evicted: 1, rounds: 3, elapsedMs: 10, remaining: [] };
    expect(await w.agent.reconcile()).toBe('aborted');
    expect(w.node.node.spec?.unschedulable).toBe(false);
    expect(w.node.node.spec?.taints?.map((t) => t.key)).toEqual(['other']);
    expect(w.node.ann(Annotation.Phase)).toBe(AgentPhase.Aborted);
    expect(w.node.ann(Annotation.WasUnschedulable)).toBeUndefined();
    expect(w.node.ann(Annotation.AbortedGrants)).toBe('1');
    // The grant stays recorded: it is used up.
    expect(w.node.ann(Annotation.Grant)).toBe(G1);
    expect(w.reboots).toBe(0);
    expect(w.events.at(-1)).toBe('RebootAborted');
  });

  it('never uncordons a node an administrator had cordoned', async () => {
    w = world(makeNode({ unschedulable: true }));
    w.leases = [slot(NODE)];
    w.drainResult = {
      outcome: 'timeout',
      evicted: 0,
      rounds: 9,
      elapsedMs: 9,
      remaining: [],
      lastBlockers: ['ns/p: PDB'],
    };
    expect(await w.agent.reconcile()).toBe('aborted');
    expect(w.node.node.spec?.unschedulable).toBe(true);
    expect(w.events).toEqual(['Draining', 'DrainBlocked', 'RebootAborted']);
  });

  it('reboots anyway after a drain timeout with the force policy', async () => {
    w = world(makeNode(), { drainTimeoutPolicy: 'force' });
    w.leases = [slot(NODE)];
    w.drainResult = {
      outcome: 'timeout',
      evicted: 0,
      rounds: 9,
      elapsedMs: 9,
      remaining: [],
      lastBlockers: ['ns/p: PDB'],
    };
    expect(await reconcileThroughAck(w)).toBe('rebooting');
    expect(w.reboots).toBe(1);
  });

  it("reboots anyway after a refused drain only with kured's --force-reboot", async () => {
    const refused = {
      outcome: 'refused' as const,
      evicted: 0,
      rounds: 1,
      elapsedMs: 0,
      refused: [
        { pod: { metadata: { namespace: 'ns', name: 'bare' } }, reason: 'not managed by a controller' },
      ],
    };
    w = world(makeNode());
    w.leases = [slot(NODE)];
    w.drainResult = refused;
    expect(await w.agent.reconcile()).toBe('aborted');
    expect(w.reboots).toBe(0);
    w = world(makeNode(), { drainTimeoutPolicy: 'force', forceRefusedDrain: true });
    w.leases = [slot(NODE)];
    w.drainResult = refused;
    expect(await reconcileThroughAck(w)).toBe('rebooting');
    expect(w.reboots).toBe(1);
    expect(w.events).toContain('DrainBlocked');
  });

  it('a reboot command that could not start (not found): nothing is going down, it undoes at once', async () => {
    w.rebootFailure = 'not-started';
    expect(await reconcileThroughAck(w)).toBe('aborted');
    expect(w.node.ann(Annotation.RebootFromBootId)).toBeUndefined();
    expect(w.node.node.spec?.unschedulable).toBe(false);
  });

  it('a reboot command that ran and failed: keeps the cordon for --shutdown-grace, the machine may be going down', async () => {
    // Issue 14, point 6: a failed or timed-out command was undone at once — uncordon, Aborted,
    // slot to the next node — although the shutdown may already have begun.
    w.rebootFailure = 'ran';
    expect(await reconcileThroughAck(w)).toBe('waiting-for-reboot');
    expect(w.node.node.spec?.unschedulable).toBe(true);
    expect(w.node.ann(Annotation.Phase)).toBe(AgentPhase.Rebooting);
    w.mono += settings.shutdownGraceMs - 1;
    expect(await w.agent.reconcile()).toBe('waiting-for-reboot');
    w.mono += 1;
    expect(await w.agent.reconcile()).toBe('aborted');
    expect(w.node.node.spec?.unschedulable).toBe(false);
    expect(w.reboots).toBe(1); // asked once, never again
  });

  it('a reboot command that succeeds but nothing happens: undone after --shutdown-grace, never asked again', async () => {
    // Issue 14, point 5: the node stayed cordoned without bound.
    expect(await reconcileThroughAck(w)).toBe('rebooting');
    w.mono += settings.shutdownGraceMs;
    expect(await w.agent.reconcile()).toBe('aborted');
    expect(w.node.node.spec?.unschedulable).toBe(false);
    expect(w.node.ann(Annotation.AbortedGrants)).toBe('1');
    // Still granted (the controller has not released yet): the grant is used up.
    expect(await w.agent.reconcile()).toBe('idle');
    expect(w.reboots).toBe(1);
  });

  it('after its command, writes the reboot back on a Node object registered again without it, even with its Lease gone', async () => {
    // Issue 14: a person deleted the Node object of a node going down, then its slot Lease;
    // nothing left said the machine may be down. The agent that gave the command says it again.
    expect(await reconcileThroughAck(w)).toBe('rebooting');
    w.node.node = makeNode().node; // deleted and registered again by its kubelet: no record
    w.leases = [];
    expect(await w.agent.reconcile()).toBe('waiting-for-reboot');
    expect(w.node.ann(Annotation.Phase)).toBe(AgentPhase.Rebooting);
    expect(w.node.ann(Annotation.Grant)).toBe(G1);
    expect(w.node.ann(Annotation.RebootFromBootId)).toBe('boot-1');
    // Still on that boot after the grace: the reboot did not happen; it says so under that grant.
    w.mono += settings.shutdownGraceMs;
    expect(await w.agent.reconcile()).toBe('aborted');
    expect(w.node.ann(Annotation.Phase)).toBe(AgentPhase.Aborted);
    expect(w.node.ann(Annotation.Grant)).toBe(G1);
    expect(w.reboots).toBe(1);
  });

  it('does not start again under the grant it aborted, only under a newer one (by identity, not time)', async () => {
    w.drainResult = { outcome: 'refused', evicted: 0, rounds: 1, elapsedMs: 0, refused: [] };
    expect(await w.agent.reconcile()).toBe('aborted');
    w.drainResult = drained;
    expect(await w.agent.reconcile()).toBe('idle');
    // The same grant renewed (newer renewTime), or its phase-since pushed into the future by hand.
    w.leases = [slot(NODE, 'g1', undefined, '2026-11-25T04:00:00.000000Z')];
    w.node.node.metadata!.annotations![Annotation.PhaseSince] = '2099-01-01T00:00:00.000Z';
    expect(await w.agent.reconcile()).toBe('idle');
    w.leases = [slot(NODE, 'g2', undefined, '2020-01-01T00:00:00.000000Z')];
    expect(await reconcileThroughAck(w)).toBe('rebooting');
    expect(w.node.ann(Annotation.Grant)).toBe('baton-slot-0/g2');
  });
});

describe('the agent after a restart', () => {
  const rebooting = (extra: Record<string, string> = {}) => ({
    [Annotation.Phase]: AgentPhase.Rebooting,
    [Annotation.RebootFromBootId]: 'boot-1',
    [Annotation.WasUnschedulable]: 'false',
    [Annotation.Grant]: G1,
    ...extra,
  });

  it('new bootID and Ready: uncordons, applies post-reboot labels, clears its marks, reports done', async () => {
    const w = world(
      makeNode({
        annotations: rebooting({ [Annotation.AbortedGrants]: '2' }),
        unschedulable: true,
        bootId: 'boot-2',
      }),
    );
    w.reading = absent;
    expect(await w.agent.reconcile()).toBe('completed');
    expect(w.node.node.spec?.unschedulable).toBe(false);
    expect(w.node.node.metadata?.labels?.['example.com/rebooting']).toBe('false');
    expect(w.node.ann(Annotation.Phase)).toBe(AgentPhase.Rebooted);
    for (const k of [
      Annotation.RebootFromBootId,
      Annotation.WasUnschedulable,
      Annotation.AbortedGrants,
      Annotation.RebootAttempts,
    ]) {
      expect(w.node.ann(k)).toBeUndefined();
    }
    expect(w.node.ann(Annotation.Grant)).toBe(G1);
    expect(w.events).toEqual(['Rebooted']);
    expect(w.reboots).toBe(0);
  });

  it('new bootID but not Ready yet: waits, still cordoned', async () => {
    const w = world(
      makeNode({ annotations: rebooting(), unschedulable: true, bootId: 'boot-2', ready: false }),
    );
    expect(await w.agent.reconcile()).toBe('waiting-for-ready');
    expect(w.node.node.spec?.unschedulable).toBe(true);
    expect(w.node.ann(Annotation.Phase)).toBe(AgentPhase.Verifying);
  });

  it('counts an attempt when the sentinel survived, and holds the node at the limit', async () => {
    const w = world(
      makeNode({
        annotations: rebooting({ [Annotation.RebootAttempts]: '2' }),
        unschedulable: true,
        bootId: 'boot-2',
      }),
    );
    w.reading = present;
    expect(await w.agent.reconcile()).toBe('completed');
    expect(w.node.ann(Annotation.RebootAttempts)).toBe('3');
    expect(w.node.ann(Annotation.Phase)).toBe(AgentPhase.Held);
    expect(w.events).toEqual(['RebootHeld']);
    // Held, even with a new grant: no fourth reboot.
    w.leases = [slot(NODE, 'g9')];
    expect(await w.agent.reconcile()).toBe('idle');
    expect(w.reboots).toBe(0);
  });

  it('a sentinel that cannot be read right after the boot counts an attempt: no loop under one grant', async () => {
    // Issue 14, point 1: an Unknown first reading reset the count to 0 and recorded Rebooted; the
    // controller kept renewing (the condition was not False) and the agent acted again on the same
    // grant once the sentinel read True: six reboots in a row, no attempt ever recorded.
    const w = world(makeNode({ annotations: rebooting(), unschedulable: true, bootId: 'boot-2' }), {
      maxRebootAttempts: 2,
    });
    w.leases = [slot(NODE)]; // the same grant, still there
    w.reading = { status: 'Unknown', reason: 'SentinelError', message: 'the command timed out' };
    expect(await w.agent.reconcile()).toBe('completed');
    expect(w.node.ann(Annotation.RebootAttempts)).toBe('1');
    w.reading = present;
    for (let i = 0; i < 3; i++) expect(await w.agent.reconcile()).toBe('idle');
    expect(w.drains + w.reboots).toBe(0);
    // A new grant is a new attempt; after it the limit holds the node.
    w.leases = [slot(NODE, 'g2')];
    expect(await reconcileThroughAck(w)).toBe('rebooting');
    w.node.node.status!.nodeInfo!.bootID = 'boot-3';
    expect(await w.agent.reconcile()).toBe('completed');
    expect(w.node.ann(Annotation.Phase)).toBe(AgentPhase.Held);
    w.leases = [slot(NODE, 'g3')];
    expect(await w.agent.reconcile()).toBe('idle');
    expect(w.reboots).toBe(1);
  });

  it('after a reboot a person asked for, an unreadable sentinel still counts an attempt', async () => {
    // The long simulation (seed 20269126, schedule 193,051): a requested reboot, then a sentinel
    // that read Unknown once after the boot, ended the need and reset the count; the sentinel was
    // still there, and the next reading started a second reboot under the same need.
    const w = world(
      makeNode({
        annotations: rebooting({ [Annotation.RebootRequested]: 'ops' }),
        unschedulable: true,
        bootId: 'boot-2',
      }),
      { maxRebootAttempts: 1 },
    );
    w.reading = { status: 'Unknown', reason: 'SentinelError', message: 'the command timed out' };
    expect(await w.agent.reconcile()).toBe('completed');
    expect(w.node.ann(Annotation.RebootRequested)).toBeUndefined(); // the request is done
    expect(w.node.ann(Annotation.RebootAttempts)).toBe('1');
    expect(w.node.ann(Annotation.Phase)).toBe(AgentPhase.Held);
    w.reading = present;
    w.leases = [slot(NODE, 'g2')];
    expect(await w.agent.reconcile()).toBe('idle');
    expect(w.reboots).toBe(0);
    // The sentinel says no reboot is needed: the request was all there was.
    const done = world(
      makeNode({ annotations: rebooting({ [Annotation.RebootRequested]: 'ops' }), bootId: 'boot-2' }),
    );
    done.reading = absent;
    expect(await done.agent.reconcile()).toBe('completed');
    expect(done.node.ann(Annotation.RebootAttempts)).toBeUndefined();
    expect(done.node.ann(Annotation.Phase)).toBe(AgentPhase.Rebooted);
  });

  it('clears the attempt count once the sentinel says no reboot is needed', async () => {
    const w = world(
      makeNode({ annotations: { [Annotation.RebootAttempts]: '2', [Annotation.Phase]: 'Rebooted' } }),
    );
    w.reading = absent;
    expect(await w.agent.reconcile()).toBe('idle');
    expect(w.node.ann(Annotation.RebootAttempts)).toBeUndefined();
  });

  it('same bootID, restarted: waits the whole --shutdown-grace from its own start, whatever the record says, then undoes', async () => {
    for (const phaseSince of ['2026-11-25T02:00:00.000Z', '2099-01-01T00:00:00.000Z', 'not a time']) {
      const w = world(
        makeNode({
          annotations: rebooting({ [Annotation.PhaseSince]: phaseSince }),
          unschedulable: true,
          bootId: 'boot-1',
        }),
      );
      w.leases = [slot(NODE, 'g1', 'boot-1')]; // acknowledged: the command may have been given
      expect(await w.agent.reconcile()).toBe('waiting-for-reboot');
      w.mono += settings.shutdownGraceMs - 1;
      expect(await w.agent.reconcile()).toBe('waiting-for-reboot');
      expect(w.node.writes).toEqual([]);
      w.mono += 1;
      expect(await w.agent.reconcile()).toBe('aborted');
      expect(w.node.node.spec?.unschedulable).toBe(false);
      expect(w.reboots).toBe(0); // never asks again
      expect(w.events).not.toContain('Rebooted');
    }
  });

  it('same bootID, restarted, its grant never acknowledged: no command can have been given; waits for the acknowledgement', async () => {
    const w = world(makeNode({ annotations: rebooting(), unschedulable: true, bootId: 'boot-1' }));
    w.leases = [slot(NODE)];
    w.autoAck = 'start';
    expect(await w.agent.reconcile()).toBe('waiting-for-acknowledgement');
    w.autoAck = 'all';
    expect(await w.agent.reconcile()).toBe('rebooting');
    expect(w.reboots).toBe(1);
  });

  it('same bootID, restarted, no grant: within the grace the machine may still be going down; then it undoes', async () => {
    // Two faults at once: the agent died just after its reboot command, and the grant is gone.
    const w = world(makeNode({ annotations: rebooting(), unschedulable: true, bootId: 'boot-1' }));
    expect(await w.agent.reconcile()).toBe('waiting-for-reboot');
    expect(w.node.node.spec?.unschedulable).toBe(true);
    expect(w.node.writes).toEqual([]);
    // The machine came back: completes as usual.
    w.node.node.status!.nodeInfo!.bootID = 'boot-2';
    w.reading = absent;
    expect(await w.agent.reconcile()).toBe('completed');
    expect(w.node.node.spec?.unschedulable).toBe(false);
  });

  it('its reboot asked for, the grant emptied or lapsing undoes nothing: it waits for the boot', async () => {
    const w = world(makeNode());
    w.leases = [slot(NODE)];
    expect(await reconcileThroughAck(w)).toBe('rebooting');
    w.leases = []; // the slot was emptied while the machine shuts down
    expect(await w.agent.reconcile()).toBe('waiting-for-reboot');
    w.synced = false; // the API server is down
    expect(await w.agent.reconcile()).toBe('waiting-for-reboot');
    expect(w.node.node.spec?.unschedulable).toBe(true);
    expect(w.node.ann(Annotation.Phase)).toBe(AgentPhase.Rebooting);
    expect(w.node.ann(Annotation.RebootFromBootId)).toBe('boot-1');
    expect(w.events).not.toContain('RebootAborted');
    expect(w.reboots).toBe(1);
  });

  it('killed mid-drain, still granted (the same grant): resumes the drain, keeping the first cordon record', async () => {
    const w = world(
      makeNode({
        annotations: {
          [Annotation.Phase]: AgentPhase.Draining,
          [Annotation.WasUnschedulable]: 'true',
          [Annotation.Grant]: G1,
        },
        unschedulable: true,
      }),
    );
    w.leases = [slot(NODE)];
    expect(await reconcileThroughAck(w)).toBe('rebooting');
    expect(w.drains).toBe(1);
    // The node was cordoned by us at that point, but the record says an admin had cordoned it first.
    expect(w.node.ann(Annotation.WasUnschedulable)).toBe('true');
  });

  it('killed mid-drain, the slot now carrying another grant of the same node: aborts, never resumes under it', async () => {
    const w = world(
      makeNode({
        annotations: {
          [Annotation.Phase]: AgentPhase.Draining,
          [Annotation.WasUnschedulable]: 'false',
          [Annotation.Grant]: G1,
        },
        unschedulable: true,
      }),
    );
    w.leases = [slot(NODE, 'g2')];
    expect(await w.agent.reconcile()).toBe('aborted');
    expect(w.drains).toBe(0);
  });

  it('two slots naming it (a controller whose cache lagged): keeps working under the grant it recorded', async () => {
    const w = world(
      makeNode({
        annotations: {
          [Annotation.Phase]: AgentPhase.Draining,
          [Annotation.WasUnschedulable]: 'false',
          [Annotation.Grant]: 'baton-slot-1/g1',
        },
        unschedulable: true,
      }),
    );
    const second = { ...slot(NODE, 'g1'), metadata: { ...slot(NODE, 'g1').metadata, name: 'baton-slot-1' } };
    w.leases = [slot(NODE, 'g0'), second];
    expect(await reconcileThroughAck(w)).toBe('rebooting');
    expect(w.node.ann(Annotation.Grant)).toBe('baton-slot-1/g1');
    expect(w.drains).toBe(1);
  });

  it('a phase overwritten by hand mid-drain: goes on under its grant, or undoes; never leaves the node cordoned', async () => {
    // The simulation found a node left cordoned for good after a person wrote a phase that is
    // none: the agent took the node for idle, the controller held its slot.
    const garbled = () =>
      makeNode({
        annotations: {
          [Annotation.Phase]: 'Exploded',
          [Annotation.WasUnschedulable]: 'false',
          [Annotation.Grant]: G1,
        },
        unschedulable: true,
      });
    const w = world(garbled());
    w.leases = [slot(NODE)];
    expect(await reconcileThroughAck(w)).toBe('rebooting');
    const gone = world(garbled());
    expect(await gone.agent.reconcile()).toBe('aborted');
    expect(gone.node.node.spec?.unschedulable).toBe(false);
  });

  it('killed mid-drain, grant gone: aborts and uncordons what it cordoned', async () => {
    const w = world(
      makeNode({
        annotations: { [Annotation.Phase]: AgentPhase.Draining, [Annotation.WasUnschedulable]: 'false' },
        unschedulable: true,
      }),
    );
    expect(await w.agent.reconcile()).toBe('aborted');
    expect(w.node.node.spec?.unschedulable).toBe(false);
    expect(w.drains).toBe(0);
  });

  it('never runs two reconciles at once', async () => {
    const w = world(makeNode());
    w.leases = [slot(NODE)];
    const [a, b] = await Promise.all([w.agent.reconcile(), w.agent.reconcile()]);
    expect([a, b]).toEqual(['rebooting', 'rebooting']);
    expect(w.reboots).toBe(1);
    expect(w.drains).toBe(1);
  });
});

describe('the agent with a watched view of its node', () => {
  it('decides the idle case from the watch, without reading the node', async () => {
    const node = makeNode({
      annotations: { [Annotation.Phase]: AgentPhase.Rebooted, [Annotation.Grant]: G1 },
    });
    const w = world(node, {}, () => structuredClone(node.node));
    for (const setup of [
      () => (w.leases = []),
      () => (w.leases = [slot('node-b')]),
      // Its own grant, already used (the controller has not released it yet).
      () => (w.leases = [slot(NODE)]),
    ]) {
      setup();
      expect(await w.agent.reconcile()).toBe('idle');
    }
    expect(node.reads).toBe(0);
    expect(node.writes).toEqual([]);
  });

  it('reads the node fresh before acting on a grant, even when the watched view is stale', async () => {
    const node = makeNode();
    // The watch lags: it still shows the node before an administrator cordoned it.
    const stale = structuredClone(node.node);
    node.node.spec = { ...node.node.spec, unschedulable: true };
    const w = world(node, {}, () => stale);
    w.leases = [slot(NODE)];
    expect(await reconcileThroughAck(w)).toBe('rebooting');
    expect(node.reads).toBeGreaterThan(0);
    // The record of the cordon state came from the fresh read, not the stale view.
    expect(node.ann(Annotation.WasUnschedulable)).toBe('true');
  });

  it('never skips a node with work in flight because no grant is visible', async () => {
    const inFlight: Record<string, string>[] = [
      { [Annotation.Phase]: AgentPhase.Draining, [Annotation.WasUnschedulable]: 'false' },
      { [Annotation.Phase]: AgentPhase.Rebooting, [Annotation.RebootFromBootId]: 'boot-0' },
    ];
    for (const annotations of inFlight) {
      const node = makeNode({ annotations, unschedulable: true });
      const w = world(node, {}, () => structuredClone(node.node));
      expect(await w.agent.reconcile()).not.toBe('idle');
      expect(node.reads).toBeGreaterThan(0);
    }
  });

  it('without a synced watch, reads the node as before', async () => {
    const node = makeNode();
    const w = world(node, {}, () => undefined);
    expect(await w.agent.reconcile()).toBe('idle');
    expect(node.reads).toBe(1);
  });
});
