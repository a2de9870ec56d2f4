/**
 * Which Node changes can change a decision. Every agent rewrites its node's RebootRequired
 * condition once per heartbeat and kubelets refresh their own conditions' heartbeat times; at
 * 5,000 nodes that is a steady stream of watch events that change nothing the controller reads.
 * Re-planning over every node for each of them was most of an idle controller's CPU. A change
 * that only moves heartbeat times, the resourceVersion or managedFields is skipped; anything
 * else — labels, baton's annotations, cordon and taints, a condition's status, reason, message
 * or transition time, the bootID — schedules a reconcile. Time-driven decisions do not depend
 * on events: the controller's own wake-up timer and period tick cover them.
 */
import { createHash } from 'node:crypto';
import { DOMAIN, LEADER_LEASE } from '@baton/protocol';
import type { V1Lease, V1Node } from '@kubernetes/client-node';
import { KEPT_CONDITIONS } from './node-projection.ts';

/**
 * A timestamp as milliseconds: a listed Node (deserialized by client-node) carries Date objects,
 * a watched one ISO strings; both must give the same fingerprint.
 */
const millis = (t: Date | string | undefined | null): number | '' =>
  t === undefined || t === null ? '' : new Date(t).getTime();

/** The part of a Node the controller's decisions read, as a comparable string. */
export function nodeFingerprint(node: V1Node): string {
  const annotations = Object.entries(node.metadata?.annotations ?? {})
    .filter(([k]) => k.startsWith(`${DOMAIN}/`))
    .sort(([a], [b]) => a.localeCompare(b));
  const labels = Object.entries(node.metadata?.labels ?? {}).sort(([a], [b]) => a.localeCompare(b));
  const conditions = (node.status?.conditions ?? [])
    .filter((c) => KEPT_CONDITIONS.has(c.type))
    .map((c) => [c.type, c.status, c.reason ?? '', c.message ?? '', millis(c.lastTransitionTime)])
    .sort((a, b) => String(a[0]).localeCompare(String(b[0])));
  return JSON.stringify([
    labels,
    annotations,
    node.spec?.unschedulable === true,
    (node.spec?.taints ?? []).map((t) => [t.key, t.value ?? '', t.effect]),
    conditions,
    node.status?.nodeInfo?.bootID ?? '',
    millis(node.metadata?.deletionTimestamp),
  ]);
}

/**
 * Remembers a digest of each node's fingerprint (the fingerprint itself is a kilobyte or more
 * per node) and says whether an informer event is worth a reconcile: always for a relist, an
 * added or deleted node; for an update only when the fingerprint moved.
 */
export class NodeChangeFilter {
  readonly #seen = new Map<string, string>();

  relevant(event: 'add' | 'update' | 'delete' | 'resync', node: V1Node | undefined): boolean {
    const name = node?.metadata?.name;
    if (event === 'resync' || node === undefined || name === undefined) return true;
    if (event === 'delete') {
      this.#seen.delete(name);
      return true;
    }
    const fp = createHash('sha256').update(nodeFingerprint(node)).digest('base64');
    const before = this.#seen.get(name);
    this.#seen.set(name, fp);
    return event === 'add' || before !== fp;
  }
}

/**
 * Whether a Lease event is worth a reconcile: every change but the leader Lease's. That one is
 * renewed every few seconds and decides nothing here (the elector calls back when leadership
 * itself changes); re-planning on each renewal was a full plan over every node every 2 s.
 */
export function relevantLeaseChange(lease: V1Lease | undefined): boolean {
  return lease?.metadata?.name !== LEADER_LEASE;
}
