/**
 * Proof that the harness is a real Kubernetes: nodes, scheduling, the disruption controller and
 * eviction, RBAC. Everything else in baton is only as trustworthy as these.
 */
import { randomBytes } from 'node:crypto';
import { normalizeKubeError } from '@baton/runtime';
import {
  AppsV1Api,
  CoreV1Api,
  type KubeConfig,
  PolicyV1Api,
  RbacAuthorizationV1Api,
  type V1Pod,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  createFakeNodes,
  isNodeReady,
  loadKubeConfig,
  mergePatch,
  mintPodToken,
  setBootId,
  setNodeReady,
  tokenKubeConfig,
  waitFor,
  waitForNodesReady,
} from './harness/kube.ts';
import { createTestNamespace, deleteTestNamespace } from './harness/namespace.ts';

describe('the e2e control plane', () => {
  let kc: KubeConfig;
  let core: CoreV1Api;
  let ns: string;
  let nodes: string[];
  const prefix = `harness-${randomBytes(2).toString('hex')}`;
  const app = 'web';

  beforeAll(async () => {
    kc = loadKubeConfig(inject('kubeconfig'));
    core = kc.makeApiClient(CoreV1Api);
    ns = await createTestNamespace(kc, 'harness');
    nodes = await createFakeNodes(kc, { prefix, count: 3, bootId: 'boot-1' });
  });

  afterAll(async () => {
    await deleteTestNamespace(kc, ns);
    for (const name of nodes ?? []) await core.deleteNode({ name }).catch(() => undefined);
  });

  it('makes three fake nodes Ready, with the bootID they were created with', async () => {
    await waitForNodesReady(kc, nodes);
    for (const name of nodes) {
      const node = await core.readNode({ name });
      expect(isNodeReady(node)).toBe(true);
      expect(node.status?.nodeInfo?.bootID).toBe('boot-1');
    }
  });

  it('schedules a Deployment onto the fake nodes and its pods run', async () => {
    await kc.makeApiClient(AppsV1Api).createNamespacedDeployment({
      namespace: ns,
      body: {
        metadata: { name: app },
        spec: {
          replicas: 3,
          selector: { matchLabels: { app } },
          template: {
            metadata: { labels: { app } },
            spec: {
              nodeSelector: { type: 'kwok' },
              // One pod per node, so each fake node is shown to run a pod.
              topologySpreadConstraints: [
                {
                  maxSkew: 1,
                  topologyKey: 'kubernetes.io/hostname',
                  whenUnsatisfiable: 'DoNotSchedule',
                  labelSelector: { matchLabels: { app } },
                },
              ],
              affinity: {
                nodeAffinity: {
                  requiredDuringSchedulingIgnoredDuringExecution: {
                    nodeSelectorTerms: [
                      {
                        matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: nodes }],
                      },
                    ],
                  },
                },
              },
              containers: [{ name: 'web', image: 'registry.invalid/web:1' }],
            },
          },
        },
      },
    });
    const pods = await waitFor('3 running pods', async () => {
      const list = await core.listNamespacedPod({ namespace: ns, labelSelector: `app=${app}` });
      const running = list.items.filter((p) => p.status?.phase === 'Running' && p.spec?.nodeName);
      return running.length === 3 ? running : undefined;
    });
    expect(new Set(pods.map((p) => p.spec?.nodeName))).toEqual(new Set(nodes));
  });

  it('computes a PodDisruptionBudget, refuses an eviction that would break it with 429, allows one that does not', async () => {
    const policy = kc.makeApiClient(PolicyV1Api);
    await policy.createNamespacedPodDisruptionBudget({
      namespace: ns,
      body: { metadata: { name: app }, spec: { minAvailable: 3, selector: { matchLabels: { app } } } },
    });
    await waitFor('PDB status observed with 3 healthy pods', async () => {
      const pdb = await policy.readNamespacedPodDisruptionBudget({ name: app, namespace: ns });
      return pdb.status?.currentHealthy === 3 && pdb.status.observedGeneration === pdb.metadata?.generation;
    });
    const before = await policy.readNamespacedPodDisruptionBudget({ name: app, namespace: ns });
    expect(before.status?.disruptionsAllowed).toBe(0);

    const list = await core.listNamespacedPod({ namespace: ns, labelSelector: `app=${app}` });
    const victim = list.items[0] as V1Pod;
    const name = victim.metadata?.name ?? '';
    const evict = () =>
      core.createNamespacedPodEviction({
        name,
        namespace: ns,
        body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace: ns } },
      });

    const refused = await evict().then(
      () => undefined,
      (err: unknown) => normalizeKubeError(err),
    );
    expect(refused?.code).toBe(429);
    expect(refused?.message).toMatch(/disruption budget/i);

    await policy.patchNamespacedPodDisruptionBudget(
      { name: app, namespace: ns, body: { spec: { minAvailable: 2 } } },
      mergePatch,
    );
    await waitFor('disruptionsAllowed = 1', async () => {
      const pdb = await policy.readNamespacedPodDisruptionBudget({ name: app, namespace: ns });
      return pdb.status?.disruptionsAllowed === 1;
    });
    await evict();
    await waitFor(`evicted pod ${name} gone`, async () => {
      const pods = await core.listNamespacedPod({ namespace: ns, fieldSelector: `metadata.name=${name}` });
      return pods.items.every((p) => p.metadata?.uid !== victim.metadata?.uid);
    });
  });

  it('enforces RBAC: a ServiceAccount without rights gets 403 on a node patch', async () => {
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'nobody' } } });
    const pod = await core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: 'nobody' },
        spec: {
          serviceAccountName: 'nobody',
          nodeName: nodes[0],
          containers: [{ name: 'c', image: 'registry.invalid/c:1' }],
        },
      },
    });
    const { token } = await mintPodToken(kc, {
      namespace: ns,
      serviceAccount: 'nobody',
      pod: pod.metadata?.name ?? '',
    });
    const asNobody = tokenKubeConfig(kc, token).makeApiClient(CoreV1Api);
    const err = await asNobody
      .patchNode({ name: nodes[0] ?? '', body: { metadata: { labels: { x: 'y' } } } }, mergePatch)
      .then(
        () => undefined,
        (e: unknown) => normalizeKubeError(e),
      );
    expect(err?.code).toBe(403);
    expect(err?.message).toContain(`system:serviceaccount:${ns}:nobody`);

    // The same request succeeds once RBAC grants it: the 403 came from authorization, not from a broken token.
    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    const roleName = `${ns}-node-patcher`;
    await rbac.createClusterRole({
      body: {
        metadata: { name: roleName },
        rules: [{ apiGroups: [''], resources: ['nodes'], verbs: ['patch'] }],
      },
    });
    await rbac.createClusterRoleBinding({
      body: {
        metadata: { name: roleName },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: roleName },
        subjects: [{ kind: 'ServiceAccount', name: 'nobody', namespace: ns }],
      },
    });
    try {
      await waitFor('patch allowed after the binding', async () => {
        await asNobody.patchNode(
          { name: nodes[0] ?? '', body: { metadata: { labels: { x: 'y' } } } },
          mergePatch,
        );
        return true;
      });
    } finally {
      await rbac.deleteClusterRoleBinding({ name: roleName });
      await rbac.deleteClusterRole({ name: roleName });
    }
  });

  it('marks a node NotReady and Ready again, and changes its bootID like a reboot would', async () => {
    const name = nodes[2] ?? '';
    await setNodeReady(kc, name, false);
    expect(isNodeReady(await core.readNode({ name }))).toBe(false);
    await setBootId(kc, name, 'boot-2');
    await setNodeReady(kc, name, true);
    const node = await core.readNode({ name });
    expect(isNodeReady(node)).toBe(true);
    expect(node.status?.nodeInfo?.bootID).toBe('boot-2');
  });
});
