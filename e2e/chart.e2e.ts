/**
 * The Helm chart on the real control plane: `helm install` of charts/baton, then what its
 * ServiceAccounts, RBAC and admission policy allow, proven with real requests (printed as a
 * table), and a real reboot by controller and agent processes acting with the chart's own
 * ServiceAccounts — agent tokens bound to the chart's DaemonSet pod on their (fake) node.
 *
 * KWOK plays these nodes' kubelets, so the pods exist and are scheduled, and the processes run on
 * the host with exactly their identities (e2e/real-node.e2e.ts runs the images on a real kubelet).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AgentPhase,
  Annotation,
  PAUSE_LEASE,
  REBOOT_GATE_CONDITION,
  REBOOT_REQUIRED_CONDITION,
} from '@baton/protocol';
import { normalizeKubeError } from '@baton/runtime';
import {
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  EventsV1Api,
  type KubeConfig,
  PolicyV1Api,
  type V1Node,
  type V1Pod,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { chartPath, helm, withValuesFile } from '../scripts/chart.ts';
import { startController } from './harness/controller.ts';
import { Fleet } from './harness/fleet.ts';
import {
  createFakeNodes,
  loadKubeConfig,
  mergePatch,
  mintPodToken,
  mintServiceAccountToken,
  strategicMerge,
  tokenKubeConfig,
  waitFor,
  waitForNodesReady,
} from './harness/kube.ts';
import { createTestNamespace, deleteTestNamespace } from './harness/namespace.ts';
import type { ManagedProcess } from './harness/processes.ts';
import { type Refuser, SECURITY_ROWS } from './security-table.ts';

/** The ServiceAccounts bound to the chart's operator and viewer roles (values userRoles). */
const OPERATOR_SA = 'ops';
const VIEWER_SA = 'viewer';
/** The label the chart configures as the agent's pre-reboot label: its policy allows it. */
const CONFIGURED_LABEL = 'e2e.baton.dev/rebooting';
/** A taint on the agent's node that is not baton's: the agent may not remove it. */
const KEPT_TAINT = 'e2e.baton.dev/keep';

type Outcome = 'allowed' | Refuser | 'PodSecurity';

/**
 * Sends the request: "allowed" if it succeeded; if refused (403), who refused it — an admission
 * policy (its message follows "denied request:"), RBAC ("cannot <verb> resource"), or Pod Security.
 */
async function attempt(run: () => Promise<unknown>): Promise<{ outcome: Outcome; detail: string }> {
  try {
    await run();
    return { outcome: 'allowed', detail: 'ok' };
  } catch (err) {
    const e = normalizeKubeError(err);
    if (e.code !== 403) throw new Error(`expected success or 403, got ${e.code} ${e.reason}: ${e.message}`);
    if (/violates PodSecurity/.test(e.message)) return { outcome: 'PodSecurity', detail: `403 ${e.message}` };
    const by: Refuser = /ValidatingAdmissionPolicy .* denied request/.test(e.message) ? 'policy' : 'RBAC';
    if (by === 'RBAC' && !/ cannot \S+ resource /.test(e.message))
      throw new Error(`a 403 from neither RBAC nor a policy: ${e.message}`);
    return { outcome: by, detail: `403 ${e.message}` };
  }
}

/** Who said no, in brief: the policy's message, or the verb and resource RBAC refused. */
const brief = (detail: string) =>
  detail
    .replace(/^403 .*denied request: /, 'policy: ')
    .replace(/^403 .*? (cannot \S+ resource "[^"]+"(?: in API group "[^"]*")?).*$/, 'RBAC: $1');

/** Reads, changes and replaces a Node, again on a conflict (kwok writes its status meanwhile). */
async function updateNode(api: CoreV1Api, name: string, change: (n: V1Node) => void): Promise<V1Node> {
  for (let i = 0; ; i++) {
    const n = await api.readNode({ name });
    change(n);
    try {
      return await api.replaceNode({ name, body: n });
    } catch (err) {
      if (i < 5 && normalizeKubeError(err).code === 409) continue;
      throw err;
    }
  }
}

function table(rows: readonly string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')).join('\n');
}

const conditionOf = (n: V1Node) => n.status?.conditions?.find((c) => c.type === REBOOT_REQUIRED_CONDITION);

describe('the Helm chart on the control plane', () => {
  let kc: KubeConfig;
  let core: CoreV1Api;
  let ns: string;
  let otherNs: string;
  let dir: string;
  let nodes: string[];
  let fleet: Fleet | undefined;
  let controller: ManagedProcess | undefined;
  const hex = randomBytes(2).toString('hex');
  const release = `baton-${hex}`; // contains "baton": object names are <release>-controller, <release>-agent
  const agentSa = `${release}-agent`;
  const controllerSa = `${release}-controller`;
  const agentPods = `app.kubernetes.io/instance=${release},app.kubernetes.io/component=agent`;
  const controllerPods = `app.kubernetes.io/instance=${release},app.kubernetes.io/component=controller`;
  const placeLabel = 'baton.dev/e2e-chart';

  const values = (policy: boolean) => ({
    agent: {
      nodeSelector: { [placeLabel]: hex },
      config: { preRebootNodeLabels: [`${CONFIGURED_LABEL}=true`] },
    },
    controller: { nodeSelector: { [placeLabel]: hex } },
    agentNodePolicy: { enabled: policy },
    userRoles: {
      operators: [{ kind: 'ServiceAccount', name: OPERATOR_SA, namespace: ns }],
      viewers: [{ kind: 'ServiceAccount', name: VIEWER_SA, namespace: ns }],
    },
  });
  const helmKube = () => ['--namespace', ns, '--kubeconfig', inject('kubeconfig')];
  const installOrUpgrade = async (verb: 'install' | 'upgrade', policy: boolean) => {
    const r = await withValuesFile(values(policy), (args) =>
      helm([verb, release, chartPath, ...helmKube(), ...args]),
    );
    expect(r.ok, r.stderr).toBe(true);
    return r;
  };

  const podOn = async (selector: string, node: string): Promise<string> =>
    waitFor(`a pod ${selector} Running on ${node}`, async () => {
      const pods = await core.listNamespacedPod({
        namespace: ns,
        labelSelector: selector,
        fieldSelector: `spec.nodeName=${node}`,
      });
      return pods.items.find((p) => p.status?.phase === 'Running')?.metadata?.name;
    });

  beforeAll(async () => {
    kc = loadKubeConfig(inject('kubeconfig'));
    core = kc.makeApiClient(CoreV1Api);
    ns = await createTestNamespace(kc, 'chart');
    otherNs = await createTestNamespace(kc, 'chart-other');
    dir = await mkdtemp(join(tmpdir(), 'baton-chart-e2e-'));
    for (const name of [OPERATOR_SA, VIEWER_SA])
      await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name } } });
    nodes = await createFakeNodes(kc, { prefix: `chart-${hex}`, count: 2, labels: { [placeLabel]: hex } });
    await waitForNodesReady(kc, nodes);
  });

  afterAll(async () => {
    await controller?.stop();
    await fleet?.stop();
    await helm(['uninstall', release, ...helmKube()]);
    for (const n of [ns, otherNs]) if (n) await deleteTestNamespace(kc, n);
    for (const name of nodes ?? []) await core.deleteNode({ name }).catch(() => undefined);
    if (process.env.E2E_KEEP_LOGS) process.stderr.write(`logs kept in ${dir}\n`);
    else await rm(dir, { recursive: true, force: true });
  });

  it('installs with helm: 2 controller replicas on different nodes, one agent pod per node', async () => {
    const r = await installOrUpgrade('install', true);
    expect(r.stdout).toContain('STATUS: deployed');
    expect(r.stdout).toContain(`kubectl -n ${ns} get leases`); // NOTES.txt
    for (const node of nodes) await podOn(agentPods, node);
    const ctl = await waitFor('2 controller pods Running', async () => {
      const pods = (await core.listNamespacedPod({ namespace: ns, labelSelector: controllerPods })).items;
      const running = pods.filter((p) => p.status?.phase === 'Running');
      return running.length === 2 ? running : undefined;
    });
    expect(new Set(ctl.map((p) => p.spec?.nodeName)).size).toBe(2); // the anti-affinity spread them
    const sas = (await core.listNamespacedServiceAccount({ namespace: ns })).items.map(
      (s) => s.metadata?.name,
    );
    expect(sas).toEqual(expect.arrayContaining([agentSa, controllerSa]));
  });

  it("the security table: every request of docs/security.md, with each identity's real token, answered as written", async () => {
    const [own, other] = nodes as [string, string];
    const agentPod = await podOn(agentPods, own);
    const controllerPod = (await core.listNamespacedPod({ namespace: ns, labelSelector: controllerPods }))
      .items[0]?.metadata?.name as string;
    const as = (token: string) => tokenKubeConfig(kc, token);
    const agent = as(
      (await mintPodToken(kc, { namespace: ns, serviceAccount: agentSa, pod: agentPod })).token,
    );
    const unbound = as(await mintServiceAccountToken(kc, { namespace: ns, serviceAccount: agentSa }));
    const ctl = as(
      (await mintPodToken(kc, { namespace: ns, serviceAccount: controllerSa, pod: controllerPod })).token,
    );
    const operator = as(await mintServiceAccountToken(kc, { namespace: ns, serviceAccount: OPERATOR_SA }));
    const viewer = as(await mintServiceAccountToken(kc, { namespace: ns, serviceAccount: VIEWER_SA }));
    const agentCore = agent.makeApiClient(CoreV1Api);
    const agentLeases = agent.makeApiClient(CoordinationV1Api);
    const agentEvents = agent.makeApiClient(EventsV1Api);
    const ctlCore = ctl.makeApiClient(CoreV1Api);
    const ctlLeases = ctl.makeApiClient(CoordinationV1Api);
    const opCore = operator.makeApiClient(CoreV1Api);
    const opLeases = operator.makeApiClient(CoordinationV1Api);
    const viewerLeases = viewer.makeApiClient(CoordinationV1Api);

    // Objects the requests aim at, and a taint on its node that is not baton's.
    await core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: 'some-secret' }, stringData: { k: 'v' } },
    });
    await kc.makeApiClient(CoordinationV1Api).createNamespacedLease({
      namespace: ns,
      body: { metadata: { name: 'baton-slot-9' }, spec: { leaseDurationSeconds: 60 } },
    });
    await core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: 'evict-me' },
        spec: { nodeName: own, containers: [{ name: 'c', image: 'registry.invalid/app:1' }] },
      },
    });
    await updateNode(core, own, (n) => {
      n.spec = { ...n.spec, taints: [...(n.spec?.taints ?? []), { key: KEPT_TAINT, effect: 'NoSchedule' }] };
    });

    const condition = (type: string, status = 'False') => {
      const now = new Date();
      return {
        type,
        status,
        reason: 'SecurityTable',
        message: 'e2e',
        lastHeartbeatTime: now,
        lastTransitionTime: now,
      };
    };
    const patchStatus = (api: CoreV1Api, name: string, status: object) =>
      api.patchNodeStatus({ name, body: { status } }, strategicMerge);
    const patchMeta = (api: CoreV1Api, name: string, metadata: object) =>
      api.patchNode({ name, body: { metadata } }, mergePatch);
    const cordon = (api: CoreV1Api, name: string, on: boolean) =>
      api.patchNode({ name, body: { spec: { unschedulable: on } } }, strategicMerge);
    const lease = (name: string) => ({ metadata: { name }, spec: { holderIdentity: own } });
    const emptySlot = async (api: CoordinationV1Api) => {
      const l = await api.readNamespacedLease({ name: 'baton-slot-9', namespace: ns });
      return api.replaceNamespacedLease({
        name: 'baton-slot-9',
        namespace: ns,
        body: { ...l, spec: { ...l.spec, holderIdentity: undefined } },
      });
    };
    const event = (namespace: string) =>
      agentEvents.createNamespacedEvent({
        namespace,
        body: {
          metadata: { name: `${own}.e2e.${randomBytes(4).toString('hex')}` },
          eventTime: new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z') as unknown as Date,
          reportingController: 'baton.dev/e2e',
          reportingInstance: own,
          action: 'Probe',
          reason: 'Probe',
          type: 'Normal',
          note: 'security table',
          regarding: { apiVersion: 'v1', kind: 'Node', name: own },
        },
      });
    const absentIsAuthorized = (p: Promise<unknown>) =>
      p.catch((err: unknown) => {
        if (normalizeKubeError(err).code === 404) return undefined; // authorized, not there
        throw err;
      });

    const requests: Record<string, () => Promise<unknown>> = {
      'agent-status-own': () =>
        patchStatus(agentCore, own, { conditions: [condition(REBOOT_REQUIRED_CONDITION)] }),
      'agent-cordon-own': () => cordon(agentCore, own, true),
      'agent-uncordon-own': () => cordon(agentCore, own, false),
      'agent-taint-own': async () => {
        await updateNode(agentCore, own, (n) => {
          n.spec = {
            ...n.spec,
            taints: [...(n.spec?.taints ?? []), { key: 'baton.dev/rebooting', effect: 'NoSchedule' }],
          };
        });
        await updateNode(agentCore, own, (n) => {
          n.spec = { ...n.spec, taints: n.spec?.taints?.filter((t) => t.key !== 'baton.dev/rebooting') };
        });
      },
      'agent-annotate-own': () => patchMeta(agentCore, own, { annotations: { 'baton.dev/e2e-probe': 'x' } }),
      'agent-label-configured': () => patchMeta(agentCore, own, { labels: { [CONFIGURED_LABEL]: 'true' } }),
      'agent-replace-own': () => updateNode(agentCore, own, () => undefined),
      'agent-list-leases': () => agentLeases.listNamespacedLease({ namespace: ns }),
      'agent-list-pods-other': () =>
        agentCore.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${other}` }),
      'agent-evict': () =>
        agentCore.createNamespacedPodEviction({
          name: 'evict-me',
          namespace: ns,
          body: { metadata: { name: 'evict-me', namespace: ns } },
        }),
      'agent-event-default': () => event('default'),
      'agent-cordon-other': () => cordon(agentCore, other, true),
      'agent-status-other': () =>
        patchStatus(agentCore, other, { conditions: [condition(REBOOT_REQUIRED_CONDITION)] }),
      'agent-unbound-cordon': () => cordon(unbound.makeApiClient(CoreV1Api), own, true),
      'agent-label-node-restriction': () =>
        patchMeta(agentCore, own, { labels: { 'node-restriction.kubernetes.io/pool': 'stolen' } }),
      'agent-label-node-role': () =>
        patchMeta(agentCore, own, { labels: { 'node-role.kubernetes.io/control-plane': '' } }),
      'agent-label-other': () => patchMeta(agentCore, own, { labels: { 'example.com/gpu': 'true' } }),
      'agent-untaint-other': () =>
        updateNode(agentCore, own, (n) => {
          n.spec = { ...n.spec, taints: n.spec?.taints?.filter((t) => t.key !== KEPT_TAINT) };
        }),
      'agent-taint-other': () =>
        updateNode(agentCore, own, (n) => {
          n.spec = {
            ...n.spec,
            taints: [...(n.spec?.taints ?? []), { key: 'example.com/evict', effect: 'NoExecute' }],
          };
        }),
      'agent-annotate-other': () => patchMeta(agentCore, own, { annotations: { 'example.com/owner': 'me' } }),
      'agent-forge-ready': () => patchStatus(agentCore, own, { conditions: [condition('Ready')] }),
      'agent-forge-gate': () =>
        patchStatus(agentCore, own, { conditions: [condition(REBOOT_GATE_CONDITION)] }),
      'agent-forge-address': () =>
        patchStatus(agentCore, own, { addresses: [{ type: 'InternalIP', address: '192.0.2.66' }] }),
      'agent-forge-boot-id': () => patchStatus(agentCore, own, { nodeInfo: { bootID: 'forged-boot' } }),
      'agent-finalizer': () => patchMeta(agentCore, own, { finalizers: ['example.com/hold'] }),
      'agent-create-node': () => agentCore.createNode({ body: { metadata: { name: `rogue-${hex}` } } }),
      'agent-delete-node': () => agentCore.deleteNode({ name: own }),
      'agent-create-lease': () =>
        agentLeases.createNamespacedLease({ namespace: ns, body: lease('baton-slot-8') }),
      'agent-update-lease': () => emptySlot(agentLeases),
      'agent-delete-lease': () => agentLeases.deleteNamespacedLease({ name: 'baton-slot-9', namespace: ns }),
      'agent-delete-pod': () => agentCore.deleteNamespacedPod({ name: 'evict-me', namespace: ns }),
      'agent-get-secret': () => agentCore.readNamespacedSecret({ name: 'some-secret', namespace: ns }),
      'agent-list-secrets': () => agentCore.listSecretForAllNamespaces(),
      'agent-event-kube-system': () => event('kube-system'),
      'agent-patch-event': () =>
        agentEvents.patchNamespacedEvent(
          { name: 'any', namespace: 'default', body: { note: 'rewritten' } },
          mergePatch,
        ),
      'agent-token': () =>
        agentCore.createNamespacedServiceAccountToken({
          name: controllerSa,
          namespace: ns,
          body: { spec: { audiences: [] } },
        }),
      'controller-create-lease': () =>
        ctlLeases.createNamespacedLease({ namespace: ns, body: lease('matrix-controller') }),
      'controller-update-lease': () => emptySlot(ctlLeases),
      'controller-list-nodes': () => ctlCore.listNode(),
      'controller-gate': () => patchStatus(ctlCore, own, { conditions: [condition(REBOOT_GATE_CONDITION)] }),
      'controller-list-pods': () => ctlCore.listPodForAllNamespaces(),
      'controller-list-pdbs': () => ctl.makeApiClient(PolicyV1Api).listPodDisruptionBudgetForAllNamespaces(),
      'controller-get-deployment': () =>
        absentIsAuthorized(
          ctl.makeApiClient(AppsV1Api).readNamespacedDeployment({ name: 'absent', namespace: ns }),
        ),
      'controller-forge-ready': () => patchStatus(ctlCore, own, { conditions: [condition('Ready')] }),
      'controller-forge-required': () =>
        patchStatus(ctlCore, own, { conditions: [condition(REBOOT_REQUIRED_CONDITION, 'True')] }),
      'controller-forge-capacity': () => patchStatus(ctlCore, own, { capacity: { pods: '9999' } }),
      'controller-patch-lease': () =>
        ctlLeases.patchNamespacedLease(
          { name: 'baton-slot-9', namespace: ns, body: { spec: { holderIdentity: own } } },
          mergePatch,
        ),
      'controller-delete-lease': () =>
        ctlLeases.deleteNamespacedLease({ name: 'baton-slot-9', namespace: ns }),
      'controller-lease-other-ns': () =>
        ctlLeases.createNamespacedLease({ namespace: otherNs, body: lease('matrix-controller') }),
      'controller-lease-kube-system': () =>
        ctlLeases.createNamespacedLease({ namespace: 'kube-system', body: lease('matrix-controller') }),
      'controller-cordon': () => cordon(ctlCore, own, true),
      'controller-evict': () =>
        ctlCore.createNamespacedPodEviction({
          name: 'evict-me',
          namespace: ns,
          body: { metadata: { name: 'evict-me', namespace: ns } },
        }),
      'controller-delete-deployments': () =>
        ctl.makeApiClient(AppsV1Api).deleteCollectionNamespacedDeployment({ namespace: ns }),
      'controller-get-secret': () => ctlCore.readNamespacedSecret({ name: 'some-secret', namespace: ns }),
      'controller-list-secrets': () => ctlCore.listNamespacedSecret({ namespace: 'kube-system' }),
      'operator-pause': async () => {
        await opLeases.createNamespacedLease({
          namespace: ns,
          body: { metadata: { name: PAUSE_LEASE }, spec: { holderIdentity: 'manual:e2e' } },
        });
        await opLeases.deleteNamespacedLease({ name: PAUSE_LEASE, namespace: ns });
      },
      'operator-empty-slot': () => emptySlot(opLeases),
      'operator-annotate': async () => {
        await patchMeta(opCore, own, { annotations: { [Annotation.RebootRequested]: 'e2e' } });
        await patchMeta(opCore, own, { annotations: { [Annotation.RebootRequested]: null } });
      },
      'operator-cordon': async () => {
        await cordon(opCore, own, true);
        await cordon(opCore, own, false);
      },
      'operator-delete-slot': () => opLeases.deleteNamespacedLease({ name: 'baton-slot-9', namespace: ns }),
      'operator-lease-other-ns': () =>
        opLeases.createNamespacedLease({ namespace: otherNs, body: lease('matrix-operator') }),
      'operator-get-secret': () => opCore.readNamespacedSecret({ name: 'some-secret', namespace: ns }),
      'viewer-list': async () => {
        await viewer.makeApiClient(CoreV1Api).listNode();
        await viewerLeases.listNamespacedLease({ namespace: ns });
      },
      'viewer-update-slot': () => emptySlot(viewerLeases),
      'viewer-pause': () =>
        viewerLeases.createNamespacedLease({
          namespace: ns,
          body: { metadata: { name: PAUSE_LEASE }, spec: { holderIdentity: 'manual:e2e' } },
        }),
      'viewer-annotate': () =>
        patchMeta(viewer.makeApiClient(CoreV1Api), own, {
          annotations: { [Annotation.RebootRequested]: 'e2e' },
        }),
    };
    expect(Object.keys(requests).sort()).toEqual(SECURITY_ROWS.map((r) => r.id).sort());

    // The policies take a moment to be loaded by the API server after install.
    await waitFor(
      'the admission policies to be in force',
      async () =>
        (await attempt(requests['agent-cordon-other'] as () => Promise<unknown>)).outcome === 'policy' &&
        (await attempt(requests['controller-forge-ready'] as () => Promise<unknown>)).outcome === 'policy',
      60_000,
    );

    const results: string[][] = [['identity', 'request', 'expected', 'got', 'answer']];
    const answers = new Map<string, string>();
    const wrong: string[] = [];
    for (const row of SECURITY_ROWS) {
      const { outcome, detail } = await attempt(requests[row.id] as () => Promise<unknown>);
      answers.set(row.id, detail);
      results.push([row.who, row.request, row.expected, outcome, brief(detail)]);
      if (outcome !== row.expected)
        wrong.push(`${row.id}: expected ${row.expected}, got ${outcome} (${detail})`);
    }
    console.log(`security table (release ${release}, namespace ${ns}):\n${table(results)}`);
    expect(wrong).toEqual([]);
    // The policies say who and what, in words.
    expect(answers.get('agent-cordon-other')).toContain(
      `the baton agent of node ${own} may change only that Node, not ${other}`,
    );
    expect(answers.get('agent-unbound-cordon')).toContain('no authentication.kubernetes.io/node-name claim');
    expect(answers.get('agent-label-node-role')).toContain(
      `may change only the labels configured as its pre/post-reboot labels (${CONFIGURED_LABEL}), not node-role.kubernetes.io/control-plane`,
    );
    expect(answers.get('agent-annotate-other')).toContain(
      'only baton.dev/ annotations, not example.com/owner',
    );
    expect(answers.get('agent-untaint-other')).toContain('only its own taints (baton.dev/rebooting)');
    expect(answers.get('agent-forge-ready')).toContain('only its RebootRequired condition');
    expect(answers.get('controller-forge-ready')).toContain('only the RebootGate condition');
    // Nothing refused was done: its node keeps the taint that is not baton's, no forged Ready.
    const after = await core.readNode({ name: own });
    expect(after.spec?.taints?.map((t) => t.key)).toContain(KEPT_TAINT);
    expect(after.spec?.taints?.map((t) => t.key)).not.toContain('example.com/evict');
    expect(after.metadata?.labels?.['node-role.kubernetes.io/control-plane']).toBeUndefined();
    expect(after.status?.conditions?.find((c) => c.type === 'Ready')?.reason).not.toBe('SecurityTable');
    await updateNode(core, own, (n) => {
      n.spec = { ...n.spec, taints: n.spec?.taints?.filter((t) => t.key !== KEPT_TAINT) };
    });
  });

  it('without the policy (agentNodePolicy.enabled=false) RBAC alone would let an agent change another node', async () => {
    const [own, other] = nodes as [string, string];
    const token = (
      await mintPodToken(kc, { namespace: ns, serviceAccount: agentSa, pod: await podOn(agentPods, own) })
    ).token;
    const agentCore = tokenKubeConfig(kc, token).makeApiClient(CoreV1Api);
    const labelOther = () =>
      attempt(() =>
        agentCore.patchNode(
          { name: other, body: { metadata: { labels: { 'policy-off': 'yes' } } } },
          mergePatch,
        ),
      );
    await installOrUpgrade('upgrade', false);
    await waitFor('the policy gone', async () => (await labelOther()).outcome === 'allowed', 60_000);
    await installOrUpgrade('upgrade', true);
    await waitFor('the policy back', async () => (await labelOther()).outcome === 'policy', 60_000);
    await core.patchNode({ name: other, body: { metadata: { labels: { 'policy-off': null } } } }, mergePatch);
  });

  it("meets Pod Security: the controller's pod is admitted at level restricted, the agent's needs privileged", async () => {
    const apps = kc.makeApiClient(AppsV1Api);
    const restricted = await createTestNamespace(kc, 'chart-restricted');
    try {
      await core.patchNamespace(
        {
          name: restricted,
          body: { metadata: { labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } } },
        },
        mergePatch,
      );
      const podFrom = async (kind: 'Deployment' | 'DaemonSet', name: string): Promise<V1Pod> => {
        const w =
          kind === 'Deployment'
            ? await apps.readNamespacedDeployment({ name, namespace: ns })
            : await apps.readNamespacedDaemonSet({ name, namespace: ns });
        return { metadata: { name: `psa-${kind.toLowerCase()}` }, spec: w.spec?.template.spec };
      };
      const dryRun = async (pod: V1Pod) =>
        attempt(() => core.createNamespacedPod({ namespace: restricted, body: pod, dryRun: 'All' }));
      const controllerPod = await podFrom('Deployment', controllerSa);
      controllerPod.spec = { ...controllerPod.spec, serviceAccountName: 'default' } as V1Pod['spec'];
      expect(await dryRun(controllerPod)).toEqual({ outcome: 'allowed', detail: 'ok' });
      const agentPod = await podFrom('DaemonSet', agentSa);
      agentPod.spec = { ...agentPod.spec, serviceAccountName: 'default' } as V1Pod['spec'];
      const denied = await dryRun(agentPod);
      expect(denied.outcome).toBe('PodSecurity');
      expect(denied.detail).toMatch(/violates PodSecurity "restricted.*host namespaces.*hostPID=true/);
    } finally {
      await deleteTestNamespace(kc, restricted);
    }
  });

  it("reboots a node end to end with the chart's identities: the controller with the chart's flags, the agent bound to its DaemonSet pod", async () => {
    const apps = kc.makeApiClient(AppsV1Api);
    const deployment = await apps.readNamespacedDeployment({ name: controllerSa, namespace: ns });
    const c = deployment.spec?.template.spec?.containers[0];
    const chartArgs = (c?.args ?? []).filter((a) => !a.startsWith('--metrics-'));
    expect(chartArgs).toContain('--leader-elect=true');
    // The process acts as the controller replica on the node that does not reboot: the one on
    // the rebooting node is evicted by the drain (the PDB lets one go), and its token dies with it.
    const [targetName, otherName] = nodes as [string, string];
    const replicas = (await core.listNamespacedPod({ namespace: ns, labelSelector: controllerPods })).items;
    const controllerPod = replicas.find((p) => p.spec?.nodeName === otherName)?.metadata?.name as string;
    const evicted = replicas.find((p) => p.spec?.nodeName === targetName)?.metadata?.name as string;
    expect(controllerPod).toBeDefined();
    const started = await startController(kc, {
      namespace: ns,
      serviceAccount: controllerSa,
      pod: controllerPod,
      dir,
      replaceArgs: chartArgs,
      // What the chart's downward-API env gives the container.
      env: { POD_NAMESPACE: ns, POD_NAME: controllerPod },
    });
    controller = started.process;
    fleet = new Fleet({ kc, namespace: ns, serviceAccount: agentSa, dir, agentPods });
    const [target] = await fleet.add(nodes);
    expect(target?.name).toBe(targetName);
    await target?.touchSentinel();
    await waitFor(
      `${target?.name} rebooted and reported done`,
      async () => {
        const n = await core.readNode({ name: target?.name ?? '' });
        return (
          n.metadata?.annotations?.[Annotation.Phase] === AgentPhase.Rebooted &&
          conditionOf(n)?.status === 'False'
        );
      },
      180_000,
    );
    expect(target?.reboots).toBe(1);
    const left = (await core.listNamespacedPod({ namespace: ns, labelSelector: controllerPods })).items;
    expect(left.map((p) => p.metadata?.name)).not.toContain(evicted);
    // The series the chart's alerts and dashboard are built on, from this real run.
    let last = '';
    const metrics = await waitFor(
      'the grant and its release counted on /metrics',
      async () => {
        last = await (await fetch(started.metricsUrl)).text();
        return /^baton_grants_total 1$/m.test(last) &&
          /^baton_releases_total\{reason="Settled"\} 1$/m.test(last)
          ? last
          : undefined;
      },
      60_000,
    ).catch((err: unknown) => {
      throw new Error(
        `${String(err)}; last /metrics:\n${last
          .split('\n')
          .filter((l) => l.startsWith('baton_'))
          .join('\n')}`,
      );
    });
    for (const name of ['baton_node_blocked', 'baton_rollout_halted', 'baton_slots_taken', 'baton_paused']) {
      expect(metrics).toMatch(new RegExp(`^# TYPE ${name} gauge$`, 'm'));
    }
    const leader = await kc
      .makeApiClient(CoordinationV1Api)
      .readNamespacedLease({ name: 'baton-controller-leader', namespace: ns });
    expect(leader.spec?.holderIdentity).toBe(controllerPod);
  });
});
