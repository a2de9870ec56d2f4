/** The real {@link GateConditionWriter}: a strategic-merge patch of the node's status subresource. */
import { FieldManager } from '@baton/protocol';
import { type CoreV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { GateConditionWriter } from './gate-condition.ts';

const strategicMerge = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);

export function kubeGateConditionWriter(core: CoreV1Api): GateConditionWriter {
  return {
    async patch(node, condition) {
      // Conditions merge by type: the kubelet's and the agent's entries are left as they are.
      await core.patchNodeStatus(
        { name: node, body: { status: { conditions: [condition] } }, fieldManager: FieldManager.Controller },
        strategicMerge,
      );
    },
  };
}
