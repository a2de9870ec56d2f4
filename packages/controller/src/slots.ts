/**
 * Writes to slot Leases, each one a compare-and-swap through updateWithRetry: grant only a slot
 * that is still free, renew or release only a slot that still names the expected holder. A 409
 * means another writer (a second replica, a person) got there first: re-read and decide again,
 * never overwrite. This is what keeps "no more holders than slots" true whatever else happens.
 */
import { FieldManager, LEASE_PART_OF_LABEL, SlotAnnotation } from '@baton/protocol';
import { isAlreadyExists, isNotFound, updateWithRetry } from '@baton/runtime';
import { type CoordinationV1Api, type V1Lease, V1MicroTime } from '@kubernetes/client-node';
import { GRANTED_NODE_ANNOTATION } from './plan.ts';
import { GRANTED_UNSCHEDULABLE_ANNOTATION } from './settle.ts';

export interface SlotWriter {
  /**
   * True when this call granted the slot to `node`. `wasUnschedulable` (the node was cordoned
   * when granted) and `workloads` (what its drain touches, workloads.ts) are recorded on the
   * Lease, in the same write, for the settle check.
   */
  grant(slot: string, node: string, wasUnschedulable?: boolean, workloads?: string): Promise<boolean>;
  renew(slot: string, node: string): Promise<boolean>;
  release(slot: string, holder: string): Promise<boolean>;
}

/** The clock and the pause between conflicting writes; the simulation passes its own. */
export interface SlotWriterClock {
  readonly now: () => Date;
  readonly sleep?: ((ms: number) => Promise<void>) | undefined;
}

export function kubeSlotWriter(
  api: CoordinationV1Api,
  namespace: string,
  durationSeconds: number,
  clock: SlotWriterClock = { now: () => new Date() },
): SlotWriter {
  const read = (name: string) => () => api.readNamespacedLease({ name, namespace });
  const write = (name: string) => (body: V1Lease) =>
    api.replaceNamespacedLease({ name, namespace, body, fieldManager: FieldManager.Controller });
  const retry = { sleep: clock.sleep };
  const microNow = () => new V1MicroTime(clock.now());

  return {
    async grant(slot, node, wasUnschedulable = false, workloads = undefined) {
      const grantAnnotations: Record<string, string> = {
        [GRANTED_NODE_ANNOTATION]: node,
        [GRANTED_UNSCHEDULABLE_ANNOTATION]: String(wasUnschedulable),
      };
      if (workloads !== undefined) grantAnnotations[SlotAnnotation.GrantedWorkloads] = workloads;
      try {
        await api.readNamespacedLease({ name: slot, namespace });
      } catch (err) {
        if (!isNotFound(err)) throw err;
        const now = microNow();
        try {
          await api.createNamespacedLease({
            namespace,
            fieldManager: FieldManager.Controller,
            body: {
              metadata: {
                name: slot,
                namespace,
                labels: { [LEASE_PART_OF_LABEL.key]: LEASE_PART_OF_LABEL.value },
                annotations: grantAnnotations,
              },
              spec: {
                holderIdentity: node,
                acquireTime: now,
                renewTime: now,
                leaseDurationSeconds: durationSeconds,
                leaseTransitions: 0,
              },
            },
          });
          return true;
        } catch (createErr) {
          if (isAlreadyExists(createErr)) return false; // someone else created it first
          throw createErr;
        }
      }
      const res = await updateWithRetry(
        read(slot),
        (lease) => {
          if ((lease.spec?.holderIdentity ?? '') !== '') return undefined; // no longer free
          const now = microNow();
          lease.metadata = {
            ...lease.metadata,
            labels: { ...lease.metadata?.labels, [LEASE_PART_OF_LABEL.key]: LEASE_PART_OF_LABEL.value },
            annotations: withoutStaleRecord(
              { ...lease.metadata?.annotations, ...grantAnnotations },
              workloads,
            ),
          };
          lease.spec = {
            ...lease.spec,
            holderIdentity: node,
            acquireTime: now,
            renewTime: now,
            leaseDurationSeconds: durationSeconds,
            leaseTransitions: (lease.spec?.leaseTransitions ?? 0) + 1,
          };
          return lease;
        },
        write(slot),
        retry,
      );
      return res.changed;
    },

    async renew(slot, node) {
      const res = await updateWithRetry(
        read(slot),
        (lease) => {
          if (lease.spec?.holderIdentity !== node) return undefined;
          lease.spec = { ...lease.spec, renewTime: microNow(), leaseDurationSeconds: durationSeconds };
          return lease;
        },
        write(slot),
        retry,
      );
      return res.changed;
    },

    async release(slot, holder) {
      const res = await updateWithRetry(
        read(slot),
        (lease) => {
          if (lease.spec?.holderIdentity !== holder) return undefined;
          const annotations = { ...lease.metadata?.annotations };
          delete annotations[GRANTED_NODE_ANNOTATION];
          delete annotations[GRANTED_UNSCHEDULABLE_ANNOTATION];
          delete annotations[SlotAnnotation.GrantedWorkloads];
          lease.metadata = { ...lease.metadata, annotations };
          lease.spec = {
            leaseDurationSeconds: lease.spec.leaseDurationSeconds,
            leaseTransitions: lease.spec.leaseTransitions,
          };
          return lease;
        },
        write(slot),
        retry,
      );
      return res.changed;
    },
  };
}

/** A grant without a record must not inherit an earlier grant's (a slot emptied by hand keeps its annotations). */
function withoutStaleRecord(annotations: Record<string, string>, workloads: string | undefined) {
  if (workloads === undefined) delete annotations[SlotAnnotation.GrantedWorkloads];
  return annotations;
}
