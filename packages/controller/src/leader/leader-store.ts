/** The leader Lease on the API server, as the elector's compare-and-swap store. */
import { FieldManager, LEASE_PART_OF_LABEL } from '@baton/protocol';
import { isAlreadyExists, isConflict, isNotFound } from '@baton/runtime';
import { type CoordinationV1Api, type V1Lease, V1MicroTime } from '@kubernetes/client-node';
import type { LeaderLeaseStore, LeaderRecord } from './leader.ts';

export function kubeLeaderStore(
  api: CoordinationV1Api,
  namespace: string,
  name: string,
  leaseDurationSeconds: number,
): LeaderLeaseStore {
  const body = (r: LeaderRecord, base?: V1Lease): V1Lease => ({
    ...base,
    metadata: {
      ...base?.metadata,
      name,
      namespace,
      labels: { [LEASE_PART_OF_LABEL.key]: LEASE_PART_OF_LABEL.value },
    },
    spec: {
      holderIdentity: r.holder,
      renewTime: new V1MicroTime(r.renewTime),
      // A record read back may carry an acquireTime that does not parse; never send Invalid Date.
      acquireTime: new V1MicroTime(Number.isNaN(Date.parse(r.acquireTime)) ? r.renewTime : r.acquireTime),
      leaseDurationSeconds,
      leaseTransitions: r.transitions,
    },
  });
  let last: V1Lease | undefined;
  return {
    async read() {
      try {
        last = await api.readNamespacedLease({ name, namespace });
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
      return {
        version: last.metadata?.resourceVersion ?? '',
        record: {
          holder: last.spec?.holderIdentity ?? '',
          renewTime: String(last.spec?.renewTime ?? ''),
          acquireTime: String(last.spec?.acquireTime ?? ''),
          transitions: last.spec?.leaseTransitions ?? 0,
        },
      };
    },
    async create(r) {
      try {
        last = await api.createNamespacedLease({
          namespace,
          body: body(r),
          fieldManager: FieldManager.Controller,
        });
        return last.metadata?.resourceVersion ?? '';
      } catch (err) {
        if (isAlreadyExists(err)) return undefined;
        throw err;
      }
    },
    async replace(r, version) {
      const b = body(r, last);
      b.metadata = { ...b.metadata, resourceVersion: version };
      try {
        last = await api.replaceNamespacedLease({
          name,
          namespace,
          body: b,
          fieldManager: FieldManager.Controller,
        });
        return last.metadata?.resourceVersion ?? '';
      } catch (err) {
        if (isConflict(err)) return undefined;
        throw err;
      }
    },
  };
}
