/**
 * RBAC for the e2e tests' own ServiceAccounts, taken from the Helm chart: the rules of the
 * chart's ClusterRole, its Role in the release namespace and its Events Role in `default`, as
 * `helm template` renders them. So every e2e test runs with exactly the chart's least privilege
 * (and a rule the chart lacks fails a test), while a test keeps its own ServiceAccount names.
 * The chart's admission policies come along for the agent and the controller, bound to the
 * test's ServiceAccount: every e2e test runs under them too. e2e/chart.e2e.ts installs the chart
 * itself.
 */
import {
  AdmissionregistrationV1Api,
  CoreV1Api,
  type KubeConfig,
  RbacAuthorizationV1Api,
  type V1PolicyRule,
  type V1ValidatingAdmissionPolicy,
} from '@kubernetes/client-node';
import { type K8sObject, only, renderChart } from '../../scripts/chart.ts';

/** Namespace of the Node Events both components write (fixed by Kubernetes, see events-rbac.yaml). */
const EVENTS_NAMESPACE = 'default';
const RELEASE = 'baton';
const RELEASE_NAMESPACE = 'baton';

interface ComponentRules {
  readonly cluster: V1PolicyRule[];
  readonly namespaced: V1PolicyRule[];
  readonly events: V1PolicyRule[];
}

let rendered: Promise<K8sObject[]> | undefined;

/** Whose rules: the chart's two components, or its two roles for people running `kubectl baton`. */
type ChartSubject = 'agent' | 'controller' | 'viewer' | 'operator';

/** The chart's rules for one component or user role (rendered once per process). */
export async function chartRules(component: ChartSubject): Promise<ComponentRules> {
  rendered ??= renderChart(undefined, { release: RELEASE, namespace: RELEASE_NAMESPACE }).then((r) => {
    if (!r.ok) throw new Error(`helm template of charts/baton failed: ${r.stderr}`);
    return r.objects;
  });
  const objects = await rendered;
  return rulesIn(objects, component);
}

function rulesIn(objects: readonly K8sObject[], component: ChartSubject): ComponentRules {
  const name = `${RELEASE}-${component}`;
  const events = only(objects, 'Role', `${RELEASE}-events`);
  const eventsBinding = only(objects, 'RoleBinding', `${RELEASE}-events`);
  const bound = (eventsBinding.subjects as { name: string }[]).some((s) => s.name === name);
  return {
    cluster: only(objects, 'ClusterRole', name).rules,
    namespaced: only(objects, 'Role', name).rules,
    events: bound ? events.rules : [],
  };
}

async function serviceAccountWithChartRules(
  kc: KubeConfig,
  namespace: string,
  serviceAccount: string,
  component: ChartSubject,
  policyValues?: object,
): Promise<() => Promise<void>> {
  const rules = await chartRules(component);
  const core = kc.makeApiClient(CoreV1Api);
  const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: serviceAccount } } });
  const name = `${namespace}-${serviceAccount}`;
  const subjects = [{ kind: 'ServiceAccount', name: serviceAccount, namespace }];
  const roleRef = (kind: string, ref: string) => ({ apiGroup: 'rbac.authorization.k8s.io', kind, name: ref });
  await rbac.createClusterRole({ body: { metadata: { name }, rules: rules.cluster } });
  await rbac.createClusterRoleBinding({
    body: { metadata: { name }, roleRef: roleRef('ClusterRole', name), subjects },
  });
  await rbac.createNamespacedRole({
    namespace,
    body: { metadata: { name: serviceAccount }, rules: rules.namespaced },
  });
  await rbac.createNamespacedRoleBinding({
    namespace,
    body: { metadata: { name: serviceAccount }, roleRef: roleRef('Role', serviceAccount), subjects },
  });
  if (rules.events.length > 0) {
    await rbac.createNamespacedRole({
      namespace: EVENTS_NAMESPACE,
      body: { metadata: { name }, rules: rules.events },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: EVENTS_NAMESPACE,
      body: { metadata: { name }, roleRef: roleRef('Role', name), subjects },
    });
  }
  const removePolicy = await installChartPolicy(kc, namespace, serviceAccount, component, policyValues);
  // The test namespace takes the namespaced objects with it; these live elsewhere.
  return async () => {
    await removePolicy();
    await rbac.deleteClusterRoleBinding({ name }).catch(() => undefined);
    await rbac.deleteClusterRole({ name }).catch(() => undefined);
    await rbac.deleteNamespacedRoleBinding({ name, namespace: EVENTS_NAMESPACE }).catch(() => undefined);
    await rbac.deleteNamespacedRole({ name, namespace: EVENTS_NAMESPACE }).catch(() => undefined);
  };
}

/**
 * The chart's agent RBAC for `serviceAccount`: its node (via the policy in the chart only), pods,
 * eviction, Events, Leases read-only. `values`: chart values the policy is rendered with (the
 * agent's configured labels and taints are the ones it may write).
 */
export function grantAgentRbac(
  kc: KubeConfig,
  namespace: string,
  serviceAccount: string,
  values?: object,
): Promise<() => Promise<void>> {
  return serviceAccountWithChartRules(kc, namespace, serviceAccount, 'agent', values);
}

/** The chart's controller RBAC for `serviceAccount`: read Nodes and Pods, node status, Leases in its namespace, Events. */
export function grantControllerRbac(
  kc: KubeConfig,
  namespace: string,
  serviceAccount: string,
): Promise<() => Promise<void>> {
  return serviceAccountWithChartRules(kc, namespace, serviceAccount, 'controller');
}

/** The chart's `viewer` or `operator` role (values userRoles) for `serviceAccount`, a person running kubectl baton. */
export function grantUserRbac(
  kc: KubeConfig,
  namespace: string,
  serviceAccount: string,
  role: 'viewer' | 'operator',
): Promise<() => Promise<void>> {
  return serviceAccountWithChartRules(kc, namespace, serviceAccount, role);
}

/** The chart's policy (and binding) for each component that has one, by name in the chart. */
const POLICY_OF: Partial<Record<ChartSubject, string>> = {
  agent: `${RELEASE}-agent-own-node`,
  controller: `${RELEASE}-controller-node-status`,
};

/**
 * Creates the chart's admission policy of `component`, rendered for `namespace`, bound to
 * `serviceAccount` (the username in its match condition) under a name of this namespace's own.
 * Returns its removal. Waits until the API server enforces it.
 */
async function installChartPolicy(
  kc: KubeConfig,
  namespace: string,
  serviceAccount: string,
  component: ChartSubject,
  values?: object,
): Promise<() => Promise<void>> {
  const chartName = POLICY_OF[component];
  if (chartName === undefined) return async () => undefined;
  const r = await renderChart(values, { release: RELEASE, namespace });
  if (!r.ok) throw new Error(`helm template of charts/baton failed: ${r.stderr}`);
  const policy = only(
    r.objects,
    'ValidatingAdmissionPolicy',
    chartName,
  ) as unknown as V1ValidatingAdmissionPolicy;
  const chartUser = `system:serviceaccount:${namespace}:${RELEASE}-${component}`;
  const user = `system:serviceaccount:${namespace}:${serviceAccount}`;
  const name = `${namespace}-${serviceAccount}-${component}`;
  const admission = kc.makeApiClient(AdmissionregistrationV1Api);
  const conditions = policy.spec?.matchConditions ?? [];
  if (!conditions.some((c) => c.expression.includes(chartUser)))
    throw new Error(`the chart's ${chartName} does not match ${chartUser}`);
  await admission.createValidatingAdmissionPolicy({
    body: {
      ...policy,
      metadata: { name, labels: policy.metadata?.labels },
      spec: {
        ...policy.spec,
        matchConditions: conditions.map((c) => ({ ...c, expression: c.expression.replace(chartUser, user) })),
      },
    },
  });
  await admission.createValidatingAdmissionPolicyBinding({
    body: { metadata: { name }, spec: { policyName: name, validationActions: ['Deny'] } },
  });
  await waitForPolicy(admission, name);
  return async () => {
    await admission.deleteValidatingAdmissionPolicyBinding({ name }).catch(() => undefined);
    await admission.deleteValidatingAdmissionPolicy({ name }).catch(() => undefined);
  };
}

/** A policy whose expressions do not compile fails every request it matches: say so at once. */
async function waitForPolicy(admission: AdmissionregistrationV1Api, name: string): Promise<void> {
  for (let i = 0; i < 50; i++) {
    const p = await admission.readValidatingAdmissionPolicy({ name });
    const warnings = p.status?.typeChecking?.expressionWarnings ?? [];
    if (warnings.length > 0)
      throw new Error(`${name}: ${warnings.map((w) => `${w.fieldRef}: ${w.warning}`).join('; ')}`);
    if ((p.status?.observedGeneration ?? 0) >= (p.metadata?.generation ?? 1)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}
