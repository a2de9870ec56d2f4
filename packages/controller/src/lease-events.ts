/**
 * core/v1 Events about the controller's own Leases (a slot edited into nonsense), in the Lease's
 * namespace with its uid, so `kubectl describe lease` shows them. Recording never throws.
 */
import { describeKubeError, type Logger } from '@baton/runtime';
import type { CoreV1Api } from '@kubernetes/client-node';

export interface LeaseRef {
  readonly name: string;
  readonly uid?: string | undefined;
}

export interface LeaseEvents {
  record(lease: LeaseRef, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void>;
}

export function leaseEventRecorder(
  core: Pick<CoreV1Api, 'createNamespacedEvent'>,
  namespace: string,
  source: { component: string; instance: string },
  log: Logger,
): LeaseEvents {
  return {
    async record(lease, type, reason, message) {
      const now = new Date();
      try {
        await core.createNamespacedEvent({
          namespace,
          body: {
            metadata: { generateName: `${lease.name}.baton.` },
            involvedObject: {
              apiVersion: 'coordination.k8s.io/v1',
              kind: 'Lease',
              name: lease.name,
              namespace,
              ...(lease.uid ? { uid: lease.uid } : {}),
            },
            type,
            reason,
            message,
            source: { component: source.component, host: source.instance },
            reportingComponent: source.component,
            reportingInstance: source.instance,
            firstTimestamp: now,
            lastTimestamp: now,
            count: 1,
          },
        });
      } catch (err) {
        log.warn({ lease: lease.name, reason, err: describeKubeError(err) }, 'could not record an Event');
      }
    },
  };
}
