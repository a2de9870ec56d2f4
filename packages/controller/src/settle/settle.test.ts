import { AgentPhase, Annotation } from '@baton/protocol';
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import {
  type HealthView,
  type PodsView,
  podsView,
  type SettleFacts,
  type SettleGrant,
  settleCheck,
} from './settle.ts';

const NOW = new Date('2026-11-25T12:00:00.000Z');
const ago = (s: number) => new Date(NOW.getTime() - s * 1000);
/** When the controller first saw the node healthy (its own clock). */
const HEALTHY_SINCE = ago(120);

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

/** The agent's work under this grant ended with `outcome`; everything else as given. */
const check = (n: V1Node, o: Partial<SettleGrant> = {}, f?: SettleFacts) =>
  settleCheck(n, { outcome: 'Rebooted', wasUnschedulable: false, healthySince: HEALTHY_SINCE, ...o }, f);

describe("settleCheck: is the node healthy now (how long is the plan's business)", () => {
  const cases: {
    name: string;
    node: V1Node;
    grant?: Partial<SettleGrant>;
    facts?: SettleFacts;
    stage: string;
    kind?: string;
    why?: RegExp;
  }[] = [
    { name: 'rebooted but NotReady', node: rebooted({ ready: false }), stage: 'NodeNotReady' },
    // Each grant is one attempt: a node that still needs a reboot gets a new grant later.
    {
      name: 'rebooted, RebootRequired still True: healthy all the same',
      node: rebooted({ required: 'True', requiredReason: 'SentinelPresent' }),
      stage: 'Settling',
      kind: 'Settled',
    },
    { name: 'rebooted, still cordoned', node: rebooted({ cordoned: true }), stage: 'Cordoned' },
    {
      name: 'cordoned, but it was cordoned when granted (an administrator’s cordon stays)',
      node: rebooted({ cordoned: true }),
      grant: { wasUnschedulable: true },
      stage: 'Settling',
      kind: 'Settled',
    },
    {
      name: 'the agent aborted: it settles like a reboot before its slot moves',
      node: node({ phase: AgentPhase.Aborted, phaseSince: 30 }),
      grant: { outcome: 'Aborted' },
      facts: facts(pods({ notReady: ['web/a'] })),
      stage: 'PodsNotReady',
      kind: 'Aborted',
    },
    {
      name: 'aborted and healthy',
      node: node({ phase: AgentPhase.Aborted, phaseSince: 30 }),
      grant: { outcome: 'Aborted' },
      facts: facts(),
      stage: 'Settling',
      kind: 'Aborted',
    },
    {
      name: 'the record was lost with the Node object, still on the boot it rebooted from',
      node: { ...rebooted(), status: { ...rebooted().status, nodeInfo: { bootID: 'b1' } as never } },
      grant: { outcome: 'RecordLost', rebootFromBootId: 'b1' },
      stage: 'NodeNotReady',
      why: /re-created while it rebooted from boot b1/,
    },
    {
      name: 'the record was lost, and the node is back on another boot',
      node: { ...rebooted(), status: { ...rebooted().status, nodeInfo: { bootID: 'b2' } as never } },
      grant: { outcome: 'RecordLost', rebootFromBootId: 'b1' },
      stage: 'Settling',
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
      name: 'health query true, but evaluated before the controller saw the node healthy',
      node: rebooted(),
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
      stage: 'Settling',
      kind: 'Settled',
    },
    { name: 'no facts: pods and health not checked', node: rebooted(), stage: 'Settling', kind: 'Settled' },
    {
      name: 'held at the attempt limit: RebootRequired stays True, still must be healthy',
      node: node({
        phase: AgentPhase.Held,
        phaseSince: 120,
        required: 'True',
        requiredReason: 'AttemptLimitReached',
      }),
      grant: { outcome: 'Held' },
      facts: facts(),
      stage: 'Settling',
      kind: 'Held',
    },
    {
      name: 'held but its pods are not Ready',
      node: node({ phase: AgentPhase.Held, phaseSince: 120, required: 'True' }),
      grant: { outcome: 'Held' },
      facts: facts(pods({ notReady: ['a/b'] })),
      stage: 'PodsNotReady',
    },
  ];

  it.each(cases)('$name → $stage', (c) => {
    const s = check(c.node, c.grant, c.facts);
    expect(s.stage).toBe(c.stage);
    expect(s.healthy).toBe(c.stage === 'Settling');
    if (c.kind) expect(s.kind).toBe(c.kind);
    if (c.why) expect(s.why).toMatch(c.why);
  });

  it('reads no timestamp another machine wrote: a node whose times are all in the future or the past is judged alike', () => {
    const future = rebooted({ phaseSince: -3600, readySince: -3600, requiredSince: -3600 });
    const past = rebooted({ phaseSince: 86_400, readySince: 86_400, requiredSince: 86_400 });
    expect(check(future, {}, facts()).stage).toBe('Settling');
    expect(check(past, {}, facts()).stage).toBe('Settling');
  });

  it('never asks the health query while something else is not healthy', () => {
    let asked = 0;
    const h = () => {
      asked++;
      return { ok: true, detail: '', checkedAt: NOW };
    };
    check(rebooted({ ready: false }), {}, facts(pods(), h));
    check(rebooted(), {}, facts(pods({ notReady: ['a/b'] }), h));
    expect(asked).toBe(0);
    check(rebooted(), {}, facts(pods(), h));
    expect(asked).toBe(1);
  });
});

describe('podsView', () => {
  const pod = (name: string, o: { ready?: boolean; phase?: string; deleting?: boolean } = {}): V1Pod => ({
    metadata: { name, namespace: 'ns', ...(o.deleting ? { deletionTimestamp: NOW } : {}) },
    status: {
      phase: o.phase ?? 'Running',
      conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True' }],
    },
  });

  it.each([
    { name: 'no pods', pods: [], notReady: [] },
    { name: 'all Ready', pods: [pod('a'), pod('b')], notReady: [] },
    { name: 'a pod not Ready is named', pods: [pod('b', { ready: false }), pod('a')], notReady: ['ns/b'] },
    {
      name: 'a finished Job pod does not count',
      pods: [pod('job', { ready: false, phase: 'Succeeded' })],
      notReady: [],
    },
    {
      name: 'a failed pod does not count',
      pods: [pod('x', { ready: false, phase: 'Failed' })],
      notReady: [],
    },
    {
      name: 'a pod being deleted does not count',
      pods: [pod('old', { ready: false, deleting: true })],
      notReady: [],
    },
    {
      name: 'a pod without conditions is not Ready',
      pods: [{ metadata: { name: 'p', namespace: 'ns' } }],
      notReady: ['ns/p'],
    },
  ])('$name', (c) => {
    const v = podsView(c.pods);
    expect(v.observed).toBe(true);
    expect(v.notReady).toEqual(c.notReady);
  });
});

describe('settleCheck: the workloads and PDBs the drain touched', () => {
  const record = {
    workloads: [{ kind: 'Deployment', namespace: 'app', name: 'web' }] as const,
    pdbs: [{ namespace: 'app', name: 'web' }],
  };
  const withWorkloads = (w: Partial<HealthView> = {}, h?: () => HealthView): SettleFacts => ({
    pods: pods(),
    health: h,
    workloads: () => ({ ok: true, detail: 'every workload and PDB healthy', checkedAt: ago(1), ...w }),
  });
  const state = (f: SettleFacts, workloads: SettleGrant['workloads'] = record) =>
    check(rebooted(), { workloads }, f);

  it('a workload still unavailable keeps the slot, with the reason', () => {
    const s = state(withWorkloads({ ok: false, detail: 'Deployment/app/web: 1 of 2 replica(s) available' }));
    expect(s.stage).toBe('WorkloadsUnavailable');
    expect(s.healthy).toBe(false);
    expect(s.why).toBe('Deployment/app/web: 1 of 2 replica(s) available');
  });

  it('no record, or an unreadable one, is unknown: never healthy', () => {
    const missing = check(rebooted(), {}, withWorkloads());
    expect(missing.stage).toBe('WorkloadsUnavailable');
    expect(missing.why).toMatch(/no usable record .*\(missing\)/);
    expect(state(withWorkloads(), { problem: 'not JSON' }).stage).toBe('WorkloadsUnavailable');
  });

  it('a healthy answer from before the controller saw the node healthy does not count', () => {
    const s = state(withWorkloads({ checkedAt: ago(200) }));
    expect(s.stage).toBe('WorkloadsUnavailable');
    expect(s.why).toMatch(/waiting for a check/);
  });

  it('healthy', () => {
    expect(state(withWorkloads()).stage).toBe('Settling');
  });

  it('is asked only once the pods are Ready, and before the health query', () => {
    let askedHealth = 0;
    const h = () => {
      askedHealth++;
      return { ok: true, detail: '', checkedAt: NOW };
    };
    expect(state(withWorkloads({ ok: false, detail: 'down' }, h)).stage).toBe('WorkloadsUnavailable');
    expect(askedHealth).toBe(0);
    let askedWorkloads = 0;
    check(
      rebooted(),
      { workloads: record },
      {
        pods: pods({ notReady: ['a/b'] }),
        workloads: () => {
          askedWorkloads++;
          return { ok: true, detail: '' };
        },
      },
    );
    expect(askedWorkloads).toBe(0);
  });
});
