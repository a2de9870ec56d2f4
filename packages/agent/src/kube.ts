/**
 * The agent's narrow view of the Kubernetes API: its own Node and Events about it. Everything
 * the agent does to the cluster goes through these two interfaces, so the logic is testable
 * with an in-memory fake and the RBAC it needs is visible in one place.
 */
import { EventSource, FieldManager } from '@baton/protocol';
import { type Logger, nodeEventRecorder, updateWithRetry } from '@baton/runtime';
import {
  type CoreV1Api,
  PatchStrategy,
  setHeaderOptions,
  type V1Node,
  type V1NodeCondition,
} from '@kubernetes/client-node';

export interface NodeMetadataPatch {
  /** `null` removes the key. */
  readonly labels?: Readonly<Record<string, string | null>>;
  readonly annotations?: Readonly<Record<string, string | null>>;
}

export interface NodeApi {
  read(): Promise<V1Node>;
  /** Strategic merge on the status subresource: merges by condition type, the kubelet's stay. */
  patchCondition(entry: V1NodeCondition): Promise<void>;
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

const strategicMerge = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export function kubeNodeApi(core: CoreV1Api, name: string): NodeApi {
  const read = () => core.readNode({ name });
  return {
    read,
    async patchCondition(entry) {
      await core.patchNodeStatus(
        { name, body: { status: { conditions: [entry] } }, fieldManager: FieldManager.Agent },
        strategicMerge,
      );
    },
    patchMetadata: (patch) =>
      core.patchNode(
        {
          name,
          body: { metadata: { labels: patch.labels, annotations: patch.annotations } },
          fieldManager: FieldManager.Agent,
        },
        mergePatch,
      ),
    async update(mutate) {
      const res = await updateWithRetry(read, mutate, (body) =>
        core.replaceNode({ name, body, fieldManager: FieldManager.Agent }),
      );
      return res.object;
    },
  };
}

export function kubeEventSink(core: CoreV1Api, nodeName: string, log: Logger): EventSink {
  const recorder = nodeEventRecorder(core, { component: EventSource.Agent, instance: nodeName }, log);
  return { record: (type, reason, message) => recorder.record(nodeName, type, reason, message) };
}
