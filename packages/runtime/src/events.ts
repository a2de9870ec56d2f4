/**
 * core/v1 Events about Nodes, as the kubelet writes them (namespace `default`, the node name as
 * involvedObject.uid, which is what `kubectl describe node` matches on). Recording never throws:
 * an Event is worth less than the work it describes.
 */
import type { CoreV1Event } from '@kubernetes/client-node';
import { describeKubeError } from './kube-errors.ts';
import type { Logger } from './logger.ts';

export type EventType = 'Normal' | 'Warning';

export interface NodeEventRecorder {
  record(node: string, type: EventType, reason: string, message: string): Promise<void>;
}

export function nodeEventRecorder(
  // Structural, so client-node's CoreV1Api and the agent's small client both fit.
  core: { createNamespacedEvent(req: { namespace: string; body: CoreV1Event }): Promise<unknown> },
  source: { component: string; instance: string },
  log: Logger,
): NodeEventRecorder {
  return {
    async record(node, type, reason, message) {
      const now = new Date();
      try {
        await core.createNamespacedEvent({
          namespace: 'default',
          body: {
            metadata: { generateName: `${node}.baton.` },
            involvedObject: { apiVersion: 'v1', kind: 'Node', name: node, uid: node },
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
        log.warn({ node, reason, err: describeKubeError(err) }, 'could not record an Event');
      }
    },
  };
}
