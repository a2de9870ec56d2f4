/**
 * The part of a Node the controller keeps in its cache: what its decisions read (see
 * nodeFingerprint in node-changes.ts) and what identifies the object. Everything else a kubelet
 * reports — addresses, capacity, allocatable, images, volumes, daemon endpoints, the rest of
 * nodeInfo — is dropped as each Node is listed or watched, so the cache of thousands of Nodes
 * holds only a few hundred bytes of each.
 *
 * Safe because the controller never writes a cached Node back whole: its one write to Nodes is
 * a strategic-merge patch of its own condition (gate-condition-writer.ts).
 */
import type { V1Node } from '@kubernetes/client-node';

const KEEP_METADATA = new Set([
  'name',
  'uid',
  'resourceVersion',
  'labels',
  'annotations',
  'creationTimestamp',
  'deletionTimestamp',
]);
const KEEP_SPEC = new Set(['unschedulable', 'taints']);
const KEEP_STATUS = new Set(['conditions', 'nodeInfo']);

function keepOnly(obj: object | undefined, keep: ReadonlySet<string>): void {
  if (obj === undefined || obj === null) return;
  const record = obj as Record<string, unknown>;
  for (const key of Object.keys(record)) if (!keep.has(key)) delete record[key];
}

/** Trims `node` in place to the projection; returns it. */
export function projectNode(node: V1Node): V1Node {
  keepOnly(node.metadata, KEEP_METADATA);
  keepOnly(node.spec, KEEP_SPEC);
  keepOnly(node.status, KEEP_STATUS);
  const bootID = node.status?.nodeInfo?.bootID;
  if (node.status?.nodeInfo !== undefined) {
    // Only the boot ID is read; V1NodeSystemInfo's other fields are required by its type.
    keepOnly(node.status.nodeInfo, new Set(['bootID']));
    if (bootID === undefined) delete node.status.nodeInfo;
  }
  return node;
}
