/**
 * Writing slot Leases by hand, as a controller (or a person) would, for tests where no controller
 * runs: a grant (holder + grant id), the acknowledgement of a reboot, and the release.
 *
 * A grant is judged by its identity, `<slot>/<grant id>` (packages/protocol/src/grant.ts): each
 * {@link grantSlot} is a new acquisition with a new grant id, as the controller's grant is, and
 * inherits nothing of an earlier grant of the slot. The agent gives the reboot command only once
 * the slot Lease acknowledges the reboot ({@link SlotAnnotation.RebootFromBootId}); without a
 * controller, the test acknowledges it ({@link acknowledgeReboot}, or {@link acknowledgeReboots}
 * to do it whenever the agent asks, as the controller would).
 */

import { randomUUID } from 'node:crypto';
import { Annotation, emptiedSlot, grantNaming, grantOf, SlotAnnotation, slotIndexOf } from '@baton/protocol';
import { isNotFound, updateWithRetry } from '@baton/runtime';
import {
  CoordinationV1Api,
  CoreV1Api,
  type KubeConfig,
  type V1Lease,
  V1MicroTime,
} from '@kubernetes/client-node';

/**
 * Writes `holder` with fresh times into Lease `name` (created if missing), as leader election
 * does: no grant id, no other change. For Leases that are not grants (the leader Lease).
 */
export async function holdLease(
  kc: KubeConfig,
  namespace: string,
  name: string,
  holder: string,
  durationSeconds = 120,
): Promise<V1Lease> {
  return writeLease(kc, namespace, name, holder, durationSeconds, (l) => l);
}

export interface HandGrant {
  /** The grant id; default a new UUID (a new acquisition, as every grant of the controller). */
  readonly grantId?: string;
}

/**
 * Grants `slot` to `node` as the controller does: holder, fresh times, a new grant id, and no
 * annotation of an earlier grant (no inherited acknowledgement). Returns the Lease written; its
 * grant's identity is `grantOf(lease).identity`.
 */
export async function grantSlot(
  kc: KubeConfig,
  namespace: string,
  slot: string,
  node: string,
  durationSeconds = 120,
  o: HandGrant = {},
): Promise<V1Lease> {
  if (slotIndexOf(slot) === undefined) throw new Error(`${slot} is not a slot Lease name`);
  const grantId = o.grantId ?? randomUUID();
  return writeLease(kc, namespace, slot, node, durationSeconds, (l) => {
    const empty = emptiedSlot(l);
    return {
      ...empty,
      metadata: {
        ...empty.metadata,
        annotations: { ...empty.metadata?.annotations, [SlotAnnotation.GrantId]: grantId },
      },
    };
  });
}

async function writeLease(
  kc: KubeConfig,
  namespace: string,
  name: string,
  holder: string,
  durationSeconds: number,
  shape: (lease: V1Lease) => V1Lease,
): Promise<V1Lease> {
  const api = kc.makeApiClient(CoordinationV1Api);
  const now = new V1MicroTime();
  const spec = {
    holderIdentity: holder,
    acquireTime: now,
    renewTime: now,
    leaseDurationSeconds: durationSeconds,
  };
  try {
    const existing = await api.readNamespacedLease({ name, namespace });
    const shaped = shape(existing);
    return await api.replaceNamespacedLease({
      name,
      namespace,
      body: { ...shaped, spec: { ...shaped.spec, ...spec } },
    });
  } catch (err) {
    if (!isNotFound(err)) throw err;
    const shaped = shape({ metadata: { name, namespace } });
    return api.createNamespacedLease({ namespace, body: { ...shaped, spec } });
  }
}

/**
 * The controller's acknowledgements: records on the slot Lease that its grant's node may start
 * its work (`bootId` undefined: the agent cordons only after this) or may reboot from `bootId`
 * (which implies the start). A compare-and-swap, as the controller's: written only while the
 * Lease still carries the grant `identity`; false (nothing written) otherwise.
 */
export async function acknowledgeReboot(
  kc: KubeConfig,
  namespace: string,
  identity: string,
  bootId: string | undefined,
): Promise<boolean> {
  const api = kc.makeApiClient(CoordinationV1Api);
  const slot = identity.slice(0, identity.indexOf('/'));
  const res = await updateWithRetry(
    () => api.readNamespacedLease({ name: slot, namespace }),
    (lease) => {
      const g = grantOf(lease);
      if (g?.identity !== identity) return undefined;
      if (bootId === undefined ? g.started : g.started && g.rebootFromBootId === bootId) return undefined;
      const acks: Record<string, string> = { [SlotAnnotation.Started]: 'true' };
      if (bootId !== undefined) acks[SlotAnnotation.RebootFromBootId] = bootId;
      lease.metadata = { ...lease.metadata, annotations: { ...lease.metadata?.annotations, ...acks } };
      return lease;
    },
    (body) => api.replaceNamespacedLease({ name: slot, namespace, body }),
  );
  return res.changed;
}

export interface Acknowledger {
  /** Every acknowledgement written, in order: `<grant identity> <boot id | start>`. */
  readonly acknowledged: readonly string[];
  stop(): Promise<void>;
}

/**
 * Plays the controller's part in the handshakes for `nodes` until stopped: whenever a node's
 * agent has recorded the grant a slot Lease still carries (`baton.dev/grant`), the Lease gets
 * the start acknowledged; once it has recorded a reboot (`baton.dev/reboot-from-boot-id`), the
 * reboot. Exactly the controller's rule (plan.ts): a node whose record names another grant than
 * the Lease's is never acknowledged.
 */
export function acknowledgeReboots(
  kc: KubeConfig,
  namespace: string,
  nodes: readonly string[],
  periodMs = 100,
): Acknowledger {
  const core = kc.makeApiClient(CoreV1Api);
  const leases = kc.makeApiClient(CoordinationV1Api);
  const acknowledged: string[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      try {
        const list = (await leases.listNamespacedLease({ namespace })).items;
        for (const name of nodes) {
          const grant = grantNaming(name, list);
          if (grant === undefined) continue;
          const ann = (await core.readNode({ name })).metadata?.annotations ?? {};
          if (ann[Annotation.Grant] !== grant.identity) continue;
          const bootId = ann[Annotation.RebootFromBootId];
          if (bootId === undefined ? grant.started : grant.rebootFromBootId === bootId) continue;
          if (await acknowledgeReboot(kc, namespace, grant.identity, bootId))
            acknowledged.push(`${grant.identity} ${bootId ?? 'start'}`);
        }
      } catch {
        // A node deleted or a write conflict: the next pass looks again.
      }
      await new Promise((r) => setTimeout(r, periodMs));
    }
  })();
  return {
    acknowledged,
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

/** Empties the slot (the protocol's "release"): no holder, no times, no grant record. */
export async function releaseSlot(kc: KubeConfig, namespace: string, slot: string) {
  const api = kc.makeApiClient(CoordinationV1Api);
  const existing = await api.readNamespacedLease({ name: slot, namespace });
  return api.replaceNamespacedLease({ name: slot, namespace, body: emptiedSlot(existing) });
}
