/**
 * The agent's small Kubernetes client (runtime/kube-client.ts, kube-connection.ts,
 * informer.ts) against the real API server: client-certificate and token kubeconfigs, the
 * error shapes the one normalizer reads, the compare-and-swap helper, strategic merge on node
 * status, and an informer that follows real watch events.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createKubeClient,
  describeKubeError,
  isConflict,
  isNotFound,
  type KubeClient,
  kubeListWatchSource,
  loadKubeConnection,
  normalizeKubeError,
  PatchType,
  superviseInformer,
  updateWithRetry,
} from '@baton/runtime';
import { CoreV1Api, type KubeConfig, type V1ConfigMap, type V1Node } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  createFakeNodes,
  loadKubeConfig,
  mintServiceAccountToken,
  waitFor,
  writeTokenKubeconfig,
} from './harness/kube.ts';
import { createTestNamespace, deleteTestNamespace } from './harness/namespace.ts';

const quietLog = { info: () => {}, warn: () => {}, error: () => {} };

describe('the small Kubernetes client', () => {
  let kc: KubeConfig;
  let admin: KubeClient;
  let ns: string;
  let dir: string;
  let node: string;

  beforeAll(async () => {
    kc = loadKubeConfig(inject('kubeconfig'));
    // The harness's admin kubeconfig authenticates with a client certificate.
    admin = createKubeClient(await loadKubeConnection(inject('kubeconfig')));
    ns = await createTestNamespace(kc, 'client');
    dir = await mkdtemp(join(tmpdir(), 'baton-client-e2e-'));
    [node = ''] = await createFakeNodes(kc, { prefix: `client-${process.pid}`, count: 1 });
  });

  afterAll(async () => {
    admin?.close();
    await kc
      ?.makeApiClient(CoreV1Api)
      .deleteNode({ name: node })
      .catch(() => {});
    if (ns) await deleteTestNamespace(kc, ns);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('reads, creates and answers errors in the shape the normalizer reads', async () => {
    const read = await admin.request<V1Node>({ method: 'GET', path: `/api/v1/nodes/${node}` });
    expect(read.metadata?.name).toBe(node);

    const missing = await admin
      .request({ method: 'GET', path: `/api/v1/namespaces/${ns}/configmaps/nope` })
      .catch((e: unknown) => e);
    expect(isNotFound(missing)).toBe(true);
    expect(describeKubeError(missing)).toMatch(/^404 NotFound: configmaps "nope" not found/);

    const body = { metadata: { name: 'cm' }, data: { a: '1' } };
    await admin.request({ method: 'POST', path: `/api/v1/namespaces/${ns}/configmaps`, body });
    const again = await admin
      .request({ method: 'POST', path: `/api/v1/namespaces/${ns}/configmaps`, body })
      .catch((e: unknown) => e);
    expect(normalizeKubeError(again)).toMatchObject({ code: 409, reason: 'AlreadyExists' });
  });

  it('replaces with the resourceVersion: a stale write is a 409 and updateWithRetry re-reads', async () => {
    const path = `/api/v1/namespaces/${ns}/configmaps/cas`;
    await admin.request({
      method: 'POST',
      path: `/api/v1/namespaces/${ns}/configmaps`,
      body: { metadata: { name: 'cas' }, data: { n: '0' } },
    });
    const stale = await admin.request<V1ConfigMap>({ method: 'GET', path });
    await admin.request({ method: 'PATCH', path, body: { data: { n: '1' } }, contentType: PatchType.Merge });
    const conflict = await admin
      .request({ method: 'PUT', path, body: { ...stale, data: { n: 'stale' } } })
      .catch((e: unknown) => e);
    expect(isConflict(conflict)).toBe(true);

    let reads = 0;
    const res = await updateWithRetry(
      async () => {
        reads++;
        // The first read hands back the stale copy: the write must fail and be retried.
        return reads === 1 ? stale : admin.request<V1ConfigMap>({ method: 'GET', path });
      },
      (cm) => ({ ...cm, data: { n: String(Number(cm.data?.n ?? '0') + 10) } }),
      (body) => admin.request<V1ConfigMap>({ method: 'PUT', path, body }),
    );
    expect(res.object.data?.n).toBe('11');
    expect(reads).toBe(2);
  });

  it('merges a node status condition by type, keeping the others', async () => {
    const before = await admin.request<V1Node>({ method: 'GET', path: `/api/v1/nodes/${node}` });
    const others = (before.status?.conditions ?? []).map((c) => c.type);
    expect(others).toContain('Ready');
    await admin.request({
      method: 'PATCH',
      path: `/api/v1/nodes/${node}/status`,
      query: { fieldManager: 'baton-e2e' },
      contentType: PatchType.StrategicMerge,
      body: {
        status: {
          conditions: [
            {
              type: 'ClientTest',
              status: 'True',
              reason: 'Testing',
              message: 'the small client',
              lastHeartbeatTime: new Date(),
              lastTransitionTime: new Date(),
            },
          ],
        },
      },
    });
    const after = await admin.request<V1Node>({ method: 'GET', path: `/api/v1/nodes/${node}` });
    const types = (after.status?.conditions ?? []).map((c) => c.type);
    expect(types).toEqual(expect.arrayContaining([...others, 'ClientTest']));
  });

  it('authenticates with a token kubeconfig; RBAC answers 403 with the reason', async () => {
    const core = kc.makeApiClient(CoreV1Api);
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'nobody' } } });
    const token = await mintServiceAccountToken(kc, { namespace: ns, serviceAccount: 'nobody' });
    const path = await writeTokenKubeconfig(kc, token, join(dir, 'nobody.kubeconfig'));
    const client = createKubeClient(await loadKubeConnection(path));
    try {
      const denied = await client.request({ method: 'GET', path: '/api/v1/nodes' }).catch((e: unknown) => e);
      expect(normalizeKubeError(denied)).toMatchObject({ code: 403, reason: 'Forbidden' });
      expect(describeKubeError(denied)).toContain(`system:serviceaccount:${ns}:nobody`);
    } finally {
      client.close();
    }
  });

  it('fails a request to a closed port with a network error (code 0), not a crash', async () => {
    const conn = await loadKubeConnection(inject('kubeconfig'));
    const closed = createKubeClient({ ...conn, server: new URL('https://127.0.0.1:1') });
    const err = await closed.request({ method: 'GET', path: '/api/v1/nodes' }).catch((e: unknown) => e);
    expect(normalizeKubeError(err)).toMatchObject({ code: 0, reason: 'ECONNREFUSED' });
    closed.close();
  });

  it('follows real watch events in an informer, across a server-ended watch', async () => {
    const client = createKubeClient(await loadKubeConnection(inject('kubeconfig')), {
      watchTimeoutSeconds: 2,
    });
    const informer = superviseInformer<V1ConfigMap>({
      name: 'configmaps',
      source: kubeListWatchSource(client, `/api/v1/namespaces/${ns}/configmaps`, {
        labelSelector: 'watched=yes',
      }),
      log: quietLog,
    });
    const seen: string[] = [];
    informer.onChange((event, cm) => {
      if (cm !== undefined) seen.push(`${event} ${cm.metadata?.name}`);
    });
    try {
      await informer.start();
      expect(informer.synced()).toBe(true);
      const create = (name: string) =>
        admin.request({
          method: 'POST',
          path: `/api/v1/namespaces/${ns}/configmaps`,
          body: { metadata: { name, labels: { watched: 'yes' } }, data: { v: '1' } },
        });
      await create('w1');
      await waitFor('w1 added', async () => (informer.get('w1', ns) ? true : undefined), 10_000);
      // Past the 2 s server-side watch timeout: the informer must have watched again.
      await new Promise((r) => setTimeout(r, 3_000));
      await admin.request({
        method: 'PATCH',
        path: `/api/v1/namespaces/${ns}/configmaps/w1`,
        body: { data: { v: '2' } },
        contentType: PatchType.Merge,
      });
      await create('w2');
      await admin.request({ method: 'DELETE', path: `/api/v1/namespaces/${ns}/configmaps/w1` });
      await waitFor(
        'update, add and delete seen',
        async () => (seen.includes('delete w1') && seen.includes('add w2') ? true : undefined),
        10_000,
      );
      expect(seen).toEqual(['add w1', 'update w1', 'add w2', 'delete w1']);
      expect(informer.list().map((c) => c.metadata?.name)).toEqual(['w2']);
      expect(informer.synced()).toBe(true);
      expect(informer.restarts()).toBe(0);
      // The unlabelled ConfigMaps of the other tests were never delivered.
      expect(informer.get('cm', ns)).toBeUndefined();
    } finally {
      await informer.stop();
      client.close();
    }
  });
});
