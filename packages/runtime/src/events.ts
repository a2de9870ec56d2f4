/**
 * Events about Nodes through events.k8s.io/v1, in namespace `default` with the node name as
 * `regarding.uid`, which is where `kubectl describe node` and `kubectl events --for node/N`
 * look. Recording never throws: an Event is worth less than the work it describes.
 */
import { randomBytes } from 'node:crypto';
import type { EventsV1Event } from '@kubernetes/client-node';
import { describeKubeError } from './kube-errors.ts';
import type { Logger } from './logger.ts';

export type EventType = 'Normal' | 'Warning';

export interface NodeEventRecorder {
  record(node: string, type: EventType, reason: string, message: string): Promise<void>;
}

/** Where an Event is created: client-node's EventsV1Api fits, and so does the agent's small client. */
export interface EventWriter {
  createNamespacedEvent(req: { namespace: string; body: EventsV1Event }): Promise<unknown>;
}

/** The API path an {@link EventWriter} posts to (for clients that speak paths, not methods). */
export const eventsPath = (namespace: string) => `/apis/events.k8s.io/v1/namespaces/${namespace}/events`;

/** events.k8s.io/v1 `note` is limited to 1 kB; longer text is cut, not refused. */
const MAX_NOTE = 1024;

/** MicroTime: RFC 3339 with exactly six fractional digits, as the API server expects. */
const microTime = (d: Date) => d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

/**
 * `<node>.baton.<time><random>`: events.k8s.io/v1 refuses a generateName that does not end in a
 * letter or digit, and a unique name also keeps Events in order when listed by name.
 */
function eventName(node: string): string {
  const suffix = `${Date.now().toString(16)}${randomBytes(3).toString('hex')}`;
  return `${node.slice(0, 253 - 7 - suffix.length)}.baton.${suffix}`;
}

export function nodeEventRecorder(
  events: EventWriter,
  source: { component: string; instance: string },
  log: Logger,
): NodeEventRecorder {
  return {
    async record(node, type, reason, message) {
      const note = message.length > MAX_NOTE ? `${message.slice(0, MAX_NOTE - 1)}…` : message;
      try {
        await events.createNamespacedEvent({
          namespace: 'default',
          body: {
            apiVersion: 'events.k8s.io/v1',
            kind: 'Event',
            metadata: { name: eventName(node), namespace: 'default' },
            // client-node declares a Date; the wire format must be a MicroTime string.
            eventTime: microTime(new Date()) as unknown as Date,
            regarding: { apiVersion: 'v1', kind: 'Node', name: node, uid: node },
            type,
            reason,
            action: reason,
            note,
            reportingController: `baton.dev/${source.component}`,
            reportingInstance: source.instance,
          },
        });
      } catch (err) {
        log.warn({ node, reason, err: describeKubeError(err) }, 'could not record an Event');
      }
    },
  };
}
