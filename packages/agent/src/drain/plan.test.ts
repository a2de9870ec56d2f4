import { parseLabelSelector } from '@baton/protocol/config';
import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { pod } from './fakes.ts';
import { type DrainPlanOptions, planDrain, podKey } from './plan.ts';

const permissive: DrainPlanOptions = { deleteEmptyDirData: true, evictUnmanagedPods: true };
const strict: DrainPlanOptions = { deleteEmptyDirData: false, evictUnmanagedPods: false };

interface Case {
  readonly name: string;
  readonly pods: V1Pod[];
  readonly opts: DrainPlanOptions;
  readonly evict: string[];
  readonly skipped?: [string, string][];
  readonly refused?: [string, string][];
}

const EMPTYDIR = (v: string) =>
  `has local data in emptyDir volume ${v}; set --delete-emptydir-data to evict it`;
const UNMANAGED = 'not managed by a controller; it would not come back; set --evict-unmanaged-pods';

const cases: Case[] = [
  { name: 'no pods', pods: [], opts: strict, evict: [] },
  {
    name: 'a ReplicaSet pod is evicted',
    pods: [pod('web')],
    opts: strict,
    evict: ['default/web'],
  },
  {
    name: 'a mirror (static) pod is skipped, even without a controller',
    pods: [pod('kube-apiserver-node-a', { owner: 'none', mirror: true, namespace: 'kube-system' })],
    opts: strict,
    evict: [],
    skipped: [['kube-system/kube-apiserver-node-a', 'mirror']],
  },
  {
    name: 'a DaemonSet pod is skipped, even with an emptyDir',
    pods: [pod('fluentbit-x', { owner: 'DaemonSet', emptyDir: ['buffer'] })],
    opts: strict,
    evict: [],
    skipped: [['default/fluentbit-x', 'daemonset']],
  },
  {
    name: 'a DaemonSet owner that is not the controller does not count',
    pods: [
      {
        ...pod('odd', { owner: 'none' }),
        metadata: {
          name: 'odd',
          namespace: 'default',
          uid: 'u',
          ownerReferences: [{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'ds', uid: 'd' }],
        },
      },
    ],
    opts: permissive,
    evict: ['default/odd'],
  },
  {
    name: 'Succeeded and Failed pods are skipped as completed, even unmanaged with emptyDir',
    pods: [
      pod('job-ok', { phase: 'Succeeded', owner: 'none', emptyDir: ['scratch'] }),
      pod('job-bad', { phase: 'Failed' }),
      pod('starting', { phase: 'Pending' }),
    ],
    opts: strict,
    evict: ['default/starting'],
    skipped: [
      ['default/job-bad', 'completed'],
      ['default/job-ok', 'completed'],
    ],
  },
  {
    name: 'the drain pod selector limits what is evicted',
    pods: [pod('web', { labels: { tier: 'web' } }), pod('db', { labels: { tier: 'db' } }), pod('bare')],
    opts: { ...permissive, podSelector: parseLabelSelector('tier in (web,cache)') },
    evict: ['default/web'],
    skipped: [
      ['default/bare', 'not-selected'],
      ['default/db', 'not-selected'],
    ],
  },
  {
    name: 'an unselected pod is skipped, not refused',
    pods: [pod('bare', { owner: 'none', emptyDir: ['x'] })],
    opts: { ...strict, podSelector: parseLabelSelector('tier=web') },
    evict: [],
    skipped: [['default/bare', 'not-selected']],
  },
  {
    name: 'an emptyDir pod is refused without --delete-emptydir-data',
    pods: [pod('cache', { emptyDir: ['data'] }), pod('web')],
    opts: { ...permissive, deleteEmptyDirData: false },
    evict: ['default/web'],
    refused: [['default/cache', EMPTYDIR('data')]],
  },
  {
    name: 'several emptyDir volumes are all named',
    pods: [pod('cache', { emptyDir: ['a', 'b'] })],
    opts: { ...permissive, deleteEmptyDirData: false },
    evict: [],
    refused: [
      ['default/cache', 'has local data in emptyDir volumes a, b; set --delete-emptydir-data to evict it'],
    ],
  },
  {
    name: 'an emptyDir pod is evicted with --delete-emptydir-data',
    pods: [pod('cache', { emptyDir: ['data'] })],
    opts: permissive,
    evict: ['default/cache'],
  },
  {
    name: 'an unmanaged pod is refused without --evict-unmanaged-pods',
    pods: [pod('debug', { owner: 'none' })],
    opts: { ...permissive, evictUnmanagedPods: false },
    evict: [],
    refused: [['default/debug', UNMANAGED]],
  },
  {
    name: 'an unmanaged pod is evicted with --evict-unmanaged-pods',
    pods: [pod('debug', { owner: 'none' })],
    opts: permissive,
    evict: ['default/debug'],
  },
  {
    name: 'both problems make one refusal with both reasons',
    pods: [pod('debug', { owner: 'none', emptyDir: ['tmp'] })],
    opts: strict,
    evict: [],
    refused: [['default/debug', `${EMPTYDIR('tmp')}; ${UNMANAGED}`]],
  },
  {
    name: 'a pod already being deleted is not refused: it goes away anyway',
    pods: [pod('leaving', { owner: 'none', emptyDir: ['tmp'], deletionTimestamp: new Date(0) })],
    opts: strict,
    evict: ['default/leaving'],
  },
];

describe('planDrain', () => {
  it.each(cases)('$name', ({ pods, opts, evict, skipped = [], refused = [] }) => {
    const plan = planDrain(pods, opts);
    expect(plan.evict.map(podKey)).toEqual(evict);
    expect(plan.skipped.map((s) => [podKey(s.pod), s.reason])).toEqual(skipped);
    expect(plan.refused.map((r) => [podKey(r.pod), r.reason])).toEqual(refused);
    // Every pod lands in exactly one list.
    expect(plan.evict.length + plan.skipped.length + plan.refused.length).toBe(pods.length);
  });

  it('orders by namespace, then name, then UID, whatever the input order', () => {
    const pods = [
      pod('b', { namespace: 'a' }),
      pod('x', { namespace: 'a-b' }),
      pod('a', { namespace: 'b' }),
      pod('a', { namespace: 'a', uid: 'u2' }),
      pod('a', { namespace: 'a', uid: 'u1' }),
    ];
    const plan = planDrain(pods, permissive);
    expect(plan.evict.map((p) => `${podKey(p)}@${p.metadata?.uid}`)).toEqual([
      'a/a@u1',
      'a/a@u2',
      'a/b@uid-a-b',
      'a-b/x@uid-a-b-x',
      'b/a@uid-b-a',
    ]);
    expect(planDrain([...pods].reverse(), permissive).evict).toEqual(plan.evict);
  });

  it('does not modify its input', () => {
    const pods = [pod('b'), pod('a')];
    planDrain(pods, permissive);
    expect(pods.map(podKey)).toEqual(['default/b', 'default/a']);
  });
});
