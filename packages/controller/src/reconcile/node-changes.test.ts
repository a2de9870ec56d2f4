import type { V1Node } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { NodeChangeFilter, nodeFingerprint, relevantLeaseChange } from './node-changes.ts';

function node(over: (n: V1Node) => void = () => {}): V1Node {
  const n: V1Node = {
    metadata: {
      name: 'n1',
      resourceVersion: '10',
      labels: { zone: 'a' },
      annotations: { 'baton.dev/phase': 'Rebooted', 'example.com/other': 'x' },
    },
    spec: { unschedulable: false },
    status: {
      nodeInfo: { bootID: 'boot-1' } as NonNullable<V1Node['status']>['nodeInfo'],
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'KubeletReady',
          lastHeartbeatTime: new Date('2026-11-26T10:00:00Z'),
          lastTransitionTime: new Date('2026-11-26T09:00:00Z'),
        },
        {
          type: 'RebootRequired',
          status: 'False',
          reason: 'NoSentinel',
          lastHeartbeatTime: new Date('2026-11-26T10:00:00Z'),
          lastTransitionTime: new Date('2026-11-26T09:00:00Z'),
        },
      ],
    },
  };
  over(n);
  return n;
}

describe('nodeFingerprint', () => {
  it('ignores heartbeat times, the resourceVersion, managedFields and annotations of others', () => {
    const base = nodeFingerprint(node());
    const heartbeat = node((n) => {
      n.metadata!.resourceVersion = '11';
      n.metadata!.managedFields = [{ manager: 'kubelet' }];
      n.metadata!.annotations!['example.com/other'] = 'y';
      for (const c of n.status!.conditions!) c.lastHeartbeatTime = new Date('2026-11-26T10:05:00Z');
    });
    expect(nodeFingerprint(heartbeat)).toBe(base);
  });

  it('is the same for a Node as listed (Date objects) and as watched (ISO strings)', () => {
    const listed = node();
    const watched = JSON.parse(JSON.stringify(listed)) as V1Node;
    expect(typeof watched.status?.conditions?.[0]?.lastTransitionTime).toBe('string');
    expect(nodeFingerprint(watched)).toBe(nodeFingerprint(listed));
  });

  it('moves with every field a decision reads', () => {
    const base = nodeFingerprint(node());
    const changes: ((n: V1Node) => void)[] = [
      (n) => {
        n.metadata!.labels!.zone = 'b';
      },
      (n) => {
        n.metadata!.labels!['baton.dev/opt-out'] = 'true';
      },
      (n) => {
        n.metadata!.annotations!['baton.dev/phase'] = 'Draining';
      },
      (n) => {
        n.metadata!.annotations!['baton.dev/reboot-requested'] = 'now';
      },
      (n) => {
        n.spec!.unschedulable = true;
      },
      (n) => {
        n.spec!.taints = [{ key: 'k', effect: 'NoSchedule' }];
      },
      (n) => {
        n.status!.conditions![1]!.status = 'True';
      },
      (n) => {
        n.status!.conditions![1]!.reason = 'RebootRequested';
      },
      (n) => {
        n.status!.conditions![0]!.message = 'container runtime down';
      },
      (n) => {
        n.status!.conditions![0]!.lastTransitionTime = new Date('2026-11-26T10:01:00Z');
      },
      (n) => {
        n.status!.conditions!.push({ type: 'RebootGate', status: 'True' });
      },
      (n) => {
        n.status!.nodeInfo!.bootID = 'boot-2';
      },
      (n) => {
        n.metadata!.deletionTimestamp = new Date('2026-11-26T10:02:00Z');
      },
    ];
    for (const change of changes) expect(nodeFingerprint(node(change)), String(change)).not.toBe(base);
  });
});

describe('NodeChangeFilter', () => {
  it('passes adds, deletes and relists; an update only when the fingerprint moved', () => {
    const f = new NodeChangeFilter();
    expect(f.relevant('add', node())).toBe(true);
    const beat = node((n) => {
      for (const c of n.status!.conditions!) c.lastHeartbeatTime = new Date('2026-11-26T10:05:00Z');
    });
    expect(f.relevant('update', beat)).toBe(false);
    const cordon = (n: V1Node) => {
      n.spec!.unschedulable = true;
    };
    expect(f.relevant('update', node(cordon))).toBe(true);
    expect(f.relevant('update', node(cordon))).toBe(false);
    expect(f.relevant('resync', undefined)).toBe(true);
    expect(f.relevant('delete', node())).toBe(true);
    // Seen for the first time as an update (after a delete, or a relist the filter missed).
    expect(f.relevant('update', node())).toBe(true);
  });
});

describe('relevantLeaseChange', () => {
  it('skips only the leader Lease', () => {
    expect(relevantLeaseChange({ metadata: { name: 'baton-controller-leader' } })).toBe(false);
    expect(relevantLeaseChange({ metadata: { name: 'baton-slot-0' } })).toBe(true);
    expect(relevantLeaseChange({ metadata: { name: 'baton-pause' } })).toBe(true);
    expect(relevantLeaseChange(undefined)).toBe(true); // a relist
  });
});
