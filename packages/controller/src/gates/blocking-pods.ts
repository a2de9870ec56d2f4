/**
 * The blocking-pods gate: pods matching a `--blocking-pod-selector` hold back the reboot of the
 * node they run on (scope `node`, kured's meaning) or of every node (scope `cluster`).
 *
 * Each selector has its own label-filtered pod watch, so the controller caches only the pods
 * that can block, and a reconcile reads them from memory (no List per node, no polling).
 * A watch that is not in sync blocks every node with its own reason: nobody can tell whether a
 * blocking pod runs, so nothing reboots (fail closed). Completed pods (Succeeded, Failed) do not
 * block; every other phase does, Unknown included.
 */
import { GateReason } from '@baton/protocol';
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import type { GateBlock, NodeGate } from './gate.ts';

export type BlockingPodScope = 'node' | 'cluster';

/** What the gate needs of one selector's watch. */
export interface PodView {
  /** The selector in its canonical text, for messages. */
  readonly selector: string;
  list(): readonly V1Pod[];
  synced(): boolean;
}

const MAX_NAMED = 3;

function live(pod: V1Pod): boolean {
  const phase = pod.status?.phase;
  return phase !== 'Succeeded' && phase !== 'Failed';
}

const podName = (p: V1Pod) => `${p.metadata?.namespace ?? ''}/${p.metadata?.name ?? ''}`;

function describePods(pods: readonly { pod: V1Pod; selector: string }[], where: string): string {
  const named = [...new Set(pods.map(({ pod, selector }) => `${podName(pod)} (${selector})`))].sort();
  const more = named.length > MAX_NAMED ? ` and ${named.length - MAX_NAMED} more` : '';
  return `${pods.length === 1 ? 'pod' : 'pods'} ${named.slice(0, MAX_NAMED).join(', ')}${more} ${where}`;
}

export function blockingPodsGate(views: readonly PodView[], scope: BlockingPodScope): NodeGate {
  return {
    blocks(node: V1Node): GateBlock | undefined {
      const unsynced = views.filter((v) => !v.synced());
      if (unsynced.length > 0) {
        return {
          reason: GateReason.BlockingPodsUnknown,
          detail: `the watch of pods matching ${unsynced.map((v) => `"${v.selector}"`).join(', ')} is not in sync`,
        };
      }
      const name = node.metadata?.name ?? '';
      const found: { pod: V1Pod; selector: string }[] = [];
      for (const v of views) {
        for (const pod of v.list()) {
          if (!live(pod)) continue;
          if (scope === 'node' && pod.spec?.nodeName !== name) continue;
          found.push({ pod, selector: v.selector });
        }
      }
      if (found.length === 0) return undefined;
      return {
        reason: GateReason.BlockingPod,
        detail: describePods(found, scope === 'node' ? 'on this node' : 'in the cluster (cluster scope)'),
      };
    },
  };
}
