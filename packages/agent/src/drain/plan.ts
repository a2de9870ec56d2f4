/**
 * Which pods on a node a drain evicts, leaves alone, or cannot evict safely. Pure: the engine
 * calls it on every fresh pod list, so the decision always reflects the node as it is now.
 *
 * The rules are `kubectl drain`'s (`k8s.io/kubectl/pkg/drain/filters.go`), which kured used
 * with `IgnoreAllDaemonSets`, `DeleteEmptyDirData` and `Force` fixed to true; baton makes the
 * last two options so that an operator can choose to stop instead of losing data or pods.
 */
import { type LabelSelector, matchesLabelSelector } from '@baton/protocol/config';
import type { V1OwnerReference, V1Pod } from '@kubernetes/client-node';

/** The kubelet marks the API copies of static pods with this; deleting them does nothing. */
export const MIRROR_POD_ANNOTATION = 'kubernetes.io/config.mirror';

export interface DrainPlanOptions {
  /** Only pods matching it are evicted (--drain-pod-selector); unset: every pod. */
  readonly podSelector?: LabelSelector | undefined;
  /** false: a pod with an emptyDir volume stops the drain instead of losing that data. */
  readonly deleteEmptyDirData: boolean;
  /** false: a pod without a controller stops the drain instead of disappearing for good. */
  readonly evictUnmanagedPods: boolean;
}

/**
 * Why a pod is left on the node. `daemonset`: its controller would recreate it at once and it
 * tolerates the cordon anyway; `mirror`: a static pod, the kubelet owns it; `completed`:
 * Succeeded/Failed, nothing runs; `not-selected`: outside --drain-pod-selector.
 */
export type SkipReason = 'mirror' | 'daemonset' | 'completed' | 'not-selected';

export interface SkippedPod {
  readonly pod: V1Pod;
  readonly reason: SkipReason;
}

export interface RefusedPod {
  readonly pod: V1Pod;
  /** For people: what is wrong and which flag allows it. */
  readonly reason: string;
}

/** Every input pod lands in exactly one list; each list is in {@link comparePods} order. */
export interface DrainPlan {
  readonly evict: V1Pod[];
  readonly skipped: SkippedPod[];
  readonly refused: RefusedPod[];
}

/** `namespace/name`, the way people and kubectl name a pod. */
export function podKey(pod: V1Pod): string {
  return `${pod.metadata?.namespace ?? ''}/${pod.metadata?.name ?? ''}`;
}

/**
 * Namespace, then name, then UID (two copies of one name can be listed while one terminates).
 * A fixed order makes logs and events of two drains comparable and lets tests assert the
 * calls; the API server lists in this order too, but the engine should not depend on it.
 */
export function comparePods(a: V1Pod, b: V1Pod): number {
  return (
    compare(a.metadata?.namespace, b.metadata?.namespace) ||
    compare(a.metadata?.name, b.metadata?.name) ||
    compare(a.metadata?.uid, b.metadata?.uid)
  );
}

function compare(a: string | undefined, b: string | undefined): number {
  const x = a ?? '';
  const y = b ?? '';
  return x < y ? -1 : x > y ? 1 : 0;
}

export function isMirrorPod(pod: V1Pod): boolean {
  return pod.metadata?.annotations?.[MIRROR_POD_ANNOTATION] !== undefined;
}

/** The owner with `controller: true` (at most one exists), as `metav1.GetControllerOf`. */
function controllerOf(pod: V1Pod): V1OwnerReference | undefined {
  return pod.metadata?.ownerReferences?.find((ref) => ref.controller === true);
}

export function isDaemonSetPod(pod: V1Pod): boolean {
  return controllerOf(pod)?.kind === 'DaemonSet';
}

export function isCompletedPod(pod: V1Pod): boolean {
  const phase = pod.status?.phase;
  return phase === 'Succeeded' || phase === 'Failed';
}

function refusals(pod: V1Pod, opts: DrainPlanOptions): string[] {
  // A pod someone already deleted goes away whatever we decide: refusing it would only stop
  // the drain for nothing (kubectl skips such pods in its local-storage check too).
  if (pod.metadata?.deletionTimestamp !== undefined) return [];
  const reasons: string[] = [];
  if (!opts.deleteEmptyDirData) {
    const names = (pod.spec?.volumes ?? []).filter((v) => v.emptyDir !== undefined).map((v) => v.name);
    if (names.length > 0) {
      const what = names.length === 1 ? 'volume' : 'volumes';
      reasons.push(
        `has local data in emptyDir ${what} ${names.join(', ')}; set --delete-emptydir-data to evict it`,
      );
    }
  }
  if (!opts.evictUnmanagedPods && controllerOf(pod) === undefined) {
    reasons.push('not managed by a controller; it would not come back; set --evict-unmanaged-pods');
  }
  return reasons;
}

/**
 * Sorts `pods` into evict / skipped / refused. Skips are decided first (a DaemonSet pod with an
 * emptyDir is simply left alone), then refusals; a pod with several problems is refused once,
 * its reasons joined by "; ".
 */
export function planDrain(pods: readonly V1Pod[], opts: DrainPlanOptions): DrainPlan {
  const plan: DrainPlan = { evict: [], skipped: [], refused: [] };
  for (const pod of [...pods].sort(comparePods)) {
    const skip = skipReason(pod, opts);
    if (skip !== undefined) {
      plan.skipped.push({ pod, reason: skip });
      continue;
    }
    const reasons = refusals(pod, opts);
    if (reasons.length > 0) plan.refused.push({ pod, reason: reasons.join('; ') });
    else plan.evict.push(pod);
  }
  return plan;
}

function skipReason(pod: V1Pod, opts: DrainPlanOptions): SkipReason | undefined {
  if (isMirrorPod(pod)) return 'mirror';
  if (isDaemonSetPod(pod)) return 'daemonset';
  if (isCompletedPod(pod)) return 'completed';
  if (opts.podSelector !== undefined && !matchesLabelSelector(opts.podSelector, pod.metadata?.labels ?? {})) {
    return 'not-selected';
  }
  return undefined;
}
