/**
 * The agent's least-privilege RBAC, as the e2e tests grant it to the agent ServiceAccount until
 * the Helm chart owns it: its node (read, cordon, label, annotate, status), pods (list, evict),
 * Events, and the slot Leases read-only. No Lease write of any kind.
 */
import { CoreV1Api, type KubeConfig, RbacAuthorizationV1Api } from '@kubernetes/client-node';

export async function grantAgentRbac(
  kc: KubeConfig,
  namespace: string,
  serviceAccount: string,
): Promise<() => Promise<void>> {
  const core = kc.makeApiClient(CoreV1Api);
  const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: serviceAccount } } });
  const name = `${namespace}-${serviceAccount}`;
  await rbac.createClusterRole({
    body: {
      metadata: { name },
      rules: [
        { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch', 'patch', 'update'] },
        { apiGroups: [''], resources: ['nodes/status'], verbs: ['patch'] },
        { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] },
        { apiGroups: [''], resources: ['pods/eviction'], verbs: ['create'] },
        { apiGroups: ['', 'events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
      ],
    },
  });
  const subjects = [{ kind: 'ServiceAccount', name: serviceAccount, namespace }];
  await rbac.createClusterRoleBinding({
    body: {
      metadata: { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
      subjects,
    },
  });
  await rbac.createNamespacedRole({
    namespace,
    body: {
      metadata: { name: serviceAccount },
      rules: [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'list', 'watch'] }],
    },
  });
  await rbac.createNamespacedRoleBinding({
    namespace,
    body: {
      metadata: { name: serviceAccount },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: serviceAccount },
      subjects,
    },
  });
  return async () => {
    await rbac.deleteClusterRoleBinding({ name }).catch(() => undefined);
    await rbac.deleteClusterRole({ name }).catch(() => undefined);
  };
}

/** The controller's RBAC until the chart owns it: read Nodes, write Leases in its namespace, Events. */
export async function grantControllerRbac(
  kc: KubeConfig,
  namespace: string,
  serviceAccount: string,
): Promise<() => Promise<void>> {
  const core = kc.makeApiClient(CoreV1Api);
  const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: serviceAccount } } });
  const name = `${namespace}-${serviceAccount}`;
  await rbac.createClusterRole({
    body: {
      metadata: { name },
      rules: [
        { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: ['', 'events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
      ],
    },
  });
  const subjects = [{ kind: 'ServiceAccount', name: serviceAccount, namespace }];
  await rbac.createClusterRoleBinding({
    body: {
      metadata: { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
      subjects,
    },
  });
  await rbac.createNamespacedRole({
    namespace,
    body: {
      metadata: { name: serviceAccount },
      rules: [
        {
          apiGroups: ['coordination.k8s.io'],
          resources: ['leases'],
          verbs: ['get', 'list', 'watch', 'create', 'update', 'patch'],
        },
      ],
    },
  });
  await rbac.createNamespacedRoleBinding({
    namespace,
    body: {
      metadata: { name: serviceAccount },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: serviceAccount },
      subjects,
    },
  });
  return async () => {
    await rbac.deleteClusterRoleBinding({ name }).catch(() => undefined);
    await rbac.deleteClusterRole({ name }).catch(() => undefined);
  };
}
