/**
 * kured's `--annotate-nodes`: other node tools read two of kured's annotations. When the node
 * comes to need a reboot, `weave.works/kured-reboot-in-progress` and
 * `weave.works/kured-most-recent-reboot-needed` are set to that time (RFC 3339, seconds, as kured
 * writes them); the first goes once the node needs nothing any more (after its reboot, or a
 * sentinel removed by hand), the second stays. kured set them only inside its reboot window;
 * here the need alone decides, since the window is the controller's.
 */
import { nodeNeedsReboot } from '@baton/protocol';
import type { V1Node } from '@kubernetes/client-node';
import type { NodeMetadataPatch } from '../kube/agent-api.ts';

export const KURED_REBOOT_IN_PROGRESS = 'weave.works/kured-reboot-in-progress';
export const KURED_MOST_RECENT_REBOOT_NEEDED = 'weave.works/kured-most-recent-reboot-needed';

/** kured's `time.Now().Format(time.RFC3339)` in UTC: whole seconds. */
export function rfc3339Seconds(at: Date): string {
  return `${at.toISOString().slice(0, 19)}Z`;
}

/** The merge patch that brings kured's annotations in line with the node's need, or undefined. */
export function kuredAnnotationsPatch(node: V1Node, now: Date): NodeMetadataPatch | undefined {
  const ann = node.metadata?.annotations ?? {};
  const inProgress = ann[KURED_REBOOT_IN_PROGRESS] !== undefined;
  if (nodeNeedsReboot(node)) {
    if (inProgress) return undefined;
    const at = rfc3339Seconds(now);
    return { annotations: { [KURED_REBOOT_IN_PROGRESS]: at, [KURED_MOST_RECENT_REBOOT_NEEDED]: at } };
  }
  return inProgress ? { annotations: { [KURED_REBOOT_IN_PROGRESS]: null } } : undefined;
}
