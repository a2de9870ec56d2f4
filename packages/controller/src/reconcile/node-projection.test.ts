import type { V1Node } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { nodeFingerprint } from './node-changes.ts';
import { pooled, projectNode } from './node-projection.ts';

/** A Node as a kubelet reports it, with what the controller reads and much that it does not. */
function kubeletNode(): V1Node {
  const t = '2026-12-07T10:00:00Z';
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: 'worker-1',
      uid: 'u-1',
      resourceVersion: '42',
      creationTimestamp: new Date(t),
      labels: { 'kubernetes.io/hostname': 'worker-1', pool: 'a' },
      annotations: { 'baton.dev/phase': 'Idle', 'node.alpha.kubernetes.io/ttl': '0' },
      managedFields: [{ manager: 'kubelet', operation: 'Update', fieldsV1: { 'f:status': {} } }],
      ownerReferences: [],
      finalizers: ['x'],
    },
    spec: {
      unschedulable: true,
      taints: [{ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' }],
      podCIDR: '10.0.0.0/24',
      podCIDRs: ['10.0.0.0/24'],
      providerID: 'kwok://worker-1',
    },
    status: {
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'KubeletReady',
          message: 'ok',
          lastHeartbeatTime: new Date(t),
          lastTransitionTime: new Date(t),
        },
        {
          type: 'RebootRequired',
          status: 'False',
          reason: 'NoSentinel',
          message: 'none',
          lastHeartbeatTime: new Date(t),
          lastTransitionTime: new Date(t),
        },
        {
          type: 'MemoryPressure',
          status: 'False',
          reason: 'KubeletHasSufficientMemory',
          message: 'kubelet has sufficient memory available',
          lastHeartbeatTime: new Date(t),
          lastTransitionTime: new Date(t),
        },
      ],
      nodeInfo: {
        architecture: 'amd64',
        bootID: 'boot-1',
        containerRuntimeVersion: 'containerd://1.7',
        kernelVersion: '6.1',
        kubeProxyVersion: '',
        kubeletVersion: 'v1.35.4',
        machineID: 'm',
        operatingSystem: 'linux',
        osImage: 'Debian',
        systemUUID: 's',
      },
      addresses: [{ type: 'InternalIP', address: '10.1.1.1' }],
      capacity: { cpu: '32', memory: '256Gi', pods: '110' },
      allocatable: { cpu: '32', memory: '256Gi', pods: '110' },
      images: Array.from({ length: 50 }, (_, i) => ({ names: [`registry/image-${i}:v1`], sizeBytes: 1e8 })),
      daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
      volumesInUse: ['v'],
    },
  };
}

describe('projectNode', () => {
  it('keeps everything the decisions read: the fingerprint, the boot ID, the conditions read, whole', () => {
    const full = kubeletNode();
    const projected = projectNode(kubeletNode());
    expect(nodeFingerprint(projected)).toBe(nodeFingerprint(full));
    expect(projected.status?.nodeInfo?.bootID).toBe('boot-1');
    expect(projected.status?.conditions).toEqual(
      full.status?.conditions?.filter((c) => c.type === 'Ready' || c.type === 'RebootRequired'),
    );
    expect(projected.metadata?.labels).toEqual(full.metadata?.labels);
    expect(projected.metadata?.annotations).toEqual({ 'baton.dev/phase': 'Idle' });
    expect(projected.metadata?.resourceVersion).toBe('42');
    expect(projected.metadata?.uid).toBe('u-1');
  });

  it('drops what a kubelet reports that the controller never reads', () => {
    const projected = JSON.parse(JSON.stringify(projectNode(kubeletNode()))) as V1Node;
    expect(Object.keys(projected).sort()).toEqual(['metadata', 'spec', 'status']);
    expect(Object.keys(projected.metadata ?? {}).sort()).toEqual([
      'annotations',
      'creationTimestamp',
      'labels',
      'name',
      'resourceVersion',
      'uid',
    ]);
    expect(Object.keys(projected.spec ?? {}).sort()).toEqual(['taints', 'unschedulable']);
    expect(Object.keys(projected.status ?? {}).sort()).toEqual(['conditions', 'nodeInfo']);
    expect(Object.keys(projected.status?.nodeInfo ?? {})).toEqual(['bootID']);
    expect(JSON.stringify(projected).length).toBeLessThan(JSON.stringify(kubeletNode()).length / 4);
  });

  it('gives every projection the same shape, and leaves the listed object untouched', () => {
    const full = kubeletNode();
    const before = JSON.stringify(full);
    const a = projectNode(full);
    const b = projectNode({ metadata: { name: 'n' }, spec: {}, status: {} });
    expect(Object.keys(a.metadata ?? {})).toEqual(Object.keys(b.metadata ?? {}));
    expect(Object.keys(a.spec ?? {})).toEqual(Object.keys(b.spec ?? {}));
    expect(Object.keys(a.status ?? {})).toEqual(Object.keys(b.status ?? {}));
    expect(JSON.stringify(full)).toBe(before);
  });

  it('projects a Node without status, spec or boot ID to no more than it has', () => {
    expect(JSON.parse(JSON.stringify(projectNode({ metadata: { name: 'n' } })))).toEqual({
      metadata: { name: 'n' },
    });
    const noBoot = projectNode({
      metadata: { name: 'n' },
      status: { nodeInfo: { kubeletVersion: 'v' } as never },
    });
    expect(noBoot.status?.nodeInfo).toBeUndefined();
  });

  it('keeps RebootGate, drops the conditions nothing reads, and still fingerprints a change of one it keeps', () => {
    const full = kubeletNode();
    full.status?.conditions?.push({
      type: 'RebootGate',
      status: 'True',
      reason: 'Granted',
      message: 'slot 0',
    });
    full.status?.conditions?.push({ type: 'DiskPressure', status: 'False' });
    const projected = projectNode(full);
    expect(projected.status?.conditions?.map((c) => c.type)).toEqual([
      'Ready',
      'RebootRequired',
      'RebootGate',
    ]);
    const pressured = kubeletNode();
    const memory = pressured.status?.conditions?.find((c) => c.type === 'MemoryPressure');
    if (memory) memory.status = 'True';
    expect(nodeFingerprint(pressured)).toBe(nodeFingerprint(kubeletNode()));
    const unready = kubeletNode();
    const ready = unready.status?.conditions?.find((c) => c.type === 'Ready');
    if (ready) ready.status = 'False';
    expect(nodeFingerprint(projectNode(unready))).not.toBe(nodeFingerprint(projectNode(kubeletNode())));
  });

  it('pools repeated strings without changing a value, and keeps long ones as they are', () => {
    const long = 'x'.repeat(300);
    expect(pooled(long)).toBe(long);
    expect(pooled(undefined)).toBeUndefined();
    // Past the pool's bound it starts afresh: every value still comes back equal.
    for (let i = 0; i < 60_000; i++) expect(pooled(`v-${i}`)).toBe(`v-${i}`);
    const a = projectNode(kubeletNode());
    const b = projectNode(kubeletNode());
    expect(a.metadata?.labels).toEqual(b.metadata?.labels);
    expect(a.status?.conditions).toEqual(b.status?.conditions);
  });
});
