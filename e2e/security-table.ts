/**
 * What each of baton's identities may and may not do, as one table: e2e/chart.e2e.ts sends every
 * row's request to the real API server with that identity's real token (after `helm install`)
 * and checks the answer and who gave it; docs/security.md shows the same rows, with the threat
 * each refusal stops and what kured's DaemonSet token could do instead. security-table.test.ts
 * keeps the document equal to this table.
 *
 * "its node" is the node the agent's token is bound to (the node its pod runs on); "another
 * node" is any other.
 */

/** Whose token: the chart's two ServiceAccounts and its two roles for people. */
export type Identity = 'agent' | 'agent, unbound token' | 'controller' | 'operator' | 'viewer';

/** Who refuses: RBAC (the verb or resource is not granted) or the chart's admission policies. */
export type Refuser = 'RBAC' | 'policy';

export interface SecurityRow {
  /** Stable key: the e2e test's request for this row is found by it. */
  readonly id: string;
  readonly who: Identity;
  readonly request: string;
  /** `allowed`, or who refuses it. */
  readonly expected: 'allowed' | Refuser;
  /** Refused: the attack it stops. Allowed: why the identity needs it (or why RBAC cannot narrow it). */
  readonly why: string;
  /** What kured's DaemonSet token (kured 1.23 chart: nodes get/patch, pods get/list/delete, evictions) could do. */
  readonly kured: string;
}

const KURED_NODE_PATCH = 'allowed (nodes patch, any node, any field)';
const KURED_NO = 'refused (not granted)';

export const SECURITY_ROWS: readonly SecurityRow[] = [
  // --- the agent: what it needs ------------------------------------------------------------
  {
    id: 'agent-status-own',
    who: 'agent',
    request: 'patch its node status: the RebootRequired condition',
    expected: 'allowed',
    why: 'reports the sentinel',
    kured: 'no such condition (kured keeps its state in a DaemonSet annotation)',
  },
  {
    id: 'agent-cordon-own',
    who: 'agent',
    request: 'cordon its node',
    expected: 'allowed',
    why: 'cordons before the drain',
    kured: KURED_NODE_PATCH,
  },
  {
    id: 'agent-uncordon-own',
    who: 'agent',
    request: 'uncordon its node',
    expected: 'allowed',
    why: 'uncordons after the reboot',
    kured: KURED_NODE_PATCH,
  },
  {
    id: 'agent-taint-own',
    who: 'agent',
    request: 'add and remove the baton.dev/rebooting taint on its node',
    expected: 'allowed',
    why: 'keeps new pods off while it reboots',
    kured: KURED_NODE_PATCH,
  },
  {
    id: 'agent-annotate-own',
    who: 'agent',
    request: 'set a baton.dev/ annotation on its node',
    expected: 'allowed',
    why: 'records its phase and grant',
    kured: KURED_NODE_PATCH,
  },
  {
    id: 'agent-label-configured',
    who: 'agent',
    request: 'set a label configured as a pre-reboot label on its node',
    expected: 'allowed',
    why: 'agent.config preRebootNodeLabels',
    kured: KURED_NODE_PATCH,
  },
  {
    id: 'agent-replace-own',
    who: 'agent',
    request: 'replace its node unchanged (update)',
    expected: 'allowed',
    why: 'cordon and taints are compare-and-swap updates',
    kured: 'refused (no update verb; patch does the same)',
  },
  {
    id: 'agent-list-leases',
    who: 'agent',
    request: 'list and watch the Leases of its namespace',
    expected: 'allowed',
    why: 'sees its grant',
    kured: 'reads its DaemonSet lock instead',
  },
  {
    id: 'agent-list-pods-other',
    who: 'agent',
    request: 'list the pods of another node',
    expected: 'allowed',
    why: 'RBAC cannot narrow a list to one node: the verb that lists its own pods lists every pod',
    kured: 'allowed (pods list, get)',
  },
  {
    id: 'agent-evict',
    who: 'agent',
    request: 'evict a pod (Eviction API, PodDisruptionBudgets honoured)',
    expected: 'allowed',
    why: 'RBAC cannot narrow evictions to the pods of one node',
    kured: 'allowed (pods/eviction create, and pods delete)',
  },
  {
    id: 'agent-event-default',
    who: 'agent',
    request: 'create an Event in default',
    expected: 'allowed',
    why: 'Node Events live in default, where kubectl describe node looks',
    kured: KURED_NO,
  },
  // --- the agent: refused by the admission policy -----------------------------------------
  {
    id: 'agent-cordon-other',
    who: 'agent',
    request: 'cordon another node',
    expected: 'policy',
    why: 'a stolen agent token takes down capacity on every node',
    kured: KURED_NODE_PATCH,
  },
  {
    id: 'agent-status-other',
    who: 'agent',
    request: "patch another node's status",
    expected: 'policy',
    why: "forging another node's conditions",
    kured: 'refused (no nodes/status)',
  },
  {
    id: 'agent-unbound-cordon',
    who: 'agent, unbound token',
    request: 'cordon any node',
    expected: 'policy',
    why: 'a token minted for the ServiceAccount outside a pod names no node: it may change none',
    kured: KURED_NODE_PATCH,
  },
  {
    id: 'agent-label-node-restriction',
    who: 'agent',
    request: 'set a node-restriction.kubernetes.io/ label on its node',
    expected: 'policy',
    why: 'goes around the kubelet NodeRestriction: such labels steer workloads that trust them',
    kured: KURED_NODE_PATCH,
  },
  {
    id: 'agent-label-node-role',
    who: 'agent',
    request: 'set the node-role.kubernetes.io/control-plane label on its node',
    expected: 'policy',
    why: 'attracts control-plane workloads to a compromised node',
    kured: KURED_NODE_PATCH,
  },
  {
    id: 'agent-label-other',
    who: 'agent',
    request: 'set a label that is not configured on its node',
    expected: 'policy',
    why: 'attracts workloads selected by that label',
    kured: KURED_NODE_PATCH,
  },
  {
    id: 'agent-untaint-other',
    who: 'agent',
    request: "remove a taint that is not baton's from its node",
    expected: 'policy',
    why: 'lets workloads onto a node reserved for others (dedicated, GPU, control plane)',
    kured: KURED_NODE_PATCH,
  },
  {
    id: 'agent-taint-other',
    who: 'agent',
    request: "add a NoExecute taint that is not baton's to its node",
    expected: 'policy',
    why: 'evicts every pod at once, past the PodDisruptionBudgets',
    kured: KURED_NODE_PATCH,
  },
  {
    id: 'agent-annotate-other',
    who: 'agent',
    request: 'set an annotation outside baton.dev/ on its node',
    expected: 'policy',
    why: "tampering with other controllers' state on the node",
    kured: KURED_NODE_PATCH,
  },
  {
    id: 'agent-forge-ready',
    who: 'agent',
    request: 'set Ready to False on its node status',
    expected: 'policy',
    why: "forged Ready: the node controller's evictions, a false settle",
    kured: 'refused (no nodes/status)',
  },
  {
    id: 'agent-forge-gate',
    who: 'agent',
    request: "write the controller's RebootGate condition on its node",
    expected: 'policy',
    why: "faking the controller's word to people and tools",
    kured: 'refused (no nodes/status)',
  },
  {
    id: 'agent-forge-address',
    who: 'agent',
    request: 'change the addresses in its node status',
    expected: 'policy',
    why: 'redirects the API server and monitoring to another host',
    kured: 'refused (no nodes/status)',
  },
  {
    id: 'agent-forge-boot-id',
    who: 'agent',
    request: 'change the boot ID in its node status',
    expected: 'policy',
    why: 'fakes a reboot that never happened',
    kured: 'refused (no nodes/status)',
  },
  {
    id: 'agent-finalizer',
    who: 'agent',
    request: 'add a finalizer to its node',
    expected: 'policy',
    why: 'blocks the deletion of the Node object',
    kured: KURED_NODE_PATCH,
  },
  // --- the agent: refused by RBAC ----------------------------------------------------------
  {
    id: 'agent-create-node',
    who: 'agent',
    request: 'create a node',
    expected: 'RBAC',
    why: 'registers a rogue node that attracts workloads',
    kured: KURED_NO,
  },
  {
    id: 'agent-delete-node',
    who: 'agent',
    request: 'delete its node',
    expected: 'RBAC',
    why: "erases the node's record (and its pods' binding)",
    kured: KURED_NO,
  },
  {
    id: 'agent-create-lease',
    who: 'agent',
    request: 'create a Lease',
    expected: 'RBAC',
    why: 'grants itself a reboot slot',
    kured: 'refused, but it may update its DaemonSet, lock and pod template alike',
  },
  {
    id: 'agent-update-lease',
    who: 'agent',
    request: 'update a slot Lease',
    expected: 'RBAC',
    why: 'grants itself a reboot, or takes one from another node',
    kured: 'the lock is its DaemonSet annotation, which it may update',
  },
  {
    id: 'agent-delete-lease',
    who: 'agent',
    request: 'delete a slot Lease',
    expected: 'RBAC',
    why: 'frees a slot while its node is down',
    kured: 'the lock is its DaemonSet annotation, which it may update',
  },
  {
    id: 'agent-delete-pod',
    who: 'agent',
    request: 'delete a pod',
    expected: 'RBAC',
    why: 'a drain past the PodDisruptionBudgets',
    kured: 'allowed (pods delete)',
  },
  {
    id: 'agent-get-secret',
    who: 'agent',
    request: 'get a Secret in its namespace',
    expected: 'RBAC',
    why: 'credentials',
    kured: KURED_NO,
  },
  {
    id: 'agent-list-secrets',
    who: 'agent',
    request: 'list Secrets in every namespace',
    expected: 'RBAC',
    why: 'credentials',
    kured: KURED_NO,
  },
  {
    id: 'agent-event-kube-system',
    who: 'agent',
    request: 'create an Event in kube-system',
    expected: 'RBAC',
    why: 'noise or spoofed Events where the cluster components report',
    kured: KURED_NO,
  },
  {
    id: 'agent-patch-event',
    who: 'agent',
    request: 'patch an Event in default',
    expected: 'RBAC',
    why: 'rewrites what others recorded',
    kured: KURED_NO,
  },
  {
    id: 'agent-token',
    who: 'agent',
    request: 'create a token for the controller ServiceAccount',
    expected: 'RBAC',
    why: "escalates to the controller's rights",
    kured: KURED_NO,
  },
  // --- the controller: what it needs -------------------------------------------------------
  {
    id: 'controller-create-lease',
    who: 'controller',
    request: 'create a Lease in its namespace',
    expected: 'allowed',
    why: 'slot and leader Leases',
    kured: 'no controller',
  },
  {
    id: 'controller-update-lease',
    who: 'controller',
    request: 'update a slot Lease in its namespace',
    expected: 'allowed',
    why: 'grants and releases (compare-and-swap)',
    kured: 'no controller',
  },
  {
    id: 'controller-list-nodes',
    who: 'controller',
    request: 'list nodes',
    expected: 'allowed',
    why: 'who needs a reboot, who settled',
    kured: 'no controller',
  },
  {
    id: 'controller-gate',
    who: 'controller',
    request: 'patch a node status: the RebootGate condition',
    expected: 'allowed',
    why: 'tells people why a node waits',
    kured: 'no controller',
  },
  {
    id: 'controller-list-pods',
    who: 'controller',
    request: 'list pods in every namespace',
    expected: 'allowed',
    why: 'blocking pods and the settle check',
    kured: 'no controller',
  },
  {
    id: 'controller-list-pdbs',
    who: 'controller',
    request: 'list PodDisruptionBudgets in every namespace',
    expected: 'allowed',
    why: "records what a node's drain touches",
    kured: 'no controller',
  },
  {
    id: 'controller-get-deployment',
    who: 'controller',
    request: 'get a Deployment',
    expected: 'allowed',
    why: 'the settle check of the workloads a drain touched',
    kured: 'no controller',
  },
  // --- the controller: refused ------------------------------------------------------------
  {
    id: 'controller-forge-ready',
    who: 'controller',
    request: 'set Ready to False on a node status',
    expected: 'policy',
    why: "forged Ready: the node controller evicts the node's pods",
    kured: 'no controller',
  },
  {
    id: 'controller-forge-required',
    who: 'controller',
    request: "write the agent's RebootRequired condition on a node",
    expected: 'policy',
    why: 'asks for reboots no node needs',
    kured: 'no controller',
  },
  {
    id: 'controller-forge-capacity',
    who: 'controller',
    request: 'change the capacity in a node status',
    expected: 'policy',
    why: 'misleads the scheduler',
    kured: 'no controller',
  },
  {
    id: 'controller-patch-lease',
    who: 'controller',
    request: 'patch a slot Lease',
    expected: 'RBAC',
    why: 'a write that skips the compare-and-swap (no code uses patch)',
    kured: 'no controller',
  },
  {
    id: 'controller-delete-lease',
    who: 'controller',
    request: 'delete a slot Lease',
    expected: 'RBAC',
    why: 'a slot is emptied, never deleted',
    kured: 'no controller',
  },
  {
    id: 'controller-lease-other-ns',
    who: 'controller',
    request: 'create a Lease in another namespace',
    expected: 'RBAC',
    why: "another application's locks",
    kured: 'no controller',
  },
  {
    id: 'controller-lease-kube-system',
    who: 'controller',
    request: 'create a Lease in kube-system',
    expected: 'RBAC',
    why: "the control plane's leader locks",
    kured: 'no controller',
  },
  {
    id: 'controller-cordon',
    who: 'controller',
    request: 'cordon a node',
    expected: 'RBAC',
    why: 'only agents cordon, each its own node',
    kured: 'no controller',
  },
  {
    id: 'controller-evict',
    who: 'controller',
    request: 'evict a pod',
    expected: 'RBAC',
    why: 'only agents drain',
    kured: 'no controller',
  },
  {
    id: 'controller-delete-deployments',
    who: 'controller',
    request: 'delete the Deployments of a namespace',
    expected: 'RBAC',
    why: 'it reads workloads, never changes them',
    kured: 'no controller',
  },
  {
    id: 'controller-get-secret',
    who: 'controller',
    request: 'get a Secret in its namespace',
    expected: 'RBAC',
    why: 'credentials',
    kured: 'no controller',
  },
  {
    id: 'controller-list-secrets',
    who: 'controller',
    request: 'list Secrets in kube-system',
    expected: 'RBAC',
    why: 'credentials',
    kured: 'no controller',
  },
  // --- people: the operator and viewer roles ----------------------------------------------
  {
    id: 'operator-pause',
    who: 'operator',
    request: 'create and delete the pause Lease',
    expected: 'allowed',
    why: 'kubectl baton pause, resume',
    kured: 'kured: kubectl annotate the DaemonSet (lock) or --lock-annotation',
  },
  {
    id: 'operator-empty-slot',
    who: 'operator',
    request: 'empty a slot Lease (update)',
    expected: 'allowed',
    why: 'kubectl baton release',
    kured: 'kured: kubectl annotate the DaemonSet',
  },
  {
    id: 'operator-annotate',
    who: 'operator',
    request: 'set baton.dev/reboot-requested on a node',
    expected: 'allowed',
    why: 'kubectl baton request, cancel, release --force',
    kured: 'kured: touch the sentinel on the node',
  },
  {
    id: 'operator-cordon',
    who: 'operator',
    request: 'cordon a node',
    expected: 'allowed',
    why: 'RBAC cannot narrow nodes patch to annotations: bind the role only to people who may cordon',
    kured: 'kured ships no role for people',
  },
  {
    id: 'operator-delete-slot',
    who: 'operator',
    request: 'delete a slot Lease',
    expected: 'RBAC',
    why: 'a slot is emptied (kubectl baton release), never deleted',
    kured: 'kured ships no role for people',
  },
  {
    id: 'operator-lease-other-ns',
    who: 'operator',
    request: 'create a Lease in another namespace',
    expected: 'RBAC',
    why: "another application's locks",
    kured: 'kured ships no role for people',
  },
  {
    id: 'operator-get-secret',
    who: 'operator',
    request: "get a Secret in baton's namespace",
    expected: 'RBAC',
    why: 'credentials',
    kured: 'kured ships no role for people',
  },
  {
    id: 'viewer-list',
    who: 'viewer',
    request: 'list nodes and Leases',
    expected: 'allowed',
    why: 'kubectl baton status, why',
    kured: 'kured ships no role for people',
  },
  {
    id: 'viewer-update-slot',
    who: 'viewer',
    request: 'empty a slot Lease (update)',
    expected: 'RBAC',
    why: 'read-only',
    kured: 'kured ships no role for people',
  },
  {
    id: 'viewer-pause',
    who: 'viewer',
    request: 'create the pause Lease',
    expected: 'RBAC',
    why: 'read-only',
    kured: 'kured ships no role for people',
  },
  {
    id: 'viewer-annotate',
    who: 'viewer',
    request: 'set baton.dev/reboot-requested on a node',
    expected: 'RBAC',
    why: 'read-only',
    kured: 'kured ships no role for people',
  },
];

const cell = (s: string) => s.replaceAll('|', '\\|');

/** The table as docs/security.md shows it (between its markers). */
export function securityTableMarkdown(rows: readonly SecurityRow[] = SECURITY_ROWS): string {
  const lines = [
    '| # | identity | request | answer | why | kured 1.23 DaemonSet |',
    '|---|---|---|---|---|---|',
    ...rows.map(
      (r, i) =>
        `| ${i + 1} | ${cell(r.who)} | ${cell(r.request)} | ${r.expected === 'allowed' ? 'allowed' : `**refused** (${r.expected})`} | ${cell(r.why)} | ${cell(r.kured)} |`,
    ),
  ];
  return lines.join('\n');
}

export const TABLE_START =
  '<!-- security-table: generated from e2e/security-table.ts by `pnpm run docs:security` -->';
export const TABLE_END = '<!-- /security-table -->';
