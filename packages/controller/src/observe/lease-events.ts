/**
 * Events about the controller's own Leases (a slot edited into nonsense), in the Lease's
 * namespace with its uid, so `kubectl describe lease` shows them. Recording never throws.
 */
import { type EventWriter, eventRecorder, type Logger } from '@baton/runtime';

export interface LeaseRef {
  readonly name: string;
  readonly uid?: string | undefined;
}

export interface LeaseEvents {
  record(lease: LeaseRef, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void>;
}

export function leaseEventRecorder(
  events: EventWriter,
  namespace: string,
  source: { component: string; instance: string },
  log: Logger,
): LeaseEvents {
  const recorder = eventRecorder(events, source, log);
  return {
    record: (lease, type, reason, message) =>
      recorder.record(
        { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', name: lease.name, namespace, uid: lease.uid },
        type,
        reason,
        message,
      ),
  };
}
