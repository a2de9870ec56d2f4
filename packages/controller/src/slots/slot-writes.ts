/**
 * Writes to slot Leases, each one a compare-and-swap through updateWithRetry: grant only a slot
 * that is still free; renew, acknowledge or release only the very grant the plan saw — the same
 * holder *and* the same grant id, so a replica deciding on a stale view can never touch a newer
 * grant of the same node. A 409 means another writer (a second replica, a person) got there
 * first: re-read and decide again, never overwrite. This is what keeps "no more holders than
 * slots" true whatever else happens.
 */
import { randomUUID } from 'node:crypto';
import { emptiedSlot, FieldManager, grantOf, LEASE_PART_OF_LABEL, SlotAnnotation } from '@baton/protocol';
import { isAlreadyExists, isNotFound, updateWithRetry } from '@baton/runtime';
import { type CoordinationV1Api, type V1Lease, V1MicroTime } from '@kubernetes/client-node';
import { GRANTED_NODE_ANNOTATION } from '../plan/plan.ts';
import { GRANTED_UNSCHEDULABLE_ANNOTATION } from '../settle/settle.ts';

/** The grant a write expects to find: its holder and its acquisition. */
export interface ExpectedGrant {
  readonly node: string;
  readonly grantId: string;
}

export interface SlotWriter {
  /**
   * True when this call granted the slot to `node`. `wasUnschedulable` (the node was cordoned
   * when granted) and `workloads` (what its drain touches, workloads.ts) are recorded on the
   * Lease, in the same write, with a new grant id.
   */
  grant(slot: string, node: string, wasUnschedulable?: boolean, workloads?: string): Promise<boolean>;
  renew(slot: string, expected: ExpectedGrant): Promise<boolean>;
  /**
   * Records on the Lease that the node's work may start (`bootId` undefined: the agent cordons
   * only after this) or that it may now reboot from `bootId` (the agent waits for it).
   */
  acknowledge(slot: string, expected: ExpectedGrant, bootId: string | undefined): Promise<boolean>;
  /**
   * Empties the slot if it still carries the expected grant (`grantId` undefined: any). With
   * `unacknowledged: 'any'`, only if neither the start nor a reboot was acknowledged on it (a
   * release decided because the node did nothing); with `'reboot'`, only if no reboot was (a
   * deleted Node's: it must not free a slot whose node may be going down).
   */
  release(
    slot: string,
    holder: string,
    grantId: string | undefined,
    opts?: { readonly unacknowledged?: 'any' | 'reboot' | undefined },
  ): Promise<boolean>;
}

/** The clock, the pause between conflicting writes and the grant ids; the simulation passes its own. */
export interface SlotWriterClock {
  readonly now: () => Date;
  readonly sleep?: ((ms: number) => Promise<void>) | undefined;
  readonly newGrantId?: (() => string) | undefined;
}

/** The Lease still carries exactly this grant. */
function carries(lease: V1Lease, expected: ExpectedGrant): boolean {
  const g = grantOf(lease);
  return g !== undefined && g.holder === expected.node && g.id === expected.grantId;
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
  const newGrantId = clock.newGrantId ?? randomUUID;

  return {
    async grant(slot, node, wasUnschedulable = false, workloads = undefined) {
      const grantAnnotations: Record<string, string> = {
        [GRANTED_NODE_ANNOTATION]: node,
        [GRANTED_UNSCHEDULABLE_ANNOTATION]: String(wasUnschedulable),
        [SlotAnnotation.GrantId]: newGrantId(),
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
          // Nothing of an earlier grant may be inherited (a slot emptied by hand keeps annotations).
          const empty = emptiedSlot(lease);
          const now = microNow();
          return {
            ...empty,
            metadata: {
              ...empty.metadata,
              labels: { ...lease.metadata?.labels, [LEASE_PART_OF_LABEL.key]: LEASE_PART_OF_LABEL.value },
              annotations: { ...empty.metadata?.annotations, ...grantAnnotations },
            },
            spec: {
              holderIdentity: node,
              acquireTime: now,
              renewTime: now,
              leaseDurationSeconds: durationSeconds,
              leaseTransitions: (lease.spec?.leaseTransitions ?? 0) + 1,
            },
          };
        },
        write(slot),
        retry,
      );
      return res.changed;
    },

    async renew(slot, expected) {
      const res = await updateWithRetry(
        read(slot),
        (lease) => {
          if (!carries(lease, expected)) return undefined;
          lease.spec = { ...lease.spec, renewTime: microNow(), leaseDurationSeconds: durationSeconds };
          return lease;
        },
        write(slot),
        retry,
      );
      return res.changed;
    },

    async acknowledge(slot, expected, bootId) {
      const [key, value] =
        bootId === undefined ? [SlotAnnotation.Started, 'true'] : [SlotAnnotation.RebootFromBootId, bootId];
      const res = await updateWithRetry(
        read(slot),
        (lease) => {
          if (!carries(lease, expected)) return undefined;
          if (lease.metadata?.annotations?.[key] === value) return undefined;
          // A reboot is acknowledged only after the start (the agent drained under it).
          const extra: Record<string, string> =
            bootId === undefined ? {} : { [SlotAnnotation.Started]: 'true' };
          lease.metadata = {
            ...lease.metadata,
            annotations: { ...lease.metadata?.annotations, ...extra, [key]: value },
          };
          return lease;
        },
        write(slot),
        retry,
      );
      return res.changed;
    },

    async release(slot, holder, grantId, opts = {}) {
      const res = await updateWithRetry(
        read(slot),
        (lease) => {
          if (lease.spec?.holderIdentity !== holder) return undefined;
          const annotations = lease.metadata?.annotations ?? {};
          if (grantId !== undefined && annotations[SlotAnnotation.GrantId] !== grantId) return undefined;
          const rebootAcked = annotations[SlotAnnotation.RebootFromBootId] !== undefined;
          const startAcked = annotations[SlotAnnotation.Started] !== undefined;
          if (opts.unacknowledged === 'reboot' && rebootAcked) return undefined;
          if (opts.unacknowledged === 'any' && (rebootAcked || startAcked)) return undefined;
          return emptiedSlot(lease);
        },
        write(slot),
        retry,
      );
      return res.changed;
    },
  };
}
