/**
 * The agent's decisions, against an in-memory node: what it does on a grant, after a reboot,
 * and — above all — after a restart in the middle of its work.
 */
import { AgentPhase, Annotation, type LeaseLike } from '@baton/protocol';
import type { V1Node } from '@kubernetes/client-node';
import { beforeEach, describe, expect, it } from 'vitest';
import { Agent, type AgentDeps, type AgentSettings } from './agent.ts';
import type { DrainResult } from './drain/index.ts';
import type { NodeApi, NodeMetadataPatch } from './kube.ts';
import type { SentinelReading } from './sentinel.ts';

const NOW = new Date('2026-11-25T03:00:00.000Z');
const NODE = 'node-a';

const settings: AgentSettings = {
  nodeName: NODE,
  maxRebootAttempts: 3,
  drainDelayMs: 0,
  rebootDelayMs: 0,
  shutdownGraceMs: 600_000,
  drainTimeoutPolicy: 'abort',
  preRebootLabels: [{ key: 'example.com/rebooting', value: 'true' }],
  postRebootLabels: [{ key: 'example.com/rebooting', value: 'false' }],
  preRebootTaint: undefined,
};

const present: SentinelReading = { status: 'True', reason: 'SentinelPresent', message: 'exists' };
const absent: SentinelReading = { status: 'False', reason: 'NoSentinel', message: 'absent' };
const drained: DrainResult = { outcome: 'drained', evicted: 3, rounds: 2, elapsedMs: 100 };

function slot(holder: string, acquired = '2026-11-25T02:59:00.000000Z', duration = 300): LeaseLike {
  return {
    metadata: { name: 'baton-slot-0' },
    spec: {
      holderIdentity: holder,
      acquireTime: acquired,
      renewTime: acquired,
      leaseDurationSeconds: duration,
    },
  };
}

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
  node: FakeNode;
  leases: LeaseLike[];
  synced: boolean;
  reading: SentinelReading;
  drainResult: DrainResult;
  drains: number;
  reboots: number;
  rebootFails: boolean;
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
    node,
    leases: [] as LeaseLike[],
    synced: true,
    reading: present,
    drainResult: drained,
    drains: 0,
    reboots: 0,
    rebootFails: false,
    events: [] as string[],
  } as World;
  const deps: AgentDeps = {
    node,
    ...(watchedNode ? { watchedNode } : {}),
    events: { record: async (_type, reason) => void w.events.push(reason) },
    leases: { list: () => w.leases, synced: () => w.synced },
    checkSentinel: async () => w.reading,
    drain: async (stillGranted) => {
      w.drains++;
      if (!(await stillGranted()))
        return { outcome: 'revoked', evicted: 0, rounds: 1, elapsedMs: 0, remaining: [] };
      return w.drainResult;
    },
    rebooter: {
      description: 'fake',
      reboot: async () => {
        if (w.rebootFails) throw new Error('Failed to connect to bus');
        w.reboots++;
      },
    },
    clock: { now: () => w.now, sleep: async () => {} },
    log: { info: () => {}, warn: () => {}, error: () => {} },
  };
  w.agent = new Agent({ ...settings, ...over }, deps);
  return w;
}

describe('the agent, given a grant', () => {
  let w: World;
  beforeEach(() => {
    w = world(makeNode());
    w.leases = [slot(NODE)];
  });

  it('records the cordon state, cordons, taints, drains and reboots, in that order', async () => {
    expect(await w.agent.reconcile()).toBe('rebooting');
    expect(w.node.ann(Annotation.WasUnschedulable)).toBe('false');
    expect(w.node.ann(Annotation.RebootFromBootId)).toBe('boot-1');
    expect(w.node.ann(Annotation.Phase)).toBe(AgentPhase.Rebooting);
    expect(w.node.node.spec?.unschedulable).toBe(true);
    expect(w.node.node.spec?.taints?.map((t) => t.key)).toEqual(['other', 'baton.dev/rebooting']);
    expect(w.node.node.metadata?.labels?.['example.com/rebooting']).toBe('true');
    expect([w.drains, w.reboots]).toEqual([1, 1]);
    expect(w.events).toEqual(['Draining', 'Rebooting']);
    // The cordon state was written before the node was touched.
    expect(
      w.node.writes.indexOf(
        'annotations:baton.dev/phase,baton.dev/phase-since,baton.dev/was-unschedulable,baton.dev/slot',
      ),
    ).toBeLessThan(w.node.writes.indexOf('update'));
  });

  it('does nothing for a grant naming another node, an expired grant, or an unsynced view', async () => {
    for (const setup of [
      () => (w.leases = [slot('node-b')]),
      () => (w.leases = [slot(NODE, '2026-11-25T02:00:00.000000Z', 60)]),
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
    expect(await w.agent.reconcile()).toBe('rebooting');
  });

  it('aborts and undoes its cordon when the drain is revoked, keeping other taints', async () => {
    w.drainResult = { outcome: 'revoked', evicted: 1, rounds: 3, elapsedMs: 10, remaining: [] };
    expect(await w.agent.reconcile()).toBe('aborted');
    expect(w.node.node.spec?.unschedulable).toBe(false);
    expect(w.node.node.spec?.taints?.map((t) => t.key)).toEqual(['other']);
    expect(w.node.ann(Annotation.Phase)).toBe(AgentPhase.Aborted);
    expect(w.node.ann(Annotation.WasUnschedulable)).toBeUndefined();
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
    expect(await w.agent.reconcile()).toBe('rebooting');
    expect(w.reboots).toBe(1);
  });

  it('aborts when the reboot command fails, instead of believing it rebooted', async () => {
    w.rebootFails = true;
    expect(await w.agent.reconcile()).toBe('aborted');
    expect(w.node.ann(Annotation.RebootFromBootId)).toBeUndefined();
    expect(w.node.node.spec?.unschedulable).toBe(false);
  });

  it('does not start again under the grant it aborted, only under a newer one', async () => {
    w.drainResult = { outcome: 'refused', evicted: 0, rounds: 1, elapsedMs: 0, refused: [] };
    expect(await w.agent.reconcile()).toBe('aborted');
    w.drainResult = drained;
    expect(await w.agent.reconcile()).toBe('idle');
    w.leases = [slot(NODE, '2026-11-25T03:00:00.000000Z')];
    // phase-since is NOW; a grant acquired at exactly NOW is not newer.
    expect(await w.agent.reconcile()).toBe('idle');
    w.leases = [slot(NODE, '2026-11-25T03:00:00.500000Z')];
    expect(await w.agent.reconcile()).toBe('rebooting');
  });
});

describe('the agent after a restart', () => {
  const rebooting = (extra: Record<string, string> = {}) => ({
    [Annotation.Phase]: AgentPhase.Rebooting,
    [Annotation.RebootFromBootId]: 'boot-1',
    [Annotation.WasUnschedulable]: 'false',
    [Annotation.Slot]: 'baton-slot-0',
    ...extra,
  });

  it('new bootID and Ready: uncordons, applies post-reboot labels, clears its marks, reports done', async () => {
    const w = world(makeNode({ annotations: rebooting(), unschedulable: true, bootId: 'boot-2' }));
    w.reading = absent;
    expect(await w.agent.reconcile()).toBe('completed');
    expect(w.node.node.spec?.unschedulable).toBe(false);
    expect(w.node.node.metadata?.labels?.['example.com/rebooting']).toBe('false');
    expect(w.node.ann(Annotation.Phase)).toBe(AgentPhase.Rebooted);
    for (const k of [
      Annotation.RebootFromBootId,
      Annotation.WasUnschedulable,
      Annotation.Slot,
      Annotation.RebootAttempts,
    ]) {
      expect(w.node.ann(k)).toBeUndefined();
    }
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
    // Held, even with a grant: no fourth reboot.
    w.leases = [slot(NODE)];
    expect(await w.agent.reconcile()).toBe('idle');
    expect(w.reboots).toBe(0);
  });

  it('same bootID and no grant, past the shutdown grace: the reboot never happened; undoes and does not pretend', async () => {
    const requested = new Date(NOW.getTime() - 600_000).toISOString();
    const w = world(
      makeNode({
        annotations: rebooting({ [Annotation.PhaseSince]: requested }),
        unschedulable: true,
        bootId: 'boot-1',
      }),
    );
    expect(await w.agent.reconcile()).toBe('aborted');
    expect(w.node.node.spec?.unschedulable).toBe(false);
    expect(w.node.ann(Annotation.Phase)).toBe(AgentPhase.Aborted);
    expect(w.events).not.toContain('Rebooted');
  });

  it('same bootID and no grant, within the shutdown grace: the machine may still be going down; keeps the cordon and waits', async () => {
    // Two faults at once: the agent died just after its reboot command, and an API outage let
    // the grant lapse. Undoing now would free the slot while this node goes down.
    const requested = new Date(NOW.getTime() - 30_000).toISOString();
    const w = world(
      makeNode({
        annotations: rebooting({ [Annotation.PhaseSince]: requested }),
        unschedulable: true,
        bootId: 'boot-1',
      }),
    );
    expect(await w.agent.reconcile()).toBe('waiting-for-reboot');
    expect(w.node.node.spec?.unschedulable).toBe(true);
    expect(w.node.ann(Annotation.Phase)).toBe(AgentPhase.Rebooting);
    expect(w.node.writes).toEqual([]);
    expect(w.reboots).toBe(0); // no grant: it does not ask again either
    // The machine came back: completes as usual.
    w.node.node.status!.nodeInfo!.bootID = 'boot-2';
    w.reading = absent;
    expect(await w.agent.reconcile()).toBe('completed');
    expect(w.node.node.spec?.unschedulable).toBe(false);
  });

  it('same bootID and no grant: the grace ends at the recorded request; a record without a time counts from the process start', async () => {
    const w = world(
      makeNode({
        annotations: rebooting({ [Annotation.PhaseSince]: 'not a time' }),
        unschedulable: true,
        bootId: 'boot-1',
      }),
    );
    expect(await w.agent.reconcile()).toBe('waiting-for-reboot');
    w.now = new Date(NOW.getTime() + 599_000);
    expect(await w.agent.reconcile()).toBe('waiting-for-reboot');
    w.now = new Date(NOW.getTime() + 600_000);
    expect(await w.agent.reconcile()).toBe('aborted');
    expect(w.node.node.spec?.unschedulable).toBe(false);
  });

  it('same bootID and still granted: asks for the reboot again, once per process', async () => {
    const w = world(makeNode({ annotations: rebooting(), unschedulable: true, bootId: 'boot-1' }));
    w.leases = [slot(NODE)];
    expect(await w.agent.reconcile()).toBe('rebooting');
    expect(await w.agent.reconcile()).toBe('waiting-for-reboot');
    expect(w.reboots).toBe(1);
  });

  it('its reboot asked for, the grant lapsing (no renewal through an API outage) undoes nothing: it waits for the boot', async () => {
    const w = world(makeNode());
    w.leases = [slot(NODE)];
    expect(await w.agent.reconcile()).toBe('rebooting');
    w.leases = []; // the grant expired, or was emptied, while the machine shuts down
    expect(await w.agent.reconcile()).toBe('waiting-for-reboot');
    w.synced = false; // the API server is down
    expect(await w.agent.reconcile()).toBe('waiting-for-reboot');
    expect(w.node.node.spec?.unschedulable).toBe(true);
    expect(w.node.ann(Annotation.Phase)).toBe(AgentPhase.Rebooting);
    expect(w.node.ann(Annotation.RebootFromBootId)).toBe('boot-1');
    expect(w.events).not.toContain('RebootAborted');
    expect(w.reboots).toBe(1);
  });

  it('killed mid-drain, still granted: resumes the drain, keeping the first cordon record', async () => {
    const w = world(
      makeNode({
        annotations: {
          [Annotation.Phase]: AgentPhase.Draining,
          [Annotation.WasUnschedulable]: 'true',
          [Annotation.Slot]: 'baton-slot-0',
        },
        unschedulable: true,
      }),
    );
    w.leases = [slot(NODE)];
    expect(await w.agent.reconcile()).toBe('rebooting');
    expect(w.drains).toBe(1);
    // The node was cordoned by us at that point, but the record says an admin had cordoned it first.
    expect(w.node.ann(Annotation.WasUnschedulable)).toBe('true');
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
    expect([a, b]).toEqual(['waiting-for-reboot', 'waiting-for-reboot']);
    expect(w.reboots).toBe(1);
    expect(w.drains).toBe(1);
  });
});

describe('the agent with a watched view of its node', () => {
  it('decides the idle case from the watch, without reading the node', async () => {
    const node = makeNode();
    const w = world(node, {}, () => structuredClone(node.node));
    for (const setup of [
      () => (w.leases = []),
      () => (w.leases = [slot('node-b')]),
      () => (w.leases = [slot(NODE, '2026-11-25T02:00:00.000000Z', 60)]),
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
    expect(await w.agent.reconcile()).toBe('rebooting');
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
