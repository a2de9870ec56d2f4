import {
  ApiException,
  type CoreV1ApiCreateNamespacedPodEvictionRequest,
  type CoreV1ApiListPodForAllNamespacesRequest,
  type V1Eviction,
  type V1PodList,
} from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { pod } from './fakes.ts';
import { createKubeDrainApi, type DrainCoreApi, POD_PAGE_SIZE } from './kube-drain-api.ts';

/** A CoreV1Api stand-in: records requests, answers from scripts. */
function fakeCore(opts: {
  pages?: (req: CoreV1ApiListPodForAllNamespacesRequest, n: number) => V1PodList;
  evict?: (req: CoreV1ApiCreateNamespacedPodEvictionRequest) => void;
}) {
  const lists: CoreV1ApiListPodForAllNamespacesRequest[] = [];
  const evictions: CoreV1ApiCreateNamespacedPodEvictionRequest[] = [];
  const core: DrainCoreApi = {
    async listPodForAllNamespaces(req?: CoreV1ApiListPodForAllNamespacesRequest): Promise<V1PodList> {
      const r = req ?? {};
      lists.push(r);
      return (opts.pages ?? (() => ({ items: [] })))(r, lists.length);
    },
    async createNamespacedPodEviction(req: CoreV1ApiCreateNamespacedPodEvictionRequest): Promise<V1Eviction> {
      evictions.push(req);
      opts.evict?.(req);
      return req.body;
    },
  };
  return { core, lists, evictions };
}

const status = (code: number, message: string, extra: Record<string, unknown> = {}): string =>
  JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message, code, ...extra });

describe('createKubeDrainApi().listPodsOnNode', () => {
  it('lists by field selector, page by page, until no continue token', async () => {
    const { core, lists } = fakeCore({
      pages: (_req, n) =>
        n === 1
          ? { items: [pod('a'), pod('b')], metadata: { _continue: 't1' } }
          : n === 2
            ? { items: [pod('c')], metadata: { _continue: 't2' } }
            : { items: [pod('d')], metadata: { _continue: '' } },
    });
    const pods = await createKubeDrainApi(core).listPodsOnNode('node-a');
    expect(pods.map((p) => p.metadata?.name)).toEqual(['a', 'b', 'c', 'd']);
    expect(lists).toEqual([
      { fieldSelector: 'spec.nodeName=node-a', limit: POD_PAGE_SIZE },
      { fieldSelector: 'spec.nodeName=node-a', limit: POD_PAGE_SIZE, _continue: 't1' },
      { fieldSelector: 'spec.nodeName=node-a', limit: POD_PAGE_SIZE, _continue: 't2' },
    ]);
    expect(POD_PAGE_SIZE).toBe(500);
  });

  it('starts over when a continue token expired (410), without duplicates', async () => {
    const { core, lists } = fakeCore({
      pages: (req, n) => {
        if (n === 2) throw new ApiException(410, 'expired', status(410, 'continue token expired'), {});
        return req._continue === undefined
          ? { items: [pod('a')], metadata: { _continue: 't1' } }
          : { items: [pod('b')], metadata: {} };
      },
    });
    const pods = await createKubeDrainApi(core).listPodsOnNode('node-a');
    expect(pods.map((p) => p.metadata?.name)).toEqual(['a', 'b']);
    expect(lists.map((l) => l._continue)).toEqual([undefined, 't1', undefined, 't1']);
  });

  it('rethrows other errors unchanged', async () => {
    const forbidden = new ApiException(403, 'forbidden', status(403, 'pods is forbidden'), {});
    const { core } = fakeCore({
      pages: () => {
        throw forbidden;
      },
    });
    await expect(createKubeDrainApi(core).listPodsOnNode('node-a')).rejects.toBe(forbidden);
  });
});

describe('createKubeDrainApi().evictPod', () => {
  it('posts a policy/v1 Eviction with the grace period and the UID precondition', async () => {
    const { core, evictions } = fakeCore({});
    const api = createKubeDrainApi(core);
    expect(await api.evictPod('shop', 'web-1', { gracePeriodSeconds: 20, uid: 'u1' })).toEqual({
      kind: 'accepted',
    });
    await api.evictPod('shop', 'web-2', { uid: 'u2' });
    expect(evictions).toEqual([
      {
        name: 'web-1',
        namespace: 'shop',
        body: {
          apiVersion: 'policy/v1',
          kind: 'Eviction',
          metadata: { name: 'web-1', namespace: 'shop' },
          deleteOptions: { gracePeriodSeconds: 20, preconditions: { uid: 'u1' } },
        },
      },
      {
        name: 'web-2',
        namespace: 'shop',
        body: {
          apiVersion: 'policy/v1',
          kind: 'Eviction',
          metadata: { name: 'web-2', namespace: 'shop' },
          deleteOptions: { preconditions: { uid: 'u2' } },
        },
      },
    ]);
  });

  it('turns a PDB 429 into blocked, with the budget named and Retry-After', async () => {
    const pdb = new ApiException(
      429,
      'Too Many Requests',
      status(429, "Cannot evict pod as it would violate the pod's disruption budget.", {
        reason: 'TooManyRequests',
        details: {
          causes: [
            {
              reason: 'DisruptionBudget',
              message: 'The disruption budget web-pdb needs 2 healthy pods and has 2 currently',
            },
          ],
        },
      }),
      { 'retry-after': '10' },
    );
    const { core } = fakeCore({
      evict: () => {
        throw pdb;
      },
    });
    expect(await createKubeDrainApi(core).evictPod('shop', 'web-1', { uid: 'u1' })).toEqual({
      kind: 'blocked',
      message:
        "Cannot evict pod as it would violate the pod's disruption budget. (The disruption budget web-pdb needs 2 healthy pods and has 2 currently)",
      retryAfterSeconds: 10,
    });
  });

  it.each([
    { code: 404, expected: { kind: 'gone' } },
    { code: 409, expected: { kind: 'conflict' } },
  ])('turns $code into $expected', async ({ code, expected }) => {
    const { core } = fakeCore({
      evict: () => {
        throw new ApiException(code, 'x', status(code, 'x'), {});
      },
    });
    expect(await createKubeDrainApi(core).evictPod('shop', 'web-1', { uid: 'u1' })).toEqual(expected);
  });

  it.each([
    new ApiException(403, 'forbidden', status(403, 'pods "web-1" is forbidden'), {}),
    new ApiException(500, 'internal', status(500, 'This pod has more than one PodDisruptionBudget'), {}),
    Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } }),
  ])('rethrows %s unchanged', async (err) => {
    const { core } = fakeCore({
      evict: () => {
        throw err;
      },
    });
    await expect(createKubeDrainApi(core).evictPod('shop', 'web-1', {})).rejects.toBe(err);
  });
});
