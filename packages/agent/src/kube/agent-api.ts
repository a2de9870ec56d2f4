/**
 * The agent's narrow view of the Kubernetes API: its own Node, Events about it, and the two pod
 * calls of the drain. Everything the agent does to the cluster goes through these interfaces,
 * so the logic is testable with an in-memory fake and the RBAC it needs is visible in one place.
 *
 * They run over the runtime's small {@link KubeClient}, not @kubernetes/client-node: the agent
 * runs on every node, and client-node alone would cost it about 22 MiB of resident memory.
 * client-node is used for its types only.
 */
import { EventSource, FieldManager } from '@baton/protocol';
import {
  eventsPath,
  type KubeClient,
  type Logger,
  nodeEventRecorder,
  PatchType,
  updateWithRetry,
} from '@baton/runtime';
import type { EventsV1Event, V1Eviction, V1Node, V1NodeCondition, V1PodList } from '@kubernetes/client-node';
import type { DrainCoreApi } from '../drain/index.ts';

export interface NodeMetadataPatch {
  /** `null` removes the key. */
  readonly labels?: Readonly<Record<string, string | null>>;
  readonly annotations?: Readonly<Record<string, string | null>>;
}

export interface NodeApi {
  read(): Promise<V1Node>;
  /**
   * Strategic merge on the status subresource: merges by condition type, the kubelet's stay.
   * Returns the node as the patch left it.
   */
  patchCondition(entry: V1NodeCondition): Promise<V1Node>;
  /** JSON merge patch of labels and annotations (no conflict possible: keys are disjoint). */
  patchMetadata(patch: NodeMetadataPatch): Promise<V1Node>;
  /** Read-modify-replace with the resourceVersion, re-read on conflict (spec: taints, unschedulable). */
  update(mutate: (node: V1Node) => V1Node | undefined): Promise<V1Node>;
}

export type EventType = 'Normal' | 'Warning';

export interface EventSink {
  /** Records a core/v1 Event on the node. Never throws: an Event is worth less than the work. */
  record(type: EventType, reason: string, message: string): Promise<void>;
}

const manager = { fieldManager: FieldManager.Agent };

export function kubeNodeApi(client: KubeClient, name: string): NodeApi {
  const path = `/api/v1/nodes/${encodeURIComponent(name)}`;
  const read = () => client.request<V1Node>({ method: 'GET', path });
  return {
    read,
    patchCondition: (entry) =>
      client.request<V1Node>({
        method: 'PATCH',
        path: `${path}/status`,
        query: manager,
        body: { status: { conditions: [entry] } },
        contentType: PatchType.StrategicMerge,
      }),
    patchMetadata: (patch) =>
      client.request<V1Node>({
        method: 'PATCH',
        path,
        query: manager,
        body: { metadata: { labels: patch.labels, annotations: patch.annotations } },
        contentType: PatchType.Merge,
      }),
    async update(mutate) {
      const res = await updateWithRetry(read, mutate, (body) =>
        client.request<V1Node>({ method: 'PUT', path, query: manager, body }),
      );
      return res.object;
    },
  };
}

export function kubeEventSink(client: KubeClient, nodeName: string, log: Logger): EventSink {
  const recorder = nodeEventRecorder(
    {
      createNamespacedEvent: ({ namespace, body }) =>
        client.request<EventsV1Event>({ method: 'POST', path: eventsPath(namespace), body }),
    },
    { component: EventSource.Agent, instance: nodeName },
    log,
  );
  return { record: (type, reason, message) => recorder.record(nodeName, type, reason, message) };
}

/** The drain's two calls, in the request shapes of client-node's CoreV1Api it was written to. */
export function kubeDrainCore(client: KubeClient): DrainCoreApi {
  return {
    async listPodForAllNamespaces(req) {
      const page = await client.request<V1PodList & { metadata?: { continue?: string } }>({
        method: 'GET',
        path: '/api/v1/pods',
        query: { fieldSelector: req?.fieldSelector, limit: req?.limit, continue: req?._continue },
      });
      // The wire name is `continue`; client-node's type calls it `_continue`.
      const token = page.metadata?.continue;
      return {
        ...page,
        metadata: { ...page.metadata, ...(token !== undefined ? { _continue: token } : {}) },
      };
    },
    createNamespacedPodEviction: ({ name, namespace, body }) =>
      client.request<V1Eviction>({
        method: 'POST',
        path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}/eviction`,
        body,
      }),
  };
}
