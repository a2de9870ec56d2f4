import { GateReason } from '@baton/protocol';
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { blockingPodsGate, type PodView } from './blocking-pods.ts';

const node = (name: string): V1Node => ({ metadata: { name } });
const pod = (name: string, nodeName: string | undefined, phase = 'Running', ns = 'db'): V1Pod => ({
  metadata: { name, namespace: ns },
  spec: { containers: [], nodeName },
  status: { phase },
});
const view = (selector: string, pods: V1Pod[], synced = true): PodView => ({
  selector,
  list: () => pods,
  synced: () => synced,
});
const NOW = new Date();

describe('blockingPodsGate', () => {
  const cases: {
    name: string;
    views: PodView[];
    scope: 'node' | 'cluster';
    node: string;
    want: { reason: GateReason; detail: RegExp } | undefined;
  }[] = [
    {
      name: 'no matching pod: open',
      views: [view('app=db', [])],
      scope: 'node',
      node: 'n1',
      want: undefined,
    },
    {
      name: 'node scope: a pod on the node blocks it',
      views: [view('app=db', [pod('pg-0', 'n1')])],
      scope: 'node',
      node: 'n1',
      want: { reason: GateReason.BlockingPod, detail: /^pod db\/pg-0 \(app=db\) on this node$/ },
    },
    {
      name: 'node scope: a pod on another node does not block',
      views: [view('app=db', [pod('pg-0', 'n2')])],
      scope: 'node',
      node: 'n1',
      want: undefined,
    },
    {
      name: 'node scope: an unscheduled pod blocks no node',
      views: [view('app=db', [pod('pg-0', undefined, 'Pending')])],
      scope: 'node',
      node: 'n1',
      want: undefined,
    },
    {
      name: 'cluster scope: a pod anywhere blocks every node',
      views: [view('app=db', [pod('pg-0', 'n2')])],
      scope: 'cluster',
      node: 'n1',
      want: { reason: GateReason.BlockingPod, detail: /db\/pg-0 \(app=db\) in the cluster/ },
    },
    {
      name: 'cluster scope: even an unscheduled pod blocks',
      views: [view('job=backup', [pod('backup-x', undefined, 'Pending')])],
      scope: 'cluster',
      node: 'n1',
      want: { reason: GateReason.BlockingPod, detail: /backup-x/ },
    },
    {
      name: 'completed pods do not block',
      views: [view('app=db', [pod('a', 'n1', 'Succeeded'), pod('b', 'n1', 'Failed')])],
      scope: 'node',
      node: 'n1',
      want: undefined,
    },
    {
      name: 'a pod in phase Unknown blocks (fail closed)',
      views: [view('app=db', [pod('a', 'n1', 'Unknown')])],
      scope: 'node',
      node: 'n1',
      want: { reason: GateReason.BlockingPod, detail: /db\/a/ },
    },
    {
      name: 'several selectors are OR: the second one blocks',
      views: [view('app=db', []), view('app=cache', [pod('redis-0', 'n1', 'Running', 'cache')])],
      scope: 'node',
      node: 'n1',
      want: { reason: GateReason.BlockingPod, detail: /cache\/redis-0 \(app=cache\)/ },
    },
    {
      name: 'many pods: three named, the rest counted',
      views: [
        view(
          'app=db',
          ['a', 'b', 'c', 'd', 'e'].map((n) => pod(n, 'n1')),
        ),
      ],
      scope: 'node',
      node: 'n1',
      want: {
        reason: GateReason.BlockingPod,
        detail: /^pods db\/a \(app=db\), db\/b \(app=db\), db\/c \(app=db\) and 2 more on this node$/,
      },
    },
    {
      name: 'a watch out of sync blocks every node, naming the selector',
      views: [view('app=db', [], true), view('app=cache', [], false)],
      scope: 'node',
      node: 'n1',
      want: { reason: GateReason.BlockingPodsUnknown, detail: /"app=cache" is not in sync/ },
    },
  ];
  it.each(cases)('$name', ({ views, scope, node: n, want }) => {
    const b = blockingPodsGate(views, scope).blocks(node(n), NOW);
    if (want === undefined) expect(b).toBeUndefined();
    else {
      expect(b?.reason).toBe(want.reason);
      expect(b?.detail).toMatch(want.detail);
    }
  });
});
