/**
 * The agent's least-privilege RBAC, as the e2e tests grant it to the agent ServiceAccount until
 * the Helm chart owns it: its node (read, cordon, label, annotate, status), pods (list, evict),
 * Events, and the slot Leases read-only. No Lease write of any kind.
 */
import { CoreV1Api, type KubeConfig, RbacAuthorizationV1Api } from '@kubernetes/client-node';

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

/**
 * Creates a ServiceAccount with a ClusterRole for its cluster-wide rules and a Role in its
 * namespace for the rest. Returns a cleanup for the cluster-scoped objects (the namespace takes
 * the others with it).
 */
async function serviceAccountWithRules(
  kc: KubeConfig,
  namespace: string,
  serviceAccount: string,
  clusterRules: Rule[],
  namespaceRules: Rule[],
): Promise<() => Promise<void>> {
  const core = kc.makeApiClient(CoreV1Api);
  const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: serviceAccount } } });
  const name = `${namespace}-${serviceAccount}`;
  const subjects = [{ kind: 'ServiceAccount', name: serviceAccount, namespace }];
  await rbac.createClusterRole({ body: { metadata: { name }, rules: clusterRules } });
  await rbac.createClusterRoleBinding({
    body: {
      metadata: { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
      subjects,
    },
  });
  await rbac.createNamespacedRole({
    namespace,
    body: { metadata: { name: serviceAccount }, rules: namespaceRules },
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

export function grantAgentRbac(
  kc: KubeConfig,
  namespace: string,
  serviceAccount: string,
): Promise<() => Promise<void>> {
  return serviceAccountWithRules(
    kc,
    namespace,
    serviceAccount,
    [
      { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch', 'patch', 'update'] },
      { apiGroups: [''], resources: ['nodes/status'], verbs: ['patch'] },
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] },
      { apiGroups: [''], resources: ['pods/eviction'], verbs: ['create'] },
      { apiGroups: ['', 'events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
    ],
    [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'list', 'watch'] }],
  );
}

/** The controller's RBAC until the chart owns it: read Nodes and pods, write Leases in its namespace, Events. */
export function grantControllerRbac(
  kc: KubeConfig,
  namespace: string,
  serviceAccount: string,
): Promise<() => Promise<void>> {
  return serviceAccountWithRules(
    kc,
    namespace,
    serviceAccount,
    [
      { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] },
      // The pods of granted nodes (field selector spec.nodeName), to know they are Ready again.
      { apiGroups: [''], resources: ['pods'], verbs: ['list', 'watch'] },
      { apiGroups: ['', 'events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
    ],
    [
      {
        apiGroups: ['coordination.k8s.io'],
        resources: ['leases'],
        verbs: ['get', 'list', 'watch', 'create', 'update', 'patch'],
      },
    ],
  );
}
