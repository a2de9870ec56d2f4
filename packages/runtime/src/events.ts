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

/** What an Event is about. */
export interface EventSubject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  /** Empty for cluster-scoped objects (Nodes): their Events live in `default`. */
  readonly namespace?: string | undefined;
  readonly uid?: string | undefined;
}

export interface EventRecorder {
  record(subject: EventSubject, type: EventType, reason: string, message: string): Promise<void>;
}

/** Events about any object; {@link nodeEventRecorder} is the common case. Never throws. */
export function eventRecorder(
  events: EventWriter,
  source: { component: string; instance: string },
  log: Logger,
): EventRecorder {
  return {
    async record(subject, type, reason, message) {
      const note = message.length > MAX_NOTE ? `${message.slice(0, MAX_NOTE - 1)}…` : message;
      const namespace = subject.namespace || 'default';
      try {
        await events.createNamespacedEvent({
          namespace,
          body: {
            apiVersion: 'events.k8s.io/v1',
            kind: 'Event',
            metadata: { name: eventName(subject.name), namespace },
            // client-node declares a Date; the wire format must be a MicroTime string.
            eventTime: microTime(new Date()) as unknown as Date,
            regarding: {
              apiVersion: subject.apiVersion,
              kind: subject.kind,
              name: subject.name,
              ...(subject.namespace ? { namespace: subject.namespace } : {}),
              ...(subject.uid ? { uid: subject.uid } : {}),
            },
            type,
            reason,
            action: reason,
            note,
            reportingController: `baton.dev/${source.component}`,
            reportingInstance: source.instance,
          },
        });
      } catch (err) {
        log.warn(
          { [subject.kind.toLowerCase()]: subject.name, reason, err: describeKubeError(err) },
          'could not record an Event',
        );
      }
    },
  };
}

/** Events about Nodes: `regarding.uid` is the node name, which is what `kubectl describe node` matches. */
export function nodeEventRecorder(
  events: EventWriter,
  source: { component: string; instance: string },
  log: Logger,
): NodeEventRecorder {
  const recorder = eventRecorder(events, source, log);
  return {
    record: (node, type, reason, message) =>
      recorder.record({ apiVersion: 'v1', kind: 'Node', name: node, uid: node }, type, reason, message),
  };
}
