import { AgentPhase, Annotation } from '@baton/protocol';
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { type HealthView, type PodsView, podsView, type SettleFacts, settleState } from './settle.ts';

const NOW = new Date('2026-11-25T12:00:00.000Z');
const ago = (s: number) => new Date(NOW.getTime() - s * 1000);
const GRANTED = ago(600);

interface N {
  phase?: string;
  phaseSince?: number;
  ready?: boolean;
  readySince?: number;
  required?: 'True' | 'False' | 'missing';
  requiredReason?: string;
  requiredSince?: number;
  cordoned?: boolean;
}

function node(o: N = {}): V1Node {
  const annotations: Record<string, string> = {};
  if (o.phase) annotations[Annotation.Phase] = o.phase;
  if (o.phaseSince !== undefined) annotations[Annotation.PhaseSince] = ago(o.phaseSince).toISOString();
  const conditions = [
    {
      type: 'Ready',
      status: o.ready === false ? 'False' : 'True',
      lastTransitionTime: (o.readySince === undefined
        ? undefined
        : ago(o.readySince).toISOString()) as unknown as Date,
    },
  ];
  if (o.required !== 'missing') {
    conditions.push({
      type: 'RebootRequired',
      status: o.required ?? 'False',
      reason: o.requiredReason ?? 'NoSentinel',
      lastTransitionTime: ago(o.requiredSince ?? 900).toISOString() as unknown as Date,
    } as (typeof conditions)[number]);
  }
  return {
    metadata: { name: 'n', annotations },
    spec: { unschedulable: o.cordoned },
    status: { conditions },
  };
}

const rebooted = (o: N = {}) => node({ phase: AgentPhase.Rebooted, phaseSince: 120, ...o });
const pods = (o: Partial<PodsView> = {}): PodsView => ({ observed: true, notReady: [], ...o });
const health =
  (o: Partial<HealthView> = {}): (() => HealthView) =>
  () => ({ ok: true, detail: 'fine', checkedAt: ago(1), since: ago(300), ...o });
const facts = (p: PodsView = pods(), h?: () => HealthView): SettleFacts => ({ pods: p, health: h });

describe('settleState', () => {
  const cases: {
    name: string;
    node: V1Node;
    facts?: SettleFacts;
    wasUnschedulable?: boolean;
    settleMs?: number;
    stage: string;
    kind?: string;
    why?: RegExp;
  }[] = [
    { name: 'no phase recorded', node: node(), stage: 'NoProgress' },
    {
      name: 'a Rebooted phase from before this grant',
      node: rebooted({ phaseSince: 3600 }),
      stage: 'NoProgress',
    },
    {
      name: 'draining',
      node: node({ phase: AgentPhase.Draining, phaseSince: 30 }),
      stage: 'Working',
      why: /Draining/,
    },
    {
      name: 'the agent aborted: released at once',
      node: node({ phase: AgentPhase.Aborted, phaseSince: 30 }),
      stage: 'Done',
      kind: 'Aborted',
    },
    { name: 'rebooted but NotReady', node: rebooted({ ready: false }), stage: 'NodeNotReady' },
    {
      name: 'rebooted, RebootRequired still True',
      node: rebooted({ required: 'True', requiredReason: 'SentinelPresent' }),
      stage: 'RebootStillRequired',
      why: /True \(SentinelPresent\)/,
    },
    {
      name: 'rebooted, RebootRequired missing',
      node: rebooted({ required: 'missing' }),
      stage: 'RebootStillRequired',
    },
    { name: 'rebooted, still cordoned', node: rebooted({ cordoned: true }), stage: 'Cordoned' },
    {
      name: 'cordoned, but it was cordoned when granted (an administrator’s cordon stays)',
      node: rebooted({ cordoned: true }),
      wasUnschedulable: true,
      stage: 'Done',
      kind: 'Settled',
    },
    {
      name: 'pods not listed yet',
      node: rebooted(),
      facts: facts({ observed: false, notReady: [] }),
      stage: 'PodsNotReady',
      why: /not listed yet/,
    },
    {
      name: 'pods not listed, with the watch’s error',
      node: rebooted(),
      facts: facts({ observed: false, notReady: [], error: '403 Forbidden: pods is forbidden' }),
      stage: 'PodsNotReady',
      why: /not listed yet \(403 Forbidden: pods is forbidden\)/,
    },
    {
      name: 'pods not Ready, named',
      node: rebooted(),
      facts: facts(pods({ notReady: ['db/db-0', 'db/db-1', 'web/a', 'web/b'] })),
      stage: 'PodsNotReady',
      why: /4 pod\(s\) not Ready: db\/db-0, db\/db-1, web\/a and 1 more/,
    },
    {
      name: 'health query false, with its reason',
      node: rebooted(),
      facts: facts(
        pods(),
        health({ ok: false, detail: 'Prometheus at http://p:9090 unreachable: ECONNREFUSED' }),
      ),
      stage: 'HealthQueryFailing',
      why: /unreachable: ECONNREFUSED/,
    },
    {
      name: 'health query true, but evaluated before the node came back',
      node: rebooted({ phaseSince: 120 }),
      facts: facts(pods(), health({ checkedAt: ago(200) })),
      stage: 'HealthQueryFailing',
      why: /after the node came back/,
    },
    {
      name: 'health query never evaluated',
      node: rebooted(),
      facts: facts(pods(), health({ checkedAt: undefined })),
      stage: 'HealthQueryFailing',
    },
    {
      name: 'everything healthy',
      node: rebooted(),
      facts: facts(pods(), health()),
      stage: 'Done',
      kind: 'Settled',
    },
    { name: 'no facts: pods and health not checked', node: rebooted(), stage: 'Done', kind: 'Settled' },
    {
      name: 'settle time runs from the phase',
      node: rebooted({ phaseSince: 30 }),
      settleMs: 60_000,
      stage: 'Settling',
      why: /healthy for 30 s of 60 s/,
    },
    {
      name: 'settle time runs from the last Ready transition of the node',
      node: rebooted({ phaseSince: 300, readySince: 10 }),
      settleMs: 60_000,
      stage: 'Settling',
    },
    {
      name: 'settle time runs from the last pod that became Ready',
      node: rebooted({ phaseSince: 300 }),
      facts: facts(pods({ readySince: ago(20) })),
      settleMs: 60_000,
      stage: 'Settling',
    },
    {
      name: 'settle time runs from the start of the health query’s run of true answers',
      node: rebooted({ phaseSince: 300 }),
      facts: facts(pods(), health({ since: ago(5) })),
      settleMs: 60_000,
      stage: 'Settling',
    },
    {
      name: 'settle time passed',
      node: rebooted({ phaseSince: 300, readySince: 200 }),
      facts: facts(pods({ readySince: ago(100) }), health({ since: ago(90) })),
      settleMs: 60_000,
      stage: 'Done',
      kind: 'Settled',
    },
    {
      name: 'held at the attempt limit: RebootRequired stays True, still must be healthy',
      node: node({
        phase: AgentPhase.Held,
        phaseSince: 120,
        required: 'True',
        requiredReason: 'AttemptLimitReached',
      }),
      facts: facts(),
      stage: 'Done',
      kind: 'Held',
    },
    {
      name: 'held but its pods are not Ready',
      node: node({ phase: AgentPhase.Held, phaseSince: 120, required: 'True' }),
      facts: facts(pods({ notReady: ['a/b'] })),
      stage: 'PodsNotReady',
    },
  ];

  it.each(cases)('$name → $stage', (c) => {
    const s = settleState(
      c.node,
      { at: GRANTED, wasUnschedulable: c.wasUnschedulable ?? false },
      NOW,
      c.settleMs ?? 0,
      c.facts,
    );
    expect(s.stage).toBe(c.stage);
    expect(s.done).toBe(c.stage === 'Done');
    if (c.kind) expect(s.kind).toBe(c.kind);
    if (c.why) expect(s.why).toMatch(c.why);
  });

  it('says when the settle time ends', () => {
    const s = settleState(
      rebooted({ phaseSince: 30 }),
      { at: GRANTED, wasUnschedulable: false },
      NOW,
      60_000,
      undefined,
    );
    expect(s.remainingMs).toBe(30_000);
  });

  it('never asks the health query while something else is not settled', () => {
    let asked = 0;
    const h = () => {
      asked++;
      return { ok: true, detail: '', checkedAt: NOW };
    };
    settleState(
      rebooted({ ready: false }),
      { at: GRANTED, wasUnschedulable: false },
      NOW,
      0,
      facts(pods(), h),
    );
    settleState(
      rebooted(),
      { at: GRANTED, wasUnschedulable: false },
      NOW,
      0,
      facts(pods({ notReady: ['a/b'] }), h),
    );
    expect(asked).toBe(0);
    settleState(rebooted(), { at: GRANTED, wasUnschedulable: false }, NOW, 0, facts(pods(), h));
    expect(asked).toBe(1);
  });
});

describe('podsView', () => {
  const pod = (
    name: string,
    o: { ready?: boolean; since?: number; phase?: string; deleting?: boolean } = {},
  ): V1Pod => ({
    metadata: { name, namespace: 'ns', ...(o.deleting ? { deletionTimestamp: NOW } : {}) },
    status: {
      phase: o.phase ?? 'Running',
      conditions: [
        {
          type: 'Ready',
          status: o.ready === false ? 'False' : 'True',
          lastTransitionTime: ago(o.since ?? 100).toISOString() as unknown as Date,
        },
      ],
    },
  });

  it.each([
    { name: 'no pods', pods: [], notReady: [], since: undefined },
    {
      name: 'all Ready: the latest transition counts',
      pods: [pod('a', { since: 50 }), pod('b', { since: 10 })],
      notReady: [],
      since: 10,
    },
    {
      name: 'a pod not Ready is named',
      pods: [pod('b', { ready: false }), pod('a')],
      notReady: ['ns/b'],
      since: 100,
    },
    {
      name: 'a finished Job pod does not count',
      pods: [pod('job', { ready: false, phase: 'Succeeded' })],
      notReady: [],
      since: undefined,
    },
    {
      name: 'a failed pod does not count',
      pods: [pod('x', { ready: false, phase: 'Failed' })],
      notReady: [],
      since: undefined,
    },
    {
      name: 'a pod being deleted does not count',
      pods: [pod('old', { ready: false, deleting: true })],
      notReady: [],
      since: undefined,
    },
    {
      name: 'a pod without conditions is not Ready',
      pods: [{ metadata: { name: 'p', namespace: 'ns' } }],
      notReady: ['ns/p'],
      since: undefined,
    },
  ])('$name', (c) => {
    const v = podsView(c.pods);
    expect(v.observed).toBe(true);
    expect(v.notReady).toEqual(c.notReady);
    expect(v.readySince?.getTime()).toBe(c.since === undefined ? undefined : ago(c.since).getTime());
  });
});

describe('settleState: the workloads and PDBs the drain touched', () => {
  const record = {
    workloads: [{ kind: 'Deployment', namespace: 'app', name: 'web' }] as const,
    pdbs: [{ namespace: 'app', name: 'web' }],
  };
  const withWorkloads = (w: Partial<HealthView> = {}, h?: () => HealthView): SettleFacts => ({
    pods: pods(),
    health: h,
    workloads: () => ({
      ok: true,
      detail: 'every workload and PDB healthy',
      checkedAt: ago(1),
      since: ago(300),
      ...w,
    }),
  });
  const state = (
    f: SettleFacts,
    workloads: Parameters<typeof settleState>[1]['workloads'] = record,
    settleMs = 0,
  ) => settleState(rebooted(), { at: GRANTED, wasUnschedulable: false, workloads }, NOW, settleMs, f);

  it('a workload still unavailable keeps the slot, with the reason', () => {
    const s = state(withWorkloads({ ok: false, detail: 'Deployment/app/web: 1 of 2 replica(s) available' }));
    expect(s.stage).toBe('WorkloadsUnavailable');
    expect(s.done).toBe(false);
    expect(s.why).toBe('Deployment/app/web: 1 of 2 replica(s) available');
  });

  it('no record, or an unreadable one, is unknown: never settled', () => {
    const missing = settleState(
      rebooted(),
      { at: GRANTED, wasUnschedulable: false },
      NOW,
      0,
      withWorkloads(),
    );
    expect(missing.stage).toBe('WorkloadsUnavailable');
    expect(missing.why).toMatch(/no usable record .*\(missing\)/);
    expect(state(withWorkloads(), { problem: 'not JSON' }).stage).toBe('WorkloadsUnavailable');
  });

  it('a healthy answer from before the node came back does not count', () => {
    const s = state(withWorkloads({ checkedAt: ago(200) }));
    expect(s.stage).toBe('WorkloadsUnavailable');
    expect(s.why).toMatch(/waiting for a check/);
  });

  it('healthy: settled; the settle time runs from the start of the healthy run', () => {
    expect(state(withWorkloads()).stage).toBe('Done');
    const s = state(withWorkloads({ since: ago(10) }), record, 60_000);
    expect(s.stage).toBe('Settling');
    expect(s.remainingMs).toBe(50_000);
  });

  it('is asked only once the pods are Ready, and before the health query', () => {
    let askedHealth = 0;
    const h = () => {
      askedHealth++;
      return { ok: true, detail: '', checkedAt: NOW };
    };
    const s = state(withWorkloads({ ok: false, detail: 'down' }, h));
    expect(s.stage).toBe('WorkloadsUnavailable');
    expect(askedHealth).toBe(0);
    let askedWorkloads = 0;
    settleState(rebooted(), { at: GRANTED, wasUnschedulable: false, workloads: record }, NOW, 0, {
      pods: pods({ notReady: ['a/b'] }),
      workloads: () => {
        askedWorkloads++;
        return { ok: true, detail: '' };
      },
    });
    expect(askedWorkloads).toBe(0);
  });
});
