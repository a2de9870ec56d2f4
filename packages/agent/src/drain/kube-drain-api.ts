/**
 * The real {@link DrainApi}: the node's pods and the Eviction subresource of
 * @kubernetes/client-node's CoreV1Api. Answers the engine must act on (429, 404, 409) become
 * outcomes; everything else is rethrown unchanged, so callers can still normalize it.
 *
 * RBAC this needs: `list` on `pods` (cluster-wide, narrowed by the field selector) and
 * `create` on `pods/eviction`.
 */
import { normalizeKubeError } from '@baton/runtime';
import type { CoreV1Api, V1Eviction, V1Pod } from '@kubernetes/client-node';
import type { DrainApi, EvictOptions, EvictOutcome } from './engine.ts';

/** Pods per page: more than a node holds by default (110), so one request is the usual case. */
export const POD_PAGE_SIZE = 500;

/** A continue token can expire (410) between pages; start over this many times, then give up. */
const MAX_LIST_RESTARTS = 2;

export type DrainCoreApi = Pick<CoreV1Api, 'listPodForAllNamespaces' | 'createNamespacedPodEviction'>;

export function createKubeDrainApi(core: DrainCoreApi): DrainApi {
  return {
    async listPodsOnNode(node: string): Promise<V1Pod[]> {
      for (let restarts = 0; ; restarts++) {
        const pods: V1Pod[] = [];
        let token: string | undefined;
        try {
          do {
            const page = await core.listPodForAllNamespaces({
              fieldSelector: `spec.nodeName=${node}`,
              limit: POD_PAGE_SIZE,
              ...(token !== undefined ? { _continue: token } : {}),
            });
            pods.push(...page.items);
            token = page.metadata?._continue || undefined;
          } while (token !== undefined);
          return pods;
        } catch (err) {
          // Only a continued page can expire; a first page answering 410 is a real error.
          if (token === undefined || normalizeKubeError(err).code !== 410 || restarts >= MAX_LIST_RESTARTS) {
            throw err;
          }
        }
      }
    },

    async evictPod(namespace: string, name: string, opts: EvictOptions): Promise<EvictOutcome> {
      const body: V1Eviction = {
        apiVersion: 'policy/v1',
        kind: 'Eviction',
        metadata: { name, namespace },
        deleteOptions: {
          ...(opts.gracePeriodSeconds !== undefined ? { gracePeriodSeconds: opts.gracePeriodSeconds } : {}),
          ...(opts.uid !== undefined ? { preconditions: { uid: opts.uid } } : {}),
        },
      };
      try {
        await core.createNamespacedPodEviction({ name, namespace, body });
        return { kind: 'accepted' };
      } catch (err) {
        const k = normalizeKubeError(err);
        if (k.code === 429) {
          return {
            kind: 'blocked',
            message: withCauses(k.message, err),
            retryAfterSeconds: k.retryAfterSeconds,
          };
        }
        if (k.code === 404) return { kind: 'gone' };
        if (k.code === 409) return { kind: 'conflict' };
        throw err;
      }
    },
  };
}

/**
 * A PDB refusal says only "Cannot evict pod as it would violate the pod's disruption budget.";
 * the Status causes name the budget and its numbers, which is what an operator needs to see.
 */
function withCauses(message: string, err: unknown): string {
  const causes = statusCauses((err as { body?: unknown } | null)?.body)
    .filter((c) => c !== '' && !message.includes(c))
    .join('; ');
  return causes === '' ? message : `${message} (${causes})`;
}

function statusCauses(body: unknown): string[] {
  let status = body;
  if (typeof body === 'string') {
    try {
      status = JSON.parse(body);
    } catch {
      return [];
    }
  }
  const causes = (status as { details?: { causes?: unknown } } | null)?.details?.causes;
  if (!Array.isArray(causes)) return [];
  return causes.flatMap((c: unknown) => {
    const text = (c as { message?: unknown } | null)?.message;
    return typeof text === 'string' ? [text] : [];
  });
}
