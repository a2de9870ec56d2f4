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
 * Of the annotations only baton's are kept (`baton.dev/…`: nothing else is read), and of the
 * conditions only those read: Ready, RebootRequired and the controller's own RebootGate; the
 * kubelet's pressure conditions and whatever other controllers add are left behind. The strings
 * that repeat from node to node (label values, condition types, reasons, messages) are shared
 * through one bounded pool instead of one copy per node.
 *
 * Safe because the controller never writes a cached Node back whole: its one write to Nodes is
 * a strategic-merge patch of its own condition (gate-condition-writer.ts).
 */
import { DOMAIN, REBOOT_GATE_CONDITION, REBOOT_REQUIRED_CONDITION } from '@baton/protocol';
import type { V1Node, V1NodeCondition, V1NodeSystemInfo } from '@kubernetes/client-node';

/** The condition types a decision, a metric or the status API reads. */
export const KEPT_CONDITIONS: ReadonlySet<string> = new Set([
  'Ready',
  REBOOT_REQUIRED_CONDITION,
  REBOOT_GATE_CONDITION,
]);

const BATON_ANNOTATION_PREFIX = `${DOMAIN}/`;

/**
 * One copy of each string that many nodes repeat. Bounded: a string longer than
 * MAX_POOLED_LENGTH is kept as it is, and the pool starts afresh once it holds POOL_LIMIT
 * strings, so values unique to each node (host names, grant IDs) cannot grow it without end.
 */
const MAX_POOLED_LENGTH = 256;
const POOL_LIMIT = 50_000;
const pool = new Map<string, string>();

export function pooled<T extends string | undefined>(s: T): T {
  if (s === undefined || s.length > MAX_POOLED_LENGTH) return s;
  const have = pool.get(s);
  if (have !== undefined) return have as T;
  if (pool.size >= POOL_LIMIT) pool.clear();
  pool.set(s, s);
  return s;
}

function pooledValues(
  record: Readonly<Record<string, string>> | undefined,
  keep: (key: string) => boolean,
): Record<string, string> | undefined {
  if (record === undefined) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(record)) if (keep(k)) out[k] = pooled(v);
  return out;
}

function projectCondition(c: V1NodeCondition): V1NodeCondition {
  return {
    type: pooled(c.type),
    status: pooled(c.status),
    reason: pooled(c.reason),
    message: pooled(c.message),
    lastHeartbeatTime: c.lastHeartbeatTime,
    lastTransitionTime: c.lastTransitionTime,
  };
}

export function projectNode(node: V1Node): V1Node {
  const m = node.metadata;
  const bootID = node.status?.nodeInfo?.bootID;
  const conditions = node.status?.conditions;
  return {
    metadata:
      m === undefined
        ? undefined
        : {
            name: m.name,
            uid: m.uid,
            resourceVersion: m.resourceVersion,
            labels: pooledValues(m.labels, () => true),
            annotations: pooledValues(m.annotations, (k) => k.startsWith(BATON_ANNOTATION_PREFIX)),
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
            conditions:
              conditions === undefined
                ? undefined
                : conditions.filter((c) => KEPT_CONDITIONS.has(c.type)).map(projectCondition),
            // Only the boot ID is read; the type asks for every field of the system info.
            nodeInfo: bootID === undefined ? undefined : ({ bootID } as V1NodeSystemInfo),
          },
  };
}
