/**
 * The Helm chart on the real control plane: `helm install` of charts/baton, then what its
 * ServiceAccounts, RBAC and admission policy allow, proven with real requests (printed as a
 * table), and a real reboot by controller and agent processes acting with the chart's own
 * ServiceAccounts — agent tokens bound to the chart's DaemonSet pod on their (fake) node.
 *
 * The images cannot run here (no container runtime: KWOK plays the kubelets), so the pods exist
 * and are scheduled, and the processes run on the host with exactly their identities.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentPhase, Annotation, REBOOT_REQUIRED_CONDITION } from '@baton/protocol';
import { normalizeKubeError } from '@baton/runtime';
import {
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
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

type Outcome = 'allowed' | 'denied';

interface Row {
  readonly who: string;
  readonly request: string;
  readonly expected: Outcome;
  readonly run: () => Promise<unknown>;
}

/**
 * Sends the request; "allowed" if it succeeded, "denied" with the API server's answer if 403. A
 * 409 Conflict is "allowed" too: the API server checks the resourceVersion only after
 * authorization and admission passed (another writer, the agent or the kubelet, changed the
 * object in between).
 */
async function attempt(run: () => Promise<unknown>): Promise<{ outcome: Outcome; detail: string }> {
  try {
    await run();
    return { outcome: 'allowed', detail: 'ok' };
  } catch (err) {
    const e = normalizeKubeError(err);
    if (e.code === 409 && e.reason === 'Conflict')
      return { outcome: 'allowed', detail: `409 (authorized) ${e.message}` };
    if (e.code !== 403) throw new Error(`expected success or 403, got ${e.code} ${e.reason}: ${e.message}`);
    return { outcome: 'denied', detail: `403 ${e.message}` };
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
    agent: { nodeSelector: { [placeLabel]: hex } },
    controller: { nodeSelector: { [placeLabel]: hex } },
    agentNodePolicy: { enabled: policy },
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

  it('RBAC and policy matrix: each identity can do what it needs and nothing more', async () => {
    const [own, other] = nodes as [string, string];
    const agentPod = await podOn(agentPods, own);
    const otherAgentPod = await podOn(agentPods, other);
    const controllerPod = (await core.listNamespacedPod({ namespace: ns, labelSelector: controllerPods }))
      .items[0]?.metadata?.name as string;
    const as = (token: string) => tokenKubeConfig(kc, token);
    const agent = as(
      (await mintPodToken(kc, { namespace: ns, serviceAccount: agentSa, pod: agentPod })).token,
    );
    const otherAgent = as(
      (await mintPodToken(kc, { namespace: ns, serviceAccount: agentSa, pod: otherAgentPod })).token,
    );
    const unbound = as(await mintServiceAccountToken(kc, { namespace: ns, serviceAccount: agentSa }));
    const ctl = as(
      (await mintPodToken(kc, { namespace: ns, serviceAccount: controllerSa, pod: controllerPod })).token,
    );
    const agentCore = agent.makeApiClient(CoreV1Api);
    const agentLeases = agent.makeApiClient(CoordinationV1Api);
    const ctlCore = ctl.makeApiClient(CoreV1Api);
    const ctlLeases = ctl.makeApiClient(CoordinationV1Api);
    const ctlApps = ctl.makeApiClient(AppsV1Api);
    const ctlPolicy = ctl.makeApiClient(PolicyV1Api);

    // Objects the requests aim at.
    await core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: 'some-secret' }, stringData: { k: 'v' } },
    });
    await kc.makeApiClient(CoordinationV1Api).createNamespacedLease({
      namespace: ns,
      body: { metadata: { name: 'baton-slot-9' }, spec: { leaseDurationSeconds: 60 } },
    });
    const victim: V1Pod = await core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: 'evict-me' },
        spec: { nodeName: own, containers: [{ name: 'c', image: 'registry.invalid/app:1' }] },
      },
    });

    const now = new Date();
    const condition = {
      type: REBOOT_REQUIRED_CONDITION,
      status: 'False',
      reason: 'NoSentinel',
      message: 'matrix',
      lastHeartbeatTime: now,
      lastTransitionTime: now,
    };
    const lease = (name: string) => ({ metadata: { name }, spec: { holderIdentity: own } });
    const cordon = (api: CoreV1Api, name: string, on: boolean) =>
      api.patchNode({ name, body: { spec: { unschedulable: on } } }, strategicMerge);

    // The policy takes a moment to be loaded by the API server after install.
    await waitFor(
      'the own-node admission policy to be in force',
      async () =>
        (
          await attempt(() =>
            agentCore.patchNode({ name: other, body: { metadata: { labels: { probe: 'x' } } } }, mergePatch),
          )
        ).outcome === 'denied',
      60_000,
    );

    const rows: Row[] = [
      {
        who: `agent@${own}`,
        request: `patch nodes/${own}/status (RebootRequired)`,
        expected: 'allowed',
        run: () =>
          agentCore.patchNodeStatus(
            { name: own, body: { status: { conditions: [condition] } } },
            strategicMerge,
          ),
      },
      {
        who: `agent@${own}`,
        request: `cordon node ${own}`,
        expected: 'allowed',
        run: () => cordon(agentCore, own, true),
      },
      {
        who: `agent@${own}`,
        request: `uncordon node ${own}`,
        expected: 'allowed',
        run: () => cordon(agentCore, own, false),
      },
      {
        who: `agent@${own}`,
        request: `replace node ${own} (update)`,
        expected: 'allowed',
        run: async () => agentCore.replaceNode({ name: own, body: await agentCore.readNode({ name: own }) }),
      },
      {
        who: `agent@${own}`,
        request: `cordon node ${other}`,
        expected: 'denied',
        run: () => cordon(agentCore, other, true),
      },
      {
        who: `agent@${own}`,
        request: `patch nodes/${other}/status`,
        expected: 'denied',
        run: () =>
          agentCore.patchNodeStatus(
            { name: other, body: { status: { conditions: [condition] } } },
            strategicMerge,
          ),
      },
      {
        who: `agent@${other}`,
        request: `label node ${own}`,
        expected: 'denied',
        run: () =>
          otherAgent
            .makeApiClient(CoreV1Api)
            .patchNode({ name: own, body: { metadata: { labels: { x: 'y' } } } }, mergePatch),
      },
      {
        who: 'agent (token not bound to a pod)',
        request: `cordon node ${own}`,
        expected: 'denied',
        run: () => cordon(unbound.makeApiClient(CoreV1Api), own, true),
      },
      {
        who: `agent@${own}`,
        request: `list leases in ${ns}`,
        expected: 'allowed',
        run: () => agentLeases.listNamespacedLease({ namespace: ns }),
      },
      {
        who: `agent@${own}`,
        request: `create lease in ${ns}`,
        expected: 'denied',
        run: () => agentLeases.createNamespacedLease({ namespace: ns, body: lease('baton-slot-8') }),
      },
      {
        who: `agent@${own}`,
        request: `update lease ${ns}/baton-slot-9`,
        expected: 'denied',
        run: async () =>
          agentLeases.replaceNamespacedLease({
            name: 'baton-slot-9',
            namespace: ns,
            body: {
              ...(await agentLeases.readNamespacedLease({ name: 'baton-slot-9', namespace: ns })),
              spec: { holderIdentity: own },
            },
          }),
      },
      {
        who: `agent@${own}`,
        request: `delete lease ${ns}/baton-slot-9`,
        expected: 'denied',
        run: () => agentLeases.deleteNamespacedLease({ name: 'baton-slot-9', namespace: ns }),
      },
      {
        who: `agent@${own}`,
        request: `evict pod ${ns}/${victim.metadata?.name}`,
        expected: 'allowed',
        run: () =>
          agentCore.createNamespacedPodEviction({
            name: 'evict-me',
            namespace: ns,
            body: { metadata: { name: 'evict-me', namespace: ns } },
          }),
      },
      {
        who: `agent@${own}`,
        request: `delete pod ${ns}/evict-me`,
        expected: 'denied',
        run: () => agentCore.deleteNamespacedPod({ name: 'evict-me', namespace: ns }),
      },
      {
        who: `agent@${own}`,
        request: `get secret ${ns}/some-secret`,
        expected: 'denied',
        run: () => agentCore.readNamespacedSecret({ name: 'some-secret', namespace: ns }),
      },
      {
        who: `agent@${own}`,
        request: 'list secrets (all namespaces)',
        expected: 'denied',
        run: () => agentCore.listSecretForAllNamespaces(),
      },
      {
        who: 'controller',
        request: `create lease in ${ns}`,
        expected: 'allowed',
        run: () => ctlLeases.createNamespacedLease({ namespace: ns, body: lease('matrix-controller') }),
      },
      {
        who: 'controller',
        request: `update lease ${ns}/baton-slot-9`,
        expected: 'allowed',
        run: async () =>
          ctlLeases.replaceNamespacedLease({
            name: 'baton-slot-9',
            namespace: ns,
            body: {
              ...(await ctlLeases.readNamespacedLease({ name: 'baton-slot-9', namespace: ns })),
              spec: { holderIdentity: '' },
            },
          }),
      },
      {
        who: 'controller',
        request: `create lease in ${otherNs}`,
        expected: 'denied',
        run: () => ctlLeases.createNamespacedLease({ namespace: otherNs, body: lease('matrix-controller') }),
      },
      {
        who: 'controller',
        request: 'create lease in kube-system',
        expected: 'denied',
        run: () =>
          ctlLeases.createNamespacedLease({ namespace: 'kube-system', body: lease('matrix-controller') }),
      },
      {
        who: 'controller',
        request: `delete lease ${ns}/baton-slot-9`,
        expected: 'denied',
        run: () => ctlLeases.deleteNamespacedLease({ name: 'baton-slot-9', namespace: ns }),
      },
      { who: 'controller', request: 'list nodes', expected: 'allowed', run: () => ctlCore.listNode() },
      {
        who: 'controller',
        request: `patch nodes/${own}/status (RebootGate)`,
        expected: 'allowed',
        run: () =>
          ctlCore.patchNodeStatus(
            {
              name: own,
              body: { status: { conditions: [{ ...condition, type: 'RebootGate', reason: 'NotRequired' }] } },
            },
            strategicMerge,
          ),
      },
      {
        who: 'controller',
        request: 'list pods (all namespaces)',
        expected: 'allowed',
        run: () => ctlCore.listPodForAllNamespaces(),
      },
      {
        who: 'controller',
        request: 'list poddisruptionbudgets (all namespaces)',
        expected: 'allowed',
        run: () => ctlPolicy.listPodDisruptionBudgetForAllNamespaces(),
      },
      {
        who: 'controller',
        request: `get deployment ${ns}/absent (404 means authorized)`,
        expected: 'allowed',
        run: () =>
          ctlApps.readNamespacedDeployment({ name: 'absent', namespace: ns }).catch((err: unknown) => {
            if (normalizeKubeError(err).code === 404) return undefined;
            throw err;
          }),
      },
      {
        who: 'controller',
        request: `delete deployments in ${ns}`,
        expected: 'denied',
        run: () => ctlApps.deleteCollectionNamespacedDeployment({ namespace: ns }),
      },
      {
        who: 'controller',
        request: `cordon node ${own}`,
        expected: 'denied',
        run: () => cordon(ctlCore, own, true),
      },
      {
        who: 'controller',
        request: `evict pod ${ns}/evict-me`,
        expected: 'denied',
        run: () =>
          ctlCore.createNamespacedPodEviction({
            name: 'evict-me',
            namespace: ns,
            body: { metadata: { name: 'evict-me', namespace: ns } },
          }),
      },
      {
        who: 'controller',
        request: `get secret ${ns}/some-secret`,
        expected: 'denied',
        run: () => ctlCore.readNamespacedSecret({ name: 'some-secret', namespace: ns }),
      },
      {
        who: 'controller',
        request: 'list secrets in kube-system',
        expected: 'denied',
        run: () => ctlCore.listNamespacedSecret({ namespace: 'kube-system' }),
      },
    ];

    const results: string[][] = [['identity', 'request', 'expected', 'got', 'answer']];
    const answers = new Map<string, string>();
    // Who said no: the admission policy (its message) or RBAC (the verb and resource refused).
    const brief = (detail: string) =>
      detail
        .replace(/^403 .*denied request: /, 'policy: ')
        .replace(/^403 .*? (cannot \S+ resource "[^"]+"(?: in API group "[^"]*")?).*$/, 'RBAC: $1');
    const wrong: string[] = [];
    for (const row of rows) {
      const { outcome, detail } = await attempt(row.run);
      answers.set(`${row.who}: ${row.request}`, detail);
      results.push([row.who, row.request, row.expected, outcome, brief(detail)]);
      if (outcome !== row.expected)
        wrong.push(`${row.who}: ${row.request}: expected ${row.expected}, got ${outcome} (${detail})`);
    }
    console.log(`RBAC and policy matrix (release ${release}, namespace ${ns}):\n${table(results)}`);
    expect(wrong).toEqual([]);
    // The agent's denials on other nodes come from the policy (RBAC allows them), with its message.
    const denial = answers.get(`agent@${own}: cordon node ${other}`);
    expect(denial).toContain(`the baton agent of node ${own} may change only that Node, not ${other}`);
    expect(answers.get(`agent (token not bound to a pod): cordon node ${own}`)).toContain(
      'no authentication.kubernetes.io/node-name claim',
    );
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
    await waitFor('the policy back', async () => (await labelOther()).outcome === 'denied', 60_000);
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
      expect(denied.outcome).toBe('denied');
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
