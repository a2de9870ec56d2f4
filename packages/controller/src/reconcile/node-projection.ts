/**
 * The part of a Node the controller keeps in its cache: what its decisions read (see
 * nodeFingerprint in node-changes.ts) and what identifies the object. Everything else a kubelet
 * reports — addresses, capacity, allocatable, images, volumes, daemon endpoints, the rest of
 * nodeInfo — is left behind as each Node is listed or watched, so the cache of thousands of
 * Nodes holds only a few hundred bytes of each.
 *
 * A new object of one fixed shape, not the listed one with fields deleted: V8 keeps objects of
 * one shape compact, and turns an object it deletes properties from into a slower, larger one.
 *
 * Safe because the controller never writes a cached Node back whole: its one write to Nodes is
 * a strategic-merge patch of its own condition (gate-condition-writer.ts).
 */
import type { V1Node, V1NodeSystemInfo } from '@kubernetes/client-node';

export function projectNode(node: V1Node): V1Node {
  const m = node.metadata;
  const bootID = node.status?.nodeInfo?.bootID;
  return {
    metadata:
      m === undefined
        ? undefined
        : {
            name: m.name,
            uid: m.uid,
            resourceVersion: m.resourceVersion,
            labels: m.labels,
            annotations: m.annotations,
            creationTimestamp: m.creationTimestamp,
            deletionTimestamp: m.deletionTimestamp,
          },
    spec:
      node.spec === undefined
        ? undefined
        : { unschedulable: node.spec.unschedulable, taints: node.spec.taints },
    status:
      node.status === undefined
        ? undefined
        : {
            conditions: node.status.conditions,
            // Only the boot ID is read; the type asks for every field of the system info.
            nodeInfo: bootID === undefined ? undefined : ({ bootID } as V1NodeSystemInfo),
          },
  };
}
