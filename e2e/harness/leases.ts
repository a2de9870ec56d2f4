/** Writing slot Leases by hand, as a controller (or a person) would, for agent tests. */

import { isNotFound } from '@baton/runtime';
import { CoordinationV1Api, type KubeConfig, V1MicroTime } from '@kubernetes/client-node';

export async function grantSlot(
  kc: KubeConfig,
  namespace: string,
  slot: string,
  node: string,
  durationSeconds = 120,
) {
  const api = kc.makeApiClient(CoordinationV1Api);
  const now = new V1MicroTime();
  const spec = {
    holderIdentity: node,
    acquireTime: now,
    renewTime: now,
    leaseDurationSeconds: durationSeconds,
  };
  try {
    const existing = await api.readNamespacedLease({ name: slot, namespace });
    return api.replaceNamespacedLease({
      name: slot,
      namespace,
      body: { ...existing, spec: { ...existing.spec, ...spec } },
    });
  } catch (err) {
    if (!isNotFound(err)) throw err;
    return api.createNamespacedLease({ namespace, body: { metadata: { name: slot, namespace }, spec } });
  }
}

/** Empties the holder (the protocol's "release"). */
export async function releaseSlot(kc: KubeConfig, namespace: string, slot: string) {
  const api = kc.makeApiClient(CoordinationV1Api);
  const existing = await api.readNamespacedLease({ name: slot, namespace });
  return api.replaceNamespacedLease({
    name: slot,
    namespace,
    body: {
      ...existing,
      spec: { ...existing.spec, holderIdentity: undefined, acquireTime: undefined, renewTime: undefined },
    },
  });
}
