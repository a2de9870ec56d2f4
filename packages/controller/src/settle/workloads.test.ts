import type { V1Pod, V1PodDisruptionBudget, V1ReplicaSet } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { HealthView } from './settle.ts';
import {
  formatWorkloadRecord,
  parseWorkloadRecord,
  pdbProblem,
  type WorkloadRecord,
  workloadProblem,
  workloadRecord,
} from './workloads.ts';
import { recordWorkloads, type WorkloadsApi, WorkloadsProbe } from './workloads-probe.ts';

const owned = (kind: string, name: string) => [
  { apiVersion: 'apps/v1', kind, name, uid: name, controller: true },
];

function pod(
  name: string,
  o: {
    ns?: string;
    owner?: [string, string];
    labels?: Record<string, string>;
    phase?: string;
    mirror?: boolean;
  } = {},
): V1Pod {
  return {
    metadata: {
      name,
      namespace: o.ns ?? 'app',
      labels: o.labels ?? {},
      ownerReferences: o.owner ? owned(...o.owner) : undefined,
      annotations: o.mirror ? { 'kubernetes.io/config.mirror': 'x' } : undefined,
    },
    status: { phase: o.phase ?? 'Running' },
  };
}

const rs = (name: string, deployment?: string): V1ReplicaSet => ({
  metadata: {
    name,
    namespace: 'app',
    ownerReferences: deployment ? owned('Deployment', deployment) : undefined,
  },
});

const pdb = (name: string, selector: V1PodDisruptionBudget['spec'], ns = 'app'): V1PodDisruptionBudget => ({
  metadata: { name, namespace: ns },
  spec: selector,
});

describe('workloadRecord', () => {
  it('resolves ReplicaSets to their Deployment, keeps StatefulSets and bare ReplicaSets, skips what a drain leaves', () => {
    const pods = [
      pod('web-1', { owner: ['ReplicaSet', 'web-abc'], labels: { app: 'web' } }),
      pod('web-2', { owner: ['ReplicaSet', 'web-abc'], labels: { app: 'web' } }),
      pod('db-0', { owner: ['StatefulSet', 'db'], labels: { app: 'db' } }),
      pod('old-1', { owner: ['ReplicaSet', 'old'] }),
      pod('gone-1', { owner: ['ReplicaSet', 'gone'] }),
      pod('agent', { owner: ['DaemonSet', 'baton-agent'], labels: { app: 'web' } }),
      pod('static', { mirror: true, labels: { app: 'web' } }),
      pod('job-1', { owner: ['Job', 'backup'], phase: 'Succeeded', labels: { app: 'db' } }),
      pod('bare', { labels: { app: 'db' } }),
    ];
    const replicaSets = new Map([
      ['app/web-abc', rs('web-abc', 'web')],
      ['app/old', rs('old')],
      ['app/gone', undefined],
    ]);
    const pdbs = [
      pdb('web', { selector: { matchLabels: { app: 'web' } } }),
      pdb('db', { selector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['db'] }] } }),
      pdb('other-ns', { selector: { matchLabels: { app: 'web' } } }, 'elsewhere'),
      pdb('nothing', { selector: { matchLabels: { app: 'none' } } }),
      pdb('null-selector', {}),
      pdb('everything', { selector: {} }),
    ];
    const r = workloadRecord(pods, replicaSets, pdbs);
    expect(formatWorkloadRecord(r)).toBe(
      JSON.stringify({
        workloads: ['Deployment/app/web', 'ReplicaSet/app/old', 'StatefulSet/app/db'],
        pdbs: ['app/db', 'app/everything', 'app/web'],
      }),
    );
  });

  it('is empty for a node with only DaemonSet and finished pods', () => {
    const r = workloadRecord(
      [pod('a', { owner: ['DaemonSet', 'x'] }), pod('b', { phase: 'Failed' })],
      new Map(),
      [pdb('all', { selector: {} })],
    );
    expect(r).toEqual({ workloads: [], pdbs: [] });
  });
});

describe('parseWorkloadRecord', () => {
  it('reads back what formatWorkloadRecord writes, with and without the count at the grant', () => {
    const r: WorkloadRecord = {
      workloads: [
        { kind: 'Deployment', namespace: 'db', name: 'api', availableAtGrant: 0 },
        { kind: 'StatefulSet', namespace: 'db', name: 'pg.main' },
        { kind: 'StatefulSet', namespace: 'db', name: 'redis', availableAtGrant: 3 },
      ],
      pdbs: [{ namespace: 'db', name: 'pg' }],
    };
    expect(formatWorkloadRecord(r)).toBe(
      '{"workloads":["Deployment/db/api=0","StatefulSet/db/pg.main","StatefulSet/db/redis=3"],"pdbs":["db/pg"]}',
    );
    expect(parseWorkloadRecord(formatWorkloadRecord(r))).toEqual(r);
  });

  it.each([
    ['not json', 'not JSON'],
    ['[]', 'expected {"workloads": [...], "pdbs": [...]}'],
    ['{"workloads":[]}', 'expected {"workloads": [...], "pdbs": [...]}'],
    [
      '{"workloads":["Job/a/b"],"pdbs":[]}',
      'workload "Job/a/b" is not Kind/namespace/name or Kind/namespace/name=N',
    ],
    [
      '{"workloads":["Deployment/a/b=-1"],"pdbs":[]}',
      'workload "Deployment/a/b=-1" is not Kind/namespace/name or Kind/namespace/name=N',
    ],
    [
      '{"workloads":["Deployment/a/b=01"],"pdbs":[]}',
      'workload "Deployment/a/b=01" is not Kind/namespace/name or Kind/namespace/name=N',
    ],
    ['{"workloads":[],"pdbs":["a/b/c"]}', 'PDB "a/b/c" is not namespace/name'],
    ['null', 'not a JSON object'],
  ])('refuses %s with a reason', (text, problem) => {
    expect(parseWorkloadRecord(text)).toEqual({ problem });
  });
});

describe('workloadProblem and pdbProblem', () => {
  const dep = { kind: 'Deployment', namespace: 'app', name: 'web' } as const;
  it('wants every replica available and the current generation observed', () => {
    expect(
      workloadProblem(dep, {
        metadata: { generation: 2 },
        spec: { replicas: 3, selector: {}, template: {} },
        status: { observedGeneration: 2, availableReplicas: 2 },
      }),
    ).toBe('Deployment/app/web: 2 of 3 replica(s) available');
    expect(
      workloadProblem(dep, {
        metadata: { generation: 3 },
        spec: { replicas: 3, selector: {}, template: {} },
        status: { observedGeneration: 2, availableReplicas: 3 },
      }),
    ).toBe('Deployment/app/web: its controller has not observed generation 3 yet');
    expect(
      workloadProblem(dep, {
        metadata: { generation: 2 },
        spec: { replicas: 3, selector: {}, template: {} },
        status: { observedGeneration: 2, availableReplicas: 3 },
      }),
    ).toBeUndefined();
    // Deleted meanwhile: nothing of it is coming back, nothing to wait for.
    expect(workloadProblem(dep, undefined)).toBeUndefined();
    // No status yet at all: 0 available.
    expect(workloadProblem(dep, { spec: { replicas: 1, selector: {}, template: {} } })).toBe(
      'Deployment/app/web: 0 of 1 replica(s) available',
    );
  });

  it('wants back what was available at the grant, not more: a workload already short does not block', () => {
    const deployment = (available: number) => ({
      metadata: { generation: 1 },
      spec: { replicas: 3, selector: {}, template: {} },
      status: { observedGeneration: 1, availableReplicas: available },
    });
    const shortBefore = { ...dep, availableAtGrant: 2 };
    expect(workloadProblem(shortBefore, deployment(2))).toBeUndefined();
    expect(workloadProblem(shortBefore, deployment(1))).toBe(
      'Deployment/app/web: 1 of 2 replica(s) available (2 were available at the grant, 3 wanted)',
    );
    // Scaled down since the grant: the smaller count is what must be back.
    expect(workloadProblem({ ...dep, availableAtGrant: 5 }, deployment(3))).toBeUndefined();
    expect(workloadProblem({ ...dep, availableAtGrant: 5 }, deployment(2))).toBe(
      'Deployment/app/web: 2 of 3 replica(s) available',
    );
    // Nothing was available at the grant: nothing to wait for.
    expect(workloadProblem({ ...dep, availableAtGrant: 0 }, deployment(0))).toBeUndefined();
  });

  it('wants a PDB at its desired healthy count', () => {
    const ref = { namespace: 'app', name: 'web' };
    expect(
      pdbProblem(ref, {
        status: { currentHealthy: 1, desiredHealthy: 2, disruptionsAllowed: 0, expectedPods: 2 },
      }),
    ).toBe('PDB app/web: 1 healthy of 2 desired');
    expect(
      pdbProblem(ref, {
        metadata: { generation: 2 },
        status: {
          observedGeneration: 2,
          currentHealthy: 2,
          desiredHealthy: 2,
          disruptionsAllowed: 0,
          expectedPods: 2,
        },
      }),
    ).toBeUndefined();
    expect(pdbProblem(ref, undefined)).toBeUndefined();
  });
});

function fakeApi(state: { available: number; fail?: boolean }): WorkloadsApi & { reads: number } {
  const api = {
    reads: 0,
    podsOnNode: async () => [pod('web-1', { owner: ['ReplicaSet', 'web-abc'], labels: { app: 'web' } })],
    replicaSet: async () => rs('web-abc', 'web'),
    pdbs: async () => [pdb('web', { selector: { matchLabels: { app: 'web' } } })],
    workload: async () => {
      api.reads++;
      if (state.fail) throw new Error('connection refused');
      return {
        spec: { replicas: 2, selector: {}, template: {} },
        status: { availableReplicas: state.available },
      };
    },
    pdb: async () => ({
      status: { currentHealthy: state.available, desiredHealthy: 1, disruptionsAllowed: 0, expectedPods: 2 },
    }),
  };
  return api;
}

describe('recordWorkloads', () => {
  it('lists the node once and writes the canonical record, with the replicas available now', async () => {
    expect(await recordWorkloads(fakeApi({ available: 2 }), 'n1')).toBe(
      '{"workloads":["Deployment/app/web=2"],"pdbs":["app/web"]}',
    );
    expect(await recordWorkloads(fakeApi({ available: 1 }), 'n1')).toBe(
      '{"workloads":["Deployment/app/web=1"],"pdbs":["app/web"]}',
    );
  });

  it('throws when a workload cannot be read (the grant waits); one already gone is recorded without a count', async () => {
    await expect(recordWorkloads(fakeApi({ available: 2, fail: true }), 'n1')).rejects.toThrow(
      'connection refused',
    );
    const gone = { ...fakeApi({ available: 2 }), workload: async () => undefined };
    expect(await recordWorkloads(gone, 'n1')).toBe('{"workloads":["Deployment/app/web"],"pdbs":["app/web"]}');
  });

  it('throws when the pods cannot be listed (the grant waits)', async () => {
    const api = {
      ...fakeApi({ available: 2 }),
      podsOnNode: async () => {
        throw new Error('forbidden');
      },
    };
    await expect(recordWorkloads(api, 'n1')).rejects.toThrow('forbidden');
  });
});

describe('WorkloadsProbe', () => {
  const record: WorkloadRecord = {
    workloads: [{ kind: 'Deployment', namespace: 'app', name: 'web' }],
    pdbs: [{ namespace: 'app', name: 'web' }],
  };

  it('checks on demand at most every refreshMs, and times the run of healthy answers', async () => {
    const state = { available: 1 };
    const api = fakeApi(state);
    let now = new Date('2026-11-25T12:00:00Z');
    let changes = 0;
    const probe = new WorkloadsProbe({ api, now: () => now, refreshMs: 2000, onChange: () => changes++ });
    expect(probe.view(record)).toEqual({ ok: false, detail: 'not checked yet' });
    await probe.settled();
    expect(changes).toBe(1);
    const first: HealthView = probe.view(record);
    expect(first.ok).toBe(false);
    expect(first.detail).toBe('Deployment/app/web: 1 of 2 replica(s) available');
    expect(api.reads).toBe(1); // not due again yet
    state.available = 2;
    now = new Date(now.getTime() + 2000);
    const t1 = now;
    probe.view(record);
    await probe.settled();
    expect(probe.view(record)).toEqual({
      ok: true,
      detail: 'every workload and PDB healthy',
      checkedAt: t1,
      since: t1,
    });
    now = new Date(now.getTime() + 2000);
    probe.view(record);
    await probe.settled();
    expect(probe.view(record).since).toEqual(t1); // the run goes on
  });

  it('an API error is not healthy, with the cause', async () => {
    const probe = new WorkloadsProbe({
      api: fakeApi({ available: 2, fail: true }),
      now: () => new Date(),
      refreshMs: 2000,
      onChange: () => undefined,
    });
    probe.view(record);
    await probe.settled();
    const v = probe.view(record);
    expect(v.ok).toBe(false);
    expect(v.detail).toMatch(/^cannot read the workloads: .*connection refused/);
  });

  it('an empty record is healthy at once, with no API call', () => {
    const api = fakeApi({ available: 0 });
    const probe = new WorkloadsProbe({
      api,
      now: () => new Date(),
      refreshMs: 2000,
      onChange: () => undefined,
    });
    expect(probe.view({ workloads: [], pdbs: [] }).ok).toBe(true);
    expect(api.reads).toBe(0);
  });
});
